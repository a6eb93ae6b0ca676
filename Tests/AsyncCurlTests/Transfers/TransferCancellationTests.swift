@testable import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// Cancelling a transfer at each stage, dropping its response, shutting the engine down, and
/// the time limits: each ends the transfer promptly with a typed error and releases everything.
extension AsyncCurlTests {
    @Suite struct TransferCancellationTests {
        /// The server accepts and never answers: cancelling the task waiting in `execute`
        /// throws `CancellationError` at once, and the engine and the process hold nothing.
        @Test func cancellingBeforeTheHeadIsPromptAndLeaksNothing() async throws {
            let server = try ScriptedHTTPServer { _, _, gate in gate.wait() }
            defer { server.stop() }
            let multi = CurlMulti()
            // Warm the engine up (its own descriptors), then count.
            _ = try? await multi.execute("http://127.0.0.1:1/")
            let baseline = openFileDescriptorCount()
            let task = Task { try await multi.execute(server.url("/never")) }
            try await waitUntil("the request to reach the server") { server.heads.current.count == 1 }
            let start = ContinuousClock.now
            task.cancel()
            #expect(outcome(await task.result) == "CancellationError")
            #expect(ContinuousClock.now - start < .milliseconds(500))
            try await expectTransfersReleased(multi)
            server.gate.open()
            try await waitUntil("the server's side to close") { server.server.openClients == 0 }
            #expect(openFileDescriptorCount() <= baseline, "the cancelled transfer's socket is closed")
        }

        /// Cancelling the task that iterates the body mid-download throws `CancellationError`
        /// and releases the transfer.
        @Test(.requires(.nginx, .openssl))
        func cancellingTheBodysConsumerReleasesTheTransfer() async throws {
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            let response = try await multi.execute(server.url("/bytes/16m"), options: nginxOptions(server, .http1_1))
            let firstChunk = Locked(false)
            let reader = Task {
                var total = 0
                for try await chunk in response.body {
                    total += chunk.count
                    firstChunk.withLock { $0 = true }
                    // Waits for the cancellation, which wakes it.
                    try await waitUntil("the cancellation", timeout: .seconds(30)) { Task.isCancelled }
                }
                return total
            }
            try await waitUntil("the first chunk") { firstChunk.current }
            reader.cancel()
            let result = await reader.result
            // The iteration after the cancellation throws CancellationError.
            #expect(outcome(result) == "CancellationError", "\(result)")
            try await expectTransfersReleased(multi)
            let log = try await server.waitForAccessLog(1)
            #expect(log[0].bodyBytesSent < 16 << 20, "the whole body went out to a cancelled transfer")
        }

        /// A response dropped unread cancels its transfer.
        @Test(.requires(.nginx, .openssl), arguments: [false, true])
        func droppingTheResponseUnreadReleasesTheTransfer(http2: Bool) async throws {
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            do {
                let response = try await multi.execute(server.url("/bytes/16m", scheme: http2 ? .https : .http),
                                                       options: nginxOptions(server, http2 ? .http2 : .http1_1))
                #expect(response.status == .ok)
            }
            try await expectTransfersReleased(multi)
            // The engine still works.
            let again = try await multi.execute(server.url("/hello.txt"), options: nginxOptions(server))
            #expect(try await again.body.collect(upTo: 100) == NginxHTTPServer.helloText)
        }

        /// `shutdown()` with transfers waiting for a head and one mid-body: each fails with
        /// `engineShutDown`, and later transfers are refused.
        @Test(.requires(.nginx, .openssl))
        func shutdownFailsTransfersInFlight() async throws {
            let silent = try ScriptedHTTPServer { _, _, gate in gate.wait() }
            defer { silent.stop() }
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            let waiting = (0..<2).map { _ in Task { try await multi.execute(silent.url("/never")) } }
            let reading = try await multi.execute(server.url("/bytes/16m"), options: nginxOptions(server, .http1_1))
            var iterator = reading.body.makeAsyncIterator()
            _ = try await iterator.next()
            try await waitUntil("both requests to reach the silent server") { silent.heads.current.count == 2 }
            await multi.shutdown()
            for task in waiting {
                #expect(outcome(await task.result) == "ConnectionError.engineShutDown")
            }
            var bodyError: (any Error)?
            do {
                while try await iterator.next() != nil {}
            } catch {
                bodyError = error
            }
            #expect(bodyError.map(outcome(of:)) == "ConnectionError.engineShutDown")
            #expect(await multi.diagnostics.transfers == 0)
            let after = await measured { try await multi.execute(server.url("/hello.txt")) }
            #expect(outcome(after.result) == "ConnectionError.engineShutDown")
        }

