import Synchronization

/// A first-come, first-served lock for async code: `lock()` suspends (without blocking a thread)
/// until the holder calls `unlock()`, which hands the lock straight to the longest waiter.
///
/// A waiter that is cancelled leaves the queue and throws `CancellationError`; each waiter's
/// continuation is resumed exactly once, by whichever of `unlock()` and the cancellation handler
/// takes it out of the queue first (under the mutex).
final class AsyncLock: Sendable {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var isLocked = false
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// Waiters cancelled before they were queued (the handler ran first).
        var cancelledEarly: Set<UInt64> = []
    }

    private let state = Mutex(State())

    init() {}

    /// Takes the lock, waiting for it when another task holds it.
    /// - Throws: `CancellationError` when the task is cancelled while it waits.
    func lock() async throws {
        let id: UInt64? = state.withLock { state in
            if !state.isLocked {
                state.isLocked = true
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case queued, acquired, cancelled }
                let outcome: Outcome = state.withLock { state in
                    if state.cancelledEarly.remove(id) != nil { return .cancelled }
                    if !state.isLocked {
                        state.isLocked = true
                        return .acquired
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .queued
                }
                switch outcome {
                case .queued: break
                case .acquired: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                if let index = state.waiters.firstIndex(where: { $0.id == id }) {
                    return state.waiters.remove(at: index)
                }
                // Not queued yet (or already given the lock: then the id is never looked up again).
                state.cancelledEarly.insert(id)
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        // A waiter given the lock by unlock() may have been cancelled meanwhile: it keeps the
        // lock (the caller's defer releases it), and its stale cancelledEarly entry is dropped.
        state.withLock { _ = $0.cancelledEarly.remove(id) }
    }

    /// Releases the lock, handing it to the longest waiter if there is one.
    func unlock() {
        let next: Waiter? = state.withLock { state in
            if state.waiters.isEmpty {
                state.isLocked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.continuation.resume()
    }
}
