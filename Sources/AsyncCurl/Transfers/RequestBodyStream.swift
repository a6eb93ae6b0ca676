/// A streamed request body between its producer task and libcurl's read callback (see
/// ``RequestBodyStateMachine``, which decides; this class waits, wakes and asks the engine to
/// resume the paused upload).
final class RequestBodyStream: Sendable {
    typealias Waiter = CheckedContinuation<Bool, any Error>

    private let state: PthreadLocked<RequestBodyStateMachine<Waiter>>
    /// Asks the engine to resume the transfer's paused upload (on its queue, never inline).
    private let resumeTransfer: @Sendable () -> Void

    init(limit: Int, resumeTransfer: @escaping @Sendable () -> Void) {
        state = PthreadLocked(RequestBodyStateMachine(limit: limit))
        self.resumeTransfer = resumeTransfer
    }

    /// Offers the producer's next chunk; suspends while the buffer is full. Returns `false`
    /// once the transfer no longer wants chunks.
    func push(_ chunk: [UInt8]) async throws -> Bool {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let action = state.withLock { $0.push(chunk, continuation) }
                switch action {
                case .proceed(let resume):
                    if resume { resumeTransfer() }
                    continuation.resume(returning: true)
                case .wait(let resume):
                    if resume { resumeTransfer() }
                    // A cancellation that came before the waiter was stored found nothing.
                    if Task.isCancelled, let waiter = state.withLock({ $0.cancelProducer() }) {
                        waiter.resume(throwing: CancellationError())
                    }
                case .stop:
                    continuation.resume(returning: false)
                }
            }
        } onCancel: {
            state.withLock { $0.cancelProducer() }?.resume(throwing: CancellationError())
        }
    }

    /// The producer's sequence ended, or threw `error`.
    func finish(_ error: (any Error)?) {
        if state.withLock({ $0.producerFinished(error) }) { resumeTransfer() }
    }

    // MARK: - The engine's side (libcurl's callbacks, on the engine's queue)

    func read(into buffer: UnsafeMutableRawBufferPointer) -> RequestBodyStateMachine<Waiter>.ReadDecision {
        let (decision, wake) = state.withLock { $0.read(into: buffer) }
        wake?.resume(returning: true)
        return decision
    }

    var canRewind: Bool { state.withLock { $0.canRewind } }

    var producerError: (any Error)? { state.withLock { $0.producerError } }

    /// The transfer ended: the producer stops.
    func transferFinished() {
        state.withLock { $0.transferFinished() }?.resume(returning: false)
    }
}
