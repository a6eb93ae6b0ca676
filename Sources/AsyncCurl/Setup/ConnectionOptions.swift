import HTTPTypes
import Logging

/// How ``CurlMulti/connect(to:options:)`` sets up a connection: time limits, proxy, TLS and
/// socket options. Every property maps onto a libcurl option, named in its documentation.
///
/// ```swift
/// var options = ConnectionOptions()
/// options.connectTimeout = .seconds(5)
/// options.proxy = "socks5h://127.0.0.1:1080"
/// options.tls.caFile = "/etc/my-ca.pem"
/// let connection = try await multi.connect(to: "tls://db.internal:5433", options: options)
/// ```
public struct ConnectionOptions: Sendable {
    /// The longest the whole set-up (DNS, TCP, proxy handshake, TLS) may take
    /// (`CURLOPT_CONNECTTIMEOUT_MS`). `nil` uses libcurl's default of 300 seconds.
    /// Exceeding it throws ``CurlError`` with code ``CurlError/Code/operationTimedOut``.
    public var connectTimeout: Duration?

    /// The longest any one `send` or `receive` on the connection may wait without progress:
    /// without a byte arriving (receive) or the socket accepting more bytes (send). Exceeding it
    /// throws ``CurlError`` with code ``CurlError/Code/operationTimedOut``; a timed-out receive
    /// consumes nothing and leaves the connection usable. `nil` (the default) waits forever;
    /// per-call `timeout:` arguments apply on top.
    public var idleTimeout: Duration?

    /// The proxy to connect through, as a libcurl proxy URL (`CURLOPT_PROXY`):
    /// `http://host:port` (HTTP CONNECT tunnel), `https://host:port` (TLS to the proxy),
    /// `socks4://`, `socks4a://`, `socks5://` or `socks5h://` (the proxy resolves the host name).
    /// Credentials may be given in the URL (`http://user:password@host:port`).
    ///
    /// `nil`, the default, means no proxy. Unlike the curl tool, AsyncCurl does **not** read the
    /// `http_proxy`, `https_proxy` or `all_proxy` environment variables unless
    /// ``useEnvironmentProxy`` is set.
    public var proxy: String?

    /// Use the proxy named by the `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy`
    /// environment variables, as the curl tool does, when ``proxy`` is `nil`. Off by default, so a
    /// server's environment cannot silently route its connections elsewhere.
    public var useEnvironmentProxy: Bool = false

    /// Host names that bypass ``proxy`` (`CURLOPT_NOPROXY`): a comma-separated list, `*` for all.
    public var noProxy: String?

    /// The user name for the proxy (`CURLOPT_PROXYUSERNAME`): for HTTP and HTTPS proxies with
    /// the method ``proxyAuthMethods`` picks, user name/password authentication for SOCKS5.
    /// Credentials in the ``proxy`` URL work too; these need no URL-encoding.
    public var proxyUsername: String?

    /// The password for ``proxyUsername`` (`CURLOPT_PROXYPASSWORD`).
    public var proxyPassword: String?

    /// The authentication methods libcurl may use with an HTTP or HTTPS proxy
    /// (`CURLOPT_PROXYAUTH`), when credentials are given.
    ///
    /// The default, ``AuthMethods/any``, works with every proxy: libcurl first sends the
    /// `CONNECT` without credentials, reads the methods the proxy offers in its `407` answer
    /// (`Proxy-Authenticate`), and answers with the strongest one allowed here (Negotiate, then
    /// Digest, then NTLM, then Basic). That costs one extra round trip to the proxy on each
    /// connect. A single method is used at once, without that first round trip:
    ///
    /// ```swift
    /// options.proxy = "http://proxy.corp.example:3128"
    /// options.proxyUsername = "alice"
    /// options.proxyPassword = secret
    /// options.proxyAuthMethods = .digest      // the proxy asks for Digest: answer at once
    /// ```
    ///
    /// Use ``AuthMethods/anySafe`` to never send the password as Basic authentication, which an
    /// `http://` proxy can read (and anyone on the way to it). ``ConnectionInfo/proxyAuthMethod``
    /// tells which method was used. A proxy that refuses the credentials fails the connect with
    /// ``CurlError/proxyStatusCode`` 407, and a message that says what the proxy offers.
    ///
    /// Negotiate (SPNEGO: Kerberos through GSS-API) takes the credentials from the process's
    /// Kerberos ticket cache (`kinit`; `KRB5CCNAME`), not from ``proxyUsername``; but libcurl
    /// attempts proxy authentication only when a proxy user name is set, so set an empty one:
    ///
    /// ```swift
    /// options.proxy = "http://proxy.corp.example:3128"   // the host name the proxy's HTTP/ principal has
    /// options.proxyUsername = ""
    /// options.proxyAuthMethods = .negotiate
    /// ```
    public var proxyAuthMethods: AuthMethods = .any

