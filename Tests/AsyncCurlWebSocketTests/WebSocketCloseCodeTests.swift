import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    @Suite struct WebSocketCloseCodeTests {
        @Test func sendableCodes() {
            let sendable = (0...5000).filter { WebSocketCloseCode(rawValue: UInt16($0)).isSendable }
            #expect(sendable == Array(1000...1003) + Array(1007...1014) + Array(3000...4999))
            #expect(!WebSocketCloseCode.noStatusReceived.isSendable)
            #expect(!WebSocketCloseCode.abnormalClosure.isSendable)
            #expect(WebSocketCloseCode.badGateway.rawValue == 1014)
        }

        @Test func descriptions() {
            #expect(WebSocketCloseCode.normalClosure.description == "1000 (normal closure)")
            #expect(WebSocketCloseCode.messageTooBig.description == "1009 (message too big)")
            #expect(WebSocketCloseCode(rawValue: 4321).description == "4321")
        }

        @Test func opcodes() {
            let control = [WebSocketOpcode.close, .ping, .pong].map { $0.isControl }
            let data = [WebSocketOpcode.continuation, .text, .binary].map { $0.isControl }
            #expect(control == [true, true, true])
            #expect(data == [false, false, false])
            #expect((0...15).compactMap { WebSocketOpcode(rawValue: UInt8($0)) }.map(\.rawValue) == [0, 1, 2, 8, 9, 10])
        }
    }
}
