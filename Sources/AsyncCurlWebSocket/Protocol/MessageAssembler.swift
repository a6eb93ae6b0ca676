/// What a received frame amounts to, from ``MessageAssembler/receive(_:)``.
enum ReceivedEvent: Equatable, Sendable {
    /// A complete message (text already validated as UTF-8, compressed data inflated).
    case message(WebSocket.Message)
    /// A ping: answer with a pong carrying this payload.
    case ping([UInt8])
    /// A pong.
    case pong([UInt8])
    /// A close frame: `code` is `nil` when its payload was empty (report 1005,
    /// ``WebSocketCloseCode/noStatusReceived``).
    case close(code: WebSocketCloseCode?, reason: String)
}

/// The receive side's state machine (RFC 6455 §5.4–5.6, RFC 7692 §6): reassembles fragmented
/// messages, inflates compressed ones, validates text, and hands control frames back at once,
/// even between the fragments of a message.
///
/// - Text is validated frame by frame: invalid UTF-8 fails the message (1007) at the frame that
///   holds the bad byte; a message ending inside a character fails at its last frame.
/// - The size limit applies to the message as delivered (after inflating): a compressed message
///   is inflated frame by frame with its output bounded, so a deflate bomb fails with 1009 at the
///   limit having used at most the limit plus 32 KiB.
/// - An unfragmented, uncompressed binary message is delivered without copying its payload.
///
/// Not `Sendable` when it holds an ``Inflater`` (a zlib stream, for its one owner).
struct MessageAssembler {
    /// The largest message accepted, in bytes (after inflating).
    let maximumMessageSize: Int
    /// The decompressor when permessage-deflate was negotiated; without one RSV1 is an error.
    let inflater: Inflater?

    /// The opcode (text or binary) of the fragmented message in progress, if any.
    private var messageOpcode: WebSocketOpcode?
    private var messageIsCompressed = false
    private var messageBytes: [UInt8] = []
    private var validator = UTF8Validator()
    /// The check of the text frame whose payload is still arriving (``checkPartialFrame(opcode:rsv1:payload:)``):
    /// whether one is under way, its validator, and how many payload bytes it has seen.
    private var partialCheckActive = false
    private var partialValidator = UTF8Validator()
    private var partialCheckedCount = 0

    /// An assembler for messages of at most `maximumMessageSize` bytes.
    init(maximumMessageSize: Int, inflater: Inflater?) {
        self.maximumMessageSize = maximumMessageSize
        self.inflater = inflater
    }

    /// Whether a fragmented message has begun and not ended.
    var isMessageInProgress: Bool { messageOpcode != nil }

    /// How many bytes of the message in progress are held (inflated).
    var bufferedByteCount: Int { messageBytes.count }

    /// Takes the next frame; returns what it completes, or `nil` for a fragment that does not end
    /// its message.
    ///
    /// - Throws: ``WebSocketProtocolViolation``: ``WebSocketCloseCode/protocolError`` for a
    ///   continuation with no message in progress, a new message before the last ended, RSV1 on a
    ///   continuation or control frame or without permessage-deflate, a control frame fragmented
    ///   or over 125 bytes, a close payload of one byte or with a code that may not be sent;
    ///   ``WebSocketCloseCode/invalidFramePayloadData`` for text (or a close reason) that is not
    ///   UTF-8 and for compressed data that does not inflate;
    ///   ``WebSocketCloseCode/messageTooBig`` past ``maximumMessageSize``.
    mutating func receive(_ frame: WebSocketFrame) throws(WebSocketProtocolViolation) -> ReceivedEvent? {
        // What checkPartialFrame already validated of this frame (it is the frame that was
        // arriving): its validator goes on from there, so no byte is validated twice.
        let checked: (validator: UTF8Validator, count: Int)? = partialCheckActive ? (partialValidator, partialCheckedCount) : nil
        partialCheckActive = false
        if frame.opcode.isControl {
            guard frame.fin, !frame.rsv1, frame.payload.count <= 125 else {
                throw WebSocketProtocolViolation(.protocolError, "invalid control frame")
            }
        }
        switch frame.opcode {
        case .ping:
            return .ping(frame.payload)
        case .pong:
            return .pong(frame.payload)
        case .close:
            return try Self.closeEvent(frame.payload)
        case .text, .binary:
            guard messageOpcode == nil else {
                throw WebSocketProtocolViolation(.protocolError, "new message before the previous one ended")
            }
            if frame.rsv1 && inflater == nil {
                throw WebSocketProtocolViolation(.protocolError, "RSV1 set without permessage-deflate")
            }
            if frame.fin && !frame.rsv1 {
                return .message(try Self.uncompressedMessage(frame, limit: maximumMessageSize, checked: checked))
            }
            messageOpcode = frame.opcode
            messageIsCompressed = frame.rsv1
            messageBytes = []
            validator.reset()
            return try appendFragment(frame, checked: checked)
        case .continuation:
            guard messageOpcode != nil else {
                throw WebSocketProtocolViolation(.protocolError, "continuation frame with no message in progress")
            }
            if frame.rsv1 {
                throw WebSocketProtocolViolation(.protocolError, "RSV1 set on a continuation frame")
            }
            return try appendFragment(frame, checked: checked)
        }
    }

