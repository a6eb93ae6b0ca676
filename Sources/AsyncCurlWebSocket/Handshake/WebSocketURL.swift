/// A `ws://` or `wss://` URL, checked before any I/O: the host and port to connect to, the
/// resource to request, and the `Host` header's value.
struct WebSocketURL: Hashable, Sendable {
    /// Whether it is `wss://` (TLS).
    let isSecure: Bool
    /// The host as written, without IPv6 brackets.
    let host: String
    /// The port, 80 or 443 unless the URL names one.
    let port: Int
    /// The path and query to request, at least `/` (RFC 6455 §3: the resource name).
    let resource: String

    init(parsing url: String) throws(WebSocketError) {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw WebSocketError(code: .invalidURL, message: "'\(url)' is not a URL: expected ws://host[:port]/path or wss://…")
        }
        switch parts[0].lowercased() {
        case "ws": isSecure = false
        case "wss": isSecure = true
        default:
            throw WebSocketError(code: .invalidURL, message: "'\(url)': a WebSocket URL starts with ws:// or wss://, not \(parts[0])://")
        }
        let rest = parts[1]
        guard !rest.contains("#") else {
            // RFC 6455 §3: "Fragment identifiers are meaningless in the context of WebSocket URIs
            // and MUST NOT be used on these URIs."
            throw WebSocketError(code: .invalidURL, message: "'\(url)': a WebSocket URL has no fragment (#…)")
        }
        guard !rest.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw WebSocketError(code: .invalidURL, message: "'\(url)' contains a space or a control character; percent-encode it")
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let trailer = rest[authorityEnd...]
        resource = trailer.isEmpty ? "/" : trailer.hasPrefix("?") ? "/" + trailer : String(trailer)
        guard !authority.contains("@") else {
            throw WebSocketError(code: .invalidURL, message: "'\(url)': credentials do not go in the URL; add an Authorization header with WebSocketConfiguration.headers")
        }
        let defaultPort = isSecure ? 443 : 80
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw WebSocketError(code: .invalidURL, message: "'\(url)': an IPv6 address needs its closing ]")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw WebSocketError(code: .invalidURL, message: "'\(url)': expected :port after the IPv6 address")
                }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty else {
            throw WebSocketError(code: .invalidURL, message: "'\(url)' has no host")
        }
        host = String(hostPart)
        if let portPart {
            guard let port = Int(portPart), (1...65535).contains(port) else {
                throw WebSocketError(code: .invalidURL, message: "'\(url)': '\(portPart)' is not a port between 1 and 65535")
            }
            self.port = port
        } else {
            port = defaultPort
        }
    }

    /// `[host]` for an IPv6 address, the host otherwise.
    private var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }

    /// The `Host` header: the port only when it is not the scheme's default (RFC 6455 §4.1).
    var hostHeader: String {
        port == (isSecure ? 443 : 80) ? bracketedHost : "\(bracketedHost):\(port)"
    }

    /// The AsyncCurl URL of the connection underneath: TCP, or TLS verified for ``host``.
    var connectionURL: String {
        "\(isSecure ? "tls" : "tcp")://\(bracketedHost):\(port)"
    }
}
