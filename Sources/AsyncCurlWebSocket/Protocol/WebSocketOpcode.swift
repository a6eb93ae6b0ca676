/// A frame's opcode (RFC 6455 §5.2). The reserved values 3–7 and 0xB–0xF have no case: the
/// ``FrameDecoder`` rejects them with ``WebSocketCloseCode/protocolError``.
enum WebSocketOpcode: UInt8, Sendable, Hashable {
    /// A continuation of a fragmented text or binary message.
    case continuation = 0x0
    /// The first (or only) frame of a text message.
    case text = 0x1
    /// The first (or only) frame of a binary message.
    case binary = 0x2
    /// A close frame.
    case close = 0x8
    /// A ping, answered with a pong carrying the same payload.
    case ping = 0x9
    /// A pong.
    case pong = 0xA

    /// Whether this is a control frame's opcode (close, ping, pong): at most 125 bytes of
    /// payload, never fragmented, and allowed between the fragments of a message.
    var isControl: Bool { rawValue & 0x8 != 0 }
}