    /// Extra header fields for the `CONNECT` request to an HTTP or HTTPS proxy
    /// (`CURLOPT_PROXYHEADER`): sent to the proxy only, never to the peer, in order and with
    /// the names spelled as given. A field named like one of libcurl's own (`Host`,
    /// `User-Agent`, `Proxy-Connection`) replaces it; one with an empty value removes it (and
    /// so no field can be sent with an empty value).
    ///
    /// `HTTPFields` (from swift-http-types, `import HTTPTypes`) accepts RFC 9110 field names only
    /// and turns CR, LF and NUL in a value into spaces, so no field can add a line to the request.
    ///
    /// ```swift
    /// options.proxyHeaders = [HTTPField.Name("X-Tenant")!: "blue", .userAgent: "billing-sync/2.1"]
    /// ```
    public var proxyHeaders: HTTPFields = [:]

    /// A SOCKS proxy to go through first, in front of ``proxy`` (`CURLOPT_PRE_PROXY`):
    /// `socks4://`, `socks4a://`, `socks5://` or `socks5h://host:port`. The chain is then
    /// client → pre-proxy → ``proxy`` → peer; ``proxy`` must be set (an HTTP or HTTPS proxy).
    ///
    /// ```swift
    /// options.preProxy = "socks5h://127.0.0.1:1080"   // e.g. an SSH -D tunnel
    /// options.proxy = "http://proxy.corp.example:3128"
    /// ```
    public var preProxy: String?

    /// Sends an HAProxy PROXY protocol v1 header (`PROXY TCP4 <source> <destination> <ports>`)
    /// to the peer before anything else (`CURLOPT_HAPROXYPROTOCOL`), for servers behind a load
    /// balancer that expect one (nginx `listen … proxy_protocol`, HAProxy `accept-proxy`). Off by
    /// default. libcurl 7.88.1 sends version 1 only.
    public var haproxyProtocol: Bool = false

    /// Connects to this Unix domain socket instead of the URL's host and port
    /// (`CURLOPT_UNIX_SOCKET_PATH`); the URL's host still names the peer, so a `tls://` URL
    /// verifies the certificate for it and sends it as SNI:
    ///
    /// ```swift
    /// options.unixSocketPath = "/run/nginx/tls.sock"
    /// let connection = try await multi.connect(to: "tls://api.internal:443", options: options)
    /// ```
    ///
    /// For a plain connection, a `unix:///path/to.sock` URL says the same in one place. libcurl
    /// uses no proxy for a Unix socket. A socket that is missing, or where nobody listens, fails
    /// the connect with ``CurlError/Code/couldNotConnect`` and a message naming the path.
    public var unixSocketPath: String?

    /// Like ``unixSocketPath``, but a socket in Linux's abstract namespace
    /// (`CURLOPT_ABSTRACT_UNIX_SOCKET`): its name without the leading NUL byte, such as
    /// `"my-service"` for `@my-service`. Takes precedence over ``unixSocketPath``.
    public var abstractUnixSocket: String?

