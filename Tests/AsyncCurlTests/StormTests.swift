@testable import AsyncCurl
import LoopbackServer
import Testing
#if canImport(Glibc)
import Glibc
@testable import TestPeers
#endif

/// Cancellation storms: thousands of operations cancelled at once, at every point where an
/// operation can be suspended, on one engine. Every cancelled call must return promptly with
/// its documented error, and the engine and the process must end up exactly as they started.
///
/// `AC_STORM_COUNT` (default 2000) sets the number of connections and `AC_STORM_LATENCY_MS`
/// (default 500) the longest a cancelled call may take to return; the sanitizer and valgrind
/// runs raise the latter because everything there runs 5–50 times slower.
extension AsyncCurlTests {
    @Suite struct StormTests {
        /// Where a task is when it is cancelled.
        enum Stage: String, CaseIterable, Sendable {
            /// Cancelled before `connect` is called.
            case beforeStart
            /// Suspended in `connect` to a port whose SYNs are dropped.
            case connecting
            /// Suspended in `send` of 8 MiB to a peer that never reads, after a partial write.
            /// The rarest stage: each one pins about 3.5 MiB of kernel socket memory (loopback
            /// sizes the send buffer from the initial congestion window), and the machine is shared.
            case sending
            /// Suspended in `receive` on an idle connection.
            case receiving
            /// Runs connect–send–receive–close exchanges with an echo server in a loop and is
            /// cancelled at whatever point it has reached: in a connect, a send, a receive, a close
            /// or between them.
            case anywhere
        }

        /// What one task saw.
        struct Report: Sendable {
            let stage: Stage
            let outcome: String
            /// When the cancelled call returned (or, for `anywhere`, when the task ended).
            let returned: ContinuousClock.Instant
            /// When a `beforeStart` task cancelled itself; the others are cancelled from outside.
            let selfCancelled: ContinuousClock.Instant?
            /// For a cancelled send: the bytes written before the cancellation.
            let bytesWritten: Int
            /// The call the task was in (or about to make) when the cancellation hit it.
            let phase: String
        }

        static let seed: UInt64 = 0x5EED_2000

