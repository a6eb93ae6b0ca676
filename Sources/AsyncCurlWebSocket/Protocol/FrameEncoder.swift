/// Writes client frames (RFC 6455 §5.2): always masked, with the shortest length encoding
/// (7, 16 or 64 bits).
///
/// The masking key is a `UInt32` whose big-endian bytes are the key's bytes on the wire:
/// `0x37fa213d` is sent as `37 fa 21 3d` and masks payload byte *i* with byte *i* mod 4 of that
/// sequence. Masking goes eight and 32 bytes at a time (`UInt64` words), not byte by byte.
enum FrameEncoder {
    /// A fresh masking key from the system's cryptographically secure generator: use one per
    /// frame (RFC 6455 §5.3).
    static func randomMaskingKey() -> UInt32 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }

    /// The header's size for a payload of this many bytes, masking key included: 6, 8 or 14.
    static func headerSize(payloadCount: Int) -> Int {
        payloadCount < 126 ? 6 : payloadCount <= 0xFFFF ? 8 : 14
    }

    /// Appends one masked frame to `buffer`: its header, then `payload` masked with `maskingKey`.
    ///
    /// The payload is copied once (into `buffer`) and masked there in place. Control frames'
    /// 125-byte limit and their `fin` are the caller's to respect (it builds them).
    static func encode(
        opcode: WebSocketOpcode,
        fin: Bool = true,
        rsv1: Bool = false,
        payload: UnsafeRawBufferPointer,
        maskingKey: UInt32 = randomMaskingKey(),
        into buffer: inout [UInt8]
    ) {
        let count = payload.count
        buffer.reserveCapacity(buffer.count + headerSize(payloadCount: count) + count)
        buffer.append((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue)
        if count < 126 {
            buffer.append(0x80 | UInt8(count))
        } else if count <= 0xFFFF {
            buffer.append(0x80 | 126)
            buffer.append(UInt8(truncatingIfNeeded: count >> 8))
            buffer.append(UInt8(truncatingIfNeeded: count))
        } else {
            buffer.append(0x80 | 127)
            let length = UInt64(count)
            for shift in stride(from: 56, through: 0, by: -8) {
                buffer.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
            }
        }
        buffer.append(UInt8(truncatingIfNeeded: maskingKey >> 24))
        buffer.append(UInt8(truncatingIfNeeded: maskingKey >> 16))
        buffer.append(UInt8(truncatingIfNeeded: maskingKey >> 8))
        buffer.append(UInt8(truncatingIfNeeded: maskingKey))
        guard count > 0 else { return }
        let start = buffer.count
        buffer.append(contentsOf: payload)
        buffer.withUnsafeMutableBytes { bytes in
            mask(UnsafeMutableRawBufferPointer(rebasing: bytes[start...]), key: maskingKey)
        }
    }

    /// Appends one masked frame with this payload to `buffer`.
    static func encode(
        opcode: WebSocketOpcode,
        fin: Bool = true,
        rsv1: Bool = false,
        payload: [UInt8],
        maskingKey: UInt32 = randomMaskingKey(),
        into buffer: inout [UInt8]
    ) {
        payload.withUnsafeBytes { bytes in
            encode(opcode: opcode, fin: fin, rsv1: rsv1, payload: bytes, maskingKey: maskingKey, into: &buffer)
        }
    }

    /// One masked frame with this payload, as a new array.
    static func encode(
        opcode: WebSocketOpcode,
        fin: Bool = true,
        rsv1: Bool = false,
        payload: [UInt8],
        maskingKey: UInt32 = randomMaskingKey()
    ) -> [UInt8] {
        var buffer: [UInt8] = []
        encode(opcode: opcode, fin: fin, rsv1: rsv1, payload: payload, maskingKey: maskingKey, into: &buffer)
        return buffer
    }

    /// A close frame's payload: the code (big-endian) then the reason's UTF-8, cut at a
    /// character boundary so the whole stays within a control frame's 125 bytes.
    static func closePayload(code: WebSocketCloseCode, reason: String) -> [UInt8] {
        var payload: [UInt8] = [UInt8(truncatingIfNeeded: code.rawValue >> 8), UInt8(truncatingIfNeeded: code.rawValue)]
        for scalar in reason.unicodeScalars {
            let encoded = scalar.utf8
            guard payload.count + encoded.count <= 125 else { break }
            payload.append(contentsOf: encoded)
        }
        return payload
    }

    /// XORs `bytes` in place with the masking key, starting at key byte 0 (masking is
    /// its own inverse, so this also unmasks).
    static func mask(_ bytes: UnsafeMutableRawBufferPointer, key: UInt32) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        // The key's wire bytes k0 k1 k2 k3, twice, in memory order on any host.
        let word32 = UInt64(key.bigEndian)
        let word = word32 | word32 << 32
        var index = 0
        while index &+ 32 <= count {
            let a = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let b = base.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
            let c = base.loadUnaligned(fromByteOffset: index &+ 16, as: UInt64.self)
            let d = base.loadUnaligned(fromByteOffset: index &+ 24, as: UInt64.self)
            base.storeBytes(of: a ^ word, toByteOffset: index, as: UInt64.self)
            base.storeBytes(of: b ^ word, toByteOffset: index &+ 8, as: UInt64.self)
            base.storeBytes(of: c ^ word, toByteOffset: index &+ 16, as: UInt64.self)
            base.storeBytes(of: d ^ word, toByteOffset: index &+ 24, as: UInt64.self)
            index &+= 32
        }
        while index &+ 8 <= count {
            let a = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            base.storeBytes(of: a ^ word, toByteOffset: index, as: UInt64.self)
            index &+= 8
        }
        // Fewer than 8 bytes are left, and index is a multiple of 8: key byte (index & 3).
        while index < count {
            let shift = UInt32(3 &- (index & 3)) &* 8
            let keyByte = UInt8(truncatingIfNeeded: key >> shift)
            base.storeBytes(of: base.load(fromByteOffset: index, as: UInt8.self) ^ keyByte, toByteOffset: index, as: UInt8.self)
            index &+= 1
        }
    }
}