    /// Host names resolved to the given addresses instead of asking DNS (`CURLOPT_RESOLVE`), as
    /// curl's `--resolve`: the connection still goes to, verifies TLS for and sends SNI for the
    /// URL's host.
    ///
    /// ```swift
    /// options.resolve = [ResolveEntry(host: "svc.example.test", port: 8443, addresses: ["127.0.0.1"])]
    /// let connection = try await multi.connect(to: "tls://svc.example.test:8443", options: options)
    /// ```
    public var resolve: [ResolveEntry] = []

    /// Connects to another host and port than the URL's (`CURLOPT_CONNECT_TO`), as curl's
    /// `--connect-to`, while TLS still verifies and names the URL's host. The first entry that
    /// matches the URL's host and port applies.
    public var connectTo: [ConnectToEntry] = []

    /// Which IP versions a host name may resolve to (`CURLOPT_IPRESOLVE`). Default: both.
    public var ipVersion: IPVersion = .any

    /// How long libcurl waits for the first address family before also trying the other when a
    /// name has both (`CURLOPT_HAPPY_EYEBALLS_TIMEOUT_MS`, RFC 8305). libcurl starts with the
    /// family of the first address (as the resolver, or a ``resolve`` entry, orders them).
    /// `nil` keeps libcurl's 200 ms.
    public var happyEyeballsTimeout: Duration?

    /// How long a resolved name stays in the engine's DNS cache (`CURLOPT_DNS_CACHE_TIMEOUT`,
    /// whole seconds; `.zero` disables the cache). `nil` keeps libcurl's 60 seconds.
    public var dnsCacheTimeout: Duration?

    /// Resolves host names with DNS-over-HTTPS (RFC 8484) instead of the system resolver
    /// (`CURLOPT_DOH_URL`). See ``DNSOverHTTPS`` for its verification settings.
    public var dnsOverHTTPS: DNSOverHTTPS?

    /// Records the peer's certificate chain during the TLS handshake (`CURLOPT_CERTINFO`) into
    /// ``ConnectionInfo/peerCertificates``. Off by default: it costs the text of every
    /// certificate on every connect.
    public var collectsPeerCertificates: Bool = false

    /// TLS settings for the connection to an `https://` proxy itself (`CURLOPT_PROXY_CAINFO`,
    /// `CURLOPT_PROXY_SSL_VERIFYPEER`, …), separate from ``tls``, which applies to the peer.
    /// Verification is on by default here too.
    public var proxyTLS: TLSOptions = TLSOptions()

    /// TLS settings for `tls://` and `https://` connections.
    public var tls: TLSOptions = TLSOptions()

    /// Resume TLS sessions (`CURLOPT_SSL_SESSIONID_CACHE`), with the peer and with an HTTPS
    /// proxy alike (libcurl has one switch for both). On by default.
    ///
    /// The engine caches the sessions of its TLS connections and keeps the cache after the
    /// last connection closes (``CurlMulti/Diagnostics/retainedConnectionCaches``), so that
    /// connecting again to the same peer, with the same TLS options, resumes the session: an
    /// abbreviated handshake, without the certificate exchange and its verification
    /// (``ConnectionInfo/tlsSessionResumed``). libcurl holds up to 8 sessions per cache, the
    /// latest per peer, and resumes a session only for the same host, port and TLS
    /// configuration (CA, client certificate, versions, ciphers, curves, verification flags).
    ///
    /// With TLS 1.3 the server sends its session tickets after the handshake, and OpenSSL takes
    /// them in only when it reads: a connection that has received anything has stored its
    /// ticket (servers send tickets before their own data). One closed without ever receiving
    /// leaves a ticket only if it had arrived by the read AsyncCurl makes when it attaches the
    /// connection or the one libcurl makes before its close_notify (usually not, when measured).
    /// With TLS 1.2 the session is stored at the handshake; a server may still decline it when
    /// it is offered before the server's own side of the first handshake has finished.
    ///
    /// Connections with ``TLSOptions/verifyStatus`` neither store nor resume sessions: a resumed
    /// handshake carries no stapled OCSP response, and libcurl 7.88.1 then fails the connect
    /// ("No OCSP response received", ``CurlError/Code/sslInvalidCertificateStatus``).
    public var reusesTLSSessions: Bool = true

