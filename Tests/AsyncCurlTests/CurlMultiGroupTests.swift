import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// `CurlMultiGroup`: connections go to the engines in turn, each stays on its engine, TLS
/// connections on different engines run at the same time, and the group shuts down as one.
extension AsyncCurlTests {
    @Suite struct CurlMultiGroupTests {
        @Test func connectionsGoToTheEnginesInTurn() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let group = CurlMultiGroup(engineCount: 3)
            #expect(group.engines.count == 3)
            var connections: [AsyncConnection] = []
            for _ in 0..<6 {
                connections.append(try await group.connect(to: server.url))
            }
            let positions = connections.map { connection in group.engines.firstIndex { $0 === connection.multi } }
            #expect(positions == [0, 1, 2, 0, 1, 2])
            for (index, connection) in connections.enumerated() {
                try await connection.send("line \(index)\n")
                #expect(try await connection.receive(exactly: 7, timeout: .seconds(10)) == Array("line \(index)\n".utf8))
            }
            #expect(await group.diagnostics.map(\.open) == [2, 2, 2])
            for connection in connections { await connection.close() }
            #expect(await group.diagnostics.allSatisfy(\.isIdle))
        }

        @Test func engineCountIsAtLeastOne() {
            #expect(CurlMultiGroup(engineCount: 0).engines.count == 1)
            #expect(CurlMultiGroup(engineCount: -5).engines.count == 1)
            #expect(CurlMultiGroup().engines.count >= 1)
        }

        /// Two TLS connections on two engines, each streaming 8 MiB through its own echo at the
        /// same time: every byte comes back, on engines that share no lock.
        @Test(.requires(.stunnel))
        func tlsConnectionsOnTwoEnginesRunTogether() async throws {
            let echo = try await TLSEcho()
            defer { echo.stop() }
            let group = CurlMultiGroup(engineCount: 2)
            let first = try await group.connect(to: echo.url, options: echo.options())
            let second = try await group.connect(to: echo.url, options: echo.options())
            #expect(first.multi !== second.multi)
            let size = 8 << 20
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for connection in [first, second] {
                    tasks.addTask {
                        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
                        async let sent: Void = connection.send(payload, timeout: .seconds(60))
                        let back = try await connection.receive(exactly: size, timeout: .seconds(60))
                        try await sent
                        #expect(back == payload)
                    }
                }
                try await tasks.waitForAll()
            }
            await first.close()
            await second.close()
            #expect(await group.diagnostics.allSatisfy(\.isIdle))
        }

        @Test func withConnectionAndShutdown() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let group = CurlMultiGroup(engineCount: 2)
            let reply = try await group.withConnection(to: server.url) { connection in
                try await connection.send("ping\n")
                return try await connection.receive(exactly: 5, timeout: .seconds(10))
            }
            #expect(reply == Array("ping\n".utf8))
            let open = try await group.connect(to: server.url)
            await group.shutdown()
            await #expect(throws: ConnectionError.self) { try await open.send("after shutdown") }
            for _ in 0..<2 {
                await #expect(throws: ConnectionError.self) { _ = try await group.connect(to: server.url) }
            }
        }
    }
}
