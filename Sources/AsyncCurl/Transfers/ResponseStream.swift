import HTTPTypes

/// A response body between libcurl's write callback (on the engine's queue) and its one
/// consumer (see ``ResponseBodyStateMachine``, which decides; this class waits, wakes, and
/// asks the engine to resume or cancel the transfer). It also keeps how the transfer ended:
/// its facts, trailer fields or error, for ``ResponseBody/facts()``.
final class ResponseStream: Sendable {
    typealias Waiter = CheckedContinuation<[UInt8]?, any Error>

    struct Completion: Sendable {
        var facts: TransferFacts
        var trailerFields: HTTPFields
        var error: (any Error)?
    }

    private struct Ending {
        var completion: Completion?
        var waiters: [CheckedContinuation<Completion, Never>] = []
    }

    private let state: PthreadLocked<ResponseBodyStateMachine<Waiter>>
    private let ending = PthreadLocked(Ending())
    /// Asks the engine to resume the paused download (on its queue, never inline).
    private let resumeTransfer: @Sendable () -> Void
    /// Asks the engine to stop the transfer and release it (the consumer was cancelled).
    private let cancelTransfer: @Sendable () -> Void

    init(limit: Int, resumeTransfer: @escaping @Sendable () -> Void, cancelTransfer: @escaping @Sendable () -> Void) {
        state = PthreadLocked(ResponseBodyStateMachine(limit: limit))
        self.resumeTransfer = resumeTransfer
        self.cancelTransfer = cancelTransfer
    }

    // MARK: - The consumer's side

    /// The next chunk, `nil` at the end; throws the transfer's error. Cancelling the waiting
    /// task cancels the transfer.
    func next() async throws -> [UInt8]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let action = state.withLock { $0.next(continuation) }
                switch action {
                case .chunk(let chunk, let resume):
                    if resume { resumeTransfer() }
                    continuation.resume(returning: chunk)
                case .wait(let resume):
                    if resume { resumeTransfer() }
                    // A cancellation that came before the waiter was stored found nothing.
                    if Task.isCancelled, let waiter = state.withLock({ $0.cancelWaiter() }) {
                        cancelTransfer()
                        waiter.resume(throwing: CancellationError())
                    }
                case .end:
                    continuation.resume(returning: nil)
                case .fail(let error):
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            if let waiter = state.withLock({ $0.cancelWaiter() }) {
                cancelTransfer()
                waiter.resume(throwing: CancellationError())
            }
        }
    }

    /// The consumer dropped the body without reading it to the end.
    func consumerGone() {
        let ended = state.withLock { machine -> Bool in
            machine.consumerGone()
            return machine.hasEnded
        }
        if !ended { cancelTransfer() }
    }

    /// How the transfer ended, once it has.
    func completion() async -> Completion {
        await withCheckedContinuation { (continuation: CheckedContinuation<Completion, Never>) in
            let done = ending.withLock { ending -> Completion? in
                if let completion = ending.completion { return completion }
                ending.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Bytes waiting for the consumer (for diagnostics and tests).
    var bufferedBytes: Int { state.withLock { $0.bufferedBytes } }

    // MARK: - The engine's side (libcurl's callbacks, on the engine's queue)

    enum WriteResult { case taken, pause, refuse }

    func write(_ bytes: [UInt8]) -> WriteResult {
        switch state.withLock({ $0.write(bytes) }) {
        case .buffered:
            return .taken
        case .deliver(let chunk, let waiter):
            waiter.resume(returning: chunk)
            return .taken
        case .pause:
            return .pause
        case .refuse:
            return .refuse
        }
    }

    /// The transfer ended; the consumer reads what is buffered, then the end or `completion.error`.
    func finish(_ completion: Completion) {
        state.withLock { $0.finish(completion.error) }.map { waiter in
            if let error = completion.error {
                waiter.resume(throwing: error)
            } else {
                waiter.resume(returning: nil)
            }
        }
        let waiters = ending.withLock { ending -> [CheckedContinuation<Completion, Never>] in
            guard ending.completion == nil else { return [] }
            ending.completion = completion
            defer { ending.waiters = [] }
            return ending.waiters
        }
        for waiter in waiters { waiter.resume(returning: completion) }
    }
}
