@testable import AsyncCurlWebSocket

/// Builds frames as a server sends them (unmasked unless asked), for the decoder's tests.
enum ServerFrames {
    static func frame(
        _ opcode: UInt8, fin: Bool = true, rsv: UInt8 = 0, payload: [UInt8] = [],
        lengthForm: LengthForm = .minimal, maskingKey: [UInt8]? = nil
    ) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | rsv << 4 | opcode]
        let mask: UInt8 = maskingKey == nil ? 0 : 0x80
        let count = payload.count
        switch lengthForm == .minimal ? (count < 126 ? .seven : count <= 0xFFFF ? .sixteen : .sixtyFour) : lengthForm {
        case .seven, .minimal:
            bytes.append(mask | UInt8(truncatingIfNeeded: count))
        case .sixteen:
            bytes += [mask | 126, UInt8(truncatingIfNeeded: count >> 8), UInt8(truncatingIfNeeded: count)]
        case .sixtyFour:
            bytes.append(mask | 127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((UInt64(count) >> UInt64(shift)) & 0xFF)) }
        }
        if let maskingKey {
            bytes += maskingKey
            bytes += payload.enumerated().map { $0.element ^ maskingKey[$0.offset % 4] }
        } else {
            bytes += payload
        }
        return bytes
    }

    enum LengthForm { case minimal, seven, sixteen, sixtyFour }

    /// Decodes every frame in `bytes` (fed at once).
    static func decodeAll(_ bytes: [UInt8], maximumFrameSize: Int = 1 << 24, allowsRSV1: Bool = false) throws -> [WebSocketFrame] {
        var decoder = FrameDecoder(maximumFrameSize: maximumFrameSize, allowsRSV1: allowsRSV1)
        decoder.append(bytes)
        var frames: [WebSocketFrame] = []
        while let frame = try decoder.nextFrame() { frames.append(frame) }
        return frames
    }

    /// The violation decoding `bytes` throws, if any.
    static func violation(_ bytes: [UInt8], maximumFrameSize: Int = 1 << 24, allowsRSV1: Bool = false) -> WebSocketProtocolViolation? {
        var decoder = FrameDecoder(maximumFrameSize: maximumFrameSize, allowsRSV1: allowsRSV1)
        decoder.append(bytes)
        do {
            while try decoder.nextFrame() != nil {}
            return nil
        } catch {
            return error
        }
    }

    /// Deterministic pseudo-random bytes.
    static func bytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }
}
