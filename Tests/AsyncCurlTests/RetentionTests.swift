import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// What an operation holds must be released when the operation ends, not later.
extension AsyncCurlTests {
    @Suite struct RetentionTests {
        /// 10,000 receives with a 5-minute timeout, each of which waits (it is suspended before
        /// the byte that answers it is sent) and is then woken by its echo. Each wait's deadline
        /// timer must be released when the wait ends. Regression test: the engine used
        /// `DispatchQueue.asyncAfter` with a `DispatchWorkItem`, and a cancelled work item stays
        /// queued, closure and all, until its deadline: about 700 bytes per finished wait, kept for
        /// the whole timeout, so a busy server with long idle timeouts grew by rate × timeout
        /// (measured: 20,000 waits left 14 MiB in the heap before the fix, under 20 KiB after).
        @Test func finishedTimedWaitsReleaseTheirTimers() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            var options = ConnectionOptions()
            options.idleTimeout = .seconds(300)
            try await multi.withConnection(to: server.url, options: options) { connection async throws in
                // Warm-up, so that the heap has grown to its working size.
                for index in 0..<2_000 { try await Self.timedRoundTrip(connection, multi, index) }
                let before = heapBytesInUse() ?? 0
                let roundTrips = 10_000
                for index in 0..<roundTrips { try await Self.timedRoundTrip(connection, multi, index) }
                let growth = (heapBytesInUse() ?? 0) - before
                if memoryChecksApply {
                    #expect(growth < 1 << 20,
                            "the heap grew by \(growth >> 10) KiB over \(roundTrips) finished timed waits")
                }
                print("RetentionTests: \(roundTrips) timed waits (300 s deadlines) finished; heap in use grew by \(growth >> 10) KiB")
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// One receive that certainly waits, with a deadline, and is then woken by data: the
        /// receive is suspended before the byte that answers it is even sent.
        static func timedRoundTrip(_ connection: AsyncConnection, _ multi: CurlMulti, _ index: Int) async throws {
            let byte = UInt8(truncatingIfNeeded: index)
            let receiving = Task { try await connection.receive(maxLength: 1, timeout: .seconds(300)) }
            try await waitUntil("the receive to wait") { await multi.diagnostics.pendingContinuations == 1 }
            try await connection.send([byte])
            guard try await receiving.value == [byte] else { throw ScaleTests.WrongEcho() }
        }
    }
}
