/// The client's side of RFC 6455's opening handshake (§4.1): the upgrade request with a fresh
/// key, and the checks of the server's answer.
struct OpeningHandshake {
    /// The `Sec-WebSocket-Key`: 16 random bytes in Base64.
    let key: String
    /// The request head, ready to send.
    let request: [UInt8]
    private let subprotocols: [String]
    private let compression: WebSocketCompression?

    /// What the server agreed to.
    struct Agreement {
        /// The sub-protocol the server picked, if any.
        var subprotocol: String?
        /// The `Sec-WebSocket-Extensions` elements the server answered with.
        var extensions: [String]
        /// The permessage-deflate parameters, when the server accepted compression.
        var deflate: NegotiatedDeflate?
    }

    /// The handshake's own headers, which ``WebSocketConfiguration/headers`` may not set.
    static let reservedHeaders: Set<String> = [
        "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
        "sec-websocket-protocol", "sec-websocket-extensions", "sec-websocket-accept", "content-length", "transfer-encoding",
    ]

    init(url: WebSocketURL, configuration: WebSocketConfiguration) throws(WebSocketError) {
        var random = SystemRandomNumberGenerator()
        key = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) })
        subprotocols = configuration.subprotocols
        compression = configuration.compression
        for subprotocol in subprotocols where !subprotocol.isHTTPToken {
            throw WebSocketError(code: .invalidArgument, message: "subprotocols: '\(subprotocol)' is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
        }
        var lines = [
            "GET \(url.resource) HTTP/1.1",
            "Host: \(url.hostHeader)",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: \(key)",
            "Sec-WebSocket-Version: 13",
        ]
        if !subprotocols.isEmpty {
            lines.append("Sec-WebSocket-Protocol: \(subprotocols.joined(separator: ", "))")
        }
        if let compression {
            lines.append("Sec-WebSocket-Extensions: \(compression.offerHeaderValue())")
        }
        for (name, value) in configuration.headers {
            guard name.isHTTPToken else {
                throw WebSocketError(code: .invalidArgument, message: "headers: '\(name)' is not a valid header name")
            }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw WebSocketError(code: .invalidArgument, message: "headers: the value of '\(name)' contains a line break or a NUL byte")
            }
            guard !Self.reservedHeaders.contains(name.lowercased()) else {
                throw WebSocketError(code: .invalidArgument, message: "headers: '\(name)' belongs to the handshake itself; use WebSocketConfiguration.subprotocols or .compression for the Sec-WebSocket-* ones")
            }
            lines.append("\(name): \(value.trimmingWhitespace())")
        }
        request = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// `Sec-WebSocket-Accept` for `key`: Base64 of SHA-1 of the key and RFC 6455's GUID.
    static func acceptValue(for key: String) -> String {
        Base64.encode(SHA1.digest(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
    }

    /// Checks the server's answer (RFC 6455 §4.1, the client's steps 1–6) and returns what it
    /// agreed to.
    func check(_ response: WebSocketHandshakeResponse) throws(WebSocketError) -> Agreement {
        func fail(_ message: String) -> WebSocketError {
            WebSocketError(code: .handshakeFailed, message: message, handshakeResponse: response)
        }
        guard response.statusCode == 101 else {
            let hint: String
            switch response.statusCode {
            case 301, 302, 303, 307, 308: hint = "; it redirects to '\(response["location"] ?? "?")', which a WebSocket client does not follow by itself"
            case 401: hint = "; it wants authentication (\(response["www-authenticate"] ?? "no WWW-Authenticate")): add an Authorization header to WebSocketConfiguration.headers"
            case 426: hint = "; it asks for another WebSocket version (\(response["sec-websocket-version"] ?? "?"))"
            default: hint = ""
            }
            throw fail("the server answered HTTP \(response.statusCode) \(response.reasonPhrase) instead of 101 Switching Protocols\(hint)")
        }
        guard let upgrade = response["upgrade"], upgrade.lowercased() == "websocket" else {
            throw fail("the server's 101 has no 'Upgrade: websocket' (it says '\(response["upgrade"] ?? "nothing")')")
        }
        guard let connection = response["connection"], connection.httpListElements().contains(where: { $0.lowercased() == "upgrade" }) else {
            throw fail("the server's 101 has no 'Connection: Upgrade' (it says '\(response["connection"] ?? "nothing")')")
        }
        let expected = Self.acceptValue(for: key)
        guard response.values(of: "sec-websocket-accept") == [expected] else {
            throw fail("the server's Sec-WebSocket-Accept is '\(response["sec-websocket-accept"] ?? "missing")', not '\(expected)': it did not understand the request as a WebSocket handshake")
        }
        var agreement = Agreement(subprotocol: nil, extensions: [], deflate: nil)
        let protocols = response.values(of: "sec-websocket-protocol").flatMap { $0.httpListElements() }
        if let chosen = protocols.first {
            guard protocols.count == 1, subprotocols.contains(chosen) else {
                throw fail("the server chose the sub-protocol '\(protocols.joined(separator: ", "))', which was not offered (offered: \(subprotocols.isEmpty ? "none" : subprotocols.joined(separator: ", ")))")
            }
            agreement.subprotocol = chosen
        }
        let extensionValues = response.values(of: "sec-websocket-extensions")
        let extensionHeader = extensionValues.joined(separator: ", ")
        if !extensionHeader.trimmingWhitespace().isEmpty {
            guard let compression else {
                throw fail("the server answered with the extension '\(extensionHeader)', but none was offered")
            }
            do {
                agreement.deflate = try WebSocketCompression.negotiate(offer: compression, responseHeaderValues: extensionValues)
            } catch {
                throw fail("the server's Sec-WebSocket-Extensions '\(extensionHeader)' is not acceptable: \(error)")
            }
            agreement.extensions = extensionHeader.httpListElements()
        }
        return agreement
    }
}
