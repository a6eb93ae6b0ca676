@testable import AsyncCurl
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

/// Back-pressure in both directions: a streamed request body is iterated only as fast as the
/// upload goes, and a response body that the application does not read pauses the transfer
/// instead of piling up in memory.
extension AsyncCurlTests {
    @Suite struct TransferBackPressureTests {
        /// A 64 MiB stream to a server that reads the request head and then nothing: the
        /// producer gets no further than the request buffer, one chunk and the socket buffers
        /// (a few MiB on loopback), never near the 64 MiB an eager drain would take. Cancelling
        /// the task ends the transfer and stops the producer.
        @Test func uploadToANonReadingServerStopsTheProducer() async throws {
            let server = try ScriptedHTTPServer { _, _, gate in gate.wait() }
            defer { server.stop() }
            let multi = CurlMulti()
            var options = TransferOptions()
            options.requestBufferSize = 64 << 10
            options.httpVersion = .http1_1
            let chunks = CountingChunks(total: 64 << 20)
            let task = Task {
                try await multi.execute(server.url("/upload"), method: .put, body: .stream(chunks, length: 64 << 20), options: options)
            }
            try await waitUntil("the producer to start") { chunks.progress.current >= 1 << 20 }
            // A measurement window: an eagerly drained sequence would pass 16 MiB in well under it.
            let windowEnd = ContinuousClock.now + .seconds(1)
            while ContinuousClock.now < windowEnd, chunks.progress.current < 16 << 20 {
                await observe(for: .milliseconds(50))
            }
            let ahead = chunks.progress.current
            #expect(ahead < 16 << 20, "the producer got \(ahead) bytes ahead of a server that reads nothing")
            print("upload back-pressure: the producer got \(ahead) bytes ahead of a non-reading server (requestBufferSize 64 KiB)")

            let start = ContinuousClock.now
            task.cancel()
            let result = await task.result
            #expect(outcome(result) == "CancellationError")
            #expect(ContinuousClock.now - start < .seconds(2))
            try await waitUntil("the producer to stop") { chunks.finished.current }
            #expect(chunks.progress.current - ahead <= 256 << 10, "the producer went on after the cancel")
            try await expectTransfersReleased(multi)
        }

        /// 64 MiB over HTTP/1.1, one chunk read, then nothing: the transfer pauses with at most
        /// the response buffer (and the chunk that crossed its limit) held for the consumer.
        /// Reading on resumes it, and every byte arrives in order.
        @Test(.requires(.nginx, .openssl), arguments: [false, true])
        func downloadPausesForASlowConsumer(http2: Bool) async throws {
            let server = try await NginxHTTPServer(largeFiles: true)
            let multi = CurlMulti()
            var options = nginxOptions(server, http2 ? .http2 : .http1_1)
            options.responseBufferSize = 256 << 10
            let downloaded = Locked<Int64>(0)
            options.progress = { progress in downloaded.withLock { $0 = max($0, progress.bytesDownloaded) } }
            let size = 64 << 20
            let response = try await multi.execute(server.url("/bytes/64m", scheme: http2 ? .https : .http), options: options)
            var iterator = response.body.makeAsyncIterator()
            var consumed = try await iterator.next() ?? []
            try await waitUntil("the transfer to pause") { await multi.onlyTransferIsReceivePaused }
            let buffered = await multi.onlyTransferBufferedBytes ?? -1
            #expect(buffered >= 0 && buffered < options.responseBufferSize + options.receiveBufferSize,
                    "\(buffered) bytes buffered while paused")

            // How much more arrives while the consumer reads nothing: wait until libcurl's
            // count stops moving (HTTP/2 may fill its stream window behind the pause).
            var last: Int64 = -1
            let settleEnd = ContinuousClock.now + .seconds(5)
            while downloaded.current != last, ContinuousClock.now < settleEnd {
                last = downloaded.current
                await observe(for: .milliseconds(300))
            }
            let heldByLibcurl = Int(downloaded.current) - consumed.count - buffered
            print("download back-pressure \(http2 ? "HTTP/2" : "HTTP/1.1"): consumed \(consumed.count), buffered \(buffered), "
                  + "libcurl counted \(downloaded.current) downloaded while paused (\(heldByLibcurl) beyond the response buffer)")
            #expect(downloaded.current < Int64(size), "the whole body arrived behind a paused transfer")

