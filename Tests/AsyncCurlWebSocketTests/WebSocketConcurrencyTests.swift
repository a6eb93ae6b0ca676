import AsyncCurl
import AsyncCurlWebSocket
import Testing
@testable import TestPeers

/// The WebSocket's concurrency rules against the Python `websockets` server: sends from many
/// tasks never interleave, a cancelled read consumes nothing, one reader at a time, and closing
/// while another task reads ends that reader cleanly.
extension AsyncCurlWebSocketTests {
    @Suite(.requires(.pythonWebsockets)) struct WebSocketConcurrencyTests {
        /// 20 tasks each send 10 fragmented messages at once: the server echoes 200 whole messages.
        @Test func concurrentFragmentedSendsStayWhole() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sender in 0..<20 {
                    group.addTask {
                        for index in 0..<10 {
                            let text = String(repeating: "\(sender)-\(index);", count: 200)
                            try await socket.send(.text(text), fragmentSize: 97)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let received = try await withDeadline(.seconds(30), "200 echoes") {
                var received: [String] = []
                for try await case .text(let text) in socket.messages {
                    received.append(text)
                    if received.count == 200 { break }
                }
                return received
            }
            let expected = (0..<20).flatMap { sender in (0..<10).map { String(repeating: "\(sender)-\($0);", count: 200) } }
            #expect(received.sorted() == expected.sorted())
            // Each sender's messages arrive in the order it sent them.
            for sender in 0..<20 {
                let own = received.filter { $0.hasPrefix("\(sender)-") }
                #expect(own == (0..<10).map { String(repeating: "\(sender)-\($0);", count: 200) })
            }
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        /// A read cancelled while it waits throws `CancellationError`; the next read gets the
        /// message that arrives afterwards, whole.
        @Test func cancelledReadConsumesNothing() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url())
            let waiting = Task {
                var iterator = socket.messages.makeAsyncIterator()
                return try await iterator.next()
            }
            // Whether the cancellation comes before the read starts waiting or during the wait, the
            // read throws CancellationError and consumes nothing.
            waiting.cancel()
            let outcome = await waiting.result
            #expect(throws: CancellationError.self) { try outcome.get() }
            try await socket.send(.binary(Array(0..<200)))
            let next = try await withDeadline(.seconds(10), "the echo") {
                var iterator = socket.messages.makeAsyncIterator()
                return try await iterator.next()
            }
            #expect(next == .binary(Array(0..<200)))
            try await socket.close()
            #expect(await multi.diagnostics.isIdle)
        }

        /// A second reader is refused at once; closing from another task ends the first reader's
        /// sequence normally, with the server's answer.
        @Test func oneReaderAndCloseFromAnotherTask() async throws {
            let server = try await WebSocketsServer()
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url())
            let (received, receivedContinuation) = AsyncStream<WebSocket.Message>.makeStream()
            let reader = Task {
                var count = 0
                for try await message in socket.messages {
                    count += 1
                    receivedContinuation.yield(message)
                }
                return count
            }
            // The pong is read by the reader: once ping returns, the reader holds the claim and
            // waits for the next frame, and a second reader is refused at once.
            _ = try await socket.ping(timeout: .seconds(10))
            await #expect(throws: WebSocketError(code: .receiveInProgress, message: "")) {
                do {
                    var iterator = socket.messages.makeAsyncIterator()
                    _ = try await iterator.next()
                } catch var error as WebSocketError {
                    error.message = ""
                    throw error
                }
            }
            try await socket.send(.text("one"))
            // Closing before the echo is back would race the server, which drops an echo it has
            // not sent when the close frame arrives.
            let echo = try await withDeadline(.seconds(10), "the echo") { await received.first { _ in true } }
            #expect(echo == .text("one"))
            try await socket.close(code: .goingAway, reason: "shutting down")
            let count = try await withDeadline(.seconds(10), "the reader's end") { try await reader.value }
            #expect(count == 1)
            #expect(socket.closeCode == .goingAway)
            #expect(await multi.diagnostics.isIdle)
        }
    }
}
