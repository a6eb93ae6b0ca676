import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    /// Deflater and Inflater against RFC 7692's examples and Python's zlib output.
    @Suite struct DeflateTests {
        static func inflate(_ messages: [[UInt8]], windowBits: Int = 15, noContextTakeover: Bool = false, limit: Int = 1 << 24) throws -> [[UInt8]] {
            let inflater = try #require(Inflater(windowBits: windowBits, noContextTakeover: noContextTakeover))
            return try messages.map { compressed in
                var output: [UInt8] = []
                try inflater.inflate(compressed, limit: limit, into: &output)
                try inflater.finishMessage(limit: limit, into: &output)
                return output
            }
        }

        @Test func rfc7692HelloAndContextTakeover() throws {
            // RFC 7692 §7.2.3.1 and §7.2.3.2: "Hello", then "Hello" again using the window.
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            let first = deflater.compress(Array("Hello".utf8))
            let second = deflater.compress(Array("Hello".utf8))
            #expect(first == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
            #expect(second == [0xF2, 0x00, 0x11, 0x00, 0x00])
            #expect(second.count < first.count)
            #expect(try Self.inflate([first, second]) == [Array("Hello".utf8), Array("Hello".utf8)])
        }

        @Test func noContextTakeoverCompressesEachMessageAlone() throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: true))
            let messages = (0..<3).map { _ in deflater.compress(Array("Hello".utf8)) }
            #expect(messages == Array(repeating: [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], count: 3))
            // Each decodes on its own with a no-context-takeover inflater, and in sequence.
            #expect(try Self.inflate(messages, noContextTakeover: true) == Array(repeating: Array("Hello".utf8), count: 3))
        }

        @Test func matchesPythonZlibOutput() throws {
            // zlib.compressobj(wbits=-15); c.compress(b"Hello, world! " * 20) + c.flush(Z_SYNC_FLUSH), minus its last 00 00 ff ff.
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            let compressed = deflater.compress(Array(String(repeating: "Hello, world! ", count: 20).utf8))
            let python: [UInt8] = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0xD7, 0x51, 0x28, 0xCF, 0x2F, 0xCA, 0x49, 0x51, 0x54, 0xF0, 0x18, 0xE5, 0x41, 0x79, 0x00, 0x00]
            #expect(compressed == python)
        }

        @Test func rfc7692ExamplesInflate() throws {
            let hello = Array("Hello".utf8)
            // §7.2.3.3: a stored (uncompressed) block.
            #expect(try Self.inflate([[0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]]) == [hello])
            // §7.2.3.4: a block with BFINAL set, then another message on the same connection.
            #expect(try Self.inflate([[0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00], [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]]) == [hello, hello])
            // §7.2.3.5: two DEFLATE blocks in one message.
            #expect(try Self.inflate([[0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00]]) == [hello])
        }

        @Test func bfinalKeepsTheWindowForTheNextMessage() throws {
            // Python: compressobj(wbits=-15), compress(b"Hello") + flush(Z_FINISH) is f3 48 cd c9 c9 07 00.
            // A sender that then refers back to "Hello" (the second example's f2 00 11 00 00).
            #expect(try Self.inflate([[0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], [0xF2, 0x00, 0x11, 0x00, 0x00]]) == [Array("Hello".utf8), Array("Hello".utf8)])
        }

        @Test func emptyMessage() throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false))
            #expect(deflater.compress([]) == [0x00])
            #expect(try Self.inflate([[0x00], []]) == [[], []])
        }

        @Test(arguments: 8...15, [false, true])
        func roundTripsAtEveryWindowSize(bits: Int, noContextTakeover: Bool) throws {
            // Repeats at distances of 200, 300 and 40 000 bytes, so small windows matter.
            let block = ServerFrames.bytes(200, seed: 1)
            let far = ServerFrames.bytes(300, seed: 2)
            let messages: [[UInt8]] = [
                block + block + far + far,
                ServerFrames.bytes(40_000, seed: 3) + ServerFrames.bytes(40_000, seed: 3),
                block, [], Array(String(repeating: "text ", count: 1000).utf8),
            ]
            let deflater = try #require(Deflater(windowBits: bits, noContextTakeover: noContextTakeover))
            #expect(deflater.windowBits == max(bits, 9))
            let compressed = messages.map { deflater.compress($0) }
            #expect(try Self.inflate(compressed, windowBits: bits, noContextTakeover: noContextTakeover) == messages)
            #expect(compressed[4].count < 100)
        }

        @Test func limitIsExact() throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: true))
            let compressed = deflater.compress([UInt8](repeating: 7, count: 100_000))
            #expect(try Self.inflate([compressed], limit: 100_000) == [[UInt8](repeating: 7, count: 100_000)])
            #expect(throws: WebSocketProtocolViolation(.messageTooBig, "message over 99999 bytes")) {
                try Self.inflate([compressed], limit: 99_999)
            }
        }

        @Test func deflateBombStopsAtTheLimit() throws {
            let deflater = try #require(Deflater(windowBits: 15, noContextTakeover: false, level: 9))
            let bomb = deflater.compress([UInt8](repeating: 0, count: 100_000_000))
            #expect(bomb.count < 200_000)
            let inflater = try #require(Inflater(windowBits: 15, noContextTakeover: false))
            var assembler = MessageAssembler(maximumMessageSize: 1 << 20, inflater: inflater)
            // In 4 frames; the first one already inflates past 1 MiB.
            let quarter = bomb.count / 4
            let start = ContinuousClock.now
            var failure: WebSocketProtocolViolation?
            do {
                _ = try assembler.receive(WebSocketFrame(fin: false, rsv1: true, opcode: .binary, payload: Array(bomb[..<quarter])))
            } catch {
                failure = error
            }
            let elapsed = ContinuousClock.now - start
            #expect(failure?.closeCode == .messageTooBig)
            #expect(elapsed < .seconds(1))
            // Bounded work and memory: at most the limit plus one scratch buffer was produced.
            #expect(inflater.totalOutput <= (1 << 20) + 32 * 1024)
            #expect(assembler.bufferedByteCount <= 1 << 20)
        }
    }
}
