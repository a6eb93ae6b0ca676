/// The permessage-deflate parameters both ends agreed on in the handshake (RFC 7692 §7.1), as
/// read from the server's response; every value is resolved (15 where the response is silent).
struct NegotiatedDeflate: Hashable, Sendable {
    /// The window the server compresses with, in bits (8–15): the client inflates with it.
    var serverMaxWindowBits: Int
    /// The window the client may compress with, in bits (8–15).
    var clientMaxWindowBits: Int
    /// Whether the server resets its compressor after each message.
    var serverNoContextTakeover: Bool
    /// Whether the client must reset its compressor after each message.
    var clientNoContextTakeover: Bool

    /// The client's compressor for these parameters (`nil` only if zlib cannot allocate).
    func makeDeflater(compressionLevel: Int = 6) -> Deflater? {
        Deflater(windowBits: clientMaxWindowBits, noContextTakeover: clientNoContextTakeover, level: compressionLevel)
    }

    /// The client's decompressor for these parameters (`nil` only if zlib cannot allocate).
    func makeInflater() -> Inflater? {
        Inflater(windowBits: serverMaxWindowBits, noContextTakeover: serverNoContextTakeover)
    }
}

/// Why the server's `Sec-WebSocket-Extensions` answer is unacceptable: the client fails the
/// handshake (RFC 7692 §5, §7.1).
struct WebSocketExtensionNegotiationError: Error, Hashable, Sendable, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension WebSocketCompression {
    /// The extension token.
    static let extensionName = "permessage-deflate"

    /// The value of the `Sec-WebSocket-Extensions` request header for this offer, such as
    /// `permessage-deflate; client_max_window_bits`.
    func offerHeaderValue() -> String {
        var value = Self.extensionName
        if let bits = clientMaxWindowBits {
            value += "; client_max_window_bits=\(Self.clamp(bits))"
        } else {
            value += "; client_max_window_bits"
        }
        if let bits = serverMaxWindowBits {
            value += "; server_max_window_bits=\(Self.clamp(bits))"
        }
        if clientNoContextTakeover { value += "; client_no_context_takeover" }
        if serverNoContextTakeover { value += "; server_no_context_takeover" }
        return value
    }

    private static func clamp(_ bits: Int) -> Int { min(max(bits, 8), 15) }

    /// Checks the server's `Sec-WebSocket-Extensions` response against `offer`.
    ///
    /// - Parameter responseHeaderValues: the values of every `Sec-WebSocket-Extensions` header
    ///   in the response (or one value with them joined by commas).
    /// - Returns: the agreed parameters, or `nil` if the server declined (no extension).
    /// - Throws: when the server answered an extension that was not offered, answered
    ///   permessage-deflate twice, or with an unknown or duplicated parameter, a parameter value
    ///   that is not allowed (window bits not a plain 8–15, a value on a flag), a
    ///   `server_max_window_bits` larger than requested or missing though requested, a
    ///   `server_no_context_takeover` missing though requested, or a `client_max_window_bits`
    ///   that was not offered or is larger than offered (RFC 7692 §7.1).
    static func negotiate(offer: WebSocketCompression, responseHeaderValues: [String]) throws(WebSocketExtensionNegotiationError) -> NegotiatedDeflate? {
        let header: WebSocketExtensionHeader
        do {
            header = try WebSocketExtensionHeader(parsing: responseHeaderValues)
        } catch {
            throw WebSocketExtensionNegotiationError(message: "malformed Sec-WebSocket-Extensions: \(error.message)")
        }
        guard let accepted = header.extensions.first else { return nil }
        guard header.extensions.count == 1 else {
            throw WebSocketExtensionNegotiationError(message: "the server answered \(header.extensions.count) extensions for one offer")
        }
        guard accepted.name == extensionName else {
            throw WebSocketExtensionNegotiationError(message: "the server answered the extension \(accepted.name), which was not offered")
        }
        var serverBits: Int?
        var clientBits: Int?
        var serverNoTakeover = false
        var clientNoTakeover = false
        var seen: Set<String> = []
        for (name, value) in accepted.parameters {
            guard seen.insert(name).inserted else {
                throw WebSocketExtensionNegotiationError(message: "duplicate parameter \(name)")
            }
            switch name {
            case "server_no_context_takeover", "client_no_context_takeover":
                guard value == nil else {
                    throw WebSocketExtensionNegotiationError(message: "\(name) with a value")
                }
                if name == "server_no_context_takeover" { serverNoTakeover = true } else { clientNoTakeover = true }
            case "server_max_window_bits", "client_max_window_bits":
                guard let value, let bits = windowBits(value) else {
                    throw WebSocketExtensionNegotiationError(message: "\(name) must be 8 to 15, not \(value ?? "absent")")
                }
                if name == "server_max_window_bits" { serverBits = bits } else { clientBits = bits }
            default:
                throw WebSocketExtensionNegotiationError(message: "unknown permessage-deflate parameter \(name)")
            }
        }
        if let requested = offer.serverMaxWindowBits.map(clamp) {
            guard let answered = serverBits else {
                throw WebSocketExtensionNegotiationError(message: "server_max_window_bits was requested but not answered")
            }
            guard answered <= requested else {
                throw WebSocketExtensionNegotiationError(message: "server_max_window_bits=\(answered) is over the requested \(requested)")
            }
        }
        if offer.serverNoContextTakeover && !serverNoTakeover {
            throw WebSocketExtensionNegotiationError(message: "server_no_context_takeover was requested but not answered")
        }
        // client_max_window_bits is always offered (with or without a value).
        if let limit = offer.clientMaxWindowBits.map(clamp), let answered = clientBits, answered > limit {
            throw WebSocketExtensionNegotiationError(message: "client_max_window_bits=\(answered) is over the offered \(limit)")
        }
        return NegotiatedDeflate(
            serverMaxWindowBits: serverBits ?? 15,
            clientMaxWindowBits: clientBits ?? offer.clientMaxWindowBits.map(clamp) ?? 15,
            serverNoContextTakeover: serverNoTakeover,
            clientNoContextTakeover: clientNoTakeover || offer.clientNoContextTakeover
        )
    }

    /// Checks one `Sec-WebSocket-Extensions` response value against `offer`.
    static func negotiate(offer: WebSocketCompression, responseHeaderValue: String) throws(WebSocketExtensionNegotiationError) -> NegotiatedDeflate? {
        try negotiate(offer: offer, responseHeaderValues: [responseHeaderValue])
    }

    /// A window-bits value: a decimal 8–15 without leading zeros (RFC 7692 §7.1.2).
    private static func windowBits(_ value: String) -> Int? {
        guard let bits = Int(value), (8...15).contains(bits), String(bits) == value else { return nil }
        return bits
    }
}