        @Test func cancellationStormAtRandomPoints() async throws {
            raiseOpenFileLimit()
            let count = environmentInt("AC_STORM_COUNT", default: 2000)
            let latencyLimit = Duration.milliseconds(environmentInt("AC_STORM_LATENCY_MS", default: 500))
            let echo = try LoopbackServer(mode: .echo)
            let blackhole = try BlackholeListener()
            defer {
                echo.stop()
                blackhole.close()
            }
            let multi = CurlMulti()
            // Warm up everything that is created once (curl's global state, Dispatch threads), so
            // the fd baseline holds only what must come back.
            try await ScaleTests.echoCheck(try await multi.connect(to: echo.url), 0)
            try await waitUntil("the warm-up connection to be closed") {
                await multi.diagnostics == .idle && echo.openClients == 0
            }
            let baseline = openFileDescriptorCount()
            let hold = try LoopbackServer(mode: .hold)
            defer { hold.stop() }

            var random = SeededGenerator(seed: Self.seed)
            let weights: [(Stage, Int)] = [(.beforeStart, 15), (.connecting, 20), (.sending, 8), (.receiving, 27), (.anywhere, 30)]
            let plan: [Stage] = (0..<count).map { _ in
                var pick = Int.random(in: 0..<100, using: &random)
                for (stage, weight) in weights {
                    if pick < weight { return stage }
                    pick -= weight
                }
                return .anywhere
            }
            let tally = Dictionary(grouping: plan, by: { $0 }).mapValues(\.count)
            let suspended = { (stage: Stage) in tally[stage, default: 0] }
            let payload = [UInt8](repeating: 0x5A, count: 8 << 20)  // shared by every sender
            var exchangeStream = ByteStream(seed: Self.seed)
            let exchange = exchangeStream.next(64 << 10)

            var tasks: [Task<Report, Never>] = []
            // If the test fails half-way, nothing may stay suspended and disturb the next tests.
            defer { for task in tasks { task.cancel() } }
            let cycling = Locked(0)
            for stage in plan {
                tasks.append(Task {
                    await Self.run(stage, multi: multi, echo: echo.url, hold: hold.url, blackhole: blackhole.url,
                                   payload: payload, exchange: exchange, cycling: cycling)
                })
            }
            // Once every `anywhere` task has finished one exchange (so all are busy cycling), they are
            // cancelled in a random order with a random number of yields in between: each is hit at
            // whatever point of its cycle it has reached.
            var anywhere = plan.indices.filter { plan[$0] == .anywhere }
            try await waitUntil("every anywhere task to complete an exchange", timeout: .seconds(120)) {
                cycling.current == anywhere.count
            }
            var cancelledAt = [ContinuousClock.Instant?](repeating: nil, count: count)
            anywhere.shuffle(using: &random)
            for index in anywhere {
                for _ in 0..<Int.random(in: 0..<8, using: &random) { await Task.yield() }
                cancelledAt[index] = .now
                tasks[index].cancel()
            }
            for index in anywhere {
                _ = await tasks[index].value
            }

            // Every other task is now suspended where its stage says, and the engine knows it.
            let expected = CurlMulti.Diagnostics(
                connecting: suspended(.connecting),
                open: suspended(.sending) + suspended(.receiving),
                watchedSockets: suspended(.connecting) + suspended(.sending) + suspended(.receiving),
                pendingContinuations: suspended(.connecting) + suspended(.sending) + suspended(.receiving))
            try await waitUntil("every task to be suspended at its stage", timeout: .seconds(120)) {
                var seen = await multi.diagnostics
                // Which groups the survivors' connection caches are in depends on the order they
                // came and went; their number is checked below.
                seen.connectionCaches = 0
                return seen == expected
            }
            let caches = await multi.diagnostics.connectionCaches
            // Open plain connections have no easy handle any more, so no cache: only the
            // connecting ones are certain to be in one.
            let handles = expected.connecting
            #expect(caches >= (handles + CurlMulti.connectionsPerCache - 1) / CurlMulti.connectionsPerCache && caches <= handles, "\(caches) caches for \(handles) connections")

            // The storm: cancel everything still suspended, in a random order, as fast as possible.
            var order = plan.indices.filter { plan[$0] != .anywhere && plan[$0] != .beforeStart }
            order.shuffle(using: &random)
            let stormStart = ContinuousClock.now
            for index in order {
                cancelledAt[index] = .now
                tasks[index].cancel()
            }
            var reports: [Report] = []
            for task in tasks { reports.append(await task.value) }
            let stormDuration = ContinuousClock.now - stormStart

            // Every cancelled call returned promptly, with the error its stage documents.
            var latencies: [Duration] = []
            var unexpected: [String] = []
            var bytesStuck = 0
            for (index, report) in reports.enumerated() {
                guard let cancelled = report.selfCancelled ?? cancelledAt[index] else {
                    unexpected.append("#\(index) \(report.stage) was never cancelled")
                    continue
                }
                latencies.append(max(.zero, report.returned - cancelled))
                bytesStuck += report.bytesWritten
                let allowed: Set<String> = switch report.stage {
                case .beforeStart, .connecting, .receiving: ["CancellationError"]
                case .sending: ["ConnectionError.sendCancelled"]
                // Cancelled in (or before) a connect, a wait, or half-way through a send.
                case .anywhere: ["CancellationError", "ConnectionError.sendCancelled"]
                }
                if !allowed.contains(report.outcome) { unexpected.append("#\(index) \(report.stage): \(report.outcome)") }
                if report.stage == .sending, !(report.bytesWritten > 0 && report.bytesWritten < payload.count) {
                    unexpected.append("#\(index) sending: \(report.bytesWritten) bytes written")
                }
            }
            #expect(unexpected.isEmpty, "\(unexpected.prefix(20))")
            latencies.sort()
            let slowest = latencies.last ?? .zero
            let p99 = latencies.isEmpty ? .zero : latencies[latencies.count * 99 / 100]
            #expect(slowest < latencyLimit, "slowest cancelled call returned \(slowest) after its cancel (limit \(latencyLimit))")
            let outcomes = Dictionary(grouping: reports, by: { "\($0.stage.rawValue) in \($0.phase): \($0.outcome)" }).mapValues(\.count)
            print("StormTests: \(count) connections \(tally.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")); "
                  + "cancel→return p99 \(p99.milliseconds) ms, max \(slowest.milliseconds) ms; storm of \(order.count) cancels drained in \(stormDuration.milliseconds) ms; "
                  + "\(bytesStuck >> 20) MiB were in cancelled sends; outcomes \(outcomes.sorted { $0.key < $1.key })")

