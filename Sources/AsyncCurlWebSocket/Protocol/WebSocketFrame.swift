/// One WebSocket frame (RFC 6455 §5.2), as decoded by ``FrameDecoder``: its payload unmasked.
///
/// RSV2 and RSV3 have no field: no extension this module supports uses them, so the decoder
/// rejects them.
struct WebSocketFrame: Sendable, Hashable {
    /// Whether this is the final fragment of its message (always true for control frames).
    var fin: Bool
    /// RSV1: with permessage-deflate, set on the first frame of a compressed message.
    var rsv1: Bool
    /// The opcode.
    var opcode: WebSocketOpcode
    /// The (unmasked) application data, or for a compressed message the compressed bytes.
    var payload: [UInt8]

    /// A frame; by default final and without RSV1.
    init(fin: Bool = true, rsv1: Bool = false, opcode: WebSocketOpcode, payload: [UInt8]) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }
}
