@testable import AsyncCurl
import Glibc
import Testing
@testable import TestPeers

/// Tests aimed at HTTP/2 bugs of libcurl 7.88.1 that curl 8.x fixed: a stall after unpausing,
/// paused streams sharing a connection with a cancelled one, the pause buffers of a stream
/// cancelled on a shared connection, and a reset stream reported as a complete body.
extension AsyncCurlTests {
    @Suite struct TransferHTTP2BugTests {
        /// 64 MiB over HTTP/2 with a small response buffer, the consumer waiting for the
        /// transfer to pause after every MiB it reads: at least 64 pause/resume cycles, and the
        /// download still finishes, in time, with the right bytes.
        @Test(.requires(.nginx, .openssl))
        func manyPausesAndResumesOverHTTP2DoNotStall() async throws {
            let server = try await NginxHTTPServer(largeFiles: true)
            let multi = CurlMulti()
            var options = nginxOptions(server, .http2)
            options.responseBufferSize = 128 << 10
            let size = 64 << 20
            var expected = ByteWindow(NginxHTTPServer.bytes(count: size))
            let start = ContinuousClock.now
            let response = try await multi.execute(server.url("/bytes/64m", scheme: .https), options: options)
            var total = 0
            var nextPause = 0
            var pauses = 0
            for try await chunk in response.body {
                if !expected.matches(chunk) {
                    Issue.record("byte mismatch at offset \(total)")
                    break
                }
                total += chunk.count
                if total >= nextPause, total < size {
                    nextPause += 1 << 20
                    try await waitUntil("the transfer to pause (at \(total) bytes)", timeout: .seconds(10)) {
                        let paused = await multi.onlyTransferIsReceivePaused
                        let buffered = await multi.onlyTransferBufferedBytes ?? 0
                        return paused || total + buffered >= size
                    }
                    pauses += 1
                }
                #expect(ContinuousClock.now - start < .seconds(90), "stalled at \(total)")
            }
            #expect(total == size)
            #expect(pauses >= 60)
            let facts = try await response.body.facts()
            #expect(facts.httpVersion == "2")
            #expect(facts.bytesDownloaded == Int64(size))
            try await expectTransfersReleased(multi)
        }

