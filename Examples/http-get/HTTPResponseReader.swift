import AsyncCurl

/// A malformed or truncated HTTP response.
struct HTTPError: Error, CustomStringConvertible {
    let message: String

    var description: String { message }
}

/// An HTTP/1.1 response head: status line and header fields.
struct ResponseHead {
    var statusLine: String
    var statusCode: Int
    var headers: [(name: String, value: String)]

    /// The value of the first header called `name` (case-insensitively), if any.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Reads an HTTP/1.1 response from an ``AsyncConnection``.
///
/// `receive()` returns whatever TCP delivered, so the head is parsed out of a read buffer that is
/// refilled when a line is incomplete. The body is then handed to a closure in pieces, whatever
/// its framing (`Content-Length`, `chunked`, or up to the end of the stream), and never held in
/// memory as a whole.
final class HTTPResponseReader {
    let connection: AsyncConnection

    /// Received bytes not consumed yet: `buffer[readIndex...]`.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var sawEndOfStream = false

    private static let maximumLineLength = 16 * 1024
    private static let maximumHeaderCount = 200

    init(_ connection: AsyncConnection) {
        self.connection = connection
    }

    // MARK: Head

    /// Reads the status line and header fields, skipping interim `1xx` responses.
    func readHead() async throws -> ResponseHead {
        while true {
            guard let statusLine = try await readLine() else {
                throw HTTPError(message: "the server closed the connection without a response")
            }
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let code = Int(parts[1]) else {
                throw HTTPError(message: "not an HTTP/1.x status line: \(statusLine.debugDescription)")
            }
            var headers: [(name: String, value: String)] = []
            while true {
                guard let line = try await readLine() else {
                    throw HTTPError(message: "the server closed the connection in the middle of the headers")
                }
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                    throw HTTPError(message: "malformed header line \(line.debugDescription)")
                }
                let name = String(line[..<colon])
                let value = line[line.index(after: colon)...].trimmingSpaces()
                headers.append((name, value))
                guard headers.count <= Self.maximumHeaderCount else {
                    throw HTTPError(message: "more than \(Self.maximumHeaderCount) header fields")
                }
            }
            if (100...199).contains(code) && code != 101 { continue }  // 100 Continue and friends.
            return ResponseHead(statusLine: statusLine, statusCode: code, headers: headers)
        }
    }

    // MARK: Body

    /// How the body of a response to a GET is delimited (RFC 9112, section 6.3).
    enum Framing: CustomStringConvertible {
        case none
        case contentLength(Int)
        case chunked
        case untilClose

        var description: String {
            switch self {
            case .none: return "no body"
            case .contentLength(let length): return "Content-Length: \(length)"
            case .chunked: return "Transfer-Encoding: chunked"
            case .untilClose: return "read until the server closed the connection"
            }
        }
    }

    static func framing(of head: ResponseHead) throws -> Framing {
        if head.statusCode == 204 || head.statusCode == 304 || (100...199).contains(head.statusCode) {
            return .none
        }
        if let encoding = head.header("Transfer-Encoding") {
            let last = encoding.split(separator: ",").last.map { String($0).trimmingSpaces().lowercased() }
            return last == "chunked" ? .chunked : .untilClose
        }
        if let lengthText = head.header("Content-Length") {
            guard let length = Int(lengthText), length >= 0 else {
                throw HTTPError(message: "bad Content-Length \(lengthText.debugDescription)")
            }
            return .contentLength(length)
        }
        return .untilClose
    }

    /// Reads the body, giving each piece to `consume` as it arrives; returns its size in bytes.
    func readBody(_ framing: Framing, _ consume: (ArraySlice<UInt8>) throws -> Void) async throws -> Int {
        switch framing {
        case .none:
            return 0
        case .contentLength(let length):
            try await readExactly(length, consume)
            return length
        case .chunked:
            var total = 0
            while true {
                guard let sizeLine = try await readLine() else {
                    throw HTTPError(message: "the server closed the connection before the last chunk")
                }
                let sizeText = sizeLine.prefix { $0 != ";" }.trimmingSpaces()
                guard let size = Int(sizeText, radix: 16), size >= 0 else {
                    throw HTTPError(message: "bad chunk size line \(sizeLine.debugDescription)")
                }
                if size == 0 { break }
                try await readExactly(size, consume)
                total += size
                guard try await readLine() == "" else {
                    throw HTTPError(message: "a chunk of \(size) bytes is not followed by CRLF")
                }
            }
            // Trailer fields, up to the empty line.
            while let line = try await readLine(), !line.isEmpty {}
            return total
        case .untilClose:
            var total = 0
            while let piece = try await nextPiece(maxLength: 65536) {
                try consume(piece)
                total += piece.count
            }
            return total
        }
    }

    // MARK: Buffering

    /// The next line without its line ending (`\r\n`, or a bare `\n`), or `nil` at the end of
    /// the stream when nothing of a line was received.
    private func readLine() async throws -> String? {
        var searchFrom = readIndex
        while true {
            if let newline = buffer[searchFrom...].firstIndex(of: 10) {
                var end = newline
                if end > readIndex && buffer[end - 1] == 13 { end -= 1 }
                let line = String(decoding: buffer[readIndex..<end], as: UTF8.self)
                readIndex = newline + 1
                return line
            }
            guard buffer.count - readIndex <= Self.maximumLineLength else {
                throw HTTPError(message: "a line longer than \(Self.maximumLineLength) bytes")
            }
            let parsed = readIndex
            searchFrom = buffer.count
            guard try await fill() else {
                if buffer.count > readIndex {
                    throw HTTPError(message: "the server closed the connection in the middle of a line")
                }
                return nil
            }
            searchFrom -= parsed  // fill() dropped the parsed bytes in front.
        }
    }

    /// Exactly `count` bytes, handed to `consume` piece by piece.
    private func readExactly(_ count: Int, _ consume: (ArraySlice<UInt8>) throws -> Void) async throws {
        var remaining = count
        while remaining > 0 {
            guard let piece = try await nextPiece(maxLength: min(remaining, 65536)) else {
                throw HTTPError(message: "the server closed the connection after \(count - remaining) of \(count) body bytes")
            }
            try consume(piece)
            remaining -= piece.count
        }
    }

    /// Buffered bytes first, then straight from the connection; `nil` at the end of the stream.
    private func nextPiece(maxLength: Int) async throws -> ArraySlice<UInt8>? {
        if readIndex < buffer.count {
            let end = min(buffer.count, readIndex + maxLength)
            let piece = buffer[readIndex..<end]
            readIndex = end
            return piece
        }
        guard !sawEndOfStream, let chunk = try await connection.receive(maxLength: maxLength) else {
            sawEndOfStream = true
            return nil
        }
        return chunk[...]
    }

    /// Appends one `receive()` to the buffer after dropping the consumed bytes; `false` at the
    /// end of the stream.
    private func fill() async throws -> Bool {
        if readIndex > 0 {
            buffer.removeSubrange(..<readIndex)
            readIndex = 0
        }
        guard !sawEndOfStream, let chunk = try await connection.receive() else {
            sawEndOfStream = true
            return false
        }
        buffer.append(contentsOf: chunk)
        return true
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
