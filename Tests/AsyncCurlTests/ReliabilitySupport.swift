import AsyncCurl
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

// Helpers for the reliability tests (hostile peers, storms, soak, teardown).

/// A number from the environment, or `defaultValue` when it is unset or not a number.
func environmentInt(_ name: String, default defaultValue: Int) -> Int {
    guard let raw = getenv(name), let value = Int(String(cString: raw)) else { return defaultValue }
    return value
}

/// A field of /proc/self/status in kilobytes, such as `VmRSS` (or a count, such as `Threads`).
func procStatusValue(_ field: String) -> Int? {
    guard let file = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0 {
        guard let line else { continue }
        let text = String(cString: line)
        guard text.hasPrefix(field + ":") else { continue }
        let digits = text.dropFirst(field.count + 1).filter(\.isNumber)
        return Int(digits)
    }
    return nil
}

/// Resident set size of this process in bytes, after giving freed heap memory back to the
/// kernel, so that what is left is memory still in use (or leaked), not allocator free lists.
func residentMemoryAfterTrim() -> Int {
    _ = mallocTrim?(0)
    return (procStatusValue("VmRSS") ?? 0) * 1024
}

/// Bytes the C heap has handed out and not had back, all arenas together, mmapped blocks
/// included: glibc's `malloc_info` report (its heap size minus its free chunks), taken after
/// `malloc_trim` so that the top of each heap holds no free slack. Unlike resident memory it
/// sees small allocations one by one, so a retention of a few hundred bytes per operation shows
/// after thousands of operations rather than hundreds of thousands. Freed chunks parked in the
/// per-thread caches count as in use: expect noise of a few hundred KiB.
func heapBytesInUse() -> Int? {
    guard let mallocInfo else { return nil }
    _ = mallocTrim?(0)
    var buffer: UnsafeMutablePointer<CChar>?
    var size = 0
    guard let stream = open_memstream(&buffer, &size) else { return nil }
    _ = mallocInfo(0, stream)
    fclose(stream)
    defer { free(buffer) }
    guard let buffer else { return nil }
    // The totals for the whole process follow the last </heap>.
    let report = String(cString: buffer)
    guard let summary = report.split(separator: "</heap>").last else { return nil }
    func total(_ kind: String) -> Int? {
        guard let start = summary.firstRange(of: "type=\"\(kind)\"") else { return nil }
        guard let sizeStart = summary[start.upperBound...].firstRange(of: "size=\"") else { return nil }
        let digits = summary[sizeStart.upperBound...].prefix { $0.isNumber }
        return Int(digits)
    }
    guard let current = total("current"), let fast = total("fast"), let rest = total("rest"),
          let mmapped = total("mmap") else { return nil }
    return current - fast - rest + mmapped
}

/// glibc's `malloc_info`, which writes the allocator's statistics as XML.
private let mallocInfo: (@convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32)? = {
    guard let symbol = dlsym(nil, "malloc_info") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32).self)
}()

/// glibc's `malloc_trim`, which Swift's Glibc module does not export (it is in <malloc.h>).
private let mallocTrim: (@convention(c) (Int) -> Int32)? = {
    // RTLD_DEFAULT is the null handle: search the whole process.
    guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
}()

/// glibc's `mallopt(M_MMAP_THRESHOLD, bytes)`: allocations of at least `bytes` are served by
/// mmap and returned to the kernel on free. Setting it also stops glibc from raising the
/// threshold dynamically, which would otherwise move large buffers into the heap.
func setMallocMmapThreshold(_ bytes: Int32) {
    guard let symbol = dlsym(nil, "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    _ = mallopt(-3, bytes)  // M_MMAP_THRESHOLD
}

/// Whether resident-memory figures mean anything in this process. Under AddressSanitizer (whose
/// quarantine keeps freed memory), ThreadSanitizer (shadow memory) and valgrind (its own
/// allocator) they do not, so the memory assertions are skipped there; the sanitizers' and
/// valgrind's own leak checks cover leaks instead. `AC_MEMORY_CHECKS=0` skips them anywhere.
let memoryChecksApply: Bool = {
    if dlsym(nil, "__asan_init") != nil || dlsym(nil, "__tsan_init") != nil { return false }
    if let preload = getenv("LD_PRELOAD"), String(cString: preload).contains("vgpreload") { return false }
    return environmentInt("AC_MEMORY_CHECKS", default: 1) != 0
}()

/// Threads of this process right now.
func threadCount() -> Int {
    procStatusValue("Threads") ?? -1
}

/// SplitMix64: a small seeded generator, so every random choice of a test run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ByteStream {
    /// Checks that `chunk` is the next `chunk.count` bytes of the stream, consuming them either
    /// way. Returns the offset of the first wrong byte, or nil when all match.
    mutating func firstMismatch(in chunk: [UInt8]) -> Int? {
        let expected = next(chunk.count)
        let same = expected.withUnsafeBytes { expectedBytes in
            chunk.withUnsafeBytes { chunkBytes in
                chunkBytes.isEmpty || memcmp(expectedBytes.baseAddress!, chunkBytes.baseAddress!, chunkBytes.count) == 0
            }
        }
        if same { return nil }
        return chunk.indices.first { chunk[$0] != expected[$0] }
    }
}

