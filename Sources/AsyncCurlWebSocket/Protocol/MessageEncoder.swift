/// The send side's counterpart of ``MessageAssembler``: turns the application's messages into
/// client frames, compressing them when permessage-deflate was negotiated (RSV1 on the first
/// frame), masking every frame with a fresh key, and optionally fragmenting.
///
/// Not `Sendable` when it holds a ``Deflater`` (a zlib stream, for the one owner that sends,
/// which must also encode messages in the order it sends them: the compression context is
/// shared from one message to the next).
struct MessageEncoder {
    /// The compressor when permessage-deflate was negotiated.
    let deflater: Deflater?
    /// Messages shorter than this are sent uncompressed (``WebSocketCompression/minimumMessageSize``).
    let minimumCompressedSize: Int
    /// The largest payload in one frame; longer messages are fragmented. `Int.max` for none.
    let maximumFramePayload: Int

    /// An encoder; by default without compression or fragmentation.
    init(deflater: Deflater? = nil, minimumCompressedSize: Int = 0, maximumFramePayload: Int = .max) {
        self.deflater = deflater
        self.minimumCompressedSize = minimumCompressedSize
        self.maximumFramePayload = max(1, maximumFramePayload)
    }

    /// Appends the frames of `message` to `buffer`.
    func encode(_ message: WebSocket.Message, into buffer: inout [UInt8]) {
        switch message {
        case .text(var string):
            string.withUTF8 { encode(opcode: .text, UnsafeRawBufferPointer($0), into: &buffer) }
        case .binary(let bytes):
            bytes.withUnsafeBytes { encode(opcode: .binary, $0, into: &buffer) }
        }
    }

    /// Appends the frames of a text (`.text`) or binary (`.binary`) message's bytes to `buffer`.
    func encode(opcode: WebSocketOpcode, _ bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        if let deflater, bytes.count >= minimumCompressedSize {
            let compressed = deflater.compress(bytes)
            compressed.withUnsafeBytes { fragment(opcode: opcode, rsv1: true, $0, into: &buffer) }
        } else {
            fragment(opcode: opcode, rsv1: false, bytes, into: &buffer)
        }
    }

    /// Appends a control frame (ping, pong or close) to `buffer`. Its payload must be at most
    /// 125 bytes (the public API checks); a longer one is cut to 125.
    static func encodeControl(_ opcode: WebSocketOpcode, payload: [UInt8], into buffer: inout [UInt8]) {
        payload.withUnsafeBytes { raw in
            FrameEncoder.encode(opcode: opcode, payload: UnsafeRawBufferPointer(rebasing: raw.prefix(125)), into: &buffer)
        }
    }

    private func fragment(opcode: WebSocketOpcode, rsv1: Bool, _ payload: UnsafeRawBufferPointer, into buffer: inout [UInt8]) {
        guard payload.count > maximumFramePayload else {
            FrameEncoder.encode(opcode: opcode, rsv1: rsv1, payload: payload, into: &buffer)
            return
        }
        var offset = 0
        while offset < payload.count {
            let end = payload.count - offset > maximumFramePayload ? offset + maximumFramePayload : payload.count
            FrameEncoder.encode(
                opcode: offset == 0 ? opcode : .continuation, fin: end == payload.count, rsv1: rsv1 && offset == 0,
                payload: UnsafeRawBufferPointer(rebasing: payload[offset..<end]), into: &buffer
            )
            offset = end
        }
    }
}
