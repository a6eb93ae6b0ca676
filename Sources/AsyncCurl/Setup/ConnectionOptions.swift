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

    /// The user name for the proxy (`CURLOPT_PROXYUSERNAME`): Basic authentication for HTTP and
    /// HTTPS proxies, user name/password authentication for SOCKS5. Credentials in the
    /// ``proxy`` URL work too; these need no URL-encoding.
    public var proxyUsername: String?

    /// The password for ``proxyUsername`` (`CURLOPT_PROXYPASSWORD`).
    public var proxyPassword: String?

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
    /// Connections with ``TLSOptions/verifyStatus`` never resume: a resumed handshake carries
    /// no stapled OCSP response, which libcurl 7.88.1 would reject.
    public var reusesTLSSessions: Bool = true

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

    /// Options with libcurl's defaults, except: no proxy from the environment, TCP_NODELAY on,
    /// and TLS peer and host verification on.
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

/// TLS settings for `tls://` and `https://` connections (libcurl with OpenSSL).
public struct TLSOptions: Sendable, Hashable {
    /// A PEM file of CA certificates to verify the peer with (`CURLOPT_CAINFO`). `nil` uses the
    /// system's bundle.
    public var caFile: String?

    /// Verify the peer's certificate chain (`CURLOPT_SSL_VERIFYPEER`). On by default.
    ///
    /// - Warning: Turning this off makes the connection open to any man in the middle. Only do it
    ///   for tests or for peers you reach over an otherwise trusted path.
    public var verifyPeer: Bool = true

    /// Verify that the certificate is for the host in the URL (`CURLOPT_SSL_VERIFYHOST`).
    /// On by default.
    ///
    /// - Warning: Turning this off accepts a valid certificate for *any* host.
    public var verifyHost: Bool = true

    /// A PEM client certificate to present (`CURLOPT_SSLCERT`).
    public var clientCertificateFile: String?

    /// The PEM private key for ``clientCertificateFile`` (`CURLOPT_SSLKEY`).
    public var clientKeyFile: String?

    /// The pass phrase of an encrypted ``clientKeyFile`` (`CURLOPT_KEYPASSWD`).
    public var clientKeyPassword: String?

    /// A directory of CA certificates named by their hashes, as `openssl rehash` makes it
    /// (`CURLOPT_CAPATH`).
    public var caDirectory: String?

    /// The public key the peer must have (`CURLOPT_PINNEDPUBLICKEY`): a PEM or DER file path,
    /// or `"sha256//"` followed by the base64 SHA-256 of the DER public key (several may be
    /// joined with `;`). A mismatch fails with ``CurlError/Code/sslPinnedPublicKeyMismatch``.
    public var pinnedPublicKey: String?

    /// The oldest TLS version to accept (`CURLOPT_SSLVERSION`). `nil` uses libcurl's default
    /// (TLS 1.2 with this OpenSSL).
    public var minimumVersion: TLSVersion?

    /// The newest TLS version to offer (`CURL_SSLVERSION_MAX_*`). `nil` means the newest supported.
    public var maximumVersion: TLSVersion?

    /// OpenSSL cipher list for TLS 1.2 and older (`CURLOPT_SSL_CIPHER_LIST`), such as
    /// `"ECDHE-RSA-AES128-GCM-SHA256"`.
    public var cipherList: String?

    /// TLS 1.3 cipher suites (`CURLOPT_TLS13_CIPHERS`), such as `"TLS_AES_128_GCM_SHA256"`.
    public var tls13CipherSuites: String?

    /// Default TLS settings: verification on, the system's CA bundle, no client certificate.
    public init() {}
}

/// A TLS protocol version, for ``TLSOptions/minimumVersion`` and ``TLSOptions/maximumVersion``.
public enum TLSVersion: Sendable, Hashable, CaseIterable {
    /// TLS 1.0 (obsolete; most OpenSSL configurations refuse it).
    case tls1_0
    /// TLS 1.1 (obsolete; most OpenSSL configurations refuse it).
    case tls1_1
    /// TLS 1.2.
    case tls1_2
    /// TLS 1.3.
    case tls1_3
}

/// One entry of libcurl's verbose trace, given to ``ConnectionOptions/trace``.
public struct TraceEvent: Sendable, Hashable, CustomStringConvertible {
    /// What kind of trace entry this is.
    public enum Kind: Sendable, Hashable {
        /// Informational text from libcurl, such as `"Connected to 127.0.0.1 (127.0.0.1) port 80"`.
        case text
        /// A header line received, such as a proxy's CONNECT reply.
        case headerIn
        /// A header line sent, such as the CONNECT request to a proxy.
        case headerOut
    }

    /// The kind of entry.
    public var kind: Kind
    /// The entry's text, without its line ending.
    public var text: String

    public var description: String {
        switch kind {
        case .text: return "* \(text)"
        case .headerIn: return "< \(text)"
        case .headerOut: return "> \(text)"
        }
    }
}

extension ConnectionOptions {
    /// True when a connection to `target` with these options has no TLS at any layer: a plain
    /// target, and no `https://` proxy (nor an environment proxy, which could be one). Such a
    /// connection's socket carries the application's bytes as they are once open.
    func hasNoTLSLayer(for target: ConnectionTarget) -> Bool {
        guard !target.usesTLS else { return false }
        if let proxy {
            // An empty string means no proxy, not even the environment's.
            return !proxy.lowercased().hasPrefix("https://")
        }
        return !useEnvironmentProxy
    }
}
