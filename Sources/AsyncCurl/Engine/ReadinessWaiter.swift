/// A suspended `send` or `receive` waiting for its socket to become ready.
///
/// A checked continuation, although a waiter is resumed exactly once by construction (it lives
/// only in its direction's slot in the gate's state, and whatever resumes it takes it out of
/// that slot under the gate's lock first). An `UnsafeContinuation` was measured too: it saves
/// the checked one's small allocation per wait, but its inlined `resume` reads the waiting
/// task's context from this module, where ThreadSanitizer cannot see the runtime's
/// synchronisation, and `make sanitize-thread` then reports a race on every such wait
/// (swiftlang/swift#57803). A sanitizer that reports noise would hide real races.
struct ReadinessWaiter: Sendable {
    /// Tells a cancellation apart from a later wait of the same connection and direction.
    let token: UInt64
    let continuation: CheckedContinuation<Void, any Error>
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
