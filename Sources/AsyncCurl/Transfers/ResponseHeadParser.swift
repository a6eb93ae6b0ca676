import HTTPTypes

/// Builds `HTTPResponse`s from the header lines libcurl's header callback delivers: a status
/// line, field lines and an empty line per response (interim 1xx responses, redirects and
/// authentication rounds each give a block), then, after a chunked or HTTP/2 body, the trailer
/// fields. A value type, tested without a socket.
///
/// Nothing here traps on what a server sends: a status line that does not parse leaves the
/// block without a status, field names that are not tokens are dropped (and counted), and
/// field values are legalized by `HTTPField` (bytes it does not allow become spaces).
struct ResponseHeadParser {
    enum Event: Equatable {
        /// Nothing complete yet.
        case none
        /// A response's head ended (its empty line).
        case head(HTTPResponse)
        /// The trailer section ended.
        case trailers(HTTPFields)
    }

    private var status: HTTPResponse.Status?
    private var fields = HTTPFields()
    /// The last field, kept for obsolete line folding (a line starting with a space or tab).
    private var lastField: HTTPField?
    /// Set once the final head has been handed out: later lines are trailers.
    private var readingTrailers = false
    /// Field lines dropped because their name is not a token.
    private(set) var droppedFieldCount = 0

    /// The last complete head, whatever its status (interim ones excepted).
    private(set) var lastHead: HTTPResponse?

    /// From now on, field lines are trailers (the final head was handed to the consumer).
    mutating func startTrailers() {
        readingTrailers = true
        status = nil
        fields = HTTPFields()
        lastField = nil
    }

    /// One line as libcurl delivers it, with its CRLF.
    mutating func feed(_ line: UnsafeRawBufferPointer) -> Event {
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let content = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if content.isEmpty { return blockEnded() }
        if !readingTrailers, status == nil, let parsed = Self.statusLine(content) {
            status = parsed
            fields = HTTPFields()
            lastField = nil
            return .none
        }
        if content.first == UInt8(ascii: " ") || content.first == UInt8(ascii: "\t") {
            fold(content)
            return .none
        }
        flushLastField()
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")),
              let name = HTTPField.Name(String(decoding: content[..<colon], as: UTF8.self)) else {
            droppedFieldCount += 1
            return .none
        }
        var valueStart = colon + 1
        var valueEnd = content.count
        while valueStart < valueEnd, content[valueStart] == UInt8(ascii: " ") || content[valueStart] == UInt8(ascii: "\t") { valueStart += 1 }
        while valueEnd > valueStart, content[valueEnd - 1] == UInt8(ascii: " ") || content[valueEnd - 1] == UInt8(ascii: "\t") { valueEnd -= 1 }
        lastField = HTTPField(name: name, value: content[valueStart..<valueEnd])
        return .none
    }

    private mutating func fold(_ content: UnsafeRawBufferPointer) {
        guard let field = lastField else {
            droppedFieldCount += 1
            return
        }
        // The raw bytes: `value` would turn obs-text (bytes that are not UTF-8) into U+FFFD.
        var bytes = field.withUnsafeBytesOfValue { Array($0) }
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: content.drop(while: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }))
        lastField = HTTPField(name: field.name, value: bytes)
    }

    private mutating func flushLastField() {
        if let field = lastField {
            fields.append(field)
            lastField = nil
        }
    }

    private mutating func blockEnded() -> Event {
        flushLastField()
        defer {
            status = nil
            fields = HTTPFields()
        }
        if readingTrailers { return .trailers(fields) }
        guard let status else { return .none }
        let head = HTTPResponse(status: status, headerFields: fields)
        if status.kind != .informational { lastHead = head }
        return .head(head)
    }

    /// `HTTP/1.1 200 OK`, `HTTP/2 200`: the status, or `nil` if the line is not a status line.
    static func statusLine(_ line: UnsafeRawBufferPointer) -> HTTPResponse.Status? {
        let http = Array("HTTP/".utf8)
        guard line.count >= http.count + 4, line.prefix(http.count).elementsEqual(http),
              let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        var index = space
        while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
        var code = 0
        var digits = 0
        while index < line.count, digits < 4, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[index]) {
            code = code * 10 + Int(line[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        guard digits == 3, index == line.count || line[index] == UInt8(ascii: " ") else { return nil }
        while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
        let reason = String(decoding: line[index...], as: UTF8.self)
        // Three digits: always inside the 0...999 that HTTPResponse.Status requires.
        return HTTPResponse.Status(code: code, reasonPhrase: reason)
    }
}
