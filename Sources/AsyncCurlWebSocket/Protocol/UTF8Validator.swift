/// Validates UTF-8 incrementally (RFC 3629), chunk by chunk, failing at the first invalid byte:
/// a text message is rejected at the frame that makes it invalid, not at its end.
///
/// A deterministic automaton of 9 states with one table lookup and a shift per byte. It rejects
/// overlong forms (C0, C1, E0 80–9F, F0 80–8F), surrogates (ED A0–BF), code points over
/// U+10FFFF (F4 90–BF, F5–FF) and stray or missing continuation bytes. Runs of ASCII are skipped
/// 16 bytes at a time.
///
/// At the end of a message, ``isAtCharacterBoundary`` must also be true: a chunk may end inside
/// a character, the message may not.
struct UTF8Validator: Sendable {
    /// The automaton's state, stored as a shift amount (state number × 6), which is what makes
    /// the transition a shift: `rows[byte] >> state & 63` (a "shift DFA": the table load depends
    /// only on the byte, so consecutive bytes do not wait on each other's loads).
    ///
    /// States: 0 rejected (forever); 1 between characters; 2–4: 1–3 continuation bytes (80–BF)
    /// still expected; 5: after E0 (A0–BF next); 6: after ED (80–9F); 7: after F0 (90–BF);
    /// 8: after F4 (80–8F).
    private var state: UInt64 = Self.accept

    private static let reject: UInt64 = 0
    private static let accept: UInt64 = 6

    /// A validator at the start of a text.
    init() {}

    /// Whether all the bytes so far are valid and end on a character boundary.
    var isAtCharacterBoundary: Bool { state == Self.accept }

    /// Whether an invalid byte has been seen.
    var hasFailed: Bool { state == Self.reject }

    /// Starts over, for a new text.
    mutating func reset() { state = Self.accept }

    /// `rows[byte]` holds, at bit offset *s* (a state), the next state from *s* on `byte`.
    private static let rows: [UInt64] = {
        var rows = [UInt64](repeating: 0, count: 256)
        func set(_ state: UInt64, _ bytes: ClosedRange<Int>, _ next: UInt64) {
            for byte in bytes { rows[byte] |= (next * 6) << (state * 6) }
        }
        set(1, 0x00...0x7F, 1)
        set(1, 0xC2...0xDF, 2)
        set(1, 0xE0...0xE0, 5)
        set(1, 0xE1...0xEC, 3)
        set(1, 0xED...0xED, 6)
        set(1, 0xEE...0xEF, 3)
        set(1, 0xF0...0xF0, 7)
        set(1, 0xF1...0xF3, 4)
        set(1, 0xF4...0xF4, 8)
        set(2, 0x80...0xBF, 1)
        set(3, 0x80...0xBF, 2)
        set(4, 0x80...0xBF, 3)
        set(5, 0xA0...0xBF, 2)
        set(6, 0x80...0x9F, 2)
        set(7, 0x90...0xBF, 3)
        set(8, 0x80...0x8F, 3)
        return rows
    }()

    /// Feeds the next bytes of the text; false as soon as they (with what came before) cannot
    /// be UTF-8, and from then on.
    mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        firstInvalidIndex(in: bytes) == nil
    }

    /// Feeds the next bytes of the text; false as soon as they cannot be UTF-8.
    mutating func validate(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Feeds the next bytes of the text, returning the offset in `bytes` of the first invalid
    /// byte, or `nil` if there is none (a validator that had already failed returns 0).
    mutating func firstInvalidIndex(in bytes: UnsafeRawBufferPointer) -> Int? {
        if state == Self.reject { return 0 }
        guard let base = bytes.baseAddress else { return nil }
        let count = bytes.count
        let highBits: UInt64 = 0x8080_8080_8080_8080
        var state = self.state
        var index = 0
        let failed: Int? = Self.rows.withUnsafeBufferPointer { rows in
            while index < count {
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                if byte < 0x80 && state == Self.accept {
                    // ASCII between characters: skip 16 bytes at a time while all are ASCII.
                    index &+= 1
                    while index &+ 16 <= count {
                        let a = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                        let b = base.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
                        guard (a | b) & highBits == 0 else { break }
                        index &+= 16
                    }
                    continue
                }
                // Non-ASCII: run the automaton until the end or a rejection; reject is absorbing
                // so it is checked once per character (when back between characters) and at the end.
                state = rows[Int(byte)] &>> state & 63
                index &+= 1
                while index < count && state != Self.accept && state != Self.reject {
                    state = rows[Int(base.load(fromByteOffset: index, as: UInt8.self))] &>> state & 63
                    index &+= 1
                }
                if state == Self.reject { return index &- 1 }
            }
            return nil
        }
        self.state = state
        return failed
    }
}
