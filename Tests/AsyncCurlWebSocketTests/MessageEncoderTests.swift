import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    /// MessageEncoder's frames, read back as a server would (unmasked) by FrameDecoder and
    /// MessageAssembler.
    @Suite struct MessageEncoderTests {
        /// Unmasks client frames so the (client-side) decoder accepts them.
        static func unmask(_ bytes: [UInt8]) -> [UInt8] {
            var output: [UInt8] = []
            var index = 0
            while index < bytes.count {
                let short = Int(bytes[index + 1] & 0x7F)
                let lengthBytes = short == 127 ? 8 : short == 126 ? 2 : 0
                let length = lengthBytes == 0 ? short : bytes[(index + 2)..<(index + 2 + lengthBytes)].reduce(0) { $0 << 8 | Int($1) }
                output.append(bytes[index])
                output.append(bytes[index + 1] & 0x7F)
                output += bytes[(index + 2)..<(index + 2 + lengthBytes)]
                let keyStart = index + 2 + lengthBytes
                let key = Array(bytes[keyStart..<keyStart + 4])
                output += bytes[(keyStart + 4)..<(keyStart + 4 + length)].enumerated().map { $0.element ^ key[$0.offset % 4] }
                index = keyStart + 4 + length
            }
            return output
        }

        static func receive(_ bytes: [UInt8], inflater: Inflater? = nil) throws -> (frames: [WebSocketFrame], events: [ReceivedEvent]) {
            let frames = try ServerFrames.decodeAll(unmask(bytes), allowsRSV1: inflater != nil)
            var assembler = MessageAssembler(maximumMessageSize: 1 << 24, inflater: inflater)
            var events: [ReceivedEvent] = []
            for frame in frames {
                if let event = try assembler.receive(frame) { events.append(event) }
            }
            return (frames, events)
        }

        @Test func plainAndFragmented() throws {
            var buffer: [UInt8] = []
            MessageEncoder().encode(.text("héllo"), into: &buffer)
            MessageEncoder(maximumFramePayload: 4).encode(.binary(Array(0..<10)), into: &buffer)
            MessageEncoder.encodeControl(.ping, payload: [1, 2], into: &buffer)
            let (frames, events) = try Self.receive(buffer)
            #expect(frames.map(\.opcode) == [.text, .binary, .continuation, .continuation, .ping])
            #expect(frames.map(\.fin) == [true, false, false, true, true])
            #expect(events == [.message(.text("héllo")), .message(.binary(Array(0..<10))), .ping([1, 2])])
        }

        @Test func compressedWithThresholdAndFragments() throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            let encoder = MessageEncoder(deflater: deflater, minimumCompressedSize: 10, maximumFramePayload: 8)
            let long = String(repeating: "compress me, ", count: 40)
            var buffer: [UInt8] = []
            encoder.encode(.text("tiny"), into: &buffer)
            encoder.encode(.text(long), into: &buffer)
            encoder.encode(.text(long), into: &buffer)
            let (frames, events) = try Self.receive(buffer, inflater: Inflater(windowBits: 15, noContextTakeover: false))
            #expect(frames[0].rsv1 == false)
            #expect(frames[1].rsv1 == true && frames[1].fin == false)
            #expect(frames.dropFirst(2).allSatisfy { !$0.rsv1 || $0.opcode == .text })
            #expect(events == [.message(.text("tiny")), .message(.text(long)), .message(.text(long))])
            #expect(buffer.count < 2 * long.utf8.count / 3)
        }
    }
}