    /// Whether libcurl may cache and resume this connection's TLS sessions
    /// (see ``reusesTLSSessions``).
    var cachesTLSSessions: Bool {
        reusesTLSSessions && !tls.verifyStatus
    }

    /// Disables Nagle's algorithm (`CURLOPT_TCP_NODELAY`), so small writes go out at once.
    /// On by default, as request/response protocols want.
    public var tcpNoDelay: Bool = true

    /// Sends TCP keep-alive probes on an idle connection (`CURLOPT_TCP_KEEPALIVE`), first after
    /// ``TCPKeepAlive/idle`` and then every ``TCPKeepAlive/interval``. `nil`, the default, sends none.
    public var keepAlive: TCPKeepAlive?

    /// The local interface, address or host name to connect from (`CURLOPT_INTERFACE`), such as
    /// `"eth0"`, `"if!eth0"` or `"host!10.0.0.1"`.
    public var localInterface: String?

    /// The local port to connect from (`CURLOPT_LOCALPORT`); with ``localPortRange`` greater
    /// than 1, the first free port of `localPort ..< localPort + localPortRange`.
    public var localPort: UInt16?

    /// How many ports from ``localPort`` on to try (`CURLOPT_LOCALPORTRANGE`). Default 1.
    public var localPortRange: Int = 1

    /// Called with libcurl's verbose trace (`CURLOPT_VERBOSE` with `CURLOPT_DEBUGFUNCTION`):
    /// connection progress, proxy and TLS handshake details. Runs while libcurl works, with the
    /// engine's libcurl lock held — on the engine's queue during set-up, on the calling task's
    /// thread during a TLS send or receive — so it must return quickly, must not block, and may
    /// run on any thread. `nil` (the default) turns the trace off; leave it off where speed
    /// matters.
    public var trace: (@Sendable (TraceEvent) -> Void)?

    /// A swift-log `Logger` for the connection's events, each with the metadata
    /// `asynccurl.connection` (the connection's number, such as `#12`): the connect started
    /// (`debug`), the connection opened (`debug`, with its ``ConnectionInfo``), failed
    /// (`debug`, with the ``CurlError``) and closed (`debug`). When the logger's level is `trace`,
    /// libcurl's verbose trace goes to it as well, at `trace` level (the same lines as ``trace``,
    /// with the same cost). `nil`, the default, logs nothing.
    ///
    /// ```swift
    /// var logger = Logger(label: "db.connections")
    /// logger.logLevel = .debug
    /// options.logger = logger
    /// ```
    public var logger: Logger?

    /// Sends the first bytes with the TCP handshake's SYN (TCP Fast Open, RFC 7413,
    /// `CURLOPT_TCP_FASTOPEN`; on Linux the socket option `TCP_FASTOPEN_CONNECT`). Saves a round
    /// trip on repeat connections to a server that supports it (Linux: `net.ipv4.tcp_fastopen`
    /// bit 1 on the client, bit 2 on the server); otherwise the connect is an ordinary one. Off
    /// by default, as in libcurl. It applies to the TCP connection libcurl opens: to the proxy
    /// when there is one. A Unix socket ignores it.
    public var tcpFastOpen: Bool = false

    /// Shuffles the addresses a host name resolves to before trying them
    /// (`CURLOPT_DNS_SHUFFLE_ADDRESSES`), so that many clients spread their connections over all
    /// of a name's addresses instead of all using the first. Applies to DNS answers and to
    /// ``resolve`` entries alike; cached answers are shuffled once, when they are cached. Off by
    /// default, as in libcurl.
    public var dnsShuffleAddresses: Bool = false

