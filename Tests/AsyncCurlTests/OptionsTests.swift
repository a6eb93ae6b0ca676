@testable import AsyncCurl
import LoopbackServer
import Synchronization
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct OptionsTests {
        @Test func traceHandlerSeesCurlsVerboseOutput() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let lines = Mutex<[TraceEvent]>([])
            var options = ConnectionOptions()
            options.trace = { event in lines.withLock { $0.append(event) } }
            try await CurlMulti().withConnection(to: server.url, options: options) { connection async throws in
                try await connection.send("t")
                _ = try await connection.receive(exactly: 1)
            }
            let events = lines.withLock { $0 }
            #expect(events.contains { $0.kind == .text && $0.text.contains("Connected to 127.0.0.1") }, "\(events)")
            #expect(events.allSatisfy { !$0.text.hasSuffix("\n") })
        }

        @Test func socketOptionsAreAccepted() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            var options = ConnectionOptions()
            options.tcpNoDelay = false
            options.keepAlive = TCPKeepAlive(idle: .seconds(30), interval: .seconds(5))
            options.localInterface = "host!127.0.0.1"
            options.connectTimeout = .seconds(5)
            let reply = try await CurlMulti().withConnection(to: server.url, options: options) { connection async throws in
                try await connection.send("opts")
                return try await connection.receive(exactly: 4)
            }
            #expect(reply == Array("opts".utf8))
        }

        @Test func localPortRangeIsUsed() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            // A port near the top of the ephemeral range is unlikely to be busy; 50 tries.
            var options = ConnectionOptions()
            options.localPort = 61_000
            options.localPortRange = 50
            let connection = try await CurlMulti().connect(to: server.url, options: options)
            let port = try #require(connection.info.localPort)
            #expect((61_000..<61_050).contains(port))
            await connection.close()
        }

        @Test func badLocalInterfaceIsInterfaceFailed() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            var options = ConnectionOptions()
            options.localInterface = "if!no-such-interface0"
            let error = await #expect(throws: CurlError.self) {
                _ = try await CurlMulti().connect(to: server.url, options: options)
            }
            #expect(error?.code == .interfaceFailed)
        }

        @Test func durationsBecomeWholeMilliseconds() {
            #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
            #expect(Duration.microseconds(1).wholeMilliseconds == 1)
            #expect(Duration.zero.wholeMilliseconds == 0)
            #expect(Duration.seconds(Int64.max).wholeMilliseconds == Int.max)
        }
    }
}
