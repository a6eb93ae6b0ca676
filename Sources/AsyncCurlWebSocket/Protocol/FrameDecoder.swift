/// Turns the bytes a server sends into frames (RFC 6455 §5.2), incrementally: bytes go in with
/// ``append(_:)-([UInt8])`` as they arrive, in chunks of any size, and ``nextFrame()`` returns each
/// frame once it is complete.
///
/// - Header checks fail fast: a frame is rejected as soon as the byte that makes it invalid
///   arrives (a reserved opcode on its first byte, a mask bit on its second), and a length over
///   ``maximumFrameSize`` is rejected from the header, before any of the payload is buffered, so
///   a peer announcing 2⁶³ − 1 bytes costs nothing.
/// - Non-minimal length encodings (say 5 in the 16-bit form) are accepted: RFC 6455 §5.2 obliges
///   the *sender* to use the minimal form but asks no check of the receiver, the length is
///   unambiguous either way, and browsers and the common libraries accept them too.
/// - Amortised O(n): consumed bytes are skipped with a read index and dropped when they are at
///   least half the buffer; a frame whose payload is not all here yet gets its own array, and the
///   rest of its payload is appended to it directly (it is not buffered twice).
/// - After a violation every call to ``nextFrame()`` throws it again.
struct FrameDecoder {
    /// The largest payload accepted in one frame; a larger one fails with
    /// ``WebSocketCloseCode/messageTooBig``.
    let maximumFrameSize: Int
    /// Whether RSV1 may be set (permessage-deflate was negotiated): on data frames only.
    let allowsRSV1: Bool

    /// Received bytes not yet decoded begin at `readIndex`.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// A frame whose header is decoded but whose payload is still arriving.
    private var pendingHeader: (fin: Bool, rsv1: Bool, opcode: WebSocketOpcode)?
    private var pendingPayload: [UInt8] = []
    private var pendingLength = 0
    private var failure: WebSocketProtocolViolation?

    /// A decoder for frames of at most `maximumFrameSize` payload bytes.
    init(maximumFrameSize: Int, allowsRSV1: Bool) {
        self.maximumFrameSize = maximumFrameSize
        self.allowsRSV1 = allowsRSV1
    }

    /// How many received bytes are held, not yet returned in a frame (the header of a frame
    /// whose payload is still arriving is held decoded, and not counted).
    var bufferedByteCount: Int { buffer.count - readIndex + pendingPayload.count }

    /// The frame whose header is decoded but whose payload is still arriving: its opcode, RSV1,
    /// and the payload bytes so far (for checks that fail fast, before the frame is complete).
    var partialFrame: (opcode: WebSocketOpcode, rsv1: Bool, payload: [UInt8])? {
        pendingHeader.map { ($0.opcode, $0.rsv1, pendingPayload) }
    }

    /// Adds received bytes.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var bytes = bytes
        if pendingHeader != nil { fillPendingPayload(from: &bytes) }
        guard !bytes.isEmpty else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes; when nothing is buffered the array itself becomes the buffer.
    mutating func append(_ bytes: [UInt8]) {
        if pendingHeader == nil && readIndex == buffer.count {
            buffer = bytes
            readIndex = 0
        } else {
            bytes.withUnsafeBytes { append($0) }
        }
    }

