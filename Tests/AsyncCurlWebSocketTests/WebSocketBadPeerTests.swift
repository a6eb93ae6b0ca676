import AsyncCurl
@testable import AsyncCurlWebSocket
import Testing
@testable import TestPeers

/// Servers that break RFC 6455 or RFC 7692 on purpose: each ends as documented — a close frame
/// with the right code and a typed error, or a typed handshake failure — within a deadline,
/// with bounded memory, and the engine idle afterwards.
extension AsyncCurlWebSocketTests {
    @Suite struct WebSocketBadPeerTests {
        typealias Server = ScriptedWebSocketServer

        /// Opens a WebSocket to `server`, reads until the sequence throws, and returns the error.
        static func failure(from server: Server, configuration: WebSocketConfiguration = WebSocketConfiguration())
            async throws -> WebSocketError? {
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url, configuration: configuration)
            let error: WebSocketError? = try await withDeadline(.seconds(10), "the failure") {
                do {
                    for try await _ in socket.messages {}
                    return nil
                } catch let error as WebSocketError {
                    return error
                }
            }
            #expect(socket.isClosed)
            #expect(await multi.diagnostics.isIdle)
            return error
        }

        /// The close code the server received, waiting for its reader to record it.
        static func closeCodeSent(to server: Server) async -> UInt16? {
            _ = await eventually { server.clientFrames.contains { $0.opcode == 8 } }
            return server.clientFrames.first { $0.opcode == 8 }?.closeCode
        }

        @Test(arguments: [
            ("masked frame", [0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6F, 0x68, 0x6E] as [UInt8], UInt16(1002)),
            ("reserved opcode 3", [0x83, 0x00], 1002),
            ("reserved opcode 0xB", [0x8B, 0x00], 1002),
            ("RSV2 set", [0xA1, 0x00], 1002),
            ("RSV1 without an extension", [0xC1, 0x00], 1002),
            ("control frame of 126 bytes", [0x89, 126, 0, 126] + [UInt8](repeating: 0, count: 126), 1002),
            ("fragmented ping", [0x09, 0x00], 1002),
            ("continuation without a message", [0x80, 0x00], 1002),
            ("close code 1005 on the wire", [0x88, 0x02, 0x03, 0xED], 1002),
            ("close code 999", [0x88, 0x02, 0x03, 0xE7], 1002),
            ("close frame of one byte", [0x88, 0x01, 0x03], 1002),
            ("close reason not UTF-8", [0x88, 0x04, 0x03, 0xE8, 0xC3, 0x28], 1007),
            ("length with the top bit set", [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], 1002),
            ("length of 2^62", [0x82, 0x7F, 0x40, 0, 0, 0, 0, 0, 0, 0], 1009),
            ("text not UTF-8", [0x81, 0x02, 0xC3, 0x28], 1007),
        ])
        func violationClosesWithItsCode(name: String, frame: [UInt8], code: UInt16) async throws {
            let server = try Server(script: frame)
            let error = try await Self.failure(from: server)
            #expect(error?.closeCode?.rawValue == code, "\(name): \(String(describing: error))")
            #expect(error?.code == (code == 1009 ? .messageTooBig : .protocolViolation), "\(name)")
            #expect(await Self.closeCodeSent(to: server) == code, "\(name)")
        }

        /// Invalid UTF-8 fails at the frame that holds it: the message's end never comes.
        @Test func invalidUTF8FailsBeforeTheMessageEnds() async throws {
            let first = Server.frame(opcode: 1, fin: false, payload: Array("valid start ".utf8))
            let second = Server.frame(opcode: 0, fin: false, payload: [0xED, 0xA0, 0x80])  // a surrogate
            let server = try Server(script: first + second)
            let error = try await Self.failure(from: server)
            #expect(error?.closeCode == .invalidFramePayloadData)
            #expect(await Self.closeCodeSent(to: server) == 1007)
        }

        @Test func frameOverTheLimitFailsFromItsHeader() async throws {
            var configuration = WebSocketConfiguration()
            configuration.maximumFrameSize = 1000
            // Only the header of a 1 MiB frame is sent: the limit must act on it alone.
            let server = try Server(script: [0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0, 0])
            let error = try await Self.failure(from: server, configuration: configuration)
            #expect(error?.code == .messageTooBig)
            #expect(await Self.closeCodeSent(to: server) == 1009)
        }

        @Test func fragmentsOverTheMessageLimit() async throws {
            var configuration = WebSocketConfiguration()
            configuration.maximumMessageSize = 10_000
            let fragment = [UInt8](repeating: 1, count: 6000)
            let server = try Server(script: Server.frame(opcode: 2, fin: false, payload: fragment) + Server.frame(opcode: 0, fin: false, payload: fragment))
            let error = try await Self.failure(from: server, configuration: configuration)
            #expect(error?.code == .messageTooBig)
        }

