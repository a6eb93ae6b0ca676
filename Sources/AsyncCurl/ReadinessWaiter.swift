/// A suspended `send` or `receive` waiting for its socket to become ready.
///
/// The continuation is unchecked (`UnsafeContinuation`): a checked one allocates a canary object
/// and records the caller's name for every wait, which showed in the wait path's profile. It is
/// resumed exactly once because a waiter lives in exactly one place, its direction's slot in the
/// gate's state, and everything that resumes it (readiness, its deadline, cancellation, the
/// connection's close, or a park that is refused) first takes it out of that slot under the
/// gate's lock, or never stored it (see `ConnectionGate.waitUntilReady`).
struct ReadinessWaiter: Sendable {
    /// Tells a cancellation apart from a later wait of the same connection and direction.
    let token: UInt64
    let continuation: UnsafeContinuation<Void, any Error>
    /// When the wait expires, if it has a deadline; the connection's timer for the direction is
    /// armed for it.
    let deadline: Deadline?

    /// Resumes the waiting operation; every waiter is finished through here exactly once.
    func finish(throwing error: (any Error)? = nil) {
        if let error {
            continuation.resume(throwing: error)
        } else {
            continuation.resume()
        }
    }
}

/// Thrown into a wait whose deadline passed; the operation turns it into a ``CurlError``.
struct ReadinessTimeout: Error {}
