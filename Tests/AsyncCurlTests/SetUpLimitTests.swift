@testable import AsyncCurl
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    /// An engine's limit on concurrent set-ups (``CurlMulti/SetUpLimit``) against real sockets:
    /// connects beyond it wait their turn and all get through; a set-up stuck on a peer that never
    /// answers gives its turn up after ``CurlMulti/SetUpLimit/turn``; a waiting connect ends at
    /// once when cancelled or when its `connectTimeout` passes.
    @Suite(.serialized) struct SetUpLimitTests {
        /// Options that send a connect through an HTTP proxy which never answers its CONNECT (the
        /// kernel accepts the proxy connection into `listener`'s backlog, nobody reads it): a
        /// set-up that stays under way until it is cancelled.
        static func stuck(_ listener: SilentListener) -> ConnectionOptions {
            var options = ConnectionOptions()
            options.proxy = "http://127.0.0.1:\(listener.port)"
            return options
        }

        /// Starts a connect that never completes and waits until the engine has it under way.
        static func startStuckConnect(_ multi: CurlMulti, _ proxy: SilentListener) async throws -> Task<AsyncConnection, any Error> {
            let task = Task { try await multi.connect(to: "tcp://127.0.0.1:9", options: stuck(proxy)) }
            try await waitUntil("the stuck set-up under way") { await multi.diagnostics.connecting == 1 }
            return task
        }

        /// Cancels the stuck connect and checks that it ends with the cancellation.
        static func cancel(_ task: Task<AsyncConnection, any Error>) async {
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
        }

        @Test func aBurstBeyondTheLimitConnectsEveryone() async throws {
            raiseOpenFileLimit()
            let listener = try SilentListener(backlog: 256)
            let multi = CurlMulti(setUpLimit: CurlMulti.SetUpLimit(concurrentSetUps: 3, turn: .seconds(3600)))
            #expect(multi.setUpLimit.concurrentSetUps == 3)
            let open = try await withDeadline(.seconds(60), "200 connects, 3 at a time") {
                try await withThrowingTaskGroup(of: AsyncConnection.self) { group in
                    for _ in 0..<200 { group.addTask { try await multi.connect(to: listener.url) } }
                    var open: [AsyncConnection] = []
                    for try await connection in group { open.append(connection) }
                    return open
                }
            }
            #expect(open.count == 200)
            #expect(multi.setUpTurns.waitingCount == 0)
            for connection in open { await connection.close() }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func aStuckSetUpGivesItsTurnUpAfterTheTurn() async throws {
            let proxy = try SilentListener(backlog: 8)
            let listener = try SilentListener(backlog: 8)
            let multi = CurlMulti(setUpLimit: CurlMulti.SetUpLimit(concurrentSetUps: 1, turn: .milliseconds(100)))
            let stuck = try await Self.startStuckConnect(multi, proxy)
            // Waits for the stuck set-up's turn to end, then connects.
            let connection = try await withDeadline(.seconds(30), "a connect behind a stuck set-up") {
                try await multi.connect(to: listener.url)
            }
            await connection.close()
            await Self.cancel(stuck)
            try await waitUntil("the engine idle") { await multi.diagnostics == .idle }
        }

        @Test func cancellingAWaitingConnectEndsItAtOnce() async throws {
            let proxy = try SilentListener(backlog: 8)
            let listener = try SilentListener(backlog: 8)
            let multi = CurlMulti(setUpLimit: CurlMulti.SetUpLimit(concurrentSetUps: 1, turn: .seconds(3600)))
            let stuck = try await Self.startStuckConnect(multi, proxy)
            let waiting = Task { try await multi.connect(to: listener.url) }
            try await waitUntil("the second connect waiting for its turn") { multi.setUpTurns.waitingCount == 1 }
            waiting.cancel()
            _ = try await withDeadline(.seconds(10), "the cancelled wait") {
                await #expect(throws: CancellationError.self) { _ = try await waiting.value }
            }
            #expect(multi.setUpTurns.waitingCount == 0)
            // The turn is still the stuck set-up's; once it is cancelled, the next connect goes.
            await Self.cancel(stuck)
            let connection = try await withDeadline(.seconds(30), "a connect after the stuck one") {
                try await multi.connect(to: listener.url)
            }
            await connection.close()
            try await waitUntil("the engine idle") { await multi.diagnostics == .idle }
        }

        @Test func theWaitForATurnCountsAgainstTheConnectTimeout() async throws {
            let proxy = try SilentListener(backlog: 8)
            let listener = try SilentListener(backlog: 8)
            let multi = CurlMulti(setUpLimit: CurlMulti.SetUpLimit(concurrentSetUps: 1, turn: .seconds(3600)))
            let stuck = try await Self.startStuckConnect(multi, proxy)
            var limited = ConnectionOptions()
            limited.connectTimeout = .milliseconds(200)
            let options = limited
            let error = try await withDeadline(.seconds(30), "a connect that may wait 200 ms") {
                await expectCurlError { _ = try await multi.connect(to: listener.url, options: options) }
            }
            #expect(error?.code == .operationTimedOut)
            #expect(error?.message.contains("set-up turn") == true, "\(String(describing: error))")
            #expect(multi.setUpTurns.waitingCount == 0)
            await Self.cancel(stuck)
            try await waitUntil("the engine idle") { await multi.diagnostics == .idle }
        }

        @Test func anUnlimitedEngineStartsEverySetUpAtOnce() async throws {
            let proxy = try SilentListener(backlog: 8)
            let multi = CurlMulti(setUpLimit: .unlimited)
            let tasks = (0..<3).map { _ in
                Task { try await multi.connect(to: "tcp://127.0.0.1:9", options: Self.stuck(proxy)) }
            }
            try await waitUntil("three set-ups under way") { await multi.diagnostics.connecting == 3 }
            #expect(multi.setUpTurns.waitingCount == 0)
            for task in tasks { await Self.cancel(task) }
            try await waitUntil("the engine idle") { await multi.diagnostics == .idle }
        }
    }
}
