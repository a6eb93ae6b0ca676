import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// An engine that is no longer referenced must give back everything it holds: its epoll fd,
/// libcurl's multi handle (and the fds curl keeps in it), its buffers and its Dispatch sources.
/// Its `deinit` runs asynchronously on its own queue, so the tests wait for the effects, with
/// deadlines.
extension AsyncCurlTests {
    @Suite struct TeardownTests {
        @Test func droppedEngineReleasesItsDescriptors() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            try await Self.warmUp(server)
            let baseline = openFileDescriptorCount()

            weak var released: CurlMulti?
            var engineDescriptors = 0
            do {
                let multi = CurlMulti()
                released = multi
                engineDescriptors = openFileDescriptorCount() - baseline
                let connection = try await multi.connect(to: server.url)
                try await ScaleTests.echoCheck(connection, 1)
                await connection.close()
                await multi.shutdown()
                #expect(await multi.diagnostics == .idle)
            }
            #expect(engineDescriptors >= 1, "an engine holds at least its epoll fd")
            try await waitUntil("the engine to be deinitialised") { released == nil }
            try await waitUntil("the server to see the close") { server.openClients == 0 }
            // `<=`, not `==`: an engine from an earlier test may still be closing its epoll fd.
            try await waitUntil("the engine's \(engineDescriptors) descriptors to be closed") {
                openFileDescriptorCount() <= baseline
            }
        }

        /// 200 engines, each with a connection that ends a different way: closed, dropped (its
        /// `deinit` closes it), cut by `shutdown()`, or left suspended in a receive or in a connect
        /// when the engine shuts down. None may leave an fd, a thread or memory behind.
        @Test func twoHundredEnginesComeAndGo() async throws {
            let server = try LoopbackServer(mode: .echo)
            let blackhole = try BlackholeListener()
            defer {
                server.stop()
                blackhole.close()
            }
            try await Self.warmUp(server)
            let baselineDescriptors = openFileDescriptorCount()
            let baselineThreads = threadCount()
            let baselineMemory = residentMemoryAfterTrim()
            var peakDescriptors = baselineDescriptors

            var released: [WeakEngine] = []
            for round in 0..<200 {
                let multi = CurlMulti()
                released.append(WeakEngine(multi))
                switch round % 5 {
                case 0:  // closed explicitly
                    let connection = try await multi.connect(to: server.url)
                    try await ScaleTests.echoCheck(connection, round)
                    await connection.close()
                case 1:  // dropped: AsyncConnection's deinit closes it
                    try await ScaleTests.echoCheck(try await multi.connect(to: server.url), round)
                case 2:  // open when the engine shuts down
                    let connection = try await multi.connect(to: server.url)
                    try await ScaleTests.echoCheck(connection, round)
                    await multi.shutdown()
                    await #expect(throws: ConnectionError.engineShutDown) { try await connection.send("x") }
                case 3:  // suspended in a receive when the engine shuts down
                    let connection = try await multi.connect(to: server.url)
                    let receiving = Task { try await connection.receive() }
                    try await waitUntil("the receive to wait") { await multi.diagnostics.pendingContinuations == 1 }
                    await multi.shutdown()
                    await #expect(throws: ConnectionError.engineShutDown) { _ = try await receiving.value }
                default:  // suspended in a connect when the engine shuts down
                    let connecting = Task { try await multi.connect(to: blackhole.url) }
                    try await waitUntil("the connect to be under way") { await multi.diagnostics.connecting == 1 }
                    await multi.shutdown()
                    await #expect(throws: ConnectionError.engineShutDown) { _ = try await connecting.value }
                }
                peakDescriptors = max(peakDescriptors, openFileDescriptorCount())
            }
            try await waitUntil("all 200 engines to be deinitialised") { released.allSatisfy { $0.engine == nil } }
            try await waitUntil("the server to see every close") { server.openClients == 0 }
            try await waitUntil("the descriptors to return to the baseline of \(baselineDescriptors)") {
                openFileDescriptorCount() <= baselineDescriptors
            }
            // Engines do not pile up while the loop runs either: each is gone soon after its turn.
            #expect(peakDescriptors - baselineDescriptors < 60, "peak \(peakDescriptors - baselineDescriptors) fds above baseline")
            // Dispatch may keep a few idle worker threads; a thread per engine would show 200.
            #expect(threadCount() - baselineThreads < 16, "threads: \(baselineThreads) → \(threadCount())")
            // Each engine allocates over 256 KiB of buffers: 200 leaked engines would be 50 MiB.
            let growth = residentMemoryAfterTrim() - baselineMemory
            if memoryChecksApply {
                #expect(growth < 10 << 20, "resident memory grew by \(growth >> 10) KiB over 200 engines")
            }
            print("TeardownTests: 200 engines, peak \(peakDescriptors - baselineDescriptors) fds above baseline, "
                  + "threads \(baselineThreads) → \(threadCount()), resident memory \(growth >> 10) KiB growth")
        }

        /// Creates, uses and drops one engine, so that what is created once per process (curl's
        /// global state, Dispatch worker threads) is not counted against the engines under test.
        static func warmUp(_ server: LoopbackServer) async throws {
            let before = openFileDescriptorCount()
            weak var released: CurlMulti?
            do {
                let multi = CurlMulti()
                released = multi
                try await multi.withConnection(to: server.url) { try await ScaleTests.echoCheck($0, 0) }
            }
            try await waitUntil("the warm-up engine to go") { released == nil }
            try await waitUntil("the server to see the warm-up close") { server.openClients == 0 }
            try await waitUntil("the warm-up engine's descriptors to be closed") { openFileDescriptorCount() <= before }
        }

        final class WeakEngine {
            weak var engine: CurlMulti?
            init(_ engine: CurlMulti) { self.engine = engine }
        }
    }
}
