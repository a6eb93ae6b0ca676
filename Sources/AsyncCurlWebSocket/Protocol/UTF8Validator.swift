/// Validates UTF-8 incrementally (RFC 3629), chunk by chunk, failing at the first invalid byte:
/// a text message is rejected at the frame that makes it invalid, not at its end.
///
/// A deterministic automaton with one table lookup per byte (one row of 256 next states for each
/// of its 9 states). It rejects overlong forms (C0, C1, E0 80–9F, F0 80–8F), surrogates
/// (ED A0–BF), code points over U+10FFFF (F4 90–BF, F5–FF) and stray or missing continuation
/// bytes. Runs of ASCII are skipped 16 bytes at a time.
///
/// At the end of a message, ``isAtCharacterBoundary`` must also be true: a chunk may end inside
/// a character, the message may not.
struct UTF8Validator: Sendable {
    /// 0: between characters. 1–3: that many continuation bytes (80–BF) still expected.
    /// 4: after E0 (A0–BF next). 5: after ED (80–9F). 6: after F0 (90–BF). 7: after F4 (80–8F).
    /// 8: rejected, forever.
    private var state: UInt8 = 0

    private static let accept: UInt8 = 0
    private static let reject: UInt8 = 8

    /// A validator at the start of a text.
    init() {}

    /// Whether all the bytes so far are valid and end on a character boundary.
    var isAtCharacterBoundary: Bool { state == Self.accept }

    /// Whether an invalid byte has been seen.
    var hasFailed: Bool { state == Self.reject }

    /// Starts over, for a new text.
    mutating func reset() { state = Self.accept }

    /// `transitions[state << 8 | byte]` is the next state.
    private static let transitions: [UInt8] = {
        var table = [UInt8](repeating: reject, count: 9 * 256)
        func set(_ state: Int, _ bytes: ClosedRange<Int>, _ next: UInt8) {
            for byte in bytes { table[state << 8 | byte] = next }
        }
        set(0, 0x00...0x7F, 0)
        set(0, 0xC2...0xDF, 1)
        set(0, 0xE0...0xE0, 4)
        set(0, 0xE1...0xEC, 2)
        set(0, 0xED...0xED, 5)
        set(0, 0xEE...0xEF, 2)
        set(0, 0xF0...0xF0, 6)
        set(0, 0xF1...0xF3, 3)
        set(0, 0xF4...0xF4, 7)
        set(1, 0x80...0xBF, 0)
        set(2, 0x80...0xBF, 1)
        set(3, 0x80...0xBF, 2)
        set(4, 0xA0...0xBF, 1)
        set(5, 0x80...0x9F, 1)
        set(6, 0x90...0xBF, 2)
        set(7, 0x80...0x8F, 2)
        return table
    }()

    /// Feeds the next bytes of the text; false as soon as they (with what came before) cannot
    /// be UTF-8, and from then on.
    mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        firstInvalidIndex(in: bytes) == nil && state != Self.reject
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
        let failed: Int? = Self.transitions.withUnsafeBufferPointer { table in
            while index < count {
                if state == 0 {
                    // ASCII fast path: 16, then 8 bytes at a time.
                    while index &+ 16 <= count {
                        let a = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                        let b = base.loadUnaligned(fromByteOffset: index &+ 8, as: UInt64.self)
                        guard (a | b) & highBits == 0 else { break }
                        index &+= 16
                    }
                    if index &+ 8 <= count && base.loadUnaligned(fromByteOffset: index, as: UInt64.self) & highBits == 0 {
                        index &+= 8
                        continue
                    }
                    if index == count { break }
                }
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                state = table[Int(state) &<< 8 | Int(byte)]
                if state == Self.reject { return index }
                index &+= 1
            }
            return nil
        }
        self.state = state
        return failed
    }
}
