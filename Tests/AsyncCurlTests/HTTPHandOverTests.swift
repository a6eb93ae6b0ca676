import AsyncCurl
import HTTPTypes
import LoopbackServer
import Testing
@testable import TestPeers

/// A scripted HTTP/1.1 peer: answers each request, then (optionally) speaks a line protocol.
struct ScriptedHTTPPeer {
    let socket: PeerSocket
    var buffer: [UInt8] = []

    init(_ socket: PeerSocket) { self.socket = socket }

    /// Reads until `delimiter`; nil at end of stream.
    mutating func read(until delimiter: [UInt8]) -> [UInt8]? {
        while true {
            if let range = buffer.firstRange(of: delimiter) {
                let part = Array(buffer[..<range.upperBound])
                buffer.removeSubrange(..<range.upperBound)
                return part
            }
            guard let chunk = try? socket.read(), !chunk.isEmpty else { return nil }
            buffer += chunk
        }
    }

    mutating func read(count: Int) -> [UInt8]? {
        while buffer.count < count {
            guard let chunk = try? socket.read(), !chunk.isEmpty else { return nil }
            buffer += chunk
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer.prefix(count))
    }

    /// Reads one request: its head as text and its body.
    mutating func readRequest() -> (head: String, body: [UInt8])? {
        guard let head = read(until: Array("\r\n\r\n".utf8)) else { return nil }
        let text = String(decoding: head, as: UTF8.self)
        let length = text.split(separator: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingPrefix(" ")) } ?? 0
        guard let body = read(count: length) else { return nil }
        return (text, body)
    }

    func respond(status: String = "200 OK", headers: [String] = [], body: [UInt8]) {
        let head = (["HTTP/1.1 \(status)", "Content-Length: \(body.count)"] + headers).joined(separator: "\r\n") + "\r\n\r\n"
        try? socket.write(Array(head.utf8) + body)
    }

    /// After the HTTP exchange: answers every line with "OK <line>".
    mutating func serveLines() {
        while let line = read(until: [10]) {
            try? socket.write(Array("OK ".utf8) + line)
        }
    }
}

extension HTTPRequest {
    /// A request for a hand-over, whose URL gives the scheme, authority and path.
    static func handOver(_ method: Method = .get, _ headerFields: HTTPFields = [:]) -> HTTPRequest {
        HTTPRequest(method: method, scheme: nil, authority: nil, path: nil, headerFields: headerFields)
    }
}

extension AsyncCurlTests {
    @Suite struct HTTPHandOverTests {
        @Test func authenticateThenSpeakALineProtocol() async throws {
            let server = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                guard let request = peer.readRequest() else { return }
                let authorized = request.head.contains("Authorization: Bearer secret")
                peer.respond(status: authorized ? "200 OK" : "401 Unauthorized", headers: ["X-Session: 42"], body: Array("welcome".utf8))
                peer.serveLines()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            let request = HTTPRequest.handOver(.get, [.authorization: "Bearer secret"])
            let handOver = try await multi.connect(to: "http://127.0.0.1:\(server.port)/login", after: request)
            #expect(handOver.response.status == .ok)
            #expect(handOver.response.status.reasonPhrase == "OK")
            #expect(handOver.response.headerFields[try #require(HTTPField.Name("x-session"))] == "42")
            #expect(handOver.body == Array("welcome".utf8))
            let connection = handOver.connection
            try await connection.send("PING\n")
            #expect(try await connection.receive(exactly: 8) == Array("OK PING\n".utf8))
            try await connection.send("QUIT\n")
            #expect(try await connection.receive(exactly: 8) == Array("OK QUIT\n".utf8))
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test func postWithBodyAndMethod() async throws {
            let server = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                guard let request = peer.readRequest() else { return }
                let requestLine = request.head.split(separator: "\r\n").first.map(String.init) ?? ""
                peer.respond(body: Array("\(requestLine)|".utf8) + request.body)
                peer.serveLines()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            for method in [HTTPRequest.Method.post, .put] {
                let request = HTTPRequest.handOver(method, [.contentType: "text/plain"])
                let handOver = try await multi.connect(to: "http://127.0.0.1:\(server.port)/upload?x=1", after: request,
                                                       body: Array("payload".utf8))
                #expect(String(decoding: handOver.body, as: UTF8.self) == "\(method) /upload?x=1 HTTP/1.1|payload")
                await handOver.connection.close()
            }
        }

        /// The URL decides the request target and `Host`; the request gives the method and the
        /// fields, an empty value removing libcurl's own, a line break legalized into spaces.
        @Test func requestMethodAndFieldsWithTheURLsTarget() async throws {
            let server = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                guard let request = peer.readRequest() else { return }
                peer.respond(body: Array(request.head.utf8))
                peer.serveLines()
            })
            defer { server.stop() }
            let note = try #require(HTTPField.Name("X-Note"))
            let request = HTTPRequest(method: .patch, scheme: "https", authority: "ignored.example", path: "/ignored",
                                      headerFields: [.accept: "", note: "a\r\nInjected: 1", .contentType: "text/plain"])
            let handOver = try await CurlMulti().connect(to: "http://127.0.0.1:\(server.port)/target?q=1", after: request,
                                                         body: Array("{}".utf8))
            let head = String(decoding: handOver.body, as: UTF8.self)
            #expect(head.hasPrefix("PATCH /target?q=1 HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n"), "\(head)")
            #expect(!head.lowercased().contains("accept:"), "an empty value removes curl's Accept: \(head)")
            #expect(head.contains("\r\nX-Note: a  Injected: 1\r\n"), "\(head)")
            #expect(head.contains("\r\nContent-Type: text/plain\r\n") && head.contains("\r\nContent-Length: 2\r\n"), "\(head)")
            #expect(!head.contains("ignored"), "\(head)")
            await handOver.connection.close()
        }