    /// The authentication methods libcurl may use with a SOCKS5 proxy (`CURLOPT_SOCKS5_AUTH`).
    /// libcurl always offers "no authentication" as well; the proxy picks one of those offered.
    /// The default, both, is libcurl's: user name/password (RFC 1929) when ``proxyUsername``
    /// (or the proxy URL) gives credentials, and GSS-API (Kerberos, RFC 1961) otherwise too.
    ///
    /// ```swift
    /// options.proxy = "socks5h://127.0.0.1:1080"
    /// options.socks5AuthMethods = .usernamePassword   // never start a Kerberos exchange
    /// ```
    ///
    /// A proxy that accepts none of the offered methods fails the connect with
    /// ``CurlError/Code/proxy`` ("No authentication method was acceptable").
    public var socks5AuthMethods: SOCKS5AuthMethods = .all

    /// The Kerberos service name of the proxy (`CURLOPT_PROXY_SERVICE_NAME`): libcurl asks
    /// GSS-API for a ticket to `<service>@<proxy host>` for Negotiate with an HTTP or HTTPS proxy,
    /// and for GSS-API with a SOCKS5 proxy. `nil` keeps libcurl's defaults, `HTTP` (HTTP proxies)
    /// and `rcmd` (SOCKS5). Set it when the proxy's keytab holds another principal, such as
    /// `proxy/squid.corp.example`:
    ///
    /// ```swift
    /// options.proxyAuthMethods = .negotiate
    /// options.proxyServiceName = "proxy"
    /// ```
    public var proxyServiceName: String?

    /// Whether libcurl lets the proxy act on the client's behalf with its Kerberos credentials
    /// (`CURLOPT_GSSAPI_DELEGATION`) during Negotiate (HTTP proxies) or GSS-API (SOCKS5).
    /// ``GSSAPIDelegation/none``, the default, delegates nothing.
    public var gssapiDelegation: GSSAPIDelegation = .none

    /// The mail login options (``username``, ``password``, ``tlsUpgrade``, …), stored together
    /// (see ConnectionOptions+Login.swift).
    var serverLogin = ServerLogin()

    /// Options with libcurl's defaults, except: no proxy from the environment, TCP_NODELAY on,
    /// TLS peer and host verification on, and a required TLS upgrade for plain mail URLs.
    public init() {}
}

/// TCP keep-alive timing for ``ConnectionOptions/keepAlive``.
public struct TCPKeepAlive: Sendable, Hashable {
    /// Idle time before the first probe (`CURLOPT_TCP_KEEPIDLE`, whole seconds).
    public var idle: Duration
    /// Time between probes (`CURLOPT_TCP_KEEPINTVL`, whole seconds).
    public var interval: Duration

    /// Keep-alive with the given timing; libcurl's default is 60 seconds for both.
    public init(idle: Duration = .seconds(60), interval: Duration = .seconds(60)) {
        self.idle = idle
        self.interval = interval
    }
}

extension ConnectionOptions {
    /// True when a connection to `target` with these options has no TLS at any layer: a plain
    /// target, and no `https://` proxy (nor an environment proxy, which could be one). Such a
    /// connection's socket carries the application's bytes as they are once open.
    func hasNoTLSLayer(for target: ConnectionTarget) -> Bool {
        !target.usesTLS && !mayUpgradeToTLS(target) && !proxyMayUseTLS
    }

    /// Whether the connection to an `https://` proxy (or an environment proxy, which could be
    /// one) runs TLS.
    var proxyMayUseTLS: Bool {
        // An empty string means no proxy, not even the environment's.
        if let proxy { return proxy.lowercased().hasPrefix("https://") }
        return useEnvironmentProxy
    }

    /// Whether a plain mail connection may upgrade to TLS with STARTTLS (see ``tlsUpgrade``).
    func mayUpgradeToTLS(_ target: ConnectionTarget) -> Bool {
        target.mailProtocol != nil && !target.usesTLS && tlsUpgrade != .none
    }
}
