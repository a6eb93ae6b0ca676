import AsyncCurl
import LoopbackServer
import Testing

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
