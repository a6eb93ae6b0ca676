@testable import AsyncCurl
import Dispatch
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

/// The engine's libcurl lock counts the acquisitions that had to wait and times their waits
/// (`CountingMutex`, `CurlMulti.lockStatistics`).
extension AsyncCurlTests {
    @Suite struct LockStatisticsTests {
        /// Acquisitions that find the lock free count nothing.
        @Test func uncontendedAcquisitionsCountNothing() throws {
            let lock = CountingMutex()
            for _ in 0..<1000 {
                lock.lock()
                lock.unlock()
            }
            struct Thrown: Error {}
            #expect(throws: Thrown.self) { try lock.withLock { () throws(Thrown) in throw Thrown() } }
            #expect(lock.withLock { 42 } == 42)
            #expect(lock.statistics == CurlMulti.LockStatistics())
            #expect(lock.waitingThreads == 0)
        }

        /// Thread A holds the lock; thread B asks for it; A keeps it until the lock says B is
        /// waiting, holds it a measured while longer and lets go. Exactly one acquisition had to
        /// wait, and its wait is at least as long as that measured hold.
        @Test func oneContendedAcquisitionIsCountedWithItsWait() throws {
            let lock = CountingMutex()
            let finished = DispatchSemaphore(value: 0)
            lock.lock()
            DispatchQueue.global().async {
                lock.lock()
                lock.unlock()
                finished.signal()
            }
            let deadline = CountingMutex.monotonicNanoseconds() + 10_000_000_000
            while lock.waitingThreads == 0 && CountingMutex.monotonicNanoseconds() < deadline {
                sched_yield()
            }
            let sawWaiter = lock.waitingThreads == 1
            // B's wait started before `waitingThreads` showed it, so it lasts at least from here
            // to the unlock. The extra hold only makes that span large against the clock's
            // granularity; nothing depends on its length.
            let seen = CountingMutex.monotonicNanoseconds()
            while CountingMutex.monotonicNanoseconds() - seen < 2_000_000 {
                sched_yield()
            }
            let held = CountingMutex.monotonicNanoseconds() - seen
            lock.unlock()
            #expect(sawWaiter, "the second thread never blocked on the lock")
            #expect(finished.wait(timeout: .now() + .seconds(10)) == .success, "the second thread never got the lock")
            let statistics = lock.statistics
            #expect(statistics.contendedAcquisitions == 1)
            #expect(statistics.totalWait >= .nanoseconds(held), "\(statistics), held \(held) ns")
            #expect(statistics.longestWait == statistics.totalWait)
            #expect(statistics.meanWait == statistics.totalWait)
            #expect(lock.waitingThreads == 0)
        }

        /// Two threads taking the lock many times: it still excludes (the guarded count is exact)
        /// and the figures are consistent.
        @Test func figuresStayConsistentUnderLoad() throws {
            let lock = CountingMutex()
            // Safe only if the lock excludes, which is what this test checks: both threads touch it
            // inside `lock.withLock` alone, and the final read is inside it too.
            nonisolated(unsafe) var guarded = 0
            let rounds = 20_000
            let finished = DispatchSemaphore(value: 0)
            for _ in 0..<2 {
                DispatchQueue.global().async {
                    for _ in 0..<rounds {
                        lock.withLock { guarded += 1 }
                    }
                    finished.signal()
                }
            }
            for _ in 0..<2 {
                #expect(finished.wait(timeout: .now() + .seconds(30)) == .success)
            }
            let statistics = lock.statistics
            #expect(lock.withLock { guarded } == 2 * rounds)
            #expect(statistics.contendedAcquisitions <= UInt64(2 * rounds))
            #expect(statistics.totalWait >= statistics.longestWait)
            if statistics.contendedAcquisitions == 0 { #expect(statistics.totalWait == .zero, "\(statistics)") }
        }

        /// Two TLS streams on one engine: every snapshot taken along the way is consistent and no
        /// figure ever goes down. (Whether they had to wait, and how long, depends on the
        /// machine: not asserted.)
        @Test(.requires(.stunnel))
        func twoTLSStreamsOnOneEngineGiveMonotonicFigures() async throws {
            let echo = try await TLSEcho()
            defer { echo.stop() }
            let multi = CurlMulti()
            #expect(multi.lockStatistics == CurlMulti.LockStatistics())
            let first = try await multi.connect(to: echo.url, options: echo.options())
            let second = try await multi.connect(to: echo.url, options: echo.options())
            let size = 4 << 20
            let snapshots = try await withThrowingTaskGroup(of: [CurlMulti.LockStatistics].self) { tasks in
                for connection in [first, second] {
                    tasks.addTask {
                        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
                        async let sent: Void = connection.send(payload, timeout: .seconds(60))
                        var back: [UInt8] = []
                        var seen = [multi.lockStatistics]
                        while back.count < size {
                            guard let chunk = try await connection.receive(timeout: .seconds(60)) else { break }
                            back += chunk
                            seen.append(multi.lockStatistics)
                        }
                        try await sent
                        #expect(back == payload)
                        return seen
                    }
                }
                var all: [[CurlMulti.LockStatistics]] = []
                for try await seen in tasks { all.append(seen) }
                return all
            }
            await first.close()
            await second.close()
            let last = multi.lockStatistics
            for seen in snapshots {
                #expect(seen.count > 1)
                for (earlier, later) in zip(seen, seen.dropFirst() + [last]) {
                    #expect(later.contendedAcquisitions >= earlier.contendedAcquisitions)
                    #expect(later.totalWait >= earlier.totalWait)
                    #expect(later.longestWait >= earlier.longestWait)
                }
                // (A snapshot taken while a thread records its wait may show the wait before the
                // count; so "no acquisition, no wait" is checked only once all is quiet.)
                for statistics in seen {
                    #expect(statistics.totalWait >= statistics.longestWait, "\(statistics)")
                }
            }
            #expect(last.totalWait >= last.longestWait, "\(last)")
            if last.contendedAcquisitions == 0 { #expect(last.totalWait == .zero, "\(last)") }
            #expect(last.totalWait <= last.longestWait * Int(last.contendedAcquisitions), "\(last)")
            #expect(await multi.diagnostics == .idle)
        }

        /// A group reports one set of figures per engine.
        @Test func groupReportsEachEngine() {
            let group = CurlMultiGroup(engineCount: 3)
            #expect(group.lockStatistics.count == 3)
            #expect(group.lockStatistics.allSatisfy { $0.contendedAcquisitions == 0 || $0.totalWait > .zero })
        }
    }
}
