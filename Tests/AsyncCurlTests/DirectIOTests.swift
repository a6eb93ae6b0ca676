import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    /// The direct path: a connection without TLS sends and receives on the caller's thread and
    /// waits in its gate; `receive(into:)`; what the diagnostics count for open connections.
    @Suite struct DirectIOTests {
        @Test func receiveIntoFillsTheCallersBufferAndReturnsZeroAtEndOfStream() async throws {
            let server = try LoopbackServer(mode: .source(Array("hello, buffer".utf8)))
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
                defer { buffer.deallocate() }
                var received: [UInt8] = []
                while true {
                    // A 5-byte window, so the 13 bytes take several calls.
                    let count = try await connection.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<5]))
                    #expect(count <= 5)
                    if count == 0 { break }
                    received += buffer[0..<count]
                }
                #expect(received == Array("hello, buffer".utf8))
                #expect(try await connection.receive(into: buffer) == 0, "the end of stream is sticky")

                let error = await #expect(throws: CurlError.self) {
                    _ = try await connection.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<0]))
                }
                #expect(error?.code == .badFunctionArgument)
            }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func receiveIntoOverTLS() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let tls = try await StunnelPeer(.init(certificates.server), forwardingTo: echo.port)
            var options = ConnectionOptions()
            options.tls.caFile = certificates.caFile
            let multi = CurlMulti()
            try await multi.withConnection(to: tls.url, options: options) { connection async throws in
                try await connection.send("over TLS")
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
                defer { buffer.deallocate() }
                var received: [UInt8] = []
                while received.count < 8 {
                    let count = try await connection.receive(into: buffer, timeout: .seconds(10))
                    #expect(count > 0)
                    received += buffer[0..<count]
                }
                #expect(received == Array("over TLS".utf8))
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// libcurl's own reads stop at 16 KiB (its default buffer size); a connection without
        /// TLS reads the socket itself, so one receive returns all that has arrived.
        @Test func aPlainReceiveReturnsMoreThanLibcurlsBufferSize() async throws {
            let (written, writtenContinuation) = AsyncStream<Void>.makeStream()
            let payload = [UInt8](repeating: 0x5A, count: 256 * 1024)
            let server = try LoopbackServer(mode: .handler { peer in
                try? peer.write(payload)
                writtenContinuation.yield()
                _ = try? peer.readToEnd()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                // The peer's blocking write returned: what its send buffer could not hold is in
                // this side's receive buffer, well over 16 KiB. (The connect's one attaching
                // curl_easy_recv may already have taken up to 16 KiB of it.)
                for await _ in written { break }
                var received: [UInt8] = []
                var largest = 0
                while received.count < payload.count {
                    let chunk = try #require(try await connection.receive(maxLength: payload.count, timeout: .seconds(10)))
                    largest = max(largest, chunk.count)
                    received += chunk
                }
                #expect(received == payload)
                #expect(largest > 16 * 1024)
            }
        }

        /// Lengths that could come from a hostile peer's length field allocate only what arrives.
        @Test func hugeLengthsAllocateOnlyWhatArrives() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                try await connection.send("abc")
                let some = try #require(try await connection.receive(maxLength: .max, timeout: .seconds(10)))
                #expect(some == Array("abc".utf8))
                try await connection.send("def")
                let error = await #expect(throws: CurlError.self) {
                    _ = try await connection.receive(exactly: .max / 2, timeout: .milliseconds(200))
                }
                #expect(error?.code == .operationTimedOut)
                #expect(try await connection.receive(exactly: 3, timeout: .seconds(10)) == Array("def".utf8),
                        "the timed-out receive gave its bytes back")
            }
        }

        /// An open connection's socket stays in the epoll set (disarmed) for its whole life; a
        /// suspended receive is counted until it ends. A plain connection keeps no libcurl
        /// handle once open, so no connection cache either.
        @Test func diagnosticsCountOpenSocketsAndSuspendedWaits() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(open: 1, watchedSockets: 1))
            let receive = Task { try await connection.receive(exactly: 3) }
            try await waitUntil("the receive to suspend") { await multi.diagnostics.pendingContinuations == 1 }
            try await connection.send("abc")
            #expect(try await receive.value == Array("abc".utf8))
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(open: 1, watchedSockets: 1))
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// A receive(exactly:) that read part of its bytes directly and then times out gives them
        /// back; the next receive starts with them.
        @Test func aDirectPartialReadIsGivenBackOnTimeout() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                try await connection.send("12345")
                let error = await #expect(throws: CurlError.self) {
                    _ = try await connection.receive(exactly: 10, timeout: .milliseconds(200))
                }
                #expect(error?.code == .operationTimedOut)
                try await connection.send("67890")
                #expect(try await connection.receive(exactly: 10, timeout: .seconds(10)) == Array("1234567890".utf8))
            }
            #expect(await multi.diagnostics == .idle)
        }
    }
}