            // Nothing is left behind: not in the engine, not in the process.
            #expect(await multi.diagnostics == .idle)
            hold.stop()  // its sockets never hear a FIN: the client's is stuck behind unsent data
            try await waitUntil("the echo server to see every close") { echo.openClients == 0 }
            // `<=`: an engine from an earlier test may still be closing its epoll fd.
            try await waitUntil("the process's fds to return to the baseline of \(baseline)") {
                openFileDescriptorCount() <= baseline
            }
            // And the engine is as good as new.
            try await ScaleTests.echoCheck(try await multi.connect(to: echo.url), 1)
            try await waitUntil("the check connection to be closed") { await multi.diagnostics == .idle }
        }

        /// `close()` racing a send that is busy writing to a live peer (the echo server keeps
        /// reading, so the send keeps waking up and writing more). Whichever wins, the send must
        /// end with success or `ConnectionError.closed`, and nothing may touch the freed easy
        /// handle. Regression test: the send loop used to call `curl_easy_send` again after a
        /// readiness wake-up even when `close()` had run in between, writing into freed memory
        /// (found by the soak; ASan: heap-use-after-free in curl_easy_send via failf).
        @Test func closeRacingABusySend() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let payload = [UInt8](repeating: 0xA5, count: 4 << 20)
            var outcomes: [String: Int] = [:]
            for _ in 0..<environmentInt("AC_CLOSE_RACE_CYCLES", default: 400) {
                let connection = try await multi.connect(to: server.url)
                let sending = Task { try await connection.send(payload, timeout: .seconds(30)) }
                // Part of the echo: the send is now in full swing.
                _ = try await connection.receive(exactly: 100_000, timeout: .seconds(30))
                await connection.close()
                outcomes[outcome(await sending.result), default: 0] += 1
            }
            #expect(Set(outcomes.keys).isSubset(of: ["success", "ConnectionError.closed"]), "\(outcomes)")
            #expect(await multi.diagnostics == .idle)
        }

        /// One task of the storm: goes to its stage, waits there to be cancelled, and reports.
        static func run(_ stage: Stage, multi: CurlMulti, echo: String, hold: String, blackhole: String,
                        payload: [UInt8], exchange: [UInt8], cycling: Locked<Int>) async -> Report {
            var selfCancelled: ContinuousClock.Instant?
            var bytesWritten = 0
            var phase = "\(stage)"
            var connection: AsyncConnection?
            let result: Result<Void, any Error>
            do {
                switch stage {
                case .beforeStart:
                    selfCancelled = .now
                    withUnsafeCurrentTask { $0?.cancel() }
                    connection = try await multi.connect(to: echo)
                case .connecting:
                    connection = try await multi.connect(to: blackhole)
                case .sending:
                    let open = try await multi.connect(to: hold)
                    connection = open
                    try await open.send(payload)
                case .receiving:
                    let open = try await multi.connect(to: echo)
                    connection = open
                    _ = try await open.receive()
                case .anywhere:
                    var cycles = 0
                    while true {
                        phase = "connect"
                        let open = try await multi.connect(to: echo)
                        connection = open
                        phase = "send"
                        try await open.send(exchange)
                        phase = "receive"
                        guard sameBytes(try await open.receive(exactly: exchange.count), exchange) else {
                            throw ScaleTests.WrongEcho()
                        }
                        connection = nil
                        phase = "close"
                        await open.close()
                        cycles += 1
                        if cycles == 1 { cycling.withLock { $0 += 1 } }
                    }
                }
                result = .success(())
            } catch {
                if let error = error as? ConnectionError, error.code == .sendCancelled { bytesWritten = error.byteCount }
                result = .failure(error)
            }
            let returned = ContinuousClock.now
            await connection?.close()
            return Report(stage: stage, outcome: outcome(result), returned: returned,
                          selfCancelled: selfCancelled, bytesWritten: bytesWritten, phase: phase)
        }
    }
}

extension Duration {
    /// Whole milliseconds, for log lines.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Byte-for-byte equality with `memcmp`. In a debug build `Array ==` compares 64 KiB element by
/// element through generic code, about half a millisecond; with the storm's hundreds of cycling
/// tasks always runnable, that made each `Task.yield()` of the test's own cancelling loop wait a
/// fifth of a second for its turn, and the loop ran past the test's time limit.
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return a.withUnsafeBytes { a in b.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
}