        /// With the default `.http2`, two transfers to an `http://` server that has not answered
        /// the first yet both go out at once (on two connections): nothing waits to multiplex
        /// where HTTP/2 cannot come.
        @Test func concurrentHTTP1TransfersDoNotWaitForTheFirstHead() async throws {
            let server = try ScriptedHTTPServer { _, _, gate in gate.wait() }
            defer { server.stop() }
            let multi = CurlMulti()
            let tasks = (0..<3).map { _ in Task { try await multi.execute(server.url("/slow")) } }
            try await waitUntil("all three requests to reach the server", timeout: .seconds(5)) { server.heads.current.count == 3 }
            for task in tasks { task.cancel() }
            for task in tasks { #expect(outcome(await task.result) == "CancellationError") }
            try await expectTransfersReleased(multi)
        }

        // MARK: - Time limits

        /// `timeout` on a server that never answers: operationTimedOut after about the timeout.
        @Test func timeoutOnASilentServer() async throws {
            let server = try ScriptedHTTPServer { _, _, gate in gate.wait() }
            defer { server.stop() }
            let multi = CurlMulti()
            var options = TransferOptions()
            options.timeout = .milliseconds(500)
            let (result, elapsed) = await measured { try await multi.execute(server.url("/never"), options: options) }
            #expect(outcome(result) == "CurlError.operationTimedOut")
            #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(3), "\(elapsed)")
            try await expectTransfersReleased(multi)
        }

        /// `connection.idleTimeout` (libcurl's low-speed limit) on a server that sends the head
        /// and part of the body, then stalls: operationTimedOut.
        @Test func idleTimeoutOnAStalledBody() async throws {
            let server = try ScriptedHTTPServer { peer, _, gate in
                try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "x", count: 1000))
                gate.wait()
            }
            defer { server.stop() }
            let multi = CurlMulti()
            var options = TransferOptions()
            options.connection.idleTimeout = .seconds(1)
            let (result, elapsed) = await measured {
                let response = try await multi.execute(server.url("/stall"), options: options)
                return try await response.body.collect(upTo: 1 << 20)
            }
            #expect(outcome(result) == "CurlError.operationTimedOut", "\(result)")
            // libcurl's speed is an average over its last ~5 s of samples: the 1000 bytes that
            // came at once keep it above 1 byte/s for about 5 s, so the limit fires about 6–7 s
            // after the stall, not 1 s (measured: 7.0 s with libcurl 7.88.1).
            print("idleTimeout 1 s after a 1000-byte burst then a stall: \(outcome(result)) after \(elapsed)")
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(10), "\(elapsed)")
            try await expectTransfersReleased(multi)
        }

        /// A server that sends only the head and then stalls: nothing moved, so the limit fires
        /// after about idleTimeout.
        @Test func idleTimeoutAfterTheHead() async throws {
            let server = try ScriptedHTTPServer { peer, _, gate in
                try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                gate.wait()
            }
            defer { server.stop() }
            let multi = CurlMulti()
            var options = TransferOptions()
            options.connection.idleTimeout = .seconds(1)
            let (result, elapsed) = await measured {
                let response = try await multi.execute(server.url("/stall"), options: options)
                return try await response.body.collect(upTo: 1 << 20)
            }
            print("idleTimeout 1 s after a head then a stall: \(outcome(result)) after \(elapsed)")
            #expect(outcome(result) == "CurlError.operationTimedOut", "\(result)")
            #expect(elapsed >= .seconds(1) && elapsed < .seconds(4), "\(elapsed)")
            try await expectTransfersReleased(multi)
        }

        /// A consumer reading one chunk every 1.5 s with idleTimeout 1 s: the transfer is paused
        /// for the consumer, not idle, and is not killed.
        @Test(.requires(.nginx, .openssl))
        func slowConsumerIsNotKilledByIdleTimeout() async throws {
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            var options = nginxOptions(server, .http1_1)
            options.connection.idleTimeout = .seconds(1)
            options.responseBufferSize = 64 << 10
            options.receiveBufferSize = 64 << 10
            let response = try await multi.execute(server.url("/bytes/1m"), options: options)
            var iterator = response.body.makeAsyncIterator()
            var total = 0
            for _ in 0..<3 {
                guard let chunk = try await iterator.next() else { break }
                total += chunk.count
                await observe(for: .milliseconds(1500))  // the slow consumer, not a synchronisation
            }
            while let chunk = try await iterator.next() { total += chunk.count }
            #expect(total == 1 << 20)
            try await expectTransfersReleased(multi)
        }
    }
}
