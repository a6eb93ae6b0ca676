import CZlib

/// Compresses messages for permessage-deflate (RFC 7692 §7.2.1): one raw DEFLATE stream for the
/// connection, each message ended with a sync flush whose trailing `00 00 FF FF` is removed.
///
/// Owns its `z_stream` (allocated here, released in `deinit` with `deflateEnd`). Not `Sendable`:
/// a zlib stream is mutable state for the one owner that sends (the socket's send path).
final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    /// Whether the window is dropped after each message (`client_no_context_takeover`).
    let noContextTakeover: Bool
    /// The window size used, in bits: 9–15 (8 is compressed with 9, see ``init(windowBits:noContextTakeover:level:memoryLevel:)``).
    let windowBits: Int

    /// A compressor, or `nil` if zlib cannot allocate its state.
    ///
    /// - Parameters:
    ///   - windowBits: the LZ77 window the peer agreed to inflate with (8–15; clamped).
    ///     zlib's deflate refuses a raw stream with an 8-bit window, so 8 is compressed with 9:
    ///     that is safe because zlib never emits a distance over the window size minus 262
    ///     (`MAX_DIST`), which is 250 for a 9-bit window, within an 8-bit inflater's 256.
    ///   - noContextTakeover: reset the stream after each message.
    ///   - level: zlib's compression level, 0 (none) to 9 (best); -1 for its default (6).
    ///   - memoryLevel: zlib's `memLevel`, 1–9 (8 is zlib's default).
    init?(windowBits: Int, noContextTakeover: Bool, level: Int = -1, memoryLevel: Int = 8) {
        let bits = min(max(windowBits, 9), 15)
        self.windowBits = bits
        self.noContextTakeover = noContextTakeover
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = deflateInit2_(
            stream, Int32(min(max(level, -1), 9)), Z_DEFLATED, -Int32(bits), Int32(min(max(memoryLevel, 1), 9)),
            Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)
        )
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// A message's compressed payload, to send with RSV1 set on its first frame.
    ///
    /// An empty message compresses to the single byte `00` (RFC 7692 §7.2.3.6) without touching
    /// the stream.
    func compress(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        guard let base = message.baseAddress, !message.isEmpty else { return [0x00] }
        // Room for a quarter of the message at first (deflateBound, for incompressible data, is
        // more than the whole message): grown by doubling when deflate fills it.
        let bound = Int(deflateBound(stream, UInt(message.count))) + 16
        var output = [UInt8](repeating: 0, count: min(bound, 4096 + message.count / 4))
        var produced = 0
        var offset = 0
        repeat {
            let chunk = min(message.count - offset, Int(UInt32.max))
            offset += chunk
            let flush = offset == message.count ? Z_SYNC_FLUSH : Z_NO_FLUSH
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (base + offset - chunk).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(chunk)
            repeat {
                if produced == output.count {
                    output.append(contentsOf: repeatElement(0, count: max(64, output.count)))
                }
                output.withUnsafeMutableBytes { out in
                    let space = min(out.count - produced, Int(UInt32.max))
                    stream.pointee.next_out = (out.baseAddress! + produced).assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = UInt32(space)
                    _ = deflate(stream, flush)
                    produced += space - Int(stream.pointee.avail_out)
                }
            } while stream.pointee.avail_out == 0
        } while offset < message.count
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        output.removeLast(output.count - produced)
        if output.count >= 4 && output[output.count - 4..<output.count].elementsEqual([0x00, 0x00, 0xFF, 0xFF]) {
            output.removeLast(4)
        }
        if noContextTakeover { deflateReset(stream) }
        return output
    }

    /// A message's compressed payload.
    func compress(_ message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { compress($0) }
    }
}
