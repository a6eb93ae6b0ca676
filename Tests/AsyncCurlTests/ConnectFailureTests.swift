import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct ConnectFailureTests {
        @Test func refusedPortIsCouldNotConnect() async throws {
            let refusing = try RefusingPort()
            let multi = CurlMulti()
            let error = await #expect(throws: CurlError.self) {
                _ = try await multi.connect(to: "tcp://127.0.0.1:\(refusing.port)")
            }
            #expect(error?.code == .couldNotConnect)
            #expect(error?.message.contains("\(refusing.port)") == true, "curl's message names the port: \(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// A name with several addresses where the first ones refuse: libcurl 7.88.1, driven by
        /// socket events, started the next address only when the attempt's timer expired — 200 ms
        /// for the second address, half the connect timeout (10 s here) for the third. The engine
        /// runs every handle once after such a failure, so all three are tried at once.
        @Test func refusedAddressesAreSkippedAtOnce() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.connectTimeout = .seconds(20)
            options.resolve = [ResolveEntry(host: "several.test", port: echo.port,
                                            addresses: ["127.0.0.2", "127.0.0.3", "127.0.0.1"])]
            let multi = CurlMulti()
            let start = ContinuousClock.now
            let info = try await connectAndEcho(multi, to: "tcp://several.test:\(echo.port)", options: options)
            let elapsed = ContinuousClock.now - start
            #expect(info.remoteAddress == "127.0.0.1")
            #expect(trace.contains("connect to 127.0.0.2 port \(echo.port) failed"), "\(trace.text)")
            #expect(trace.contains("connect to 127.0.0.3 port \(echo.port) failed"), "\(trace.text)")
            // Without the extra pass: at least 10.2 s.
            #expect(elapsed < .seconds(3), "\(elapsed):\n\(trace.text)")
            #expect(await multi.diagnostics == .idle)
        }

        @Test func connectTimeoutAgainstFullBacklog() async throws {
            let blackhole = try BlackholeListener()
            defer { blackhole.close() }
            let multi = CurlMulti()
            var options = ConnectionOptions()
            options.connectTimeout = .milliseconds(500)
            let start = ContinuousClock.now
            let error = await #expect(throws: CurlError.self) {
                _ = try await multi.connect(to: blackhole.url, options: options)
            }
            let elapsed = ContinuousClock.now - start
            #expect(error?.code == .operationTimedOut)
            #expect(elapsed >= .milliseconds(450))
            #expect(elapsed < .milliseconds(1500), "timed out after \(elapsed), limit was 500 ms + 1 s")
            #expect(await multi.diagnostics == .idle)
        }
    }
}