            var expected = ByteWindow(NginxHTTPServer.bytes(count: size))
            let firstMatches = expected.matches(consumed)
            #expect(firstMatches)
            var total = consumed.count
            consumed = []
            while let chunk = try await iterator.next() {
                #expect(chunk.count <= options.receiveBufferSize)
                if !expected.matches(chunk) {
                    Issue.record("byte mismatch at offset \(total)")
                    break
                }
                total += chunk.count
            }
            #expect(total == size)
            let log = try await server.waitForAccessLog(1)
            #expect(log[0].bodyBytesSent == size)
            #expect(log[0].serverProtocol == (http2 ? "HTTP/2.0" : "HTTP/1.1"))
            try await expectTransfersReleased(multi)
        }

        /// How far a paused HTTP/2 stream still receives: the process's resident memory while
        /// the paused stream settles, and nginx's count of body bytes sent once the stream is
        /// cancelled (and, if nginx does not log it then, once the connection closes).
        @Test(.requires(.nginx, .openssl))
        func pausedHTTP2StreamStillReceivesItsWindow() async throws {
            let server = try await NginxHTTPServer(largeFiles: true)
            var multi: CurlMulti? = CurlMulti()
            var options = nginxOptions(server, .http2)
            options.responseBufferSize = 256 << 10
            // One connection up first, so its buffers are in the baseline.
            _ = try await multi?.execute(server.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 100)
            let rssBefore = residentMemoryAfterTrim()
            var response: TransferResponse? = try await multi?.execute(server.url("/bytes/64m", scheme: .https), options: options)
            var iterator = response?.body.makeAsyncIterator()
            let first = try await iterator?.next() ?? []
            try await waitUntil("the transfer to pause") { await multi?.onlyTransferIsReceivePaused == true }
            // Settle: let nginx send whatever the window allows (a measurement window).
            await observe(for: .seconds(2))
            let rssPaused = residentMemoryAfterTrim()
            iterator = nil
            response = nil
            try await waitUntil("the stream to be released") { await multi?.diagnostics.transfers == 0 }
            var ending = "the cancel"
            var entries: [NginxHTTPServer.AccessLogEntry]
            do {
                entries = try await server.waitForAccessLog(2, timeout: .seconds(3))
            } catch {
                // libcurl 7.88.1 submits the RST_STREAM but sends it only with the connection's
                // next activity: another request on it, or its closing.
                _ = try await multi?.execute(server.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 100)
                do {
                    entries = try await server.waitForAccessLog(3, timeout: .seconds(3))
                    ending = "the next request on the connection"
                } catch {
                    multi = nil
                    entries = try await server.waitForAccessLog(3, timeout: .seconds(10))
                    ending = "the connection's closing"
                }
            }
            let sent = try #require(entries.first { $0.uri == "/bytes/64m" }).bodyBytesSent
            print("paused HTTP/2 stream: consumed \(first.count), nginx sent \(sent) body bytes (\(sent >> 10) KiB) before "
                  + "\(ending) ended its request; RSS grew \((rssPaused - rssBefore) >> 10) KiB while paused")
            withKnownIssue("libcurl 7.88.1 does not send the RST_STREAM of a cancelled HTTP/2 stream until the connection is used again") {
                #expect(ending == "the cancel", "nginx learnt of the cancelled HTTP/2 stream only with \(ending)")
            }
            // The 64 MiB body never all went out to a paused stream …
            #expect(sent < 64 << 20)
            // … but libcurl 7.88.1's HTTP/2 stream window lets more than the response buffer
            // through: recorded, bounded by the window (32 MiB) and the socket buffers.
            #expect(sent <= (32 << 20) + (8 << 20), "\(sent)")
        }
    }
}

/// Compares consecutive chunks with an expected byte array.
struct ByteWindow {
    let expected: [UInt8]
    var offset = 0

    init(_ expected: [UInt8]) { self.expected = expected }

    mutating func matches(_ chunk: [UInt8]) -> Bool {
        guard offset + chunk.count <= expected.count else { return false }
        defer { offset += chunk.count }
        return expected.withUnsafeBytes { whole in
            chunk.withUnsafeBytes { bytes in
                bytes.isEmpty || memcmp(whole.baseAddress! + offset, bytes.baseAddress!, bytes.count) == 0
            }
        }
    }
}
