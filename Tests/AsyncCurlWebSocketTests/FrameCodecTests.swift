import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    /// FrameEncoder's output, read back by a reference unmasking and by FrameDecoder.
    @Suite struct FrameEncoderTests {
        /// Unmasks a client frame the slow, obvious way: (header fields, payload).
        static func parseClientFrame(_ bytes: [UInt8]) -> (first: UInt8, masked: Bool, length: Int, headerSize: Int, payload: [UInt8]) {
            let short = Int(bytes[1] & 0x7F)
            var length = short
            var offset = 2
            if short == 126 {
                length = Int(bytes[2]) << 8 | Int(bytes[3])
                offset = 4
            } else if short == 127 {
                length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
                offset = 10
            }
            let key = Array(bytes[offset..<offset + 4])
            let payload = bytes[(offset + 4)...].enumerated().map { $0.element ^ key[$0.offset % 4] }
            return (bytes[0], bytes[1] & 0x80 != 0, length, offset + 4, payload)
        }

        @Test(arguments: [0, 1, 5, 7, 8, 9, 31, 32, 33, 125, 126, 127, 1000, 65535, 65536, 70_001])
        func roundTripAllLengthForms(count: Int) throws {
            let payload = ServerFrames.bytes(count)
            let frame = FrameEncoder.encode(opcode: .binary, payload: payload, maskingKey: 0x37FA_213D)
            let parsed = Self.parseClientFrame(frame)
            #expect(parsed.first == 0x82)
            #expect(parsed.masked)
            #expect(parsed.length == count)
            #expect(parsed.headerSize == FrameEncoder.headerSize(payloadCount: count))
            #expect(parsed.headerSize == (count < 126 ? 6 : count <= 65535 ? 8 : 14))
            #expect(parsed.payload == payload)
            #expect(frame.count == parsed.headerSize + count)
            if count >= 4 { #expect(Array(frame[parsed.headerSize..<parsed.headerSize + 4]) != Array(payload[0..<4]) || payload.isEmpty) }
        }

        @Test func rfcMaskedHelloExample() {
            // RFC 6455 §5.7: a single-frame masked text message "Hello".
            let frame = FrameEncoder.encode(opcode: .text, payload: Array("Hello".utf8), maskingKey: 0x37FA_213D)
            #expect(frame == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        }

        @Test func flagsAndAppendingToABuffer() {
            var buffer: [UInt8] = [0xAA]
            FrameEncoder.encode(opcode: .continuation, fin: false, rsv1: true, payload: [1, 2, 3], maskingKey: 0, into: &buffer)
            #expect(buffer == [0xAA, 0x40, 0x83, 0, 0, 0, 0, 1, 2, 3])
        }

        @Test func maskingIsItsOwnInverseAtEveryAlignment() {
            let original = ServerFrames.bytes(200)
            for start in 0..<9 {
                var bytes = original
                bytes.withUnsafeMutableBytes { raw in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
                    FrameEncoder.mask(slice, key: 0x0102_0304)
                    #expect(slice[0] == original[start] ^ 0x01)
                    #expect(slice[5] == original[start + 5] ^ 0x02)
                    #expect(slice[slice.count - 1] == original[199] ^ UInt8((200 - start - 1) % 4 + 1))
                    FrameEncoder.mask(slice, key: 0x0102_0304)
                }
                #expect(bytes == original)
            }
        }

        @Test func randomMaskingKeysDiffer() {
            let keys = Set((0..<16).map { _ in FrameEncoder.randomMaskingKey() })
            #expect(keys.count > 1)
        }

        @Test func closePayloadIsCutAtACharacterBoundary() {
            let payload = FrameEncoder.closePayload(code: .goingAway, reason: String(repeating: "é", count: 100))
            #expect(Array(payload[0..<2]) == [0x03, 0xE9])
            #expect(payload.count == 124)  // 2 + 61 × 2: one more "é" would make 126
            var validator = UTF8Validator()
            #expect(validator.validate(Array(payload[2...])) && validator.isAtCharacterBoundary)
        }
    }
}