        /// Three transfers multiplexed on one HTTP/2 connection, all paused; one is cancelled
        /// while paused, the other two then complete with the right bytes, and nothing is left.
        @Test(.requires(.nginx, .openssl))
        func pausedStreamsOnOneConnectionSurviveACancelledSibling() async throws {
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            var options = nginxOptions(server, .http2)
            options.responseBufferSize = 128 << 10
            let size = 16 << 20
            // One connection first, so the three streams share it.
            _ = try await multi.execute(server.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 100)
            var responses: [TransferResponse?] = []
            for _ in 0..<3 {
                responses.append(try await multi.execute(server.url("/bytes/16m", scheme: .https), options: options))
            }
            try await waitUntil("all three to pause") {
                await multi.receivePausedCount == 3
            }
            responses[1] = nil  // dropped while paused: cancelled
            try await waitUntil("the dropped one to be released") { await multi.diagnostics.transfers == 2 }

            let expected = NginxHTTPServer.bytes(count: size)
            try await withThrowingTaskGroup(of: Int.self) { group in
                for response in [responses[0], responses[2]].compactMap({ $0 }) {
                    group.addTask {
                        var window = ByteWindow(expected)
                        var total = 0
                        for try await chunk in response.body {
                            guard window.matches(chunk) else { throw Mismatch(offset: total) }
                            total += chunk.count
                        }
                        return total
                    }
                }
                for try await total in group { #expect(total == size) }
            }
            responses = []
            try await expectTransfersReleased(multi)
            let log = try await server.waitForAccessLog(4)
            #expect(Set(log.map(\.connection)).count == 1, "the streams did not share one connection: \(log.map(\.connection))")
            let complete = log.filter { $0.uri == "/bytes/16m" && $0.bodyBytesSent == size }.count
            #expect(complete >= 2)
            // libcurl 7.88.1 does not reset the cancelled stream at once: nginx goes on sending it
            // (up to the 32 MiB stream window, here all of it) and libcurl reads and drops it.
            withKnownIssue("libcurl 7.88.1 sends a cancelled HTTP/2 stream's RST_STREAM late", isIntermittent: true) {
                #expect(complete == 2, "nginx sent the whole body of the cancelled stream too")
            }
        }

        /// Streams cancelled while paused on an HTTP/2 connection that another transfer still
        /// uses: libcurl 7.88.1 kept the bytes it held back for each (its pause buffer: here
        /// one 16 KiB DATA frame, 253 KiB once under LeakSanitizer) until the process ended,
        /// because it frees them only when the connection has no other transfer (curl issue
        /// 10971, fixed in 8.1.0). A hundred such cancellations leaked 1.6 MiB; the engine now
        /// releases the buffers before it takes the transfer out (40–90 KiB of noise). Measured
        /// with glibc's heap count.
        @Test(.requires(.nginx, .openssl), .enabled(if: memoryChecksApply))
        func cancellingPausedStreamsOnASharedConnectionLeavesNothingBehind() async throws {
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            var options = nginxOptions(server, .http2)
            options.responseBufferSize = 128 << 10
            _ = try await multi.execute(server.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 100)
            func cancelAPausedStream() async throws {
                let response = try await multi.execute(server.url("/bytes/16m", scheme: .https), options: options)
                try await waitUntil("the stream to pause") { await multi.receivePausedCount == 2 }
                withExtendedLifetime(response) {}
            }
            // A paused sibling keeps the connection in use while the others are cancelled. The
            // heap is compared once the sibling is gone too: it goes on receiving while the
            // others run, and its own held-back bytes grow meanwhile (freed with it).
            func cancelBesideAPausedSibling(_ count: Int) async throws {
                try await withPausedSibling(multi, server.url("/bytes/16m", scheme: .https), options) {
                    for _ in 0..<count {
                        try await cancelAPausedStream()
                        try await waitUntil("the cancelled stream to be released") { await multi.diagnostics.transfers == 1 }
                    }
                }
                try await waitUntil("the sibling to be released") { await multi.diagnostics.transfers == 0 }
            }
            try await cancelBesideAPausedSibling(1)  // warms up what the engine keeps
            let before = heapBytesInUse() ?? 0
            try await cancelBesideAPausedSibling(100)
            let grown = (heapBytesInUse() ?? 0) - before
            print("100 paused HTTP/2 streams cancelled beside a paused sibling: C heap grew \(grown >> 10) KiB")
            #expect(grown < 512 << 10, "\(grown) bytes")
            try await expectTransfersReleased(multi)
        }

        /// A paused HTTP/2 stream beside an active one on the same connection: libcurl must read
        /// the connection for the active stream, so the paused one's data arrives too and is held
        /// in the process, up to its stream window. Measured (resident memory and nginx's count),
        /// and bounded by the window.
        @Test(.requires(.nginx, .openssl))
        func pausedStreamBesideAnActiveOneHoldsAtMostItsWindow() async throws {
            let server = try await NginxHTTPServer(largeFiles: true)
            let multi = CurlMulti()
            var options = nginxOptions(server, .http2)
            options.responseBufferSize = 256 << 10
            _ = try await multi.execute(server.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 100)
            let rssBefore = residentMemoryAfterTrim()
            var paused: TransferResponse? = try await multi.execute(server.url("/bytes/64m", scheme: .https), options: options)
            var iterator = paused?.body.makeAsyncIterator()
            _ = try await iterator?.next()
            let active = try await multi.execute(server.url("/bytes/16m", scheme: .https), options: options)
            var total = 0
            for try await chunk in active.body { total += chunk.count }
            #expect(total == 16 << 20)
            await observe(for: .seconds(1))  // a measurement window for the paused stream's data
            let rssPaused = residentMemoryAfterTrim()
            iterator = nil
            paused = nil
            try await waitUntil("the paused stream to be released") { await multi.diagnostics.transfers == 0 }
            // The next request on the connection carries the paused stream's RST_STREAM.
            _ = try await multi.execute(server.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 100)
            let log = try await server.waitForAccessLog(4)
            let sent = try #require(log.first { $0.uri == "/bytes/64m" }).bodyBytesSent
            let grown = rssPaused - rssBefore
            print("paused HTTP/2 stream beside an active one: nginx sent it \(sent >> 10) KiB; RSS grew \(grown >> 10) KiB")
            #expect(Set(log.map(\.connection)).count == 1)
            // Measured with libcurl 7.88.1: nginx sent exactly the 32 MiB stream window, and the
            // process grew by about 48 MiB (the window's bytes in libcurl's stream buffer, plus
            // its growth slack), whatever responseBufferSize says.
            #expect(sent <= (32 << 20) + (1 << 20), "\(sent)")
            if memoryChecksApply {
                #expect(grown < 64 << 20, "\(grown)")
            }
            try await expectTransfersReleased(multi)
        }

        /// The server resets the stream after 10,000 of 100,000 announced bytes: the transfer
        /// must fail (http2Stream, or partialFile), never end as if the body were complete.
        @Test(.requires(.pythonH2), arguments: [HTTP2ResetPeer.Ending.reset, .endStream, .goAway])
        func truncatedHTTP2StreamFails(ending: HTTP2ResetPeer.Ending) async throws {
            let peer = try await HTTP2ResetPeer(declared: 100_000, sent: 10_000, ending: ending)
            let multi = CurlMulti()
            var options = TransferOptions()
            options.httpVersion = .http2PriorKnowledge
            var received = 0
            let (result, elapsed) = await measured {
                let response = try await multi.execute(peer.url, options: options)
                for try await chunk in response.body { received += chunk.count }
                return try await response.body.facts()
            }
            print("HTTP/2 stream truncated by \(ending): \(outcome(result)) after \(received) bytes, \(elapsed)")
            #expect(elapsed < .seconds(10))
            #expect(received <= 10_000)
            let failure = outcome(result)
            #expect(["CurlError.http2Stream", "CurlError.partialFile", "CurlError.http2", "CurlError.recvError"].contains(failure),
                    "a truncated HTTP/2 body ended as \(failure)")
            try await expectTransfersReleased(multi)
        }

        /// Runs `body` while a transfer of `url`, paused, holds its connection; then cancels it.
        private func withPausedSibling(_ multi: CurlMulti, _ url: String, _ options: TransferOptions,
                                       _ body: () async throws -> Void) async throws {
            let sibling = try await multi.execute(url, options: options)
            try await waitUntil("the sibling to pause") { await multi.receivePausedCount == 1 }
            try await body()
            withExtendedLifetime(sibling) {}
        }
    }
}
