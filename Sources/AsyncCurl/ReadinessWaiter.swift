/// A suspended `send` or `receive` waiting for its socket to become ready.
struct ReadinessWaiter: Sendable {
    /// Tells a cancellation apart from a later wait of the same connection and direction.
    let token: UInt64
    let continuation: CheckedContinuation<Void, any Error>
    /// When the wait expires, if it has a deadline; the connection's timer for the direction is
    /// armed for it.
    let deadline: ContinuousClock.Instant?

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
