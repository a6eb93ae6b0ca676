import AsyncCurl
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct EchoTests {
        @Test func echoRoundTrip() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let reply = try await multi.withConnection(to: server.url) { connection async throws in
                try await connection.send(Array("PING\r\n".utf8))
                return try await connection.receive(exactly: 6)
            }
            #expect(reply == Array("PING\r\n".utf8))
            #expect(await multi.diagnostics == .idle)
        }

        @Test func everySendOverloadWritesItsBytes() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                #expect(connection.info.remoteAddress == "127.0.0.1")
                #expect(connection.info.remotePort == server.port)
                #expect(connection.info.localAddress == "127.0.0.1")
                #expect((connection.info.localPort ?? 0) > 0)
                #expect(!connection.info.usesTLS)
                #expect(connection.info.proxyConnectStatus == nil)
                #expect(connection.info.timings.tlsEstablished == nil)

                try await connection.send("héllo")
                #expect(try await connection.receive(exactly: 6) == Array("héllo".utf8))

                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 5, alignment: 1)
                defer { buffer.deallocate() }
                buffer.initializeMemory(as: UInt8.self, repeating: 7)
                try await connection.send(UnsafeRawBufferPointer(buffer))
                #expect(try await connection.receive(exactly: 5) == [7, 7, 7, 7, 7])

                try await connection.send((1...4).map { UInt8($0) }.lazy.map { $0 * 2 })
                #expect(try await connection.receive(exactly: 4) == [2, 4, 6, 8])

                let pieces = AsyncStream<[UInt8]> { continuation in
                    for piece in [[1], [2, 3], [], [4, 5, 6]] as [[UInt8]] { continuation.yield(piece) }
                    continuation.finish()
                }
                try await connection.send(contentsOf: pieces)
                #expect(try await connection.receive(exactly: 6) == [1, 2, 3, 4, 5, 6])

                try await connection.send([UInt8]())  // nothing to write is fine
            }
        }

        /// 64 MiB each way at once: one task sends while another receives and checks every byte.
        @Test func fullDuplex64MiB() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let total = 64 << 20
            let connection = try await multi.connect(to: server.url)
            let received = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    var stream = ByteStream(seed: 42)
                    var sent = 0
                    while sent < total {
                        let size = min(total - sent, 1 + (sent / 7) % 200_000)
                        try await connection.send(stream.next(size))
                        sent += size
                    }
                    return -1
                }
                group.addTask {
                    var expected = ByteStream(seed: 42)
                    var count = 0
                    while count < total, let chunk = try await connection.receive(maxLength: 100_000) {
                        for byte in chunk {
                            guard byte == expected.next() else {
                                Issue.record("byte \(count) differs")
                                return count
                            }
                            count += 1
                        }
                    }
                    return count
                }
                var received = 0
                for try await result in group where result >= 0 { received = result }
                return received
            }
            #expect(received == total)
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test func twoConcurrentReceivesAreAUsageError() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let first = Task { try await connection.receive() }
            try await waitUntil("the first receive to suspend") { await multi.diagnostics.pendingContinuations == 1 }
            let error = await #expect(throws: ConnectionError.self) { _ = try await connection.receive() }
            #expect(error?.code == .receiveInProgress)
            // The second receive consumed nothing: the first one still gets every byte.
            try await connection.send("abc")
            #expect(try await first.value == Array("abc".utf8))
            await connection.close()
        }

        @Test func closedConnectionThrowsClosed() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            await connection.close()
            await connection.close()  // idempotent
            await #expect(throws: ConnectionError.closed) { try await connection.send("x") }
            await #expect(throws: ConnectionError.closed) { _ = try await connection.receive() }
            await #expect(throws: ConnectionError.closed) { _ = try await connection.receive(exactly: 1) }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func invalidLengthsAreTypedErrors() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            try await CurlMulti().withConnection(to: server.url) { connection async throws in
                await #expect(throws: CurlError.self) { _ = try await connection.receive(maxLength: 0) }
                await #expect(throws: CurlError.self) { _ = try await connection.receive(exactly: -1) }
                let nothing = try await connection.receive(exactly: 0)
                #expect(nothing == [])
            }
        }

        @Test func sharedEngineWorks() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let reply = try await CurlMulti.shared.withConnection(to: server.url) { connection async throws in
                try await connection.send("shared")
                return try await connection.receive(exactly: 6)
            }
            #expect(reply == Array("shared".utf8))
        }
    }
}

extension AsyncCurlTests {
    @Suite struct HalfCloseAndSocketTests {
        @Test func finishSendingHalfClosesAndStillReceives() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(host: "127.0.0.1", port: server.port)
            #expect(connection.info.host == "127.0.0.1" && connection.info.port == server.port)
            try await connection.send("last words")
            try await connection.finishSending()
            try await connection.finishSending()  // idempotent
            // The echo server sees end of stream, flushes, and closes: everything comes back.
            var received: [UInt8] = []
            for try await chunk in connection.chunks { received += chunk }
            #expect(received == Array("last words".utf8))
            let error = await #expect(throws: CurlError.self) { try await connection.send("more") }
            #expect(error?.code == .sendError)
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test func connectionSocketsAreCloseOnExec() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let connection = try await CurlMulti().connect(to: server.url)
            defer { Task { await connection.close() } }
            let localPort = try #require(connection.info.localPort)
            let flags = try #require(descriptorFlags(ofLocalPort: localPort), "found the connection's socket")
            #expect(flags & FD_CLOEXEC != 0)
        }
    }
}

/// `fcntl(F_GETFD)` of this process's TCP socket bound to `localPort` on 127.0.0.1.
private func descriptorFlags(ofLocalPort localPort: Int) -> Int32? {
    for fd in Int32(3)..<Int32(4096) {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        if named, address.sin_family == sa_family_t(AF_INET), Int(UInt16(bigEndian: address.sin_port)) == localPort {
            return fcntl(fd, F_GETFD)
        }
    }
    return nil
}
