@testable import AsyncCurl
import HTTPTypes
import LoopbackServer
import Testing
@testable import TestPeers

/// Bad input from the application and from the server: each fails with a typed error within a
/// deadline, leaks nothing, and leaves the engine healthy (a following GET to nginx succeeds).
extension AsyncCurlTests {
    @Suite struct TransferBadInputTests {
        /// Fails the test unless the engine holds nothing and still fetches from nginx.
        static func expectHealthy(_ multi: CurlMulti, _ server: NginxHTTPServer,
                                  sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await expectTransfersReleased(multi, sourceLocation: sourceLocation)
            let response = try await multi.execute(server.url("/hello.txt"), options: nginxOptions(server))
            #expect(try await response.body.collect(upTo: 100) == NginxHTTPServer.helloText, sourceLocation: sourceLocation)
        }

        /// What one transfer against a scripted server ended with, the body it read included.
        static func run(_ multi: CurlMulti, _ url: String, options: TransferOptions = TransferOptions())
            async -> (result: Result<[UInt8], any Error>, elapsed: Duration) {
            await measured {
                let response = try await multi.execute(url, options: options)
                return try await response.body.collect(upTo: 1 << 20)
            }
        }

        @Test(.requires(.nginx, .openssl))
        func malformedURLsFailBeforeAnyIO() async throws {
            let server = try await NginxHTTPServer()
            let listener = try ScriptedHTTPServer { peer, _, _ in try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") }
            defer { listener.stop() }
            let multi = CurlMulti()
            let base = listener.url("")
            for url in ["\(base)/a\r\nX-Injected: 1", "\(base)/a\nb", "\(base)/a b", "http://127.0.0.1:\(listener.server.port) /"] {
                let (result, elapsed) = await measured { try await multi.execute(url) }
                #expect(outcome(result) == "CurlError.urlMalformat", "\(url.debugDescription): \(result)")
                #expect(elapsed < .seconds(1))
            }
            let (scheme, _) = await measured { try await multi.execute("gopherx://127.0.0.1:\(listener.server.port)/") }
            #expect(outcome(scheme) == "CurlError.unsupportedProtocol", "\(scheme)")
            #expect(listener.server.acceptedCount == 0, "a refused URL reached the network")
            try await Self.expectHealthy(multi, server)
        }

        /// Field values with line breaks are legalized by HTTPFields: no injected field reaches
        /// the server.
        @Test(.requires(.nginx, .openssl))
        func headerValuesCannotInjectFields() async throws {
            let server = try await NginxHTTPServer()
            let listener = try ScriptedHTTPServer { peer, _, _ in try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }
            defer { listener.stop() }
            let multi = CurlMulti()
            var fields = HTTPFields()
            fields[HTTPField.Name("X-Test")!] = "a\r\nX-Injected: 1"
            fields[HTTPField.Name("X-Other")!] = "b\nX-Injected2: 2\r\n\r\nGET / HTTP/1.1"
            let response = try await multi.execute(listener.url("/fields"), headerFields: fields)
            #expect(try await response.body.collect(upTo: 10) == Array("ok".utf8))
            let head = try #require(listener.heads.current.first)
            let lines = head.split(separator: "\r\n").map(String.init)
            #expect(!lines.contains { $0.lowercased().hasPrefix("x-injected") }, "\(head.debugDescription)")
            #expect(lines.filter { $0.hasPrefix("GET ") }.count == 1, "\(head.debugDescription)")
            #expect(lines.contains { $0.hasPrefix("X-Test: a") }, "\(head.debugDescription)")
            try await Self.expectHealthy(multi, server)
        }

        /// A 10 MiB response header: libcurl refuses it (past its 100 KiB limit); libcurl 7.88.1
        /// reports `outOfMemory` ("Out of memory"), within about a second.
        @Test(.requires(.nginx, .openssl))
        func hugeResponseHeaderFails() async throws {
            let server = try await NginxHTTPServer()
            let huge = try ScriptedHTTPServer { peer, _, _ in
                try? peer.write("HTTP/1.1 200 OK\r\nX-Huge: " + String(repeating: "h", count: 10 << 20) + "\r\nContent-Length: 0\r\n\r\n")
            }
            defer { huge.stop() }
            let multi = CurlMulti()
            let (result, elapsed) = await Self.run(multi, huge.url("/huge"))
            print("10 MiB response header: \(outcome(result)) after \(elapsed): \(result)")
            #expect(outcome(result).hasPrefix("CurlError."), "\(result)")
            #expect(elapsed < .seconds(5))
            try await Self.expectHealthy(multi, server)
        }

        /// A chunked body whose chunk size is not hexadecimal: `recvError` ("Illegal or missing
        /// hexadecimal sequence in chunked-encoding") with libcurl 7.88.1.
        @Test(.requires(.nginx, .openssl))
        func lyingChunkedBodyFails() async throws {
            let server = try await NginxHTTPServer()
            let liar = try ScriptedHTTPServer { peer, _, _ in
                try? peer.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n")
                _ = try? peer.readToEnd()
            }
            defer { liar.stop() }
            let multi = CurlMulti()
            let (result, elapsed) = await Self.run(multi, liar.url("/chunked"))
            print("bad chunk size: \(outcome(result)) after \(elapsed): \(result)")
            #expect(outcome(result).hasPrefix("CurlError."), "\(result)")
            #expect(elapsed < .seconds(5))
            try await Self.expectHealthy(multi, server)
        }

        /// A body shorter than its Content-Length, then the connection closes: partialFile.
        @Test(.requires(.nginx, .openssl))
        func shortBodyThenCloseIsPartialFile() async throws {
            let server = try await NginxHTTPServer()
            let short = try ScriptedHTTPServer { peer, _, _ in
                try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + String(repeating: "s", count: 500))
                peer.close()
            }
            defer { short.stop() }
            let multi = CurlMulti()
            var received = 0
            let (result, elapsed) = await measured {
                let response = try await multi.execute(short.url("/short"))
                for try await chunk in response.body { received += chunk.count }
            }
            #expect(outcome(result) == "CurlError.partialFile", "\(result)")
            #expect(received == 500)
            #expect(elapsed < .seconds(5))
            try await Self.expectHealthy(multi, server)
        }

        /// A body longer than its Content-Length: libcurl hands out exactly Content-Length bytes
        /// and succeeds; it closes that connection (the excess could be taken for the next
        /// response) and the next request goes on a new one.
        @Test(.requires(.nginx, .openssl))
        func excessBodyBytesAreNotDelivered() async throws {
            let server = try await NginxHTTPServer()
            let long = try ScriptedHTTPServer { peer, head, gate in
                if head.hasPrefix("GET /long ") {
                    try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789EXCESS-EXCESS")
                } else {
                    try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
                }
                // A second request on the same connection would be answered here.
                if ScriptedHTTPServer.readHead(peer) != nil {
                    try? peer.write("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nreused")
                }
                gate.wait(limit: .seconds(10))
            }
            defer { long.stop() }
            let multi = CurlMulti()
            let (first, _) = await Self.run(multi, long.url("/long"))
            #expect((try? first.get()) == Array("0123456789".utf8), "\(first)")
            let (second, elapsed) = await Self.run(multi, long.url("/again"))
            #expect((try? second.get()) == Array("second".utf8), "\(second)")
            #expect(long.server.acceptedCount == 2, "the connection with excess bytes was reused")
            #expect(elapsed < .seconds(5))
            try await Self.expectHealthy(multi, server)
        }
    }
}
