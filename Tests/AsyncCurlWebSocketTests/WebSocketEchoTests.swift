import AsyncCurl
@testable import AsyncCurlWebSocket
import Testing
@testable import TestPeers

/// The client against the Python `websockets` server: messages both ways, compression,
/// sub-protocols and headers, fragments, pings, and the closing handshake from either side.
extension AsyncCurlWebSocketTests {
    @Suite(.requires(.pythonWebsockets)) struct WebSocketEchoTests {
        /// The next `count` messages (fewer if the WebSocket closes first), within 30 seconds.
        static func collect(_ socket: WebSocket, count: Int) async throws -> [WebSocket.Message] {
            try await withDeadline(.seconds(30), "\(count) messages") {
                var messages: [WebSocket.Message] = []
                for try await message in socket.messages {
                    messages.append(message)
                    if messages.count == count { break }
                }
                return messages
            }
        }

        @Test func textAndBinaryEchoThenClose() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url("/echo?x=1"))
            #expect(socket.handshakeResponse.statusCode == 101)
            #expect(socket.extensions.isEmpty)
            #expect(socket.subprotocol == nil)
            let sent: [WebSocket.Message] = [.text("hello"), .binary([0, 1, 2, 255]), .text(""), .binary([]), .text("grüße, 世界 🌍")]
            for message in sent { try await socket.send(message) }
            #expect(try await Self.collect(socket, count: sent.count) == sent)
            try await socket.close(code: .normalClosure, reason: "done")
            #expect(socket.closeCode == .normalClosure)
            #expect(socket.isClosed)
            var iterator = socket.messages.makeAsyncIterator()
            #expect(try await iterator.next() == nil)
            await #expect(throws: WebSocketError.self) { try await socket.send(.text("late")) }
            #expect(await multi.diagnostics.isIdle)
        }

        /// A group's WebSockets go to its engines in turn.
        @Test func webSocketsOfAGroup() async throws {
            let server = try await WebSocketsServer()
            let group = CurlMultiGroup(engineCount: 2)
            let first = try await group.webSocket(to: server.url())
            let second = try await group.webSocket(to: server.url())
            #expect(await group.diagnostics.map(\.open) == [1, 1])
            for (socket, text) in [(first, "one"), (second, "two")] {
                try await socket.send(.text(text))
                #expect(try await Self.collect(socket, count: 1) == [.text(text)])
                try await socket.close()
            }
            #expect(await group.diagnostics.allSatisfy(\.isIdle))
        }

        @Test func compressedMessagesBothWays() async throws {
            let server = try await WebSocketsServer()
            var configuration = WebSocketConfiguration()
            configuration.compression = .permessageDeflate
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url(), configuration: configuration)
            #expect(socket.extensions.first?.hasPrefix("permessage-deflate") == true, "\(socket.extensions)")
            let text = String(repeating: "the same words again and again ", count: 40_000)
            var generator = SystemRandomNumberGenerator()
            let noise = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let sent: [WebSocket.Message] = [.text(text), .binary(noise), .text("short"), .text(text)]
            for message in sent { try await socket.send(message) }
            #expect(try await Self.collect(socket, count: sent.count) == sent)
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func subprotocolAndHeadersReachTheServer() async throws {
            let server = try await WebSocketsServer()
            var configuration = WebSocketConfiguration()
            configuration.subprotocols = ["v2.unknown", "superchat"]
            configuration.headers = [("Authorization", "Bearer abc123"), ("X-Trace", "42")]
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url("/headers?q=a%20b"), configuration: configuration)
            #expect(socket.subprotocol == "superchat")
            #expect(socket.handshakeResponse["sec-websocket-protocol"] == "superchat")
            guard case .text(let report)? = try await Self.collect(socket, count: 1).first else {
                Issue.record("no report")
                return
            }
            #expect(report.contains(#"["Authorization", "Bearer abc123"]"#), "\(report)")
            #expect(report.contains(#"["X-Trace", "42"]"#))
            #expect(report.contains(#""path": "/headers?q=a%20b""#))
            #expect(report.contains(#"["Host", "127.0.0.1:\#(server.port)"]"#))
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func serverClosesWithItsCode() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url("/close/4001"))
            #expect(try await Self.collect(socket, count: 1).isEmpty)
            #expect(socket.closeCode?.rawValue == 4001)
            #expect(socket.closeReason == "server says bye")
            await #expect(throws: WebSocketError.self) { try await socket.send(.text("after close")) }
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func fragmentedSendIsOneMessage() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url())
            let text = String(repeating: "ö12345678", count: 1000)
            try await socket.send(.text(text), fragmentSize: 7)
            try await socket.send(.binary(Array(repeating: 7, count: 10_000)), fragmentSize: 4096)
            #expect(try await Self.collect(socket, count: 2) == [.text(text), .binary(Array(repeating: 7, count: 10_000))])
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func pingsBothWays() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url("/ping"))
            // The server's ping is answered while the messages are read.
            #expect(try await Self.collect(socket, count: 1) == [.text("pong received")])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await _ in socket.messages {}
                }
                let roundTrip = try await socket.ping(Array("mine".utf8), timeout: .seconds(10))
                #expect(roundTrip < .seconds(10))
                try await socket.close()
                try await group.waitForAll()
            }
            #expect(socket.closeCode == .normalClosure)
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func burstOfLargeMessages() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url("/burst/40/300000"))
            let expected = WebSocket.Message.binary((0..<300_000).map { UInt8($0 % 251) })
            let received = try await Self.collect(socket, count: 40)
            #expect(received.count == 40)
            #expect(received.allSatisfy { $0 == expected })
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func secureWebSocketVerifiesTheServer() async throws {
            let server = try await WebSocketsServer(tls: true)
            let certificates = try TestCertificates.shared()
            var options = ConnectionOptions()
            options.tls.caFile = certificates.caFile
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url(secure: true, host: "localhost"), options: options)
            #expect(socket.connectionInfo.usesTLS)
            try await socket.send(.text("over TLS"))
            #expect(try await Self.collect(socket, count: 1) == [.text("over TLS")])
            try await socket.close()
            // Without the CA, the set-up fails verification.
            await #expect(throws: CurlError.self) {
                _ = try await multi.webSocket(to: server.url(secure: true, host: "localhost"))
            }
            #expect(await multi.diagnostics.isIdle)
        }
    }
}
