/// A streamed request body's flow between the task that iterates the application's
/// `AsyncSequence` (the producer) and libcurl's read callback, as a value type.
///
/// The producer's chunks are buffered up to `limit` bytes; beyond that the producer waits
/// until the read callback has taken the buffer down to half the limit. When the read callback
/// finds the buffer empty before the sequence has ended, the transfer pauses
/// (`CURL_READFUNC_PAUSE`) and the next chunk resumes it. ``RequestBodyStream`` holds it under
/// a lock and acts on its decisions.
///
/// `Waiter` is the producer's suspension (a continuation); the tests use any type.
struct RequestBodyStateMachine<Waiter> {
    /// What the read callback should answer libcurl.
    enum ReadDecision: Equatable {
        /// `count` bytes were copied.
        case bytes(Int)
        /// The body is complete: answer 0.
        case end
        /// Nothing to send yet: answer `CURL_READFUNC_PAUSE`.
        case pause
        /// The producer failed or went away: answer `CURL_READFUNC_ABORT`.
        case abort
    }

    /// What the producer should do after offering a chunk.
    enum PushAction {
        /// Go on with the next chunk; resume the paused transfer first if `resume`.
        case proceed(resume: Bool)
        /// Suspend until woken (the waiter is stored); resume the paused transfer first if `resume`.
        case wait(resume: Bool)
        /// The transfer is over: stop iterating.
        case stop
    }

    private var chunks = ChunkQueue()
    /// How much of `chunks.first` has been sent.
    private var offset = 0
    private(set) var bufferedBytes = 0
    /// Bytes handed to libcurl so far.
    private(set) var sentBytes = 0
    private var producer: Waiter?
    /// The read callback answered `CURL_READFUNC_PAUSE` and no chunk has come since.
    private(set) var isPaused = false
    private var producerEnd: Result<Void, any Error>?
    /// The transfer ended: chunks are not wanted any more.
    private var transferEnded = false
    let limit: Int

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The producer offers `chunk`; `waiter` is stored if it must wait.
    mutating func push(_ chunk: [UInt8], _ waiter: @autoclosure () -> Waiter) -> PushAction {
        guard !transferEnded, producerEnd == nil else { return .stop }
        if !chunk.isEmpty {
            chunks.append(chunk)
            bufferedBytes += chunk.count
        }
        let resume = takeResume()
        if bufferedBytes >= limit {
            producer = waiter()
            return .wait(resume: resume)
        }
        return .proceed(resume: resume)
    }

    /// The producer's sequence ended (`error == nil`) or threw. Returns whether to resume the
    /// paused transfer, so that the read callback sees the end.
    mutating func producerFinished(_ error: (any Error)?) -> Bool {
        guard producerEnd == nil else { return false }
        producerEnd = error.map { .failure($0) } ?? .success(())
        return takeResume()
    }

    private mutating func takeResume() -> Bool {
        guard isPaused else { return false }
        isPaused = false
        return true
    }

    /// The read callback wants up to `buffer.count` bytes. Returns the decision and the producer
    /// to wake, once the buffer is down to half the limit.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> (ReadDecision, wake: Waiter?) {
        var copied = 0
        while copied < buffer.count, let first = chunks.first {
            let count = min(buffer.count - copied, first.count - offset)
            first.withUnsafeBytes { source in
                let from = UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count)])
                UnsafeMutableRawBufferPointer(rebasing: buffer[copied..<(copied + count)]).copyMemory(from: from)
            }
            copied += count
            offset += count
            if offset == first.count {
                _ = chunks.removeFirst()
                offset = 0
            }
        }
        bufferedBytes -= copied
        sentBytes += copied
        var wake: Waiter?
        if producer != nil, bufferedBytes <= limit / 2 {
            wake = producer
            producer = nil
        }
        if copied > 0 { return (.bytes(copied), wake) }
        switch producerEnd {
        case .success?: return (.end, wake)
        case .failure?: return (.abort, wake)
        case nil:
            isPaused = true
            return (.pause, wake)
        }
    }

    /// The producer's error, if its sequence threw.
    var producerError: (any Error)? {
        if case .failure(let error)? = producerEnd { return error }
        return nil
    }

    /// The transfer ended (done, failed or cancelled): returns the waiting producer to wake,
    /// which then stops. Buffered chunks are dropped.
    mutating func transferFinished() -> Waiter? {
        transferEnded = true
        chunks.removeAll()
        offset = 0
        bufferedBytes = 0
        defer { producer = nil }
        return producer
    }

    /// The producer's suspension was cancelled: returns it if it was still stored.
    mutating func cancelProducer() -> Waiter? {
        defer { producer = nil }
        return producer
    }

    /// libcurl asks to start the body again (a redirect, or an authentication round that
    /// probed without the body): possible only while no byte has been handed out, since a
    /// sequence cannot be replayed.
    var canRewind: Bool { sentBytes == 0 }
}
