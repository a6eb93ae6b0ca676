import CCurl

/// Where a connection goes: the user's URL checked and turned into the URL libcurl opens.
///
/// `tcp://host:port` becomes `http://host:port` and `tls://host:port` becomes
/// `https://host:port`; with `CURLOPT_CONNECT_ONLY` libcurl then stops after TCP (and TLS) and
/// sends no HTTP. `http://` and `https://` are accepted as they are, with their default ports.
/// `unix:///path` becomes `http://localhost/` with the path as `CURLOPT_UNIX_SOCKET_PATH`.
/// The mail schemes `smtp://`, `smtps://`, `imap://`, `imaps://`, `pop3://` and `pop3s://` are
/// passed on as they are, with their default ports: libcurl then greets, upgrades and logs in.
/// Everything is checked here, before any I/O, so a bad URL is a ``CurlError`` at once.
struct ConnectionTarget: Hashable, Sendable {
    /// The URL handed to `CURLOPT_URL`.
    let curlURL: String
    /// Whether libcurl will run TLS to the peer.
    let usesTLS: Bool
    /// Whether the URL was an `http://` or `https://` one (which may carry a path).
    let isHTTP: Bool
    /// The mail protocol of an `smtp://`, `imap://` or `pop3://` URL (or its TLS variant).
    let mailProtocol: MailProtocol?
    /// The scheme of ``curlURL``, the one protocol `CURLOPT_PROTOCOLS_STR` allows.
    let curlScheme: String
    /// The host as written (without IPv6 brackets).
    let host: String
    /// The port to connect to; 0 for a `unix://` URL.
    let port: Int
    /// The socket path of a `unix:///path` URL.
    let unixSocketPath: String?

    init(parsing url: String) throws(CurlError) {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw CurlError(code: .urlMalformat, message: "'\(url)' is not a URL: expected scheme://host:port, such as tcp://127.0.0.1:6379")
        }
        let scheme = parts[0].lowercased()
        let rest = parts[1]
        if scheme == "unix" {
            // unix:///path: an empty authority, then the absolute path.
            guard rest.hasPrefix("/") else {
                throw CurlError(code: .urlMalformat, message: "'\(url)': a unix:// URL holds an absolute socket path, as in unix:///run/redis.sock")
            }
            let path = String(rest)
            try EasyHandle.checkSocketPath(path, option: "'\(url)'", absolute: true)
            // libcurl needs a URL; with CURLOPT_UNIX_SOCKET_PATH it connects to the path instead.
            self.curlURL = "http://localhost/"
            self.usesTLS = false
            self.isHTTP = false
            self.mailProtocol = nil
            self.curlScheme = "http"
            self.host = "localhost"
            self.port = 0
            self.unixSocketPath = path
            return
        }
        self.unixSocketPath = nil
        let curlScheme: String
        let defaultPort: Int?
        var mailProtocol: MailProtocol?
        switch scheme {
        case "tcp": curlScheme = "http"; defaultPort = nil
        case "tls": curlScheme = "https"; defaultPort = nil
        case "http": curlScheme = "http"; defaultPort = 80
        case "https": curlScheme = "https"; defaultPort = 443
        default:
            guard let mail = MailProtocol.scheme(scheme) else {
                throw CurlError(code: .unsupportedProtocol, message: "unsupported scheme '\(scheme)' in '\(url)': use tcp://, tls://, http://, https://, unix://, smtp://, smtps://, imap://, imaps://, pop3:// or pop3s://")
            }
            curlScheme = scheme
            defaultPort = mail.defaultPort
            mailProtocol = mail.protocol
        }
        let authorityEnd = rest.firstIndex(where: { (character: Character) -> Bool in
            character == "/" || character == "?" || character == "#"
        }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let trailer = rest[authorityEnd...]
        if defaultPort == nil, !(trailer.isEmpty || trailer == "/") {
            throw CurlError(code: .urlMalformat, message: "'\(url)': a \(scheme):// URL has no path, query or fragment; expected \(scheme)://host:port")
        }
        if let mailProtocol {
            try mailProtocol.checkPath(trailer, url: url)
        }
        guard !authority.contains("@") else {
            throw CurlError(code: .urlMalformat, message: "'\(url)': user names or passwords are not allowed in the connection URL")
        }
        let host: Substring
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw CurlError(code: .urlMalformat, message: "'\(url)': IPv6 address lacks its closing ']'")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let afterBracket = authority[authority.index(after: close)...]
            if afterBracket.isEmpty {
                portText = nil
            } else if afterBracket.hasPrefix(":") {
                portText = afterBracket.dropFirst()
            } else {
                throw CurlError(code: .urlMalformat, message: "'\(url)': unexpected text after the IPv6 address")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
            portText = nil
        }
        guard !host.isEmpty else {
            throw CurlError(code: .urlMalformat, message: "'\(url)' has no host")
        }
        let hostIsValid = host.allSatisfy { character in
            character.isASCII && (character.isLetter || character.isNumber || "-._~%:".contains(character))
        }
        guard hostIsValid else {
            throw CurlError(code: .urlMalformat, message: "'\(url)': '\(host)' is not a valid host name or address")
        }
        let port: Int
        if let portText {
            guard let value = Int(portText), portText.allSatisfy(\.isASCII), (1...65535).contains(value) else {
                throw CurlError(code: .urlMalformat, message: "'\(url)': port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        } else if let defaultPort {
            port = defaultPort
        } else {
            throw CurlError(code: .urlMalformat, message: "'\(url)' has no port: \(scheme):// needs one, as in \(scheme)://\(host):6379")
        }
        let hostInURL = host.contains(":") ? "[\(host)]" : String(host)
        self.curlURL = "\(curlScheme)://\(hostInURL):\(port)\(defaultPort == nil ? "/" : String(trailer))"
        self.usesTLS = ["https", "smtps", "imaps", "pop3s"].contains(curlScheme)
        self.isHTTP = defaultPort != nil && mailProtocol == nil
        self.mailProtocol = mailProtocol
        self.curlScheme = curlScheme
        self.host = String(host)
        self.port = port
        try checkURLWithCurl(curlURL, describedAs: "'\(url)'")
    }
}

/// Lets libcurl's own URL parser have the last word on `url`, so that nothing it would reject
/// later reaches the network, and requires a host. `described` starts the error's message
/// (`"'tcp://…'"`, or `"proxy: 'http://…'"`); `allowingAnyScheme` for SOCKS proxy URLs, whose
/// schemes are no libcurl protocol.
func checkURLWithCurl(_ url: String, describedAs described: String, allowingAnyScheme: Bool = false) throws(CurlError) {
    guard let handle = curl_url() else {
        throw CurlError(code: .outOfMemory)
    }
    defer { curl_url_cleanup(handle) }
    let flags = allowingAnyScheme ? UInt32(CURLU_NON_SUPPORT_SCHEME) : 0
    let result = curl_url_set(handle, CURLUPART_URL, url, flags)
    guard result == CURLUE_OK else {
        throw CurlError(code: .urlMalformat, message: "\(described): \(String(cString: curl_url_strerror(result)))")
    }
    var host: UnsafeMutablePointer<CChar>?
    guard curl_url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK, let host else {
        throw CurlError(code: .urlMalformat, message: "\(described) has no host")
    }
    curl_free(host)
}
