import CCurl

/// Facts about an established connection, for logging and debugging: who is on the other end,
/// through what, and how long each set-up step took. A snapshot taken when the connection was
/// handed over.
public struct ConnectionInfo: Sendable, Hashable, CustomStringConvertible {
    /// The connection's number in its engine, unique while the engine lives: the
    /// `asynccurl.connection` metadata (`#12`) of ``ConnectionOptions/logger``'s entries.
    public var connectionNumber: UInt64 = 0
    /// The host the connection was opened to, as written in the URL (without IPv6 brackets).
    public var host: String
    /// The port the connection was opened to, as written in the URL (or the scheme's default).
    public var port: Int
    /// The IP address connected to (`CURLINFO_PRIMARY_IP`). Through a proxy, the proxy's.
    public var remoteAddress: String?
    /// The port connected to (`CURLINFO_PRIMARY_PORT`). Through a proxy, the proxy's.
    public var remotePort: Int?
    /// The local IP address of the socket (`CURLINFO_LOCAL_IP`).
    public var localAddress: String?
    /// The local port of the socket (`CURLINFO_LOCAL_PORT`).
    public var localPort: Int?
    /// Whether TLS runs to the peer: `tls://`, `https://`, `smtps://`, `imaps://` and `pop3s://`
    /// URLs, and plain mail URLs that upgraded with STARTTLS (``upgradedToTLS``).
    public var usesTLS: Bool
    /// The HTTP status of an HTTP or HTTPS proxy's answer to `CONNECT` (normally 200), or `nil`
    /// when no HTTP proxy was used (`CURLINFO_HTTP_CONNECTCODE`).
    public var proxyConnectStatus: Int?
    /// How long the set-up steps took.
    public var timings: Timings
    /// The Unix domain socket connected to (``ConnectionOptions/unixSocketPath`` or a `unix://`
    /// URL), or `nil` for TCP. ``ConnectionOptions/abstractUnixSocket`` names show as `@name`.
    public var unixSocketPath: String?
    /// The authentication method used with an HTTP or HTTPS proxy, or `nil` when none was
    /// (no proxy, no credentials, or a SOCKS proxy). With several allowed methods it is the one
    /// libcurl chose from those the proxy offered (`CURLINFO_PROXYAUTH_AVAIL`).
    public var proxyAuthMethod: AuthMethods?
    /// The TLS version to the peer, as OpenSSL names it (`"TLSv1.3"`), or `nil` without TLS
    /// to the peer.
    public var tlsVersion: String?
    /// The TLS cipher suite to the peer, as OpenSSL names it (`"TLS_AES_256_GCM_SHA384"`).
    public var tlsCipher: String?
    /// Whether the TLS handshake with the peer resumed an earlier session (an abbreviated
    /// handshake), or `nil` without TLS to the peer.
    public var tlsSessionResumed: Bool?
    /// The peer's certificate chain, the peer's own certificate first, when
    /// ``ConnectionOptions/collectsPeerCertificates`` is set (`CURLINFO_CERTINFO`); otherwise
    /// empty.
    public var peerCertificates: [PeerCertificate] = []
    /// For a mail URL (`smtp://`, `imap://`, `pop3://` and their TLS variants): every line the
    /// server sent during the set-up, in order, without line endings: the greeting, the
    /// capabilities (`EHLO`, `CAPABILITY`, `CAPA`) before and after STARTTLS, and the answers to
    /// STARTTLS and to the login. So the application knows what the server offers (`SIZE`,
    /// `IDLE`, `PIPELINING`, …) without asking again. Empty for other URLs.
    ///
    /// ```swift
    /// let connection = try await multi.connect(to: "smtp://mail.example.com:587", options: options)
    /// let offersSize = connection.info.serverResponses.contains { $0.hasPrefix("250-SIZE") || $0.hasPrefix("250 SIZE") }
    /// ```
    public var serverResponses: [String] = []
    /// Whether a plain mail connection upgraded to TLS with `STARTTLS` (`STLS` for POP3); then
    /// ``usesTLS`` is true as well and the TLS facts (``tlsVersion``, …) describe the upgraded
    /// session. Always true for a plain mail URL with ``TLSUpgrade/required``; with
    /// ``TLSUpgrade/ifAvailable``, whether the server offered it.
    public var upgradedToTLS: Bool = false

