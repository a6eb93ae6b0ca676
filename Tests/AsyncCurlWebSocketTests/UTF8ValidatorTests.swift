import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    @Suite struct UTF8ValidatorTests {
        static func feed(_ validator: inout UTF8Validator, _ bytes: [UInt8]) -> Bool {
            validator.validate(bytes)
        }

        static func isValid(_ bytes: [UInt8]) -> Bool {
            var validator = UTF8Validator()
            return validator.validate(bytes) && validator.isAtCharacterBoundary
        }

        static let valid: [[UInt8]] = [
            [],
            Array("Hello-µ@ßöäüàá-UTF-8!!".utf8),  // Autobahn 6.2.1
            Array("κόσμε".utf8),  // Autobahn 6.5.1
            [0x00], [0x7F],
            [0xC2, 0x80], [0xDF, 0xBF],  // 2-byte boundaries
            [0xE0, 0xA0, 0x80], [0xEF, 0xBF, 0xBF],  // 3-byte boundaries
            [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],  // around the surrogates
            [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],  // U+10000, U+10FFFF
            [0xEF, 0xBF, 0xBE], [0xEF, 0xBF, 0xBF],  // U+FFFE, U+FFFF are valid UTF-8
            Array(String(repeating: "ascii only, long enough for the word path. ", count: 10).utf8),
            Array((String(repeating: "a", count: 17) + "€" + String(repeating: "b", count: 31) + "𝄞").utf8),
        ]

        /// (bytes, offset of the first invalid byte).
        static let invalid: [([UInt8], Int)] = [
            ([0x80], 0),  // lone continuation
            ([0xBF], 0),
            ([0x41, 0xC0, 0x80], 1),  // overlong NUL
            ([0xC1, 0xBF], 0),  // overlong
            ([0xE0, 0x80, 0x80], 1),  // overlong 3-byte
            ([0xE0, 0x9F, 0xBF], 1),
            ([0xF0, 0x80, 0x80, 0x80], 1),  // overlong 4-byte
            ([0xF0, 0x8F, 0xBF, 0xBF], 1),
            ([0xED, 0xA0, 0x80], 1),  // U+D800
            ([0xED, 0xBF, 0xBF], 1),  // U+DFFF
            ([0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], 1),  // surrogate pair (CESU-8)
            ([0xF4, 0x90, 0x80, 0x80], 1),  // U+110000
            ([0xF5, 0x80, 0x80, 0x80], 0),
            ([0xFE], 0), ([0xFF], 0),
            ([0xC2, 0x41], 1),  // missing continuation
            ([0xE1, 0x80, 0x41], 2),
            ([0xF1, 0x80, 0x80, 0x41], 3),
            // Autobahn 6.3.1: κόσμε then a surrogate, then more.
            ([0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64], 12),
            // Invalid after a long ASCII run (the word path must stop at it).
            (Array(repeating: 0x61, count: 37) + [0xFF] + Array(repeating: 0x61, count: 20), 37),
        ]

        @Test func acceptsValidUTF8() {
            for bytes in Self.valid {
                #expect(Self.isValid(bytes), "\(bytes)")
            }
        }

        @Test func rejectsInvalidUTF8AtTheFirstBadByte() {
            for (bytes, position) in Self.invalid {
                #expect(!Self.isValid(bytes), "\(bytes)")
                var validator = UTF8Validator()
                let found = bytes.withUnsafeBytes { validator.firstInvalidIndex(in: $0) }
                #expect(found == position, "\(bytes)")
                // Fail fast: the prefix before the bad byte is fine, the one through it is not.
                var prefix = UTF8Validator()
                #expect(Self.feed(&prefix, Array(bytes[..<position])))
                #expect(!Self.feed(&prefix, [bytes[position]]))
                #expect(prefix.hasFailed)
                #expect(!Self.feed(&prefix, [0x41]))  // and it stays failed
            }
        }

        @Test func incompleteSequencesAreValidSoFarButNotAtABoundary() {
            for bytes: [UInt8] in [[0xC2], [0xE2, 0x82], [0xF0, 0x9D, 0x84], [0x41, 0xF4]] {
                var validator = UTF8Validator()
                #expect(Self.feed(&validator, bytes))
                #expect(!validator.isAtCharacterBoundary)
            }
        }

        @Test func sequencesSplitAtEveryChunkBoundary() {
            let text = Array("a€𝄞ßκόσμε \u{10FFFF}\u{E000} end".utf8)
            for split in 0...text.count {
                var validator = UTF8Validator()
                #expect(Self.feed(&validator, Array(text[..<split])))
                #expect(Self.feed(&validator, Array(text[split...])))
                #expect(validator.isAtCharacterBoundary)
            }
            // An invalid sequence split across chunks fails in the chunk holding the bad byte.
            let surrogate: [UInt8] = [0x61, 0xED, 0xA0, 0x80]
            var validator = UTF8Validator()
            #expect(Self.feed(&validator, Array(surrogate[..<2])))
            #expect(!Self.feed(&validator, Array(surrogate[2...])))
        }

        /// Every code point's encoding is accepted; every one-byte change the reference (the
        /// standard library's decoder) rejects is rejected.
        @Test func agreesWithTheStandardLibraryOnAllTwoAndThreeByteInputs() {
            var disagreements = 0
            for first in 0xC0...0xFF {
                for second in 0x00...0xFF {
                    for third: Int in [0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC0] {
                        let bytes = [UInt8(first), UInt8(second), UInt8(third)]
                        let reference = String(validating: bytes, as: UTF8.self) != nil
                        if Self.isValid(bytes) != reference { disagreements += 1 }
                    }
                }
            }
            #expect(disagreements == 0)
            var allScalars: [UInt8] = []
            for value in stride(from: 0, through: 0x10FFFF, by: 7) {
                if let scalar = Unicode.Scalar(UInt32(value)) { allScalars += Array(String(scalar).utf8) }
            }
            #expect(Self.isValid(allScalars))
        }
    }
}
