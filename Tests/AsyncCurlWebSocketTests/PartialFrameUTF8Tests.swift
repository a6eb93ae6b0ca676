import Testing
@testable import AsyncCurlWebSocket

/// Invalid UTF-8 in a text frame fails as soon as the bad bytes arrive, before the rest of the
/// frame does (Autobahn|Testsuite 6.4.3 and 6.4.4: one frame sent in three chops, the second
/// holding the invalid bytes, with pauses between them).
extension AsyncCurlWebSocketTests {
    @Suite struct PartialFrameUTF8Tests {
        /// A text frame header announcing `length` payload bytes (16-bit length form).
        static func textHeader(_ opcode: UInt8 = 0x1, fin: Bool = true, length: Int) -> [UInt8] {
            [(fin ? 0x80 : 0) | opcode, 126, UInt8(length >> 8), UInt8(length & 0xFF)]
        }

        static func isViolation(_ decoded: ReceiveSide.Decoded, _ code: WebSocketCloseCode) -> Bool {
            if case .violation(let violation) = decoded { return violation.closeCode == code }
            return false
        }

        static func isNeedMore(_ decoded: ReceiveSide.Decoded) -> Bool {
            if case .needMore = decoded { return true }
            return false
        }

        @Test func decoderExposesThePartialFrame() throws {
            var decoder = FrameDecoder(maximumFrameSize: 1000, allowsRSV1: true)
            #expect(decoder.partialFrame == nil)
            decoder.append(Self.textHeader(length: 200) + [0x41, 0x42])
            #expect(try decoder.nextFrame() == nil)
            let partial = try #require(decoder.partialFrame)
            #expect(partial.opcode == .text && !partial.rsv1 && partial.payload == [0x41, 0x42])
            decoder.append([UInt8](repeating: 0x43, count: 198))
            #expect(try decoder.nextFrame()?.payload.count == 200)
            #expect(decoder.partialFrame == nil)
        }

        /// The 6.4.3 pattern: a valid first chop, then a chop with an out-of-range code point
        /// (F4 90 80 80), then a rest that never needs to arrive.
        @Test func chopWithInvalidBytesFailsBeforeTheFrameEnds() {
            let side = ReceiveSide(configuration: WebSocketConfiguration(), inflater: nil)
            let valid = Array("κόσμε".utf8)
            side.decoder.append(Self.textHeader(length: valid.count + 4 + 100) + valid)
            #expect(Self.isNeedMore(side.decodeNext()))
            side.decoder.append([0xF4, 0x90, 0x80, 0x80])
            #expect(Self.isViolation(side.decodeNext(), .invalidFramePayloadData))
        }

        @Test func validChopsOfOneFrameStillMakeTheMessage() {
            let side = ReceiveSide(configuration: WebSocketConfiguration(), inflater: nil)
            let text = Array("Hello-µ@ßöäüàá-UTF-8!!".utf8)
            side.decoder.append(Self.textHeader(length: text.count))
            // Chops that cut characters in two: only a complete frame must end on a boundary.
            for byte in text.dropLast() {
                side.decoder.append([byte])
                #expect(Self.isNeedMore(side.decodeNext()))
            }
            side.decoder.append([text[text.count - 1]])
            guard case .event(.message(let message)) = side.decodeNext() else {
                Issue.record("no message")
                return
            }
            #expect(message == .text(String(decoding: text, as: UTF8.self)))
        }

        /// The completed frame is validated from where the chops stopped, with the chops'
        /// validator: a character cut at the chop's end is judged by the byte that completes it.
        @Test(arguments: [(UInt8(0xA9), true), (UInt8(0x28), false)])
        func theCompletedFrameGoesOnFromTheChops(last: UInt8, valid: Bool) {
            for fin in [true, false] {
                let side = ReceiveSide(configuration: WebSocketConfiguration(), inflater: nil)
                side.decoder.append(Self.textHeader(fin: fin, length: 3) + [0x41, 0xC3])
                #expect(Self.isNeedMore(side.decodeNext()))
                side.decoder.append([last])
                let decoded = side.decodeNext()
                if !valid {
                    #expect(Self.isViolation(decoded, .invalidFramePayloadData), "fin \(fin)")
                } else if fin {
                    guard case .event(.message(let message)) = decoded else {
                        Issue.record("no message")
                        continue
                    }
                    #expect(message == .text("Aé"))
                } else {
                    #expect(Self.isNeedMore(decoded), "a first fragment")
                    side.decoder.append([0x80, 0x01, 0x21])
                    guard case .event(.message(let message)) = side.decodeNext() else {
                        Issue.record("no message")
                        continue
                    }
                    #expect(message == .text("Aé!"))
                }
            }
        }

        @Test func continuationFrameIsCheckedWithTheMessageSoFar() throws {
            var assembler = MessageAssembler(maximumMessageSize: 1000, inflater: nil)
            // The first fragment ends inside a two-byte character (CE …).
            #expect(try assembler.receive(WebSocketFrame(fin: false, opcode: .text, payload: [0x41, 0xCE])) == nil)
            // A continuation whose first byte completes it is fine …
            try assembler.checkPartialFrame(opcode: .continuation, rsv1: false, payload: [0xBA])
            #expect(throws: WebSocketProtocolViolation.self) {
                // … and one whose next bytes cannot follow fails before the frame is complete.
                try assembler.checkPartialFrame(opcode: .continuation, rsv1: false, payload: [0xBA, 0xFF])
            }
        }

        @Test func continuationStartingWithABadByteFailsAtOnce() throws {
            var assembler = MessageAssembler(maximumMessageSize: 1000, inflater: nil)
            #expect(try assembler.receive(WebSocketFrame(fin: false, opcode: .text, payload: [0x41, 0xCE])) == nil)
            #expect(throws: WebSocketProtocolViolation.self) {
                try assembler.checkPartialFrame(opcode: .continuation, rsv1: false, payload: [0x41])
            }
        }

        @Test func binaryAndCompressedFramesAreNotChecked() throws {
            var assembler = MessageAssembler(maximumMessageSize: 1000, inflater: Inflater(windowBits: 15, noContextTakeover: false))
            try assembler.checkPartialFrame(opcode: .binary, rsv1: false, payload: [0xFF, 0xFE])
            try assembler.checkPartialFrame(opcode: .text, rsv1: true, payload: [0xFF, 0xFE])
            #expect(try assembler.receive(WebSocketFrame(fin: false, opcode: .binary, payload: [0xFF])) == nil)
            try assembler.checkPartialFrame(opcode: .continuation, rsv1: false, payload: [0xFF])
        }

        @Test func eachFrameStartsItsOwnCheck() throws {
            var assembler = MessageAssembler(maximumMessageSize: 1000, inflater: nil)
            // A partial check that saw a character's first byte, then the complete frame …
            try assembler.checkPartialFrame(opcode: .text, rsv1: false, payload: [0x41, 0xCE])
            #expect(try assembler.receive(WebSocketFrame(opcode: .text, payload: [0x41, 0xCE, 0xBA])) == .message(.text("Aκ")))
            // … leaves nothing behind for the next frame.
            try assembler.checkPartialFrame(opcode: .text, rsv1: false, payload: [0x42])
            #expect(try assembler.receive(WebSocketFrame(opcode: .text, payload: [0x42])) == .message(.text("B")))
        }
    }
}