    /// Set-up times, each measured from the start of the connect, as libcurl's `*_TIME_T`.
    public struct Timings: Sendable, Hashable {
        /// Until name resolution finished (`CURLINFO_NAMELOOKUP_TIME_T`).
        public var nameLookup: Duration
        /// Until the TCP connection (to the host or proxy) was up (`CURLINFO_CONNECT_TIME_T`).
        public var connected: Duration
        /// Until the TLS handshake finished (`CURLINFO_APPCONNECT_TIME_T`; for STARTTLS, the
        /// upgrade's handshake); `nil` without TLS.
        public var tlsEstablished: Duration?

        /// Creates timings; mostly for tests.
        public init(nameLookup: Duration, connected: Duration, tlsEstablished: Duration?) {
            self.nameLookup = nameLookup
            self.connected = connected
            self.tlsEstablished = tlsEstablished
        }
    }

    /// Creates a value; mostly for tests.
    public init(host: String, port: Int, remoteAddress: String?, remotePort: Int?, localAddress: String?,
                localPort: Int?, usesTLS: Bool, proxyConnectStatus: Int?, timings: Timings,
                unixSocketPath: String? = nil, proxyAuthMethod: AuthMethods? = nil, tlsVersion: String? = nil,
                tlsCipher: String? = nil, tlsSessionResumed: Bool? = nil, peerCertificates: [PeerCertificate] = []) {
        self.host = host
        self.port = port
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.localAddress = localAddress
        self.localPort = localPort
        self.usesTLS = usesTLS
        self.proxyConnectStatus = proxyConnectStatus
        self.timings = timings
        self.unixSocketPath = unixSocketPath
        self.proxyAuthMethod = proxyAuthMethod
        self.tlsVersion = tlsVersion
        self.tlsCipher = tlsCipher
        self.tlsSessionResumed = tlsSessionResumed
        self.peerCertificates = peerCertificates
    }

    /// For example `"127.0.0.1:6379 via 127.0.0.1:41234 -> 127.0.0.1:6379, TLS, connected in 0.21 ms"`.
    public var description: String {
        let local = "\(localAddress ?? "?"):\(localPort.map(String.init) ?? "?")"
        let remote = "\(remoteAddress ?? "?"):\(remotePort.map(String.init) ?? "?")"
        var parts = unixSocketPath.map { ["\(host) via Unix socket \($0)"] } ?? ["\(host):\(port) via \(local) -> \(remote)"]
        if upgradedToTLS { parts.append("STARTTLS") }
        if usesTLS {
            let details = [tlsVersion, tlsCipher, tlsSessionResumed == true ? "resumed" : nil].compactMap { $0 }
            parts.append(details.isEmpty ? "TLS" : "TLS (\(details.joined(separator: ", ")))")
        }
        if let proxyConnectStatus { parts.append("proxy CONNECT \(proxyConnectStatus)") }
        if let proxyAuthMethod { parts.append("proxy auth \(proxyAuthMethod)") }
        parts.append("connected in \(timings.connected.millisecondsText)")
        if let tls = timings.tlsEstablished { parts.append("TLS done at \(tls.millisecondsText)") }
        return parts.joined(separator: ", ")
    }
}

extension EasyHandle {
    /// Reads the connection facts libcurl recorded during set-up. `setup` says what was asked
    /// for; the TLS session facts are read later (``addTLSFacts(to:)``), once the connection is
    /// attached to the handle again.
    func connectionInfo(for target: ConnectionTarget, setup: SetupFacts) -> ConnectionInfo {
        let usesTLS = target.usesTLS
        let appConnect = duration(CURLINFO_APPCONNECT_TIME_T)
        let connectCode = long(CURLINFO_HTTP_CONNECTCODE).flatMap { $0 > 0 ? $0 : nil }
        var proxyAuthMethod: AuthMethods?
        if connectCode != nil, let wanted = setup.proxyAuthWanted {
            let offered = AuthMethods(rawValue: UInt(bitPattern: long(CURLINFO_PROXYAUTH_AVAIL) ?? 0))
            // One method is sent at once, without asking; of several, libcurl picks from the offer.
            proxyAuthMethod = AuthMethods.preference.contains(wanted) ? wanted : wanted.pick(from: offered)
        }
        return ConnectionInfo(
            host: target.host,
            port: target.port,
            remoteAddress: string(CURLINFO_PRIMARY_IP),
            remotePort: long(CURLINFO_PRIMARY_PORT).flatMap { $0 > 0 ? $0 : nil },
            localAddress: string(CURLINFO_LOCAL_IP),
            localPort: long(CURLINFO_LOCAL_PORT).flatMap { $0 > 0 ? $0 : nil },
            usesTLS: usesTLS,
            proxyConnectStatus: connectCode,
            timings: ConnectionInfo.Timings(
                nameLookup: duration(CURLINFO_NAMELOOKUP_TIME_T) ?? .zero,
                connected: duration(CURLINFO_CONNECT_TIME_T) ?? .zero,
                tlsEstablished: usesTLS ? appConnect : nil),
            unixSocketPath: setup.unixSocket,
            proxyAuthMethod: proxyAuthMethod,
            peerCertificates: setup.collectsPeerCertificates ? peerCertificates() : [])
    }

