import CZlib

/// Decompresses permessage-deflate messages (RFC 7692 §7.2.2): each frame's payload as it
/// comes, then `00 00 FF FF` at the message's end, with the output bounded so that a deflate
/// bomb stops at the limit having produced (and held) at most the limit plus 32 KiB.
///
/// Owns its `z_stream` (allocated here, released in `deinit` with `inflateEnd`) and a 32 KiB
/// scratch buffer. Not `Sendable`: mutable state for the one owner that receives.
final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let scratch: UnsafeMutableRawBufferPointer
    /// Whether the window is dropped after each message (`server_no_context_takeover`).
    let noContextTakeover: Bool
    /// Whether the sender's last block had BFINAL set and nothing of the message followed it.
    private var atStreamStart = false

    private static let scratchSize = 32 * 1024
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// A decompressor with a window of `windowBits` (8–15; clamped), or `nil` if zlib cannot
    /// allocate its state.
    init?(windowBits: Int, noContextTakeover: Bool) {
        self.noContextTakeover = noContextTakeover
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let bits = Int32(min(max(windowBits, 8), 15))
        guard inflateInit2_(stream, -bits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
        scratch = .allocate(byteCount: Self.scratchSize, alignment: 16)
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        scratch.deallocate()
    }

    /// The bytes produced since the stream was made (for tests: a bomb stops early).
    var totalOutput: Int { Int(stream.pointee.total_out) }

    /// Inflates the next compressed bytes of a message, appending the result to `output`.
    ///
    /// - Parameter limit: the largest `output.count` allowed.
    /// - Throws: ``WebSocketCloseCode/messageTooBig`` when `output` would grow past `limit`
    ///   (inflating stops there); ``WebSocketCloseCode/invalidFramePayloadData`` when the bytes
    ///   are not valid DEFLATE data.
    func inflate(_ bytes: UnsafeRawBufferPointer, limit: Int, into output: inout [UInt8]) throws(WebSocketProtocolViolation) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        atStreamStart = false
        var offset = 0
        repeat {
            let chunk = min(bytes.count - offset, Int(UInt32.max))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = UInt32(chunk)
            offset += chunk
            defer { stream.pointee.next_in = nil }
            try run(limit: limit, into: &output)
        } while offset < bytes.count
    }

    /// Inflates the next compressed bytes of a message, appending the result to `output`.
    func inflate(_ bytes: [UInt8], limit: Int, into output: inout [UInt8]) throws(WebSocketProtocolViolation) {
        // Not `withUnsafeBytes`: its closure's typed error would be erased.
        var failure: WebSocketProtocolViolation?
        bytes.withUnsafeBytes { raw in
            do throws(WebSocketProtocolViolation) { try inflate(raw, limit: limit, into: &output) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Ends a message: inflates the `00 00 FF FF` its sender removed, then resets the stream
    /// when there is no context takeover.
    ///
    /// When the message's data ended with a BFINAL block (RFC 7692 §7.2.3.4), the tail is not
    /// fed to the next stream unless the message began an empty stored block after it (the RFC
    /// example's final `00`), which the tail completes.
    func finishMessage(limit: Int, into output: inout [UInt8]) throws(WebSocketProtocolViolation) {
        if !atStreamStart {
            try inflate(Self.tail, limit: limit, into: &output)
        }
        atStreamStart = false
        if noContextTakeover { inflateReset(stream) }
    }

    /// Drops any state of a message in progress (the next message starts a fresh window when
    /// there is no context takeover; otherwise the stream simply continues).
    func reset() {
        inflateReset(stream)
        atStreamStart = false
    }

    /// Runs inflate until the input is used up, never producing more than `limit` allows.
    private func run(limit: Int, into output: inout [UInt8]) throws(WebSocketProtocolViolation) {
        while true {
            let allowance = limit - output.count
            guard allowance >= 0 else { throw WebSocketProtocolViolation(.messageTooBig, "message over \(limit) bytes") }
            // One byte more than allowed, so that reaching it proves the message too big.
            let space = min(Self.scratchSize, allowance == Int.max ? Self.scratchSize : allowance + 1)
            stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(space)
            let status = CZlib.inflate(stream, Z_SYNC_FLUSH)
            let produced = space - Int(stream.pointee.avail_out)
            stream.pointee.next_out = nil
            if produced > allowance {
                throw WebSocketProtocolViolation(.messageTooBig, "message over \(limit) bytes")
            }
            if produced > 0 {
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
            }
            switch status {
            case Z_OK:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { return }
            case Z_BUF_ERROR:
                return  // no progress possible: the input is used up and all output is out
            case Z_STREAM_END:
                // The sender ended a block with BFINAL: start a new raw stream, keeping the
                // window (the sender's next message may refer to it) unless it is discarded.
                restartKeepingWindow()
                if stream.pointee.avail_in == 0 {
                    atStreamStart = true
                    return
                }
            case Z_MEM_ERROR:
                throw WebSocketProtocolViolation(.internalServerError, "inflate ran out of memory")
            default:
                throw WebSocketProtocolViolation(.invalidFramePayloadData, "invalid compressed data")
            }
        }
    }

    private func restartKeepingWindow() {
        let pendingIn = stream.pointee.next_in
        let pendingCount = stream.pointee.avail_in
        if noContextTakeover {
            inflateReset(stream)
        } else {
            var window = [UInt8](repeating: 0, count: 32 * 1024)
            var length: UInt32 = 0
            window.withUnsafeMutableBufferPointer { buffer in
                _ = inflateGetDictionary(stream, buffer.baseAddress, &length)
                inflateReset(stream)
                _ = inflateSetDictionary(stream, buffer.baseAddress, length)
            }
        }
        stream.pointee.next_in = pendingIn
        stream.pointee.avail_in = pendingCount
    }
}
