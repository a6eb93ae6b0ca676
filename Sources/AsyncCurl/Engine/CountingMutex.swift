import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex that measures how often and how long threads wait for it: the engine's
/// libcurl lock (`CurlMulti.curlLock`, see ``CurlMulti/lockStatistics``).
///
/// `lock()` first tries the mutex (`pthread_mutex_trylock`); only when that fails does it count a
/// contended acquisition and time the blocking `pthread_mutex_lock` on `CLOCK_MONOTONIC`. An
/// acquisition nobody else competes for costs one `trylock` and nothing more. Other locks use
/// the plain ``PthreadMutex`` and pay nothing.
///
/// A pthread mutex for the same reason as ``PthreadMutex`` (ThreadSanitizer sees it); the
/// counters are atomics. They are written only by the thread that has just acquired the mutex
/// after waiting, so writers never race each other; readers read them without the lock, in the
/// reverse order of the writes, so that a snapshot never shows more acquisitions than waits
/// (see ``statistics``).
///
/// `Sendable`: its state is a ``PthreadMutex`` and atomics.
final class CountingMutex: Sendable {
    private let mutex = PthreadMutex()
    /// Acquisitions whose `trylock` failed.
    private let contended = Atomic<UInt64>(0)
    /// The sum of their waits, in nanoseconds.
    private let waitNanoseconds = Atomic<UInt64>(0)
    /// The longest of them, in nanoseconds.
    private let longestNanoseconds = Atomic<UInt64>(0)
    /// Threads between a failed `trylock` and the end of their blocking `lock`.
    private let waiting = Atomic<Int>(0)

    /// Takes the lock, counting and timing the wait if another thread holds it. Pair every
    /// `lock()` with one `unlock()` on the same thread.
    func lock() {
        if mutex.tryLock() { return }
        lockContended()
    }

    /// The slow path, out of line so that the fast one stays a `trylock` and a branch.
    @inline(never)
    private func lockContended() {
        // The start is read before `waiting` goes up, so a thread that sees this one waiting
        // knows its wait started no later than that moment (the tests rely on it).
        let start = Self.monotonicNanoseconds()
        waiting.add(1, ordering: .sequentiallyConsistent)
        mutex.lock()
        let waited = Self.monotonicNanoseconds() &- start
        waiting.subtract(1, ordering: .sequentiallyConsistent)
        // Holding the mutex: no other writer. Total first, then the longest, then the count;
        // `statistics` reads them the other way round.
        waitNanoseconds.add(waited, ordering: .sequentiallyConsistent)
        if waited > longestNanoseconds.load(ordering: .relaxed) {
            longestNanoseconds.store(waited, ordering: .sequentiallyConsistent)
        }
        contended.add(1, ordering: .sequentiallyConsistent)
    }

    func unlock() {
        mutex.unlock()
    }

    /// Runs `body` holding the lock. Not reentrant: `body` must not take the same lock.
    func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body()
    }

    /// The counts so far, read without the lock.
    ///
    /// Each figure only grows. Read in the reverse order of the writes, so in every snapshot the
    /// total wait includes the longest wait and the waits of at least `contendedAcquisitions`
    /// acquisitions (a wait that is under way is in none of them).
    var statistics: CurlMulti.LockStatistics {
        let count = contended.load(ordering: .sequentiallyConsistent)
        let longest = longestNanoseconds.load(ordering: .sequentiallyConsistent)
        let total = waitNanoseconds.load(ordering: .sequentiallyConsistent)
        return CurlMulti.LockStatistics(contendedAcquisitions: count,
                                        totalWait: .nanoseconds(Int64(clamping: total)),
                                        longestWait: .nanoseconds(Int64(clamping: longest)))
    }

    /// Threads blocked in `lock()` right now (or about to block: past the failed `trylock`).
    var waitingThreads: Int {
        waiting.load(ordering: .sequentiallyConsistent)
    }

    /// `CLOCK_MONOTONIC` in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        _ = clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
