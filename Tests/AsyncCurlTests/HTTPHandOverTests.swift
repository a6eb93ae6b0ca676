import AsyncCurl
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
            let request = HTTPRequest(headers: [HTTPHeaderField(name: "Authorization", value: "Bearer secret")])
            let handOver = try await multi.connect(to: "http://127.0.0.1:\(server.port)/login", after: request)
            #expect(handOver.response.status == 200)
            #expect(handOver.response.statusLine == "HTTP/1.1 200 OK")
            #expect(handOver.response.value(forHeader: "x-session") == "42")
            #expect(handOver.response.body == Array("welcome".utf8))
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
            for method in ["POST", "PUT"] {
                let request = HTTPRequest(method: method, headers: [HTTPHeaderField(name: "Content-Type", value: "text/plain")],
                                          body: Array("payload".utf8))
                let handOver = try await multi.connect(to: "http://127.0.0.1:\(server.port)/upload?x=1", after: request)
                #expect(String(decoding: handOver.response.body, as: UTF8.self) == "\(method) /upload?x=1 HTTP/1.1|payload")
                await handOver.connection.close()
            }
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
                _ = try await multi.connect(to: "http://127.0.0.1:\(server.port)/", after: HTTPRequest())
            }
            #expect(error?.response.status == 403)
            #expect(error?.response.body == Array("no".utf8))
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
            let handOver = try await multi.connect(to: "http://127.0.0.1:\(server.port)/first", after: HTTPRequest())
            #expect(handOver.response.body == Array("resource /first".utf8))
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
                _ = try await multi.connect(to: "tcp://127.0.0.1:80", after: HTTPRequest())
            }
            #expect(error?.code == .unsupportedProtocol)
        }
    }
}
