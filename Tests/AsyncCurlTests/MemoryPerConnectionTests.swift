import AsyncCurl
import Glibc
import Testing
@testable import TestPeers

/// A loopback listener that never accepts: the kernel completes up to `backlog` handshakes and
/// queues them, so clients connect without the server allocating anything in this process.
/// Keeps a memory measurement to the client's own allocations.
final class SilentListener: Sendable {
    let fd: Int32
    let port: Int

    var url: String { "tcp://127.0.0.1:\(port)" }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(backlog: Int32) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(fd, address, length) == 0 && listen(fd, backlog) == 0 && getsockname(fd, address, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            close(fd)
            throw Failure(description: "bind/listen: errno \(code)")
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

extension AsyncCurlTests {
    /// What an open, idle `tcp://` connection costs this process (BENCHMARKS.md, "Memory per
    /// connection: where it goes"). The peer is a ``SilentListener``, so the figures are the
    /// client's alone. Heap bytes come from glibc's `malloc_info` after `malloc_trim`, which
    /// counts bytes handed out, not timing, so the test is stable on a busy machine.
    ///
    /// `AC_MEMORY_REPORT=N` runs ``report()`` with N connections (at most 4,000: the listen
    /// backlog), printing heap and resident memory per connection; `AC_MEMORY_SEQUENTIAL=1`
    /// connects one at a time, which is what the massif breakdown in BENCHMARKS.md used.
    @Suite(.serialized) struct MemoryPerConnectionTests {
        struct Measurement: CustomStringConvertible {
            let connections: Int
            let heapBytes: Int
            let residentBytes: Int
            let residentAfterTrimBytes: Int

            func perConnection(_ bytes: Int) -> Int { bytes / connections }

            var description: String {
                "\(connections) idle tcp:// connections: heap \(perConnection(heapBytes)) B each, "
                    + "resident \(perConnection(residentBytes)) B each before malloc_trim, "
                    + "\(perConnection(residentAfterTrimBytes)) B after"
            }

            /// The line ``report()`` prints for ``measureInChildProcess(count:setUpLimit:)``.
            static let resultPrefix = "MemoryPerConnectionTests result:"

            /// Reads a ``resultLine`` back; `nil` if `line` is not one.
            static func parsing(resultLine line: Substring) -> Measurement? {
                let numbers = line.dropFirst(resultPrefix.count).split(separator: " ").compactMap { Int($0) }
                guard numbers.count == 4, numbers[0] > 0 else { return nil }
                return Measurement(connections: numbers[0], heapBytes: numbers[1], residentBytes: numbers[2],
                                   residentAfterTrimBytes: numbers[3])
            }

            var resultLine: String {
                "\(Self.resultPrefix) \(connections) \(heapBytes) \(residentBytes) \(residentAfterTrimBytes)"
            }
        }

        /// Opens `count` connections to a silent listener and measures the heap and resident
        /// memory they hold while idle; closes them again.
        static func measure(count: Int, sequential: Bool,
                            setUpLimit: CurlMulti.SetUpLimit = .default) async throws -> Measurement {
            raiseOpenFileLimit()
            let listener = try SilentListener(backlog: Int32(count + 16))
            let multi = CurlMulti(setUpLimit: setUpLimit)
            // A first connection warms up the engine (threads, epoll sets, the first connection
            // cache and libcurl's lazily created state) so that only per-connection costs remain.
            let warm = try await multi.connect(to: listener.url)
            await warm.close()
            let heapBefore = heapBytesInUse() ?? 0
            let residentBefore = residentMemoryAfterTrim()

            var open: [AsyncConnection] = []
            open.reserveCapacity(count)
            if sequential {
                for _ in 0..<count { open.append(try await multi.connect(to: listener.url)) }
            } else {
                open = try await withThrowingTaskGroup(of: AsyncConnection.self) { group in
                    for _ in 0..<count {
                        group.addTask { try await multi.connect(to: listener.url) }
                    }
                    var connections: [AsyncConnection] = []
                    connections.reserveCapacity(count)
                    for try await connection in group { connections.append(connection) }
                    return connections
                }
            }
            // As the fan-out benchmark measures it: resident memory with nothing trimmed.
            let resident = (procStatusValue("VmRSS") ?? 0) * 1024
            let heap = heapBytesInUse() ?? 0
            let residentAfterTrim = residentMemoryAfterTrim()
            #expect(await multi.diagnostics.open == count)
            for connection in open { await connection.close() }
            open = []
            #expect(await multi.diagnostics == .idle)
            return Measurement(connections: count, heapBytes: heap - heapBefore,
                               residentBytes: resident - residentBefore,
                               residentAfterTrimBytes: residentAfterTrim - residentBefore)
        }

        /// A cheap bound on what an idle `tcp://` connection keeps on the heap, all owners
        /// together: 11.1 KiB while it kept libcurl's easy handle and connection, 1.3 KiB since
        /// the engine frees them once the connection is open (BENCHMARKS.md). The bound catches
        /// their return and leaves room for the allocator's per-thread caches. Off under the
        /// sanitizers and valgrind, whose allocators are not glibc's.
        @Test(.enabled(if: memoryChecksApply))
        func idlePlainConnectionHeapIsBounded() async throws {
            let measurement = try await Self.measure(count: 500, sequential: false)
            print("MemoryPerConnectionTests: \(measurement)")
            #expect(measurement.perConnection(measurement.heapBytes) < 4 << 10, "\(measurement)")
        }

        /// A burst of concurrent connects leaves little resident memory behind because an engine
        /// runs at most 256 set-ups at once (``CurlMulti/SetUpLimit``): without the limit,
        /// 2,000 set-ups' libcurl state is interleaved with what the open connections keep, and
        /// the pages stay (20–21 KiB of RSS per connection in a debug build, against 6.5–7.6 KiB
        /// with it).
        ///
        /// Each burst runs in a child process of its own (this test binary, running only
        /// ``report()``): resident memory is a figure of the whole process, and in this one the
        /// holes that earlier tests left in the heap take a burst's allocations without the
        /// resident size moving, which made an in-process comparison depend on the tests before it.
        @Test(.enabled(if: memoryChecksApply))
        func aBurstOfConnectsLeavesLittleResidentMemoryBehind() async throws {
            let limited = try Self.measureInChildProcess(count: 2_000, setUpLimit: .default)
            let unlimited = try Self.measureInChildProcess(count: 2_000, setUpLimit: .unlimited)
            print("MemoryPerConnectionTests: unlimited \(unlimited); limited \(limited)")
            // Resident memory as the fan-out benchmark measures it, nothing trimmed: what a
            // server holding the connections pays.
            #expect(limited.perConnection(limited.residentBytes) * 10
                        <= unlimited.perConnection(unlimited.residentBytes) * 6,
                    "limited: \(limited); unlimited: \(unlimited)")
        }

        /// Runs ``report()`` alone in a child process (this test binary) with `count` concurrent
        /// connects under `setUpLimit`, and reads its measurement back.
        static func measureInChildProcess(count: Int, setUpLimit: CurlMulti.SetUpLimit) throws -> Measurement {
            var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink("/proc/self/exe", &path, path.count - 1)
            guard length > 0 else { throw SilentListener.Failure(description: "readlink /proc/self/exe: errno \(errno)") }
            let executable = String(decoding: path[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let limit = setUpLimit.concurrentSetUps == .max ? 0 : setUpLimit.concurrentSetUps
            let output = try runCommand("/usr/bin/env", [
                "AC_MEMORY_REPORT=\(count)", "AC_MEMORY_SEQUENTIAL=0", "AC_MEMORY_SETUP_LIMIT=\(limit)",
                "AC_MEMORY_SETUP_TURN_MS=\(Int(setUpLimit.turn / .milliseconds(1)))",
                executable, "--testing-library", "swift-testing", "--filter", "MemoryPerConnectionTests/report",
            ], timeout: .seconds(120))
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(Measurement.resultPrefix) }),
                  let measurement = Measurement.parsing(resultLine: line) else {
                throw SilentListener.Failure(description: "no measurement from \(executable):\n\(output)")
            }
            return measurement
        }

        @Test(.enabled(if: environmentInt("AC_MEMORY_REPORT", default: 0) > 0))
        func report() async throws {
            let count = min(4000, environmentInt("AC_MEMORY_REPORT", default: 0))
            let sequential = environmentInt("AC_MEMORY_SEQUENTIAL", default: 0) != 0
            let limit = environmentInt("AC_MEMORY_SETUP_LIMIT", default: CurlMulti.SetUpLimit.default.concurrentSetUps)
            let setUpLimit = limit <= 0 ? CurlMulti.SetUpLimit.unlimited
                : CurlMulti.SetUpLimit(concurrentSetUps: limit, turn: .milliseconds(environmentInt("AC_MEMORY_SETUP_TURN_MS", default: 50)))
            let started = ContinuousClock.now
            let measurement = try await Self.measure(count: count, sequential: sequential, setUpLimit: setUpLimit)
            print("MemoryPerConnectionTests report (\(sequential ? "sequential" : "concurrent") connects, \(setUpLimit)): \(measurement), \(ContinuousClock.now - started) in all")
            print(measurement.resultLine)
        }
    }
}
