import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct EndOfStreamTests {
        @Test func receiveReturnsNilAtEndOfStream() async throws {
            let payload = Array("hello, world".utf8)
            let server = try LoopbackServer(mode: .source(payload))
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                var received: [UInt8] = []
                while let chunk = try await connection.receive(maxLength: 5) {
                    #expect(!chunk.isEmpty && chunk.count <= 5)
                    received += chunk
                }
                #expect(received == payload)
                #expect(try await connection.receive() == nil, "end of stream is sticky")
            }
        }

        @Test func chunksEndAtEndOfStream() async throws {
            var stream = ByteStream(seed: 7)
            let payload = stream.next(3 << 20)
            let server = try LoopbackServer(mode: .source(payload))
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            var received: [UInt8] = []
            for try await chunk in connection.chunks {
                received += chunk
            }
            #expect(received == payload)
            // A finished sequence stays finished.
            var iterator = connection.chunks.makeAsyncIterator()
            #expect(try await iterator.next() == nil)
            await connection.close()
        }

        @Test func receiveExactlyAcrossManySmallSegments() async throws {
            let pieces = 1000
            let server = try LoopbackServer(mode: .handler { peer in
                // Many tiny writes with TCP_NODELAY-like pacing from the peer's side: each one a
                // separate segment unless the client is slower than the writer.
                for index in 0..<pieces {
                    try? peer.write((0..<7).map { UInt8(truncatingIfNeeded: index * 7 + $0) })
                }
                peer.shutdownWrite()
                _ = try? peer.readToEnd()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let first = try await connection.receive(exactly: 3)
                #expect(first == [0, 1, 2])
                let middle = try await connection.receive(exactly: pieces * 7 - 3 - 10)
                #expect(middle == (3..<(pieces * 7 - 10)).map { UInt8(truncatingIfNeeded: $0) })
                // Asking for more than is left: the error says how much there was, and the bytes
                // stay in the connection for the next receive.
                let error = await #expect(throws: ConnectionError.self) { _ = try await connection.receive(exactly: 11) }
                #expect(error?.code == .unexpectedEndOfStream)
                #expect(error?.byteCount == 10)
                let rest = try await connection.receive(exactly: 10)
                #expect(rest == ((pieces * 7 - 10)..<(pieces * 7)).map { UInt8(truncatingIfNeeded: $0) })
                #expect(try await connection.receive() == nil)
            }
        }

        @Test func peerThatClosesAtOnceGivesNil() async throws {
            let server = try LoopbackServer(mode: .source([]))
            defer { server.stop() }
            let received = try await CurlMulti().withConnection(to: server.url) { connection async throws in
                try await connection.receive()
            }
            #expect(received == nil)
        }
    }
}

extension AsyncCurlTests {
    @Suite struct DelimitedReceiveTests {
        static let crlf = Array("\r\n".utf8)

        @Test func linesThenPartialThenEnd() async throws {
            let server = try LoopbackServer(mode: .source(Array("line one\r\nline two\r\npartial".utf8)))
            defer { server.stop() }
            try await CurlMulti().withConnection(to: server.url) { connection async throws in
                // Too small a limit: a typed error, and nothing is lost.
                let tooLong = await #expect(throws: ConnectionError.self) {
                    _ = try await connection.receive(through: Self.crlf, maxLength: 4)
                }
                #expect(tooLong?.code == .delimiterNotFound)
                #expect(try await connection.receive(through: Self.crlf) == Array("line one\r\n".utf8))
                #expect(try await connection.receive(through: Self.crlf) == Array("line two\r\n".utf8))
                let partial = await #expect(throws: ConnectionError.self) {
                    _ = try await connection.receive(through: Self.crlf)
                }
                #expect(partial?.code == .unexpectedEndOfStream)
                #expect(partial?.byteCount == 7)
                #expect(try await connection.receive() == Array("partial".utf8))
                #expect(try await connection.receive(through: Self.crlf) == nil)
            }
        }

        @Test func cancelledDelimitedReceiveLosesNothing() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                try await connection.send("abc")
                let pending = Task { try await connection.receive(through: [10]) }
                try await waitUntil("the receive to wait for the delimiter") {
                    await multi.diagnostics.pendingContinuations == 1
                }
                pending.cancel()
                await #expect(throws: CancellationError.self) { _ = try await pending.value }
                try await connection.send("def\nghi\n")
                #expect(try await connection.receive(through: [10]) == Array("abcdef\n".utf8))
                #expect(try await connection.receive(through: [10], timeout: .seconds(10)) == Array("ghi\n".utf8))
            }
        }
    }
}