/// A value the peer's thread publishes for the test to wait for (the peer runs on a plain
/// thread, outside Swift concurrency). Backed by `Locked`, which ThreadSanitizer understands.
final class PeerReport<Value: Sendable>: Sendable {
    private let value = Locked<Value?>(nil)

    init() {}

    func publish(_ newValue: Value) {
        value.withLock { $0 = newValue }
    }

    var current: Value? { value.current }

    /// Waits (with a deadline) until the peer has published, and returns what it published.
    func wait(_ what: String, timeout: Duration = .seconds(10)) async throws -> Value {
        try await waitUntil(what, timeout: timeout) { current != nil }
        return current!
    }
}

/// A gate the test opens to let a stalled peer thread finish; the peer never waits longer than
/// `limit`, so a failing test cannot leave threads behind for long.
final class PeerGate: Sendable {
    private let opened = Locked(false)
    private let semaphoreBox = SemaphoreBox()

    init() {}

    func open() {
        opened.withLock { $0 = true }
        semaphoreBox.signalAll()
    }

    /// Shuts the gate again, for the next connection's peer.
    func close() {
        opened.withLock { $0 = false }
    }

    /// Blocks the peer's thread until `open()` or `limit`.
    func wait(limit: Duration = .seconds(60)) {
        semaphoreBox.wait(limit: limit) { self.opened.current }
    }
}

/// A condition variable for `PeerGate`: pthread primitives, which ThreadSanitizer models.
private final class SemaphoreBox: @unchecked Sendable {
    // @unchecked: the mutex and condition are only used through pthread calls, which are
    // thread-safe by definition; the pointers themselves never change.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func signalAll() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait(limit: Duration, until done: () -> Bool) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let (seconds, attoseconds) = limit.components
        deadline.tv_sec += Int(seconds)
        deadline.tv_nsec += Int(attoseconds / 1_000_000_000)
        if deadline.tv_nsec >= 1_000_000_000 {
            deadline.tv_sec += 1
            deadline.tv_nsec -= 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        while !done() {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        pthread_mutex_unlock(mutex)
    }
}

/// Runs `body` and returns what it returned or threw, with how long it took.
func measured<T>(_ body: () async throws -> T) async -> (result: Result<T, any Error>, elapsed: Duration) {
    let start = ContinuousClock.now
    do {
        let value = try await body()
        return (.success(value), ContinuousClock.now - start)
    } catch {
        return (.failure(error), ContinuousClock.now - start)
    }
}

/// How an operation ended, in a form that tests compare and failure messages show:
/// `"success"`, `"CurlError.recvError"`, `"ConnectionError.closed"`, `"CancellationError"`, …
func outcome<T>(_ result: Result<T, any Error>) -> String {
    switch result {
    case .success: return "success"
    case .failure(let error): return outcome(of: error)
    }
}

func outcome(of error: any Error) -> String {
    switch error {
    case let error as CurlError: return "CurlError.\(error.code.name)"
    case let error as ConnectionError: return "ConnectionError.\(error.code)"
    case is CancellationError: return "CancellationError"
    default: return "\(type(of: error)): \(error)"
    }
}

/// `value` with one decimal, for log lines (the tests do not import Foundation).
func oneDecimal(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
}
