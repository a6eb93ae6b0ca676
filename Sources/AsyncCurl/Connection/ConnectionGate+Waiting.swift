import Dispatch

// Waiting for readiness: a send or receive that found its socket not ready parks here and
// arms the socket's one-shot epoll registration; the engine's readiness thread resumes it (`wake`),
// or its deadline, its task's cancellation or the connection's close ends it.

extension ConnectionGate {
    /// Suspends until the socket is ready in `direction`. Throws ``ConnectionError/closed`` (or
    /// the engine's shut-down error) if the connection closes meanwhile, `CancellationError` if
    /// the task is cancelled, and `ReadinessTimeout` at `deadline` or after the connection's idle
    /// timeout, whichever comes first. Callable from any context.
    func waitUntilReady(_ direction: Readiness, deadline operationDeadline: Deadline?) async throws {
        try Task.checkCancellation()
        var deadline = operationDeadline
        if let idleTimeout {
            let idleDeadline = Deadline.after(idleTimeout)
            deadline = min(deadline ?? idleDeadline, idleDeadline)
        }
        if let deadline, deadline.hasPassed { throw ReadinessTimeout() }
        let token = lastToken.wrappingAdd(1, ordering: .relaxed).newValue
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Runs on the waiting task before it suspends; `park` checks its cancellation.
                let waiter = ReadinessWaiter(token: token, continuation: continuation, deadline: deadline)
                switch park(waiter, direction) {
                case .parked: break
                case .refused(let error): waiter.finish(throwing: error)
                case .retry: waiter.finish()
                }
            }
        } onCancel: {
            self.endWait(direction, token: token, with: CancellationError())
        }
    }

    private enum Parking {
        case parked
        /// Not parked; the wait throws this.
        case refused(any Error)
        /// Not parked, because the socket could not be armed (it always should be): the
        /// operation retries at once, so its system call reports the real problem.
        case retry
    }

    /// Stores `waiter` and arms the socket's registration for it.
    private func park(_ waiter: ReadinessWaiter, _ direction: Readiness) -> Parking {
        withLock { (state: inout State) -> Parking in
            guard let socket = state.socket else { return .refused(state.closeError) }
            // A cancellation that came before the waiter was stored found nothing to cancel;
            // one that comes after finds it, since it needs this lock.
            if Task.isCancelled { return .refused(CancellationError()) }
            if direction == .readable { state.readWaiter = waiter } else { state.writeWaiter = waiter }
            if let deadline = waiter.deadline {
                armTimer(&state, direction, for: deadline)
            }
            guard let epoll, epoll.arm(socket, for: state.waiting) == 0 else {
                _ = state.takeWaiter(direction)
                return .retry
            }
            return .parked
        }
    }

    /// Arms the timer for `direction`, creating it on first use.
    private func armTimer(_ state: inout State, _ direction: Readiness, for deadline: Deadline) {
        let timer: DispatchSourceTimer
        if let existing = direction == .readable ? state.readTimer : state.writeTimer {
            timer = existing
        } else {
            timer = DispatchSource.makeTimerSource(queue: timerQueue)
            timer.setEventHandler { [weak self] in self?.expireWait(direction) }
            timer.activate()
            if direction == .readable { state.readTimer = timer } else { state.writeTimer = timer }
        }
        timer.schedule(deadline: deadline.dispatchTime)
    }

    /// A deadline timer fired: expire the current wait of `direction` if its deadline has passed
    /// (the timer may belong to a wait that has since been replaced).
    private func expireWait(_ direction: Readiness) {
        let expired = withLock { (state: inout State) -> ReadinessWaiter? in
            guard let waiter = direction == .readable ? state.readWaiter : state.writeWaiter,
                  let deadline = waiter.deadline else { return nil }
            if !deadline.hasPassed {
                armTimer(&state, direction, for: deadline)
                return nil
            }
            return state.takeWaiter(direction)
        }
        expired?.finish(throwing: ReadinessTimeout())
    }

    /// Ends one particular wait early (cancellation). A wait that already ended (its token no
    /// longer matches) is left alone: the operation sees the cancellation itself.
    private func endWait(_ direction: Readiness, token: UInt64, with error: any Error) {
        let waiter = withLock { (state: inout State) -> ReadinessWaiter? in
            guard (direction == .readable ? state.readWaiter : state.writeWaiter)?.token == token else { return nil }
            return state.takeWaiter(direction)
        }
        waiter?.finish(throwing: error)
    }


    /// The readiness thread saw `ready` on the socket: resumes the waits of those directions. The
    /// one-shot registration is now disarmed; it is armed again for a wait that remains.
    func wake(_ ready: Readiness) {
        let (reader, writer) = withLock { (state: inout State) -> (ReadinessWaiter?, ReadinessWaiter?) in
            let reader = ready.contains(.readable) ? state.takeWaiter(.readable) : nil
            let writer = ready.contains(.writable) ? state.takeWaiter(.writable) : nil
            if let socket = state.socket, let epoll, !state.waiting.isEmpty, epoll.arm(socket, for: state.waiting) != 0 {
                // Cannot re-arm: wake the rest too, so they retry and see the problem.
                return (reader ?? state.takeWaiter(.readable), writer ?? state.takeWaiter(.writable))
            }
            return (reader, writer)
        }
        reader?.finish()
        writer?.finish()
    }

    /// Suspended sends and receives, for the engine's diagnostics.
    var waiterCount: Int {
        withLock { ($0.readWaiter == nil ? 0 : 1) + ($0.writeWaiter == nil ? 0 : 1) }
    }

    /// The connection is closing: no direct I/O and no new waits from now on, and the current
    /// waits throw `error`. Returns once no direct call is using the socket, so libcurl may
    /// close it right after.
    func close(waitersThrow error: ConnectionError) {
        let (reader, writer) = withLock { (state: inout State) -> (ReadinessWaiter?, ReadinessWaiter?) in
            state.socket = nil
            state.allowsDirectIO = false
            state.channel = nil
            state.closeError = error
            state.readTimer?.cancel()
            state.writeTimer?.cancel()
            return (state.takeWaiter(.readable), state.takeWaiter(.writable))
        }
        reader?.finish(throwing: error)
        writer?.finish(throwing: error)
    }
}