        /// Whatever the head a server sends, the response is built without trapping: interim
        /// responses are skipped, invalid names left out, folded lines joined, bytes kept.
        @Test func oddResponseHeadIsReadWithoutTrapping() async throws {
            let head = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
                + "HTTP/1.1 200 Fine\u{E9}\r\nContent-Length: 2\r\nBad Name: x\r\nX-Folded: a\r\n  b\r\n"
                + "X-Latin: caf\u{E9}\r\nX-Ctl: a\u{1}b\r\nX-Empty:\r\nx-lower: 1\r\n\r\nok"
            // ISO Latin 1 on the wire: one byte per scalar.
            let bytes = head.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
            let server = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                guard peer.readRequest() != nil else { return }
                try? socket.write(bytes)
                peer.serveLines()
            })
            defer { server.stop() }
            let handOver = try await CurlMulti().connect(to: "http://127.0.0.1:\(server.port)/", after: .handOver())
            let response = handOver.response
            #expect(response.status.code == 200)
            #expect(response.status.reasonPhrase == "Fine\u{E9}")
            let names = response.headerFields.map(\.name.rawName)
            #expect(names == ["Content-Length", "X-Folded", "X-Latin", "X-Ctl", "X-Empty", "x-lower"], "\(response.headerFields)")
            #expect(response.headerFields[try #require(HTTPField.Name("X-Folded"))] == "a b")
            let latin = try #require(response.headerFields.first { $0.name.rawName == "X-Latin" })
            #expect(latin.withUnsafeBytesOfValue { Array($0) } == [0x63, 0x61, 0x66, 0xE9], "the byte as sent")
            #expect(response.headerFields[try #require(HTTPField.Name("X-Ctl"))] == "a b")
            #expect(response.headerFields[try #require(HTTPField.Name("X-Empty"))] == "")
            #expect(handOver.body == Array("ok".utf8))
            try await handOver.connection.send("PING\n")
            #expect(try await handOver.connection.receive(exactly: 8) == Array("OK PING\n".utf8))
            await handOver.connection.close()
        }

        @Test func serverThatClosesAfterTheResponseIsAClearError() async throws {
            let server = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                guard peer.readRequest() != nil else { return }
                peer.respond(status: "403 Forbidden", headers: ["Connection: close"], body: Array("no".utf8))
                socket.close()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            let error = await #expect(throws: HTTPHandOverError.self) {
                _ = try await multi.connect(to: "http://127.0.0.1:\(server.port)/", after: .handOver())
            }
            #expect(error?.response.status == .forbidden)
            #expect(error?.body == Array("no".utf8))
            #expect(error?.description.contains("403") == true)
            #expect(await multi.diagnostics == .idle)
        }

        @Test func pipelinedRawRequestsAfterCurlsFirst() async throws {
            let server = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                while let request = peer.readRequest() {
                    let path = request.head.split(separator: " ")[1]
                    peer.respond(body: Array("resource \(path)".utf8))
                }
            })
            defer { server.stop() }
            let multi = CurlMulti()
            let handOver = try await multi.connect(to: "http://127.0.0.1:\(server.port)/first", after: .handOver())
            #expect(handOver.body == Array("resource /first".utf8))
            let connection = handOver.connection
            let paths = ["/a", "/bb", "/ccc"]
            let requests = paths.map { "GET \($0) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" }.joined()
            try await connection.send(requests)  // all three in one write: pipelined
            for path in paths {
                let body = "resource \(path)"
                let expected = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                let reply = try await connection.receive(exactly: expected.utf8.count)
                #expect(String(decoding: reply, as: UTF8.self) == expected)
            }
            await connection.close()
        }

        @Test func loadedLibcurlIsDetectedAtRunTime() {
            let parts = CurlMulti.libcurlVersion.split(separator: ".").compactMap { Int($0) }
            #expect(parts.count == 3)
            #expect(parts.lexicographicallyPrecedes([7, 86, 0]) == false, "this machine's libcurl supports the hand-over")
        }

        @Test func nonHTTPURLsAreRefused() async throws {
            let multi = CurlMulti()
            let error = await #expect(throws: CurlError.self) {
                _ = try await multi.connect(to: "tcp://127.0.0.1:80", after: .handOver())
            }
            #expect(error?.code == .unsupportedProtocol)
        }
    }
}
