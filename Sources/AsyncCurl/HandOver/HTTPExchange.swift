import HTTPTypes

/// Collects what libcurl reads during a hand-over request: header lines and body bytes.
/// Owned by the connection's record; libcurl holds an unretained pointer to it meanwhile.
final class HTTPExchange {
    /// The header lines libcurl delivered, as received but without their line endings.
    var headerLines: [[UInt8]] = []
    var body: [UInt8] = []

    /// The response made of the lines after the last status line: proxy replies and interim
    /// `1xx` responses come before it.
    var response: HTTPResponse { Self.response(from: headerLines) }

    /// The most fields an `HTTPFields` holds: it traps when it would hold `UInt16.max`.
    static let maximumFieldCount = Int(UInt16.max) - 1

    private static let statusLinePrefix = Array("HTTP/".utf8)
    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")
    private static let colon = UInt8(ascii: ":")

    /// The response of the last status line in `lines` and the field lines after it. Never traps
    /// on what a server sent (see ``CurlMulti/connect(to:after:body:options:)``):
    ///
    /// - A status line without a three-digit status code gives code 0, with the rest of the line
    ///   (after the HTTP version) as the reason phrase; no status line at all gives code 0 and no
    ///   fields.
    /// - A line with no colon, or whose name is not an RFC 9110 token (such as `"Bad Name: x"`),
    ///   is left out, and so are the continuation lines (obsolete line folding) that follow it.
    /// - A continuation line, which starts with a space or tab, is joined to the field before it
    ///   with one space.
    /// - Values keep their bytes; HTTPTypes turns control characters into spaces and drops
    ///   leading and trailing white space.
    /// - Fields past ``maximumFieldCount`` are left out.
    static func response(from lines: [[UInt8]]) -> HTTPResponse {
        guard let start = lines.lastIndex(where: { $0.starts(with: statusLinePrefix) }) else {
            return HTTPResponse(status: HTTPResponse.Status(code: 0))
        }
        var fields = HTTPFields()
        // Whether the last field line was kept, so that a continuation line has a field to join.
        var lastLineKept = false
        for line in lines[(start + 1)...] where !line.isEmpty {
            if line[0] == space || line[0] == tab {
                if lastLineKept, let last = fields.indices.last {
                    let previous = fields[last].withUnsafeBytesOfValue { Array($0) }
                    let continuation = line.drop { $0 == space || $0 == tab }
                    fields[last] = HTTPField(name: fields[last].name, value: previous + [space] + continuation)
                }
                continue
            }
            lastLineKept = false
            guard fields.count < maximumFieldCount, let colonIndex = line.firstIndex(of: colon),
                  let name = HTTPField.Name(String(decoding: line[..<colonIndex], as: UTF8.self)) else {
                continue
            }
            fields.append(HTTPField(name: name, value: line[(colonIndex + 1)...]))
            lastLineKept = true
        }
        return HTTPResponse(status: status(of: lines[start]), headerFields: fields)
    }

    /// The status of `HTTP-version SP status-code SP [reason-phrase]`; the reason phrase is
    /// read as ISO Latin 1, as HTTPTypes asks.
    static func status(of line: [UInt8]) -> HTTPResponse.Status {
        let parts = line.split(separator: space, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return HTTPResponse.Status(code: 0) }
        let digits = parts[1]
        guard digits.count == 3, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            let rest = line[(parts[0].endIndex + 1)...]
            return HTTPResponse.Status(code: 0, reasonPhrase: latin1(rest))
        }
        // Three decimal digits: 0...999, as HTTPResponse.Status requires.
        let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return HTTPResponse.Status(code: code, reasonPhrase: parts.count == 3 ? latin1(parts[2]) : "")
    }

    private static func latin1(_ bytes: ArraySlice<UInt8>) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}
