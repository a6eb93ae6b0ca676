import AsyncCurl
import Dispatch
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct CancellationTests {
        @Test func cancelledReceiveConsumesNothingAndLeavesTheConnectionUsable() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let pending = Task { try await connection.receive() }
                try await waitUntil("the receive to suspend") { await multi.diagnostics.pendingContinuations == 1 }
                let start = ContinuousClock.now
                pending.cancel()
                await #expect(throws: CancellationError.self) { _ = try await pending.value }
                #expect(ContinuousClock.now - start < .milliseconds(500))
                #expect(await multi.diagnostics.pendingContinuations == 0)

                try await connection.send("after")
                #expect(try await connection.receive(exactly: 5) == Array("after".utf8))
            }
        }

        @Test func cancelledReceiveExactlyGivesItsBytesBack() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                try await connection.send("abc")
                let pending = Task { try await connection.receive(exactly: 6) }
                try await waitUntil("receive(exactly:) to wait for the rest") { await multi.diagnostics.pendingContinuations == 1 }
                pending.cancel()
                await #expect(throws: CancellationError.self) { _ = try await pending.value }
                try await connection.send("def")
                #expect(try await connection.receive(exactly: 6) == Array("abcdef".utf8))
            }
        }

        @Test func cancelledChunksIterationCanResume() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let pending = Task {
                    for try await chunk in connection.chunks { return chunk }
                    return []
                }
                try await waitUntil("the iteration to suspend") { await multi.diagnostics.pendingContinuations == 1 }
                pending.cancel()
                await #expect(throws: CancellationError.self) { _ = try await pending.value }
                try await connection.send("z")
                var iterator = connection.chunks.makeAsyncIterator()
                #expect(try await iterator.next() == Array("z".utf8))
            }
        }

        @Test func sendCancelledBeforeAnyByteLeavesTheConnectionUsable() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let cancelled = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await connection.send("never")
                }
                await #expect(throws: CancellationError.self) { try await cancelled.value }
                try await connection.send("ok")
                #expect(try await connection.receive(exactly: 2) == Array("ok".utf8))
            }
            #expect(server.bytesReceived == 2, "the cancelled send wrote nothing")
        }

        @Test func sendCancelledAfterPartialWriteClosesTheConnection() async throws {
            // A peer that never reads: the send fills the socket buffers and suspends.
            let server = try NonReadingPeer()
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let total = 64 << 20
            let sending = Task { try await connection.send([UInt8](repeating: 1, count: total)) }
            try await waitUntil("the send to suspend on a full buffer") { await multi.diagnostics.pendingContinuations == 1 }
            sending.cancel()
            let error = await #expect(throws: ConnectionError.self) { try await sending.value }
            #expect(error?.code == .sendCancelled)
            #expect((error?.byteCount ?? 0) > 0 && (error?.byteCount ?? total) < total, "\(String(describing: error))")
            await #expect(throws: ConnectionError.closed) { _ = try await connection.receive() }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func twoConcurrentSendsAreAUsageError() async throws {
            let server = try NonReadingPeer()
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let first = Task { try await connection.send([UInt8](repeating: 5, count: 64 << 20)) }
            try await waitUntil("the first send to suspend") { await multi.diagnostics.pendingContinuations == 1 }
            let error = await #expect(throws: ConnectionError.self) { try await connection.send("second") }
            #expect(error?.code == .sendInProgress)
            // A receive may run beside the pending send: the connection is full duplex.
            await #expect(throws: CurlError.self) { _ = try await connection.receive(timeout: .milliseconds(50)) }
            await connection.close()
            await #expect(throws: ConnectionError.closed) { try await first.value }
        }

        @Test func cancelledConnectIsPromptAndLeaksNothing() async throws {
            let blackhole = try BlackholeListener()
            defer { blackhole.close() }
            let multi = CurlMulti()
            let baseline = openFileDescriptorCount()
            let connecting = Task { try await multi.connect(to: blackhole.url) }
            try await waitUntil("the connect to be under way") { await multi.diagnostics.connecting == 1 }
            let start = ContinuousClock.now
            connecting.cancel()
            await #expect(throws: CancellationError.self) { _ = try await connecting.value }
            #expect(ContinuousClock.now - start < .milliseconds(500))
            #expect(await multi.diagnostics == .idle)
            // Not equality: sockets of earlier tests' peers may still be closing meanwhile.
            #expect(openFileDescriptorCount() <= baseline, "the cancelled connect's socket is closed")
        }

        @Test func connectCancelledBeforeItStartsDoesNothing() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await multi.connect(to: server.url)
            }
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func closeWakesPendingReceiveAndSend() async throws {
            let server = try NonReadingPeer()
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let receiving = Task { try await connection.receive() }
            let sending = Task { try await connection.send([UInt8](repeating: 2, count: 64 << 20)) }
            try await waitUntil("both directions to suspend") { await multi.diagnostics.pendingContinuations == 2 }
            await connection.close()
            await #expect(throws: ConnectionError.closed) { _ = try await receiving.value }
            await #expect(throws: ConnectionError.closed) { try await sending.value }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func droppingTheLastReferenceClosesTheConnection() async throws {
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            do {
                let connection = try await multi.connect(to: server.url)
                try await connection.send("x")
                #expect(try await connection.receive(exactly: 1) == Array("x".utf8))
                #expect(await multi.diagnostics.open == 1)
            }
            try await waitUntil("the dropped connection to be closed") { await multi.diagnostics == .idle }
            try await waitUntil("the server to see the close") { server.openClients == 0 }
        }

        @Test func withConnectionClosesOnThrowAndCancellation() async throws {
            struct Boom: Error {}
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            await #expect(throws: Boom.self) {
                try await multi.withConnection(to: server.url) { _ in throw Boom() }
            }
            #expect(await multi.diagnostics == .idle)

            let task = Task {
                try await multi.withConnection(to: server.url) { connection async throws in
                    try await connection.receive()  // waits until cancelled
                }
            }
            try await waitUntil("the body to wait") { await multi.diagnostics.pendingContinuations == 1 }
            task.cancel()
            await #expect(throws: CancellationError.self) { _ = try await task.value }
            #expect(await multi.diagnostics == .idle)
        }
    }
}
