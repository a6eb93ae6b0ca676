/// What the peer did wrong, found by the codec or the message state machine: the client must
/// fail the connection, closing it with ``closeCode`` (RFC 6455 §7.1.7).
///
/// Everything a peer's bytes can cause is reported this way, never with a trap.
struct WebSocketProtocolViolation: Error, Hashable, Sendable, CustomStringConvertible {
    /// The status code to close the connection with, for instance
    /// ``WebSocketCloseCode/protocolError`` or ``WebSocketCloseCode/messageTooBig``.
    var closeCode: WebSocketCloseCode
    /// A short explanation, fit for the close frame's reason (well under 123 bytes of UTF-8).
    var reason: String

    init(_ closeCode: WebSocketCloseCode, _ reason: String) {
        self.closeCode = closeCode
        self.reason = reason
    }

    init(closeCode: WebSocketCloseCode, reason: String) {
        self.init(closeCode, reason)
    }

    var description: String { "\(closeCode): \(reason)" }
}
