import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    @Suite struct FrameDecoderTests {
        @Test(arguments: [ServerFrames.LengthForm.minimal, .sixteen, .sixtyFour], [0, 1, 125, 126, 65535, 65536, 200_000])
        func decodesEveryLengthForm(form: ServerFrames.LengthForm, count: Int) throws {
            guard form != .sixteen || count <= 0xFFFF else { return }
            let payload = ServerFrames.bytes(count)
            let frames = try ServerFrames.decodeAll(ServerFrames.frame(0x2, payload: payload, lengthForm: form))
            #expect(frames == [WebSocketFrame(opcode: .binary, payload: payload)])
        }

        /// The encoder's frames, unmasked the way a server would, decode to what was encoded.
        @Test(arguments: [0, 3, 125, 126, 65535, 65536])
        func encoderRoundTrip(count: Int) throws {
            let payload = ServerFrames.bytes(count, seed: UInt64(count))
            var frame = FrameEncoder.encode(opcode: .text, fin: false, rsv1: true, payload: payload, maskingKey: 0xDEAD_BEEF)
            let headerSize = FrameEncoder.headerSize(payloadCount: count)
            frame.withUnsafeMutableBytes { FrameEncoder.mask(UnsafeMutableRawBufferPointer(rebasing: $0[headerSize...]), key: 0xDEAD_BEEF) }
            frame[1] &= 0x7F
            frame.removeSubrange(headerSize - 4..<headerSize)
            let frames = try ServerFrames.decodeAll(frame, allowsRSV1: true)
            #expect(frames == [WebSocketFrame(fin: false, rsv1: true, opcode: .text, payload: payload)])
        }

        @Test func nonMinimalLengthsAreAccepted() throws {
            let frames = try ServerFrames.decodeAll(ServerFrames.frame(0x1, payload: [0x41], lengthForm: .sixtyFour))
            #expect(frames == [WebSocketFrame(opcode: .text, payload: [0x41])])
        }

        @Test func bytesArrivingOneAtATime() throws {
            let stream = ServerFrames.frame(0x1, fin: false, payload: Array("Hel".utf8))
                + ServerFrames.frame(0x9, payload: [1, 2])
                + ServerFrames.frame(0x0, payload: Array("lo".utf8))
                + ServerFrames.frame(0x2, payload: ServerFrames.bytes(300))
                + ServerFrames.frame(0x8, payload: [0x03, 0xE8])
            var decoder = FrameDecoder(maximumFrameSize: 1000, allowsRSV1: false)
            var frames: [WebSocketFrame] = []
            for byte in stream {
                decoder.append([byte])
                while let frame = try decoder.nextFrame() { frames.append(frame) }
            }
            #expect(frames == [
                WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8)),
                WebSocketFrame(opcode: .ping, payload: [1, 2]),
                WebSocketFrame(opcode: .continuation, payload: Array("lo".utf8)),
                WebSocketFrame(opcode: .binary, payload: ServerFrames.bytes(300)),
                WebSocketFrame(opcode: .close, payload: [0x03, 0xE8]),
            ])
            #expect(decoder.bufferedByteCount == 0)
        }

        @Test func chunksOfEverySizeAndBufferedCount() throws {
            let sizes = [0, 1, 125, 126, 127, 1000, 65535, 65536, 70_000, 3]
            let payloads = sizes.enumerated().map { ServerFrames.bytes($0.element, seed: UInt64($0.offset)) }
            let stream = payloads.flatMap { ServerFrames.frame(0x2, payload: $0) }
            for chunkSize in [1, 3, 100, 4096, 65_537, stream.count] {
                var decoder = FrameDecoder(maximumFrameSize: 1 << 20, allowsRSV1: false)
                var received: [[UInt8]] = []
                var fed = 0
                var consumed = 0
                while fed < stream.count {
                    let end = min(fed + chunkSize, stream.count)
                    stream[fed..<end].withUnsafeBytes { decoder.append($0) }
                    fed = end
                    while let frame = try decoder.nextFrame() {
                        received.append(frame.payload)
                        consumed += FrameEncoder.headerSize(payloadCount: frame.payload.count) - 4 + frame.payload.count
                    }
                    // A decoded header whose payload is arriving is not counted (at most 10 bytes).
                    if !(fed - consumed - 10...fed - consumed).contains(decoder.bufferedByteCount) {
                        Issue.record("chunk \(chunkSize) fed \(fed) frames \(received.count): buffered \(decoder.bufferedByteCount), expected \(fed - consumed)")
                        return
                    }
                }
                #expect(received == payloads, "chunk size \(chunkSize)")
                #expect(decoder.bufferedByteCount == 0)
            }
        }

        @Test func hugeAnnouncedLengthFailsFromTheHeader() {
            // 2^63 - 1 announced, nothing of the payload sent: 1009, nothing allocated.
            var decoder = FrameDecoder(maximumFrameSize: 1 << 20, allowsRSV1: false)
            decoder.append([0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            #expect(throws: WebSocketProtocolViolation.self) { try decoder.nextFrame() }
            do { _ = try decoder.nextFrame() } catch { #expect(error.closeCode == .messageTooBig) }
            #expect(decoder.bufferedByteCount == 10)
        }

        @Test func lengthWithTheHighBitSetIsAProtocolError() {
            let violation = ServerFrames.violation([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1])
            #expect(violation?.closeCode == .protocolError)
        }

        @Test func frameOverTheLimitIsTooBigButAtTheLimitIsFine() throws {
            #expect(ServerFrames.violation(ServerFrames.frame(0x2, payload: ServerFrames.bytes(101)), maximumFrameSize: 100)?.closeCode == .messageTooBig)
            #expect(try ServerFrames.decodeAll(ServerFrames.frame(0x2, payload: ServerFrames.bytes(100)), maximumFrameSize: 100).count == 1)
        }

        @Test(arguments: [
            // (bytes, expected code, what)
            ([0x82, 0x81, 1, 2, 3, 4, 5], 1002, "masked frame from the server"),
            ([0x83, 0x00], 1002, "opcode 3"),
            ([0x87, 0x00], 1002, "opcode 7"),
            ([0x8B, 0x00], 1002, "opcode 0xB"),
            ([0x8F, 0x00], 1002, "opcode 0xF"),
            ([0xA2, 0x00], 1002, "RSV2"),
            ([0x92, 0x00], 1002, "RSV3"),
            ([0xC2, 0x00], 1002, "RSV1 without an extension"),
            ([0x09, 0x00], 1002, "fragmented ping"),
            ([0x88, 0x7E, 0x00, 0x7E], 1002, "close with 126 bytes (16-bit length)"),
            ([0x89, 0x7E], 1002, "ping with a 16-bit length"),
        ] as [([UInt8], Int, String)])
        func rejects(bytes: [UInt8], code: Int, what: String) {
            let violation = ServerFrames.violation(bytes)
            #expect(violation?.closeCode.rawValue == UInt16(code), "\(what)")
        }

        @Test func failsOnTheFirstByteThatMakesTheFrameInvalid() {
            // Only the first byte is here: the reserved opcode is already an error.
            var decoder = FrameDecoder(maximumFrameSize: 100, allowsRSV1: false)
            decoder.append([0x83])
            #expect(throws: WebSocketProtocolViolation(.protocolError, "reserved opcode 3")) { try decoder.nextFrame() }
            // And it stays failed.
            #expect(throws: WebSocketProtocolViolation.self) { try decoder.nextFrame() }
        }

        @Test func rsv1RulesWithPermessageDeflate() throws {
            #expect(try ServerFrames.decodeAll([0xC1, 0x01, 0x00], allowsRSV1: true) == [WebSocketFrame(rsv1: true, opcode: .text, payload: [0])])
            #expect(ServerFrames.violation([0xC9, 0x00], allowsRSV1: true)?.closeCode == .protocolError)
        }

        @Test func incompleteInputIsNotAnError() throws {
            var decoder = FrameDecoder(maximumFrameSize: 100, allowsRSV1: false)
            decoder.append([0x82, 0x7E, 0x00])
            #expect(try decoder.nextFrame() == nil)
            decoder.append([0x05, 1, 2])
            #expect(try decoder.nextFrame() == nil)
            #expect(decoder.bufferedByteCount == 2)
            decoder.append([3, 4, 5, 0x8A])
            #expect(try decoder.nextFrame() == WebSocketFrame(opcode: .binary, payload: [1, 2, 3, 4, 5]))
            #expect(try decoder.nextFrame() == nil)
            #expect(decoder.bufferedByteCount == 1)
        }
    }
}
