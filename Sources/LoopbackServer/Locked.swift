#if canImport(Glibc)
import Glibc
#endif

/// A value behind a `pthread_mutex_t`, for state shared between the server's threads and the
/// tests.
///
/// Why not `Synchronization.Mutex`: on Linux it is built directly on futex system calls, which
/// ThreadSanitizer cannot see into, so every handover through it is reported as a data race
/// (a false positive) under `swift test --sanitize=thread`. TSan intercepts `pthread_mutex_lock`
/// and `pthread_mutex_unlock` and knows they order memory, so with this lock the sanitizer sees
/// real happens-before edges and reports only real races. The cost (one heap-allocated mutex per
/// lock) does not matter in a test server.
///
/// `@unchecked Sendable` is sound because `value` is only read or written inside `withLock`,
/// between `pthread_mutex_lock` and `pthread_mutex_unlock` on the same mutex.
public final class Locked<Value: Sendable>: @unchecked Sendable {
    /// Heap-allocated so its address never changes (a pthread mutex must not move).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        // A default (non-recursive) mutex; it cannot fail with a nil attribute.
        _ = pthread_mutex_init(mutex, nil)
    }

    deinit {
        _ = pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value. Not reentrant: `body` must not call
    /// `withLock` on the same lock.
    public func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        _ = pthread_mutex_lock(mutex)
        defer { _ = pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// A copy of the value, read under the lock.
    public var current: Value {
        withLock { $0 }
    }
}
