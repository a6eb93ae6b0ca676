import AsyncCurl

/// The reader's state: the frame decoder, the message assembler with its inflater, and the
/// keep-alive clock.
///
/// `@unchecked Sendable`, safely: only the task that set ``SharedState/readerActive`` (under the
/// WebSocket's mutex) touches these fields, until it clears the flag (under the mutex again).
/// The mutex orders one reader's last access before the next reader's first, so there is never
/// a concurrent access.
final class ReceiveSide: @unchecked Sendable {
    var decoder: FrameDecoder
    var assembler: MessageAssembler
    /// When the last bytes arrived, for the keep-alive.
    var lastActivity = ContinuousClock.now
    /// When the unanswered keep-alive ping went out, if one did.
    var keepAlivePingSent: ContinuousClock.Instant?

    /// The most bytes one read asks for.
    static let readSize = 64 * 1024

    init(configuration: WebSocketConfiguration, inflater: Inflater?) {
        decoder = FrameDecoder(maximumFrameSize: configuration.maximumFrameSize, allowsRSV1: inflater != nil)
        assembler = MessageAssembler(maximumMessageSize: configuration.maximumMessageSize, inflater: inflater)
    }

    /// What the buffered bytes hold next.
    enum Decoded {
        /// An event: a message, a control frame's meaning.
        case event(ReceivedEvent)
        /// No complete event yet: read more.
        case needMore
        /// The peer broke the protocol.
        case violation(WebSocketProtocolViolation)
    }

    /// Decodes frames from the buffered bytes until one makes an event.
    func decodeNext() -> Decoded {
        do {
            while let frame = try decoder.nextFrame() {
                if let event = try assembler.receive(frame) { return .event(event) }
            }
            if let partial = decoder.partialFrame {
                try assembler.checkPartialFrame(opcode: partial.opcode, rsv1: partial.rsv1, payload: partial.payload)
            }
            return .needMore
        } catch {
            return .violation(error)
        }
    }
}

/// The sending side: the locks that keep messages and frames whole, and the deflater.
///
/// `@unchecked Sendable`, safely: `deflater` is used only by the holder of `messageLock`, an
/// ``AsyncLock`` whose hand-over (under its mutex) orders one holder's accesses before the next.
final class SendSide: @unchecked Sendable {
    /// Held for a whole data message, fragments included: messages never interleave.
    let messageLock = AsyncLock()
    /// Held for one frame's bytes: control frames may go between a message's fragments.
    let frameLock = AsyncLock()
    let deflater: Deflater?
    /// Messages shorter than this go out uncompressed.
    let minimumCompressedSize: Int

    init(deflater: Deflater?, minimumCompressedSize: Int) {
        self.deflater = deflater
        self.minimumCompressedSize = minimumCompressedSize
    }
}

/// The ``WebSocket/ping(_:timeout:)`` calls waiting for their pongs, oldest first.
///
/// A ping is registered before it is sent, so a pong that comes back before the caller starts
/// waiting is not lost: the entry is marked answered, and the wait returns at once.
struct PongWaiters {
    struct Entry {
        let id: UInt64
        let payload: [UInt8]
        var answered = false
        var continuation: CheckedContinuation<Void, any Error>?
    }

    private(set) var entries: [Entry] = []
    private var nextID: UInt64 = 0

    /// Registers a ping about to be sent and returns its id.
    mutating func register(payload: [UInt8]) -> UInt64 {
        nextID += 1
        entries.append(Entry(id: nextID, payload: payload))
        return nextID
    }

    enum WaitOutcome {
        case waiting
        case answered
        case gone
    }

    /// Attaches the waiting task's continuation, unless the pong already came (`answered`) or
    /// the entry was removed meanwhile (`gone`: cancelled, timed out, or the WebSocket finished).
    mutating func wait(id: UInt64, continuation: CheckedContinuation<Void, any Error>) -> WaitOutcome {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return .gone }
        if entries[index].answered {
            entries.remove(at: index)
            return .answered
        }
        entries[index].continuation = continuation
        return .waiting
    }

    /// Removes the entry (cancelled or timed out) and returns the continuation to resume, if a
    /// task was waiting.
    mutating func remove(id: UInt64) -> CheckedContinuation<Void, any Error>? {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return nil }
        return entries.remove(at: index).continuation
    }

    /// Marks the entries a pong with `payload` answers (the ping that sent it and every older
    /// one: a peer may answer only the most recent of several pings, RFC 6455 §5.5.3) and
    /// returns the continuations to resume.
    mutating func answered(by payload: [UInt8]) -> [CheckedContinuation<Void, any Error>] {
        guard let index = entries.firstIndex(where: { $0.payload == payload }) else { return [] }
        var resumed: [CheckedContinuation<Void, any Error>] = []
        var kept: [Entry] = []
        for (position, entry) in entries.enumerated() {
            if position <= index, let continuation = entry.continuation {
                resumed.append(continuation)
            } else if position <= index {
                var marked = entry
                marked.answered = true
                kept.append(marked)
            } else {
                kept.append(entry)
            }
        }
        entries = kept
        return resumed
    }

    /// Takes every waiting continuation and forgets every entry (the WebSocket is finished).
    mutating func takeAll() -> [CheckedContinuation<Void, any Error>] {
        defer { entries = [] }
        return entries.compactMap(\.continuation)
    }
}
