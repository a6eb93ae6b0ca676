#if canImport(Glibc)
import Glibc
#endif

/// A plain mutual-exclusion lock over `pthread_mutex_t`.
///
/// A pthread mutex rather than `Synchronization.Mutex`: ThreadSanitizer does not see the latter's
/// futex-based locking on Linux with Swift 6.3.1 and reports every access it guards as a race,
/// which would blind `make sanitize-thread` to real ones.
///
/// `@unchecked Sendable`: its only state is the mutex itself, which exists to be used from any
/// thread; its address never changes (it is allocated once and freed in `deinit`).
final class PthreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
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

    /// For callers whose lock and unlock come apart (libcurl's share lock callbacks); pair
    /// every `lock()` with one `unlock()` on the same thread.
    func lock() {
        _ = pthread_mutex_lock(mutex)
    }

    func unlock() {
        _ = pthread_mutex_unlock(mutex)
    }

    /// Takes the lock if it is free (`pthread_mutex_trylock`); `true` if it did. Pair a `true`
    /// with one `unlock()` on the same thread.
    func tryLock() -> Bool {
        pthread_mutex_trylock(mutex) == 0
    }

    /// Runs `body` holding the lock. Not reentrant: `body` must not take the same lock.
    func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        _ = pthread_mutex_lock(mutex)
        defer { _ = pthread_mutex_unlock(mutex) }
        return try body()
    }
}
