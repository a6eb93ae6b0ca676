import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct ScaleTests {
        struct WrongEcho: Error {}

        /// Sends a message unique to `index` and checks that exactly it comes back.
        static func echoCheck(_ connection: AsyncConnection, _ index: Int) async throws {
            let message = Array("connection \(index)\n".utf8)
            try await connection.send(message)
            guard try await connection.receive(exactly: message.count) == message else { throw WrongEcho() }
        }

        @Test func twoThousandConcurrentConnectionsEcho() async throws {
            raiseOpenFileLimit()
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let count = 2000
            let connections = try await withThrowingTaskGroup(of: AsyncConnection.self) { group in
                for _ in 0..<count {
                    group.addTask { try await multi.connect(to: server.url) }
                }
                var connections: [AsyncConnection] = []
                for try await connection in group { connections.append(connection) }
                return connections
            }
            #expect(await multi.diagnostics.open == count)
            try await waitUntil("the server to accept every connection") { server.openClients == count }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, connection) in connections.enumerated() {
                    group.addTask { try await Self.echoCheck(connection, index) }
                }
                try await group.waitForAll()
            }
            for connection in connections { await connection.close() }
            #expect(await multi.diagnostics == .idle)
        }

        /// fd numbers are reused constantly while other connections stay live: the engine must
        /// never confuse a new socket with an old registration.
        @Test func fiveThousandConnectCloseCyclesBesideFiftyLiveConnections() async throws {
            raiseOpenFileLimit()
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let before = openFileDescriptorCount()

            var live: [AsyncConnection] = []
            for _ in 0..<50 { live.append(try await multi.connect(to: server.url)) }
            // Half of the live connections wait in receive the whole time, so the engine holds
            // registrations for them while fd numbers around them are reused.
            let waiting = live.prefix(25).map { connection in Task { try await connection.receive(exactly: 5) } }

            var steady = 0
            for cycle in 0..<5000 {
                let connection = try await multi.connect(to: server.url)
                if cycle % 10 == 0 { try await Self.echoCheck(connection, cycle) }
                await connection.close()
                if cycle == 99 {
                    // After a warm-up, with the 50 live connections open on both sides.
                    try await waitUntil("the server to see the warm-up closes") { server.openClients == 50 }
                    steady = openFileDescriptorCount()
                }
            }
            try await waitUntil("the server to see every cycle's close") { server.openClients == 50 }
            #expect(openFileDescriptorCount() == steady, "no fd growth over 4,900 cycles")

            for (index, connection) in live.enumerated().dropFirst(25) {
                try await Self.echoCheck(connection, index)
            }
            for (index, connection) in live.prefix(25).enumerated() {
                try await connection.send("live\(index % 10)")
                #expect(try await waiting[index].value == Array("live\(index % 10)".utf8))
            }
            for connection in live { await connection.close() }
            #expect(await multi.diagnostics == .idle)
            try await waitUntil("the server to see every close") { server.openClients == 0 }
            #expect(openFileDescriptorCount() <= before)
        }
    }
}