    /// The next complete frame, or `nil` until more bytes arrive.
    ///
    /// - Throws: ``WebSocketProtocolViolation`` with ``WebSocketCloseCode/protocolError`` for a
    ///   masked frame, a reserved opcode, RSV2 or RSV3, RSV1 where it is not allowed, a
    ///   fragmented or oversized (over 125 bytes) control frame, or a 64-bit length with its most
    ///   significant bit set; with ``WebSocketCloseCode/messageTooBig`` for a frame over
    ///   ``maximumFrameSize``.
    mutating func nextFrame() throws(WebSocketProtocolViolation) -> WebSocketFrame? {
        if let failure { throw failure }
        do {
            return try decode()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decode() throws(WebSocketProtocolViolation) -> WebSocketFrame? {
        if let header = pendingHeader {
            guard pendingPayload.count == pendingLength else { return nil }
            pendingHeader = nil
            let payload = pendingPayload
            pendingPayload = []
            return WebSocketFrame(fin: header.fin, rsv1: header.rsv1, opcode: header.opcode, payload: payload)
        }
        let available = buffer.count - readIndex
        guard available >= 1 else { return nil }
        let first = buffer[readIndex]
        let fin = first & 0x80 != 0
        let rsv1 = first & 0x40 != 0
        guard first & 0x30 == 0 else {
            throw WebSocketProtocolViolation(.protocolError, "RSV2 or RSV3 set")
        }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else {
            throw WebSocketProtocolViolation(.protocolError, "reserved opcode \(first & 0x0F)")
        }
        if rsv1 && (!allowsRSV1 || opcode.isControl) {
            throw WebSocketProtocolViolation(.protocolError, opcode.isControl ? "RSV1 on a control frame" : "RSV1 set without an extension")
        }
        if opcode.isControl && !fin {
            throw WebSocketProtocolViolation(.protocolError, "fragmented control frame")
        }
        guard available >= 2 else { return nil }
        let second = buffer[readIndex + 1]
        guard second & 0x80 == 0 else {
            throw WebSocketProtocolViolation(.protocolError, "masked frame from the server")
        }
        let shortLength = Int(second & 0x7F)
        if opcode.isControl && shortLength > 125 {
            throw WebSocketProtocolViolation(.protocolError, "control frame over 125 bytes")
        }
        let headerSize = shortLength == 127 ? 10 : shortLength == 126 ? 4 : 2
        guard available >= headerSize else { return nil }
        var length = UInt64(shortLength)
        if headerSize > 2 {
            length = 0
            for index in readIndex + 2..<readIndex + headerSize {
                length = length << 8 | UInt64(buffer[index])
            }
            if length >> 63 != 0 {
                throw WebSocketProtocolViolation(.protocolError, "64-bit length with the high bit set")
            }
        }
        guard length <= UInt64(max(0, maximumFrameSize)) else {
            throw WebSocketProtocolViolation(.messageTooBig, "frame of \(length) bytes over the limit of \(maximumFrameSize)")
        }
        let payloadLength = Int(length)
        let payloadStart = readIndex + headerSize
        if available - headerSize >= payloadLength {
            readIndex = payloadStart + payloadLength
            let payload = payloadLength == 0 ? [] : Array(buffer[payloadStart..<readIndex])
            return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, payload: payload)
        }
        // The payload is incomplete: give it its own array, sized for what is here and up to
        // 1 MiB more (a peer cannot make us reserve a whole announced frame it never sends).
        pendingHeader = (fin, rsv1, opcode)
        pendingLength = payloadLength
        pendingPayload = []
        pendingPayload.reserveCapacity(min(payloadLength, max(available - headerSize, 0) + (1 << 20)))
        pendingPayload.append(contentsOf: buffer[payloadStart...])
        readIndex = buffer.count
        return nil
    }

    /// Moves bytes of the pending frame's payload from the front of `bytes` to it.
    private mutating func fillPendingPayload(from bytes: inout UnsafeRawBufferPointer) {
        let taken = min(pendingLength - pendingPayload.count, bytes.count)
        guard taken > 0 else { return }
        let needed = pendingPayload.count + taken
        if needed > pendingPayload.capacity {
            // Geometric growth, but never beyond the frame's length.
            pendingPayload.reserveCapacity(min(pendingLength, max(needed, pendingPayload.capacity * 2)))
        }
        pendingPayload.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<taken]))
        bytes = UnsafeRawBufferPointer(rebasing: bytes[taken...])
    }

    /// Drops consumed bytes when they are at least half of the buffer (amortised O(1) a byte).
    private mutating func compact() {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 0 && readIndex >= buffer.count - readIndex {
            buffer.removeSubrange(..<readIndex)
            readIndex = 0
        }
    }
}