        /// A compressed message of a few KiB that inflates to 256 MiB fails at the message limit.
        @Test func deflateBombFailsAtTheLimit() async throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            let bomb = [UInt8](repeating: 0, count: 256 << 20).withUnsafeBytes { deflater.compress($0) }
            #expect(bomb.count < 512 * 1024)
            let server = try Server(response: { accept in
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\nSec-WebSocket-Extensions: permessage-deflate"
            }, script: Server.frame(opcode: 2, rsv1: true, payload: bomb))
            var configuration = WebSocketConfiguration()
            configuration.compression = .permessageDeflate
            configuration.maximumMessageSize = 1 << 20
            let error = try await Self.failure(from: server, configuration: configuration)
            #expect(error?.code == .messageTooBig)
            #expect(await Self.closeCodeSent(to: server) == 1009)
        }

        @Test func connectionEndsMidFrame() async throws {
            let server = try Server(script: [0x82, 126, 0x03, 0xE8] + [UInt8](repeating: 9, count: 10), closeAfterScript: true)
            let error = try await Self.failure(from: server)
            #expect(error?.code == .closedAbnormally)
            #expect(error?.closeCode == .abnormalClosure)
        }

        /// Frames written together with the 101 are the first messages, not lost.
        @Test func framesRightAfterTheHandshakeAreKept() async throws {
            let script = Server.frame(opcode: 1, payload: Array("early".utf8)) + Server.frame(opcode: 8, payload: [0x03, 0xE8])
            let server = try Server(script: script, sameWrite: true)
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url)
            var received: [WebSocket.Message] = []
            for try await message in socket.messages { received.append(message) }
            #expect(received == [.text("early")])
            #expect(socket.closeCode == .normalClosure)
            #expect(await Self.closeCodeSent(to: server) == 1000)
            #expect(await multi.diagnostics.isIdle)
        }

        /// A peer that reads but never answers: the keep-alive ping goes out, and the reader
        /// gives up after the pong timeout.
        @Test func unresponsivePeerIsDetected() async throws {
            let server = try Server()
            var configuration = WebSocketConfiguration()
            configuration.pingInterval = .milliseconds(100)
            configuration.pongTimeout = .milliseconds(300)
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: server.url, configuration: configuration)
            let start = ContinuousClock.now
            let error: WebSocketError? = try await withDeadline(.seconds(20), "the dead-peer verdict") {
                do {
                    for try await _ in socket.messages {}
                    return nil
                } catch let error as WebSocketError {
                    return error
                }
            }
            #expect(error?.code == .peerUnresponsive)
            // Far below the 20 s default pong timeout, with room for a loaded machine.
            #expect(ContinuousClock.now - start < .seconds(8))
            #expect(await multi.diagnostics.isIdle)
            #expect(server.clientFrames.first?.opcode == 9)
        }

        @Test(arguments: [
            ("401", "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer", "Bearer"),
            ("wrong accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Accept"),
            ("no upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT", "Upgrade: websocket"),
            ("extension not offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\nSec-WebSocket-Extensions: permessage-deflate", "none was offered"),
            ("sub-protocol not offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\nSec-WebSocket-Protocol: chat", "not offered"),
            ("not HTTP", "SSH-2.0-OpenSSH_9.2", "not HTTP"),
        ])
        func handshakeFailures(name: String, answer: String, words: String) async throws {
            let server = try Server(response: { accept in answer.replacing("ACCEPT", with: accept) })
            let multi = CurlMulti()
            do {
                _ = try await multi.webSocket(to: server.url)
                Issue.record("\(name): the handshake succeeded")
            } catch let error as WebSocketError {
                #expect(error.code == .handshakeFailed, "\(name)")
                #expect(error.message.contains(words), "\(name): \(error.message)")
                if name == "401" {
                    #expect(error.handshakeResponse?.statusCode == 401)
                    #expect(error.handshakeResponse?["www-authenticate"] == "Bearer")
                }
            }
            #expect(await multi.diagnostics.isIdle)
        }

        @Test func badArgumentsFailBeforeAnyIO() async throws {
            let multi = CurlMulti()
            var configuration = WebSocketConfiguration()
            configuration.headers = [("X-Evil", "a\r\nInjected: yes")]
            for (url, configuration, code) in [
                ("http://127.0.0.1:1/", WebSocketConfiguration(), WebSocketError.Code.invalidURL),
                ("ws://127.0.0.1:1/#fragment", WebSocketConfiguration(), .invalidURL),
                ("ws://user:pw@127.0.0.1:1/", WebSocketConfiguration(), .invalidURL),
                ("ws://127.0.0.1:99999/", WebSocketConfiguration(), .invalidURL),
                ("ws://127.0.0.1:1/", configuration, .invalidArgument),
            ] {
                await #expect(throws: WebSocketError(code: code, message: "")) {
                    do {
                        _ = try await multi.webSocket(to: url, configuration: configuration)
                    } catch var error as WebSocketError {
                        error.message = ""
                        throw error
                    }
                }
            }
        }
    }
}