    func long(_ info: CURLINFO) -> Int? {
        var value = 0
        return ac_easy_getinfo_long(raw, info, &value) == CURLE_OK ? value : nil
    }

    func string(_ info: CURLINFO) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard ac_easy_getinfo_string(raw, info, &value) == CURLE_OK, let value else { return nil }
        let string = String(cString: value)
        return string.isEmpty ? nil : string
    }

    func offT(_ info: CURLINFO) -> Int64? {
        var value: curl_off_t = 0
        return ac_easy_getinfo_off_t(raw, info, &value) == CURLE_OK ? Int64(value) : nil
    }

    /// A `*_TIME_T` value: microseconds.
    func duration(_ info: CURLINFO) -> Duration? {
        offT(info).map { .microseconds($0) }
    }
}

extension Duration {
    /// Milliseconds with two decimals, such as `"0.21 ms"`.
    var millisecondsText: String {
        let (seconds, attoseconds) = components
        let hundredths = seconds * 100_000 + attoseconds / 10_000_000_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) ms"
    }
}

/// What a connection's options asked for that its ``ConnectionInfo`` and errors report on.
struct SetupFacts: Sendable {
    /// The allowed proxy authentication methods.
    var proxyAuthMethods: AuthMethods = .any
    /// Whether proxy credentials were given (options or proxy URL).
    var hasProxyCredentials = false
    /// The Unix socket connected to, `@name` for an abstract one.
    var unixSocket: String?
    /// Whether the Unix socket is in the abstract namespace.
    var unixSocketIsAbstract = false
    var collectsPeerCertificates = false
    /// The DNS-over-HTTPS server's URL, when names are resolved with it.
    var dnsOverHTTPS: String?
    /// Whether ``ConnectionOptions/resolve`` has entries.
    var hasResolveEntries = false
    /// A plain mail connection that may upgrade with STARTTLS (``ConnectionOptions/tlsUpgrade``).
    var mayUpgradeToTLS = false
    /// The proxy connection may run TLS (an `https://` or environment proxy).
    var proxyMayUseTLS = false
    /// A mail login was asked for (a user name or a bearer token).
    var logsIn = false

    /// The methods libcurl may use with the proxy, or `nil` when it uses none (no credentials).
    var proxyAuthWanted: AuthMethods? { hasProxyCredentials ? proxyAuthMethods : nil }

    init() {}

    init(target: ConnectionTarget, options: ConnectionOptions) {
        proxyAuthMethods = options.proxyAuthMethods
        let proxyHasUser = options.proxy.map { proxy in
            // scheme://user:password@host — an '@' before the host's end.
            let afterScheme = proxy.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false).last ?? proxy[...]
            let authority = afterScheme.prefix { $0 != "/" }
            return authority.contains("@")
        } ?? false
        hasProxyCredentials = options.proxyUsername != nil || options.proxyPassword != nil || proxyHasUser
        if let name = options.abstractUnixSocket {
            unixSocket = "@\(name)"
            unixSocketIsAbstract = true
        } else {
            unixSocket = target.unixSocketPath ?? options.unixSocketPath
        }
        collectsPeerCertificates = options.collectsPeerCertificates
        dnsOverHTTPS = options.dnsOverHTTPS?.url
        hasResolveEntries = !options.resolve.isEmpty
        mayUpgradeToTLS = options.mayUpgradeToTLS(target)
        proxyMayUseTLS = options.proxyMayUseTLS
        logsIn = options.serverLogin.logsIn
    }
}
