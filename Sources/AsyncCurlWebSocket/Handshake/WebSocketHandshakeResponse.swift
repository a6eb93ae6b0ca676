/// The server's answer to the opening handshake: its status line and header fields, in the
/// order they came.
///
/// ``WebSocket/handshakeResponse`` holds the `101 Switching Protocols` of an open WebSocket;
/// ``WebSocketError/handshakeResponse`` holds any other answer, such as a `401` with its
/// `WWW-Authenticate` header.
public struct WebSocketHandshakeResponse: Sendable, Hashable {
    /// One header field as the server sent it.
    public struct HeaderField: Sendable, Hashable {
        /// The name, as the server spelled it.
        public var name: String
        /// The value, without surrounding whitespace.
        public var value: String

        /// Creates a header field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The HTTP status code: 101 when the server accepted the upgrade.
    public var statusCode: Int
    /// The status line's reason phrase, such as `Switching Protocols`.
    public var reasonPhrase: String
    /// Every header field, in order.
    public var headerFields: [HeaderField]

    /// Creates a response; mostly useful for tests.
    public init(statusCode: Int, reasonPhrase: String, headerFields: [HeaderField]) {
        self.statusCode = statusCode
        self.reasonPhrase = reasonPhrase
        self.headerFields = headerFields
    }

    /// The values of every field named `name` (case-insensitive), joined with `", "` as HTTP
    /// allows for list-valued fields; `nil` when there is none.
    public subscript(name: String) -> String? {
        let values = self.values(of: name)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// The values of every field named `name` (case-insensitive), in order.
    public func values(of name: String) -> [String] {
        let lowered = name.lowercased()
        return headerFields.filter { $0.name.lowercased() == lowered }.map(\.value)
    }

    /// Parses a response head: the status line and header lines, each ended by CRLF (a bare LF
    /// is accepted), up to and including the empty line.
    init(parsing head: [UInt8]) throws(WebSocketError) {
        var lines = head.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else {
            throw WebSocketError(code: .handshakeFailed, message: "the server's answer was empty")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]) else {
            throw WebSocketError(code: .handshakeFailed, message: "the server's answer is not HTTP/1.1: '\(statusLine.prefix(200))'")
        }
        statusCode = status
        reasonPhrase = parts.count > 2 ? String(parts[2]) : ""
        var fields: [HeaderField] = []
        for line in lines.dropFirst() {
            if line.first == " " || line.first == "\t" {
                // RFC 7230 obsolete line folding: part of the previous field's value.
                guard !fields.isEmpty else {
                    throw WebSocketError(code: .handshakeFailed, message: "the server's answer starts its headers with a folded line")
                }
                fields[fields.count - 1].value += " " + line.trimmingWhitespace()
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line[..<colon].contains(where: { $0 == " " || $0 == "\t" }) else {
                throw WebSocketError(code: .handshakeFailed, message: "the server's answer has a malformed header line: '\(line.prefix(200))'")
            }
            fields.append(HeaderField(name: String(line[..<colon]), value: String(line[line.index(after: colon)...]).trimmingWhitespace()))
        }
        headerFields = fields
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmingWhitespace() -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isWhitespace($0) }), let last = lastIndex(where: { !isWhitespace($0) }) else { return "" }
        return String(self[first...last])
    }

    /// Splits an HTTP list value (`a, b,c`) into its trimmed, non-empty elements.
    func httpListElements() -> [String] {
        split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    /// Whether this is an HTTP token (RFC 7230 §3.2.6): at least one tchar.
    var isHTTPToken: Bool {
        !isEmpty && utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
