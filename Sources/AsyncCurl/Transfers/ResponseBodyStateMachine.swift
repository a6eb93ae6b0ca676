/// The response body's flow between libcurl's write callback and the one consumer, as a value
/// type: what to buffer, when to pause the transfer (`CURL_WRITEFUNC_PAUSE`) and when to resume
/// it (`curl_easy_pause`), and whom to wake. It decides; the caller acts (``TransferStream``
/// holds it under a lock and does the waking; the engine does the pausing).
///
/// Back-pressure: the write callback's bytes are taken while fewer than `limit` bytes wait for
/// the consumer; beyond that the transfer pauses and libcurl keeps the bytes it offered. Once
/// the consumer has taken the buffer down to half the limit, the transfer resumes.
///
/// `Waiter` is the consumer's suspended `next()` (a continuation); the tests use any type.
struct ResponseBodyStateMachine<Waiter> {
    /// What the write callback should answer libcurl.
    enum WriteDecision {
        /// The bytes were taken into the buffer.
        case buffered
        /// The bytes were taken: give them to this waiting consumer.
        case deliver([UInt8], to: Waiter)
        /// Nothing was taken: answer `CURL_WRITEFUNC_PAUSE`; libcurl offers the bytes again
        /// once the transfer is resumed.
        case pause
        /// Nobody will read the bytes (the consumer went away or the body ended): fail the
        /// write, which ends the transfer.
        case refuse
    }

    /// What `next()` should do.
    enum NextAction {
        /// Return this chunk; when `resume` is true, ask the engine to resume the paused transfer.
        case chunk([UInt8], resume: Bool)
        /// Suspend; the waiter is stored and woken by a later write or the end. When `resume`
        /// is true, ask the engine to resume the paused transfer.
        case wait(resume: Bool)
        /// The body ended: return `nil`.
        case end
        /// The body failed: throw.
        case fail(any Error)
    }

    private var chunks = ChunkQueue()
    private(set) var bufferedBytes = 0
    private var waiter: Waiter?
    /// The write callback answered `CURL_WRITEFUNC_PAUSE` and nobody has asked to resume yet.
    private(set) var isPaused = false
    private var end: Result<Void, any Error>?
    /// Set by ``consumerGone()``: later writes are refused.
    private var isAbandoned = false
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The write callback offers `bytes`.
    mutating func write(_ bytes: [UInt8]) -> WriteDecision {
        if isAbandoned || end != nil { return .refuse }
        if let waiter {
            self.waiter = nil
            return .deliver(bytes, to: waiter)
        }
        if bufferedBytes >= limit {
            isPaused = true
            return .pause
        }
        chunks.append(bytes)
        bufferedBytes += bytes.count
        return .buffered
    }

    /// The consumer asks for the next chunk; `waiter` is stored if it must wait.
    mutating func next(_ waiter: @autoclosure () -> Waiter) -> NextAction {
        if !chunks.isEmpty {
            let chunk = chunks.removeFirst()
            bufferedBytes -= chunk.count
            return .chunk(chunk, resume: takeResume())
        }
        switch end {
        case .success?: return .end
        case .failure(let error)?: return .fail(error)
        case nil:
            self.waiter = waiter()
            return .wait(resume: takeResume())
        }
    }

    /// The transfer is resumed once half the buffer is free.
    private mutating func takeResume() -> Bool {
        guard isPaused, bufferedBytes <= limit / 2 else { return false }
        isPaused = false
        return true
    }

    /// The waiting consumer was cancelled: returns it to be woken with the cancellation, if it
    /// was still waiting.
    mutating func cancelWaiter() -> Waiter? {
        defer { waiter = nil }
        return waiter
    }

    /// The transfer ended, with `error` or completely: returns the waiter to wake (with `nil`
    /// or the error). Buffered chunks stay readable; only the first end counts.
    mutating func finish(_ error: (any Error)?) -> Waiter? {
        guard end == nil else { return nil }
        end = error.map { .failure($0) } ?? .success(())
        isPaused = false
        defer { waiter = nil }
        return waiter
    }

    /// The consumer dropped the body: the buffer is freed and later writes are refused.
    mutating func consumerGone() {
        isAbandoned = true
        chunks.removeAll()
        bufferedBytes = 0
    }

    /// Whether the body has ended (completely or with an error).
    var hasEnded: Bool { end != nil }
}
