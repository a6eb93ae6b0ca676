import Dispatch

/// The engine's turns for connection set-ups (``CurlMulti/SetUpLimit``): the lock around the
/// ``SetUpAdmission`` value, the waiting tasks' continuations, and the wake-up that ends slow
/// set-ups' turns.
///
/// Each waiting continuation is resumed exactly once, by whoever takes it out of the state
/// under the lock: a turn given (`leave`, `expire`), the task's cancellation, or its time-out.
final class SetUpTurns: Sendable {
    typealias Waiter = CheckedContinuation<Void, any Error>

    private let state: PthreadLocked<SetUpAdmission<Waiter>>
    /// Where the wake-ups run (the engine's queue); a wake-up after the engine is gone finds
    /// nothing to do.
    private let queue: DispatchQueue
    private let unlimited: Bool

    init(limit: CurlMulti.SetUpLimit, queue: DispatchQueue) {
        state = PthreadLocked(SetUpAdmission(limit: limit.concurrentSetUps, grace: limit.turnNanoseconds))
        unlimited = limit.concurrentSetUps == .max
        self.queue = queue
    }

    /// Set-ups waiting for their turn.
    var waitingCount: Int { state.withLock { $0.waitingCount } }

    /// Suspends until the caller may start a set-up; returns its token for ``leave(_:)`` and how
    /// long it waited, in nanoseconds.
    ///
    /// Callers wait here before anything else of the set-up, in a small async frame: a waiting
    /// connect holds its task and little more, and the set-up's own frames and objects are made
    /// only in its turn.
    /// - Throws: `CancellationError` if the task is cancelled before its turn; ``CurlError`` with
    ///   ``CurlError/Code/operationTimedOut`` if it waited `timeout` (`nil`: no limit).
    func enter(timeout: Duration?) async throws -> (token: UInt64, waited: UInt64) {
        if unlimited { return (0, 0) }
        let arrived = DispatchTime.now().uptimeNanoseconds
        // A turn that is free is taken without a continuation.
        let (token, admitted) = state.withLock { admission in
            let token = admission.reserve()
            return (token, admission.admitAtOnce(token, now: arrived))
        }
        if admitted { return (token, 0) }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let now = DispatchTime.now().uptimeNanoseconds
                let (arrival, wakeUp) = state.withLock { admission in
                    let arrival = admission.arrive(token, waiter: continuation, now: now, isCancelled: Task.isCancelled)
                    return (arrival, admission.wakeUpToSchedule())
                }
                switch arrival {
                case .admitted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: if let timeout { scheduleTimeOut(token, after: timeout, from: arrived) }
                }
                schedule(wakeUp)
            }
        } onCancel: {
            state.withLock { $0.cancel(token) }?.resume(throwing: CancellationError())
        }
        return (token, DispatchTime.now().uptimeNanoseconds - arrived)
    }

    /// The set-up of `token` is over: the next ones in line may start.
    func leave(_ token: UInt64) {
        if unlimited { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let (admitted, wakeUp) = state.withLock { admission in
            (admission.leave(token, now: now), admission.wakeUpToSchedule())
        }
        for waiter in admitted { waiter.resume() }
        schedule(wakeUp)
    }

    private func schedule(_ wakeUp: UInt64?) {
        guard let wakeUp else { return }
        queue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: wakeUp)) { [weak self] in
            self?.expire()
        }
    }

    /// Ends the wait of `token` at `timeout` after `start`, if it still waits then.
    private func scheduleTimeOut(_ token: UInt64, after timeout: Duration, from start: UInt64) {
        let deadline = Deadline(uptimeNanoseconds: start).adding(timeout)
        queue.asyncAfter(deadline: DispatchTime(uptimeNanoseconds: deadline.uptimeNanoseconds)) { [weak self] in
            guard let self, let waiter = state.withLock({ $0.timeOut(token) }) else { return }
            waiter.resume(throwing: CurlError(code: .operationTimedOut,
                                              message: "connectTimeout (\(timeout)) passed while the connect waited for a set-up turn (CurlMulti.SetUpLimit)"))
        }
    }

    /// Slow set-ups' turns end; waiters take them.
    private func expire() {
        let now = DispatchTime.now().uptimeNanoseconds
        let (admitted, wakeUp) = state.withLock { admission in
            (admission.expire(now: now), admission.wakeUpToSchedule())
        }
        for waiter in admitted { waiter.resume() }
        schedule(wakeUp)
    }
}

extension ConnectionOptions {
    /// These options for a set-up that waited `waited` nanoseconds for its turn: what is left of
    /// ``connectTimeout``, so that the limit covers the whole connect.
    /// - Throws: ``CurlError`` with ``CurlError/Code/operationTimedOut`` if nothing is left.
    func afterWaitingForATurn(_ waited: UInt64) throws(CurlError) -> ConnectionOptions {
        guard waited > 0, let limit = connectTimeout else { return self }
        let left = limit - .nanoseconds(Int64(clamping: waited))
        guard left > .zero else {
            throw CurlError(code: .operationTimedOut,
                            message: "connectTimeout (\(limit)) passed while the connect waited for a set-up turn (CurlMulti.SetUpLimit)")
        }
        var options = self
        options.connectTimeout = left
        return options
    }
}
