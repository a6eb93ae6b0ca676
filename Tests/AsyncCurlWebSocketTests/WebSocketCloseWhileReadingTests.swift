import AsyncCurl
@testable import AsyncCurlWebSocket
import Testing
@testable import TestPeers

extension AsyncCurlWebSocketTests {
    /// A reader that comes back to ``WebSocket/messages`` while ``WebSocket/close(code:reason:)``
    /// waits for the server's close frame (found with the wscat example: its reader was writing
    /// the previous message to standard output when standard input ended).
    @Suite struct WebSocketCloseWhileReadingTests {
        @Test func aReaderBetweenMessagesWhenCloseBeginsSeesTheEndNotAnError() async throws {
            // The server never answers the close frame, so close() drains until its deadline.
            let server = try ScriptedWebSocketServer(silentAfterClose: true)
            var configuration = WebSocketConfiguration()
            configuration.closeTimeout = .seconds(2)
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url, configuration: configuration)
            let closing = Task { try await socket.close() }
            #expect(await eventually { server.clientFrames.contains { $0.opcode == 8 } }, "the close frame went out")

            let next = try await withDeadline(.seconds(10), "the reader's end") {
                var iterator = socket.messages.makeAsyncIterator()
                return try await iterator.next()
            }
            #expect(next == nil)
            try await closing.value
            #expect(socket.isClosed)
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func aSecondReaderStillFailsWhileTheWebSocketIsOpen() async throws {
            let server = try ScriptedWebSocketServer(silentAfterClose: true)
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url)
            let reader = Task { for try await _ in socket.messages {} }
            defer { reader.cancel() }
            // Once the first reader holds the claim, a second one is refused at once.
            #expect(await eventually { socket.state.withLock { $0.readerActive } })
            let error: WebSocketError? = try await withDeadline(.seconds(10), "the second reader's error") {
                do {
                    var iterator = socket.messages.makeAsyncIterator()
                    _ = try await iterator.next()
                    return nil
                } catch let error as WebSocketError {
                    return error
                }
            }
            #expect(error?.code == .receiveInProgress)
        }

        /// sendClose begins the handshake without reading: messages already on their way still
        /// reach the reader, and the sequence ends with the server's close frame. close() with no
        /// reader would have dropped them.
        @Test func sendCloseKeepsTheMessagesInFlight() async throws {
            typealias Server = ScriptedWebSocketServer
            let script = Server.frame(opcode: 1, payload: Array("m1".utf8)) + Server.frame(opcode: 2, payload: [2])
                + Server.frame(opcode: 8, payload: [0x03, 0xE8] + Array("bye".utf8))
            let server = try Server(script: script)
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url)
            try await socket.sendClose(code: .goingAway, reason: "leaving")
            await #expect(throws: WebSocketError.self) { try await socket.send(.text("too late")) }
            let received = try await withDeadline(.seconds(10), "the messages and the close") {
                var received: [WebSocket.Message] = []
                for try await message in socket.messages { received.append(message) }
                return received
            }
            #expect(received == [.text("m1"), .binary([2])])
            #expect(socket.closeCode == .normalClosure && socket.closeReason == "bye")
            #expect(server.clientFrames.first?.closeCode == 1001)
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }
    }
}
