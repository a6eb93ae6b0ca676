/// The parsed value of `Sec-WebSocket-Extensions` headers (RFC 6455 §9.1, RFC 7230 §3.2.6):
///
///     extension-list = 1#extension
///     extension      = token *( OWS ";" OWS token [ "=" ( token / quoted-string ) ] )
///
/// Extensions are separated by commas (several header lines are the same as one joined with
/// commas); empty list elements are skipped (RFC 7230 §7). Names are lowercased (they compare
/// case-insensitively); quoted-string values are unescaped.
struct WebSocketExtensionHeader: Hashable, Sendable {
    /// One extension and its parameters, in order (duplicates kept, for the caller to judge).
    struct Extension: Hashable, Sendable {
        var name: String
        var parameters: [(name: String, value: String?)]

        static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.name == rhs.name && lhs.parameters.elementsEqual(rhs.parameters) { $0.name == $1.name && $0.value == $1.value }
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(name)
            for parameter in parameters {
                hasher.combine(parameter.name)
                hasher.combine(parameter.value)
            }
        }
    }

    /// What is wrong with a header value.
    struct SyntaxError: Error, Hashable, Sendable {
        var message: String
    }

    /// The extensions, in order.
    var extensions: [Extension]

    /// Parses one header value, or several header lines' values.
    init(parsing values: [String]) throws(SyntaxError) {
        extensions = []
        for value in values {
            var parser = Parser(Array(value.utf8))
            try parser.parseList(into: &extensions)
        }
    }

    /// Parses one header value.
    init(parsing value: String) throws(SyntaxError) {
        try self.init(parsing: [value])
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
        static func isTokenCharacter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 { index += 1 }
        }

        mutating func expect(_ what: String) -> SyntaxError {
            SyntaxError(message: "expected \(what) at offset \(index) of the Sec-WebSocket-Extensions value")
        }

        mutating func token() throws(SyntaxError) -> String {
            let start = index
            while let byte = current, Self.isTokenCharacter(byte) { index += 1 }
            guard index > start else { throw expect("a token") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func quotedString() throws(SyntaxError) -> String {
            index += 1  // the opening quote
            var value: [UInt8] = []
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: value, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { throw expect("a character after \\") }
                    value.append(escaped)
                    index += 1
                default:
                    value.append(byte)
                }
            }
            throw expect("a closing quote")
        }

        mutating func parseList(into extensions: inout [Extension]) throws(SyntaxError) {
            while true {
                skipWhitespace()
                guard let byte = current else { return }
                if byte == UInt8(ascii: ",") {
                    index += 1  // an empty list element
                    continue
                }
                var element = Extension(name: try token().lowercased(), parameters: [])
                while true {
                    skipWhitespace()
                    guard current == UInt8(ascii: ";") else { break }
                    index += 1
                    skipWhitespace()
                    let name = try token().lowercased()
                    skipWhitespace()
                    var value: String?
                    if current == UInt8(ascii: "=") {
                        index += 1
                        skipWhitespace()
                        value = current == UInt8(ascii: "\"") ? try quotedString() : try token()
                    }
                    element.parameters.append((name, value))
                }
                extensions.append(element)
                skipWhitespace()
                guard let next = current else { return }
                guard next == UInt8(ascii: ",") else { throw expect("',' or ';'") }
                index += 1
            }
        }
    }
}
