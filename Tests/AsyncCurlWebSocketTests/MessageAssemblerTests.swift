import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    @Suite struct MessageAssemblerTests {
        static func frame(_ opcode: WebSocketOpcode, fin: Bool = true, rsv1: Bool = false, _ payload: [UInt8]) -> WebSocketFrame {
            WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, payload: payload)
        }

        static func text(_ opcode: WebSocketOpcode, fin: Bool = true, _ string: String) -> WebSocketFrame {
            frame(opcode, fin: fin, Array(string.utf8))
        }

        struct Failure: Equatable {
            var index: Int
            var code: WebSocketCloseCode
            init(_ index: Int, _ code: WebSocketCloseCode) {
                self.index = index
                self.code = code
            }
        }

        /// The violation the frames cause, with the index of the frame that caused it.
        static func violation(_ frames: [WebSocketFrame], maximumMessageSize: Int = 1 << 20, inflater: Inflater? = nil) -> Failure? {
            var assembler = MessageAssembler(maximumMessageSize: maximumMessageSize, inflater: inflater)
            for (index, frame) in frames.enumerated() {
                do { _ = try assembler.receive(frame) } catch { return Failure(index, error.closeCode) }
            }
            return nil
        }

        @Test func singleFrameMessages() throws {
            var assembler = MessageAssembler(maximumMessageSize: 100, inflater: nil)
            #expect(try assembler.receive(Self.text(.text, "héllo")) == .message(.text("héllo")))
            #expect(try assembler.receive(Self.frame(.binary, [1, 2, 3])) == .message(.binary([1, 2, 3])))
            #expect(try assembler.receive(Self.frame(.text, [])) == .message(.text("")))
        }

        @Test func fragmentationWithInterleavedControlFrames() throws {
            var assembler = MessageAssembler(maximumMessageSize: 100, inflater: nil)
            #expect(try assembler.receive(Self.text(.text, fin: false, "Hel")) == nil)
            #expect(assembler.isMessageInProgress)
            #expect(try assembler.receive(Self.frame(.ping, [7])) == .ping([7]))
            #expect(try assembler.receive(Self.text(.continuation, fin: false, "lo, ")) == nil)
            #expect(try assembler.receive(Self.frame(.pong, [])) == .pong([]))
            #expect(try assembler.receive(Self.text(.continuation, fin: false, "")) == nil)
            #expect(try assembler.receive(Self.text(.continuation, "world")) == .message(.text("Hello, world")))
            #expect(!assembler.isMessageInProgress)
            #expect(try assembler.receive(Self.frame(.binary, fin: false, [1])) == nil)
            #expect(try assembler.receive(Self.frame(.continuation, [2, 3])) == .message(.binary([1, 2, 3])))
        }

        @Test func continuationWithoutAMessageIsAProtocolError() {
            #expect(Self.violation([Self.frame(.continuation, [1])]) == Failure(0, .protocolError))
            #expect(Self.violation([Self.frame(.binary, [1]), Self.frame(.continuation, [1])]) == Failure(1, .protocolError))
        }

        @Test func newMessageWhileOneIsInProgressIsAProtocolError() {
            let frames = [Self.text(.text, fin: false, "a"), Self.frame(.ping, []), Self.text(.text, "b")]
            #expect(Self.violation(frames) == Failure(2, .protocolError))
        }

        @Test func invalidTextFailsAtTheFrameHoldingTheBadByte() {
            let frames = [
                Self.text(.text, fin: false, "κόσμε"),
                Self.frame(.continuation, fin: false, [0xCE, 0xBA, 0xED, 0xA0]),  // surrogate starts
                Self.frame(.continuation, fin: false, [0x80, 0x41]),
                Self.text(.continuation, "never reached"),
            ]
            #expect(Self.violation(frames) == Failure(1, .invalidFramePayloadData))
            #expect(Self.violation([Self.frame(.text, [0x41, 0xFF])]) == Failure(0, .invalidFramePayloadData))
        }

        @Test func sequenceSplitAcrossFramesIsFineButNotAtTheEnd() throws {
            var assembler = MessageAssembler(maximumMessageSize: 100, inflater: nil)
            #expect(try assembler.receive(Self.frame(.text, fin: false, [0x61, 0xE2])) == nil)
            #expect(try assembler.receive(Self.frame(.continuation, fin: false, [0x82])) == nil)
            #expect(try assembler.receive(Self.frame(.continuation, [0xAC])) == .message(.text("a€")))
            let truncated = [Self.frame(.text, fin: false, [0x61]), Self.frame(.continuation, [0xE2, 0x82])]
            #expect(Self.violation(truncated) == Failure(1, .invalidFramePayloadData))
        }

        @Test func messageSizeLimit() throws {
            #expect(Self.violation([Self.frame(.binary, [UInt8](repeating: 0, count: 11))], maximumMessageSize: 10) == Failure(0, .messageTooBig))
            let fragments = [Self.frame(.binary, fin: false, [UInt8](repeating: 0, count: 6)), Self.frame(.continuation, [UInt8](repeating: 0, count: 5))]
            #expect(Self.violation(fragments, maximumMessageSize: 10) == Failure(1, .messageTooBig))
            var assembler = MessageAssembler(maximumMessageSize: 10, inflater: nil)
            _ = try assembler.receive(Self.frame(.binary, fin: false, [UInt8](repeating: 0, count: 6)))
            #expect(try assembler.receive(Self.frame(.continuation, [1, 2, 3, 4])) == .message(.binary([0, 0, 0, 0, 0, 0, 1, 2, 3, 4])))
        }

        @Test func rsv1RulesAndControlFrameRules() {
            #expect(Self.violation([Self.frame(.binary, rsv1: true, [0])]) == Failure(0, .protocolError))  // no inflater
            let inflater = Inflater(windowBits: 15, noContextTakeover: false)
            let continuation = [Self.frame(.binary, fin: false, [0x00]), Self.frame(.continuation, rsv1: true, [0])]
            #expect(Self.violation(continuation, inflater: inflater) == Failure(1, .protocolError))
            #expect(Self.violation([Self.frame(.ping, fin: false, [])]) == Failure(0, .protocolError))
            #expect(Self.violation([Self.frame(.pong, [UInt8](repeating: 0, count: 126))]) == Failure(0, .protocolError))
        }

        @Test func closeFrames() throws {
            var assembler = MessageAssembler(maximumMessageSize: 100, inflater: nil)
            #expect(try assembler.receive(Self.frame(.close, [])) == .close(code: nil, reason: ""))
            #expect(try assembler.receive(Self.frame(.close, [0x03, 0xE8])) == .close(code: .normalClosure, reason: ""))
            #expect(try assembler.receive(Self.frame(.close, [0x0F, 0xA0] + Array("bye ✓".utf8))) == .close(code: WebSocketCloseCode(rawValue: 4000), reason: "bye ✓"))
            #expect(Self.violation([Self.frame(.close, [0x03])]) == Failure(0, .protocolError))
            for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
                #expect(Self.violation([Self.frame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])]) == Failure(0, .protocolError), "\(code)")
            }
            #expect(Self.violation([Self.frame(.close, [0x03, 0xE8, 0xCE, 0xBA, 0xED, 0xA0, 0x80])]) == Failure(0, .invalidFramePayloadData))
            #expect(Self.violation([Self.frame(.close, [0x03, 0xE8, 0xCE])]) == Failure(0, .invalidFramePayloadData))
        }

        @Test func compressedFragmentedMessage() throws {
            let text = String(repeating: "permessage-deflate round trip ", count: 50)
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            let compressed = deflater.compress(Array(text.utf8))
            let third = compressed.count / 3
            var assembler = MessageAssembler(maximumMessageSize: 1 << 20, inflater: Inflater(windowBits: 15, noContextTakeover: false))
            #expect(try assembler.receive(Self.frame(.text, fin: false, rsv1: true, Array(compressed[..<third]))) == nil)
            #expect(try assembler.receive(Self.frame(.ping, [1])) == .ping([1]))
            #expect(try assembler.receive(Self.frame(.continuation, fin: false, Array(compressed[third..<2 * third]))) == nil)
            #expect(try assembler.receive(Self.frame(.continuation, Array(compressed[(2 * third)...]))) == .message(.text(text)))
            // An uncompressed message between compressed ones, then a compressed one using the context.
            #expect(try assembler.receive(Self.frame(.binary, [9])) == .message(.binary([9])))
            let again = deflater.compress(Array(text.utf8))
            #expect(again.count < compressed.count / 2)
            #expect(try assembler.receive(Self.frame(.text, rsv1: true, again)) == .message(.text(text)))
        }

        @Test func compressedInvalidUTF8FailsWith1007() throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            let compressed = deflater.compress([0x41, 0xC0, 0x80])
            #expect(Self.violation([Self.frame(.text, rsv1: true, compressed)], inflater: Inflater(windowBits: 15, noContextTakeover: false)) == Failure(0, .invalidFramePayloadData))
            // Garbage that is not DEFLATE data at all.
            #expect(Self.violation([Self.frame(.binary, rsv1: true, [0xFF, 0xFF, 0xFF])], inflater: Inflater(windowBits: 15, noContextTakeover: false)) == Failure(0, .invalidFramePayloadData))
        }
    }
}
