@testable import AsyncCurl
import Dispatch
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct DeadlineTests {
        @Test func receiveTimeoutConsumesNothingAndLeavesTheConnectionUsable() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let start = ContinuousClock.now
                let error = await #expect(throws: CurlError.self) {
                    _ = try await connection.receive(timeout: .milliseconds(200))
                }
                let elapsed = ContinuousClock.now - start
                #expect(error?.code == .operationTimedOut)
                #expect(elapsed >= .milliseconds(190) && elapsed < .seconds(2), "\(elapsed)")
                #expect(await multi.diagnostics.pendingContinuations == 0)
                try await connection.send("still")
                #expect(try await connection.receive(exactly: 5, timeout: .seconds(10)) == Array("still".utf8))
            }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func receiveExactlyTimeoutGivesItsBytesBack() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            try await CurlMulti().withConnection(to: server.url) { connection async throws in
                try await connection.send("ab")
                let error = await #expect(throws: CurlError.self) {
                    _ = try await connection.receive(exactly: 4, timeout: .milliseconds(200))
                }
                #expect(error?.code == .operationTimedOut)
                try await connection.send("cd")
                #expect(try await connection.receive(exactly: 4) == Array("abcd".utf8))
            }
        }

        @Test func idleTimeoutAppliesToEveryWait() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            var options = ConnectionOptions()
            options.idleTimeout = .milliseconds(150)
            try await CurlMulti().withConnection(to: server.url, options: options) { connection async throws in
                var iterator = connection.chunks.makeAsyncIterator()
                let error = await #expect(throws: CurlError.self) { _ = try await iterator.next() }
                #expect(error?.code == .operationTimedOut)
                // A per-call timeout longer than the idle timeout does not extend it.
                let start = ContinuousClock.now
                await #expect(throws: CurlError.self) { _ = try await connection.receive(timeout: .seconds(30)) }
                #expect(ContinuousClock.now - start < .seconds(5))
                // Data that arrives in time is delivered.
                try await connection.send("in time")
                #expect(try await connection.receive(exactly: 7) == Array("in time".utf8))
            }
        }

        @Test func extremeTimeoutsNeitherTrapNorWaitWrongly() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            var options = ConnectionOptions()
            options.idleTimeout = .seconds(Int64.max)
            try await CurlMulti().withConnection(to: server.url, options: options) { connection async throws in
                // A timeout past the end of the clock is no timeout: the wait ends with the data.
                async let echoed = connection.receive(exactly: 3, timeout: .seconds(Int64.max))
                try await connection.send("abc", timeout: .seconds(Int64.max))
                #expect(try await echoed == Array("abc".utf8))
                // A negative timeout has passed already: it times out, and what it read goes back.
                try await connection.send("def")
                #expect(try await connection.receive(exactly: 1, timeout: .seconds(10)) == Array("d".utf8))
                let error = await #expect(throws: CurlError.self) {
                    _ = try await connection.receive(exactly: 4, timeout: .seconds(-5))
                }
                #expect(error?.code == .operationTimedOut)
                #expect(try await connection.receive(exactly: 2, timeout: .seconds(10)) == Array("ef".utf8))
            }
        }

        @Test func deadlinesSaturateAtBothEndsOfTheClock() {
            let now = Deadline(uptimeNanoseconds: 1_000)
            #expect(now.adding(.seconds(Int64.max)).uptimeNanoseconds == .max)
            #expect(now.adding(.seconds(Int64.min)).uptimeNanoseconds == 0)
            #expect(now.adding(.nanoseconds(-2_000)).uptimeNanoseconds == 0)
            #expect(now.adding(.nanoseconds(250)).uptimeNanoseconds == 1_250)
            #expect(now.adding(.milliseconds(-0.0005)).uptimeNanoseconds == 500)
            #expect(Deadline(uptimeNanoseconds: .max).dispatchTime == .distantFuture)
            #expect(Deadline(uptimeNanoseconds: .max - 1).adding(.seconds(1)).uptimeNanoseconds == .max)
        }

        @Test func sendTimeoutAfterPartialWriteClosesTheConnection() async throws {
            let server = try NonReadingPeer()
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let error = await #expect(throws: CurlError.self) {
                try await connection.send([UInt8](repeating: 3, count: 64 << 20), timeout: .milliseconds(300))
            }
            #expect(error?.code == .operationTimedOut)
            #expect(error?.message.contains("closed") == true, "\(String(describing: error))")
            await #expect(throws: ConnectionError.closed) { try await connection.send("x") }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func shutdownFailsLiveAndConnectingConnections() async throws {
            let server = try LoopbackServer(mode: .echo)
            let blackhole = try BlackholeListener()
            defer {
                server.stop()
                blackhole.close()
            }
            let multi = CurlMulti()
            let live = try await multi.connect(to: server.url)
            let receiving = Task { try await live.receive() }
            let connecting = Task { try await multi.connect(to: blackhole.url) }
            try await waitUntil("a receive and a connect to be pending") {
                let diagnostics = await multi.diagnostics
                return diagnostics.pendingContinuations == 2 && diagnostics.connecting == 1
            }
            await multi.shutdown()
            await #expect(throws: ConnectionError.engineShutDown) { _ = try await receiving.value }
            await #expect(throws: ConnectionError.engineShutDown) { _ = try await connecting.value }
            await #expect(throws: ConnectionError.engineShutDown) { try await live.send("x") }
            await #expect(throws: ConnectionError.engineShutDown) { _ = try await multi.connect(to: server.url) }
            #expect(await multi.diagnostics == .idle)
        }
    }
}
