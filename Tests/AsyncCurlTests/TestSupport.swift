import AsyncCurl
import Glibc
import LoopbackServer
import Dispatch
import Testing
@testable import TestPeers

/// Every test runs inside this one suite, one test at a time: several tests count the process's
/// open file descriptors, which tests running beside them would disturb.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AsyncCurlTests {}

/// The number of open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { count += 1 }
    }
    return count - 1  // the directory stream itself
}

/// Waits until `condition` holds, re-checking after letting other work run, and fails with
/// `DeadlineExceeded` after `timeout`. For state the tests cannot be told about directly, such as
/// "the send is now suspended".
///
/// The first re-checks only yield, so a condition that holds almost at once costs nothing; after
/// that it re-checks every millisecond. Correctness never depends on that interval: it only stops
/// the waiting task from spinning. A loop of nothing but `Task.yield()` starved every other task
/// under valgrind (StormTests' cycling tasks made no progress in 120 s; with the pause they all
/// finished in 2 s), and slowed the storm on the 2-core machine too.
///
/// The pause is a `DispatchTime` timer, not `Task.sleep`: `Task.sleep` on the continuous clock
/// makes libdispatch open a timerfd for that clock the first time, which stays open and breaks
/// the tests that compare the process's fds with a baseline. `DispatchTime` is the clock the
/// engine's own timers use, whose timerfd every baseline already includes.
func waitUntil(_ what: String, timeout: Duration = .seconds(10),
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    var checks = 0
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw DeadlineExceeded(what: what) }
        checks += 1
        if checks < 100 {
            await Task.yield()
        } else {
            await withCheckedContinuation { (paused: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) { paused.resume() }
            }
        }
    }
}

/// A port on 127.0.0.1 where nobody listens: bound, never listened on, so connects are refused.
final class RefusingPort {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
            }
        }
        guard bound else { throw DeadlineExceeded(what: "a free port") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// Deterministic pseudo-random bytes (xorshift64*), so a receiver can check every byte of a
/// large transfer without keeping a copy.
struct ByteStream {
    private var state: UInt64
    private var word: UInt64 = 0
    private var left = 0

    init(seed: UInt64) { state = seed | 1 }

    mutating func next() -> UInt8 {
        if left == 0 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            word = state &* 2_685_821_657_736_338_717
            left = 8
        }
        let byte = UInt8(truncatingIfNeeded: word)
        word >>= 8
        left -= 1
        return byte
    }

    mutating func next(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Writes the next `buffer.count` bytes: the same bytes as that many `next()` calls, eight
    /// at a time (about 50 times faster in debug builds, which matters for the soak's gigabytes).
    mutating func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        let count = buffer.count
        var index = 0
        while index < count, left > 0 {
            buffer[index] = next()
            index += 1
        }
        guard let base = buffer.baseAddress else { return }
        while count - index >= 8 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            (base + index).storeBytes(of: (state &* 2_685_821_657_736_338_717).littleEndian, as: UInt64.self)
            index += 8
        }
        while index < count {
            buffer[index] = next()
            index += 1
        }
    }
}

/// Raises the soft open-files limit to the hard one, for the tests with thousands of sockets.
func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// What `multi.diagnostics == .idle` compares with: an engine that holds nothing for any
/// connection (`Diagnostics.isIdle`: every count zero). The one exception is
/// `retainedConnectionCaches`: an engine that made TLS connections keeps one connection cache
/// for their TLS sessions after they closed, and this allows it. Tests of that cache check it
/// themselves (TLSSessionTests).
struct IdleEngine: Sendable, CustomStringConvertible {
    static let idle = IdleEngine()
    var description: String { "idle (all counts zero; a retained TLS session cache allowed)" }

    static func == (diagnostics: CurlMulti.Diagnostics, _: IdleEngine) -> Bool {
        diagnostics.isIdle
    }
}