    /// Checks what has arrived of a frame whose payload is incomplete (``FrameDecoder/partialFrame``):
    /// when it is uncompressed text and its bytes so far cannot be UTF-8, the message fails with
    /// 1007 now rather than when the frame's last byte arrives (a peer may send the rest late, or
    /// never). Each byte is checked once however often this is called for the same frame, and
    /// ``receive(_:)`` of the completed frame goes on from where this check stopped.
    ///
    /// - Throws: ``WebSocketProtocolViolation`` with ``WebSocketCloseCode/invalidFramePayloadData``.
    mutating func checkPartialFrame(opcode: WebSocketOpcode, rsv1: Bool, payload: [UInt8]) throws(WebSocketProtocolViolation) {
        let startsText = opcode == .text && !rsv1 && messageOpcode == nil
        let continuesText = opcode == .continuation && !rsv1 && messageOpcode == .text && !messageIsCompressed
        guard startsText || continuesText, payload.count > partialCheckedCount || !partialCheckActive else { return }
        if !partialCheckActive {
            partialCheckActive = true
            partialValidator = startsText ? UTF8Validator() : validator
            partialCheckedCount = 0
        }
        let start = min(partialCheckedCount, payload.count)
        let valid = payload.withUnsafeBytes { partialValidator.validate(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        partialCheckedCount = payload.count
        guard valid else {
            throw WebSocketProtocolViolation(.invalidFramePayloadData, "text message is not valid UTF-8")
        }
    }

    /// A whole message in one uncompressed frame: its payload is the message.
    /// `checked`: the validator and byte count of ``checkPartialFrame(opcode:rsv1:payload:)``.
    private static func uncompressedMessage(_ frame: WebSocketFrame, limit: Int,
                                            checked: (validator: UTF8Validator, count: Int)?) throws(WebSocketProtocolViolation) -> WebSocket.Message {
        guard frame.payload.count <= limit else {
            throw WebSocketProtocolViolation(.messageTooBig, "message over \(limit) bytes")
        }
        guard frame.opcode == .text else { return .binary(frame.payload) }
        var validator = checked?.validator ?? UTF8Validator()
        let start = min(checked?.count ?? 0, frame.payload.count)
        let valid = frame.payload.withUnsafeBytes { validator.validate(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        guard valid, validator.isAtCharacterBoundary else {
            throw WebSocketProtocolViolation(.invalidFramePayloadData, "text message is not valid UTF-8")
        }
        return .text(String(decoding: frame.payload, as: UTF8.self))
    }

    /// `checked`: as for ``uncompressedMessage(_:limit:checked:)``; only an uncompressed text
    /// frame has one.
    private mutating func appendFragment(_ frame: WebSocketFrame,
                                         checked: (validator: UTF8Validator, count: Int)?) throws(WebSocketProtocolViolation) -> ReceivedEvent? {
        let isText = messageOpcode == .text
        var start = messageBytes.count
        if isText, !messageIsCompressed, let checked {
            validator = checked.validator
            start += min(checked.count, frame.payload.count)
        }
        if messageIsCompressed, let inflater {
            try inflater.inflate(frame.payload, limit: maximumMessageSize, into: &messageBytes)
            if frame.fin { try inflater.finishMessage(limit: maximumMessageSize, into: &messageBytes) }
        } else {
            guard frame.payload.count <= maximumMessageSize - messageBytes.count else {
                throw WebSocketProtocolViolation(.messageTooBig, "message over \(maximumMessageSize) bytes")
            }
            if messageBytes.isEmpty { messageBytes = frame.payload } else { messageBytes.append(contentsOf: frame.payload) }
        }
        if isText {
            let valid = messageBytes.withUnsafeBytes { validator.validate(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            guard valid, !frame.fin || validator.isAtCharacterBoundary else {
                throw WebSocketProtocolViolation(.invalidFramePayloadData, "text message is not valid UTF-8")
            }
        }
        guard frame.fin else { return nil }
        let bytes = messageBytes
        messageBytes = []
        messageOpcode = nil
        return .message(isText ? .text(String(decoding: bytes, as: UTF8.self)) : .binary(bytes))
    }

    /// A close frame's code and reason (RFC 6455 §5.5.1, §7.4).
    private static func closeEvent(_ payload: [UInt8]) throws(WebSocketProtocolViolation) -> ReceivedEvent {
        guard !payload.isEmpty else { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else {
            throw WebSocketProtocolViolation(.protocolError, "close frame with a one-byte payload")
        }
        let code = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isSendable else {
            throw WebSocketProtocolViolation(.protocolError, "close code \(code.rawValue) may not be sent")
        }
        let reason = payload[2...]
        var validator = UTF8Validator()
        let valid = reason.withUnsafeBytes { validator.validate($0) }
        guard valid, validator.isAtCharacterBoundary else {
            throw WebSocketProtocolViolation(.invalidFramePayloadData, "close reason is not valid UTF-8")
        }
        return .close(code: code, reason: String(decoding: reason, as: UTF8.self))
    }
}
