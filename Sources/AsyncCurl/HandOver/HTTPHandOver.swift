import CCurl

/// An HTTP/1.1 request for ``CurlMulti/connect(to:after:options:)``: libcurl sends it, reads
/// the response, and then hands the same connection over for raw bytes.
public struct HTTPRequest: Sendable, Hashable {
    /// The method, such as `"GET"`, `"POST"` or `"OPTIONS"`. Default `"GET"`.
    public var method: String
    /// Extra header fields, sent in order. libcurl adds `Host` (and `Content-Length` for a body);
    /// a field given here replaces libcurl's own, and one with an empty value removes it.
    public var headers: [HTTPHeaderField]
    /// The request body, or `nil` for none.
    public var body: [UInt8]?

    /// A request; by default a `GET` with no extra headers and no body.
    public init(method: String = "GET", headers: [HTTPHeaderField] = [], body: [UInt8]? = nil) {
        self.method = method
        self.headers = headers
        self.body = body
    }
}

/// One HTTP header field.
public struct HTTPHeaderField: Sendable, Hashable, CustomStringConvertible {
    /// The field name, as sent or received.
    public var name: String
    /// The field value, without surrounding white space.
    public var value: String

    /// A header field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name): \(value)" }
}

/// The response libcurl read before handing the connection over.
public struct HTTPResponse: Sendable, Hashable {
    /// The status code, such as 200 or 101.
    public var status: Int
    /// The status line as received, such as `"HTTP/1.1 200 OK"`.
    public var statusLine: String
    /// The header fields, in the order received.
    public var headers: [HTTPHeaderField]
    /// The body bytes libcurl read. libcurl 7.88.1 reads the whole body (by `Content-Length` or
    /// chunked encoding) before handing over; a libcurl that hands over after the headers leaves
    /// the body on the connection instead, and this is empty.
    public var body: [UInt8]

    /// Creates a response; mostly for tests.
    public init(status: Int, statusLine: String, headers: [HTTPHeaderField], body: [UInt8]) {
        self.status = status
        self.statusLine = statusLine
        self.headers = headers
        self.body = body
    }

    /// The value of the first header field named `name` (case-insensitive), if any.
    public func value(forHeader name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name.lowercased() == name }?.value
    }
}

/// The result of ``CurlMulti/connect(to:after:options:)``: the HTTP response and the connection
/// it arrived on, now raw and yours.
public struct HTTPHandOver: Sendable {
    /// The response to the request.
    public var response: HTTPResponse
    /// The connection the response came on, for whatever protocol comes next.
    public var connection: AsyncConnection
}

/// The server answered but did not keep the connection open (`Connection: close`, HTTP/1.0, or
/// it closed after the response), so there is nothing to hand over. Carries the response.
public struct HTTPHandOverError: Error, Sendable, CustomStringConvertible {
    /// What the server answered before it closed the connection.
    public var response: HTTPResponse

    public var description: String {
        "HTTPHandOverError: the server closed the connection after answering '\(response.statusLine)'; there is no connection to hand over"
    }
}

/// Collects what libcurl reads during a hand-over request: header lines and body bytes.
/// Owned by the connection's record; libcurl holds an unretained pointer to it meanwhile.
final class HTTPExchange {
    var headerLines: [String] = []
    var body: [UInt8] = []

    /// The response made of the lines after the last status line: proxy replies and interim
    /// `1xx` responses come before it.
    var response: HTTPResponse {
        let start = headerLines.lastIndex { $0.hasPrefix("HTTP/") } ?? headerLines.endIndex
        guard start < headerLines.endIndex else {
            return HTTPResponse(status: 0, statusLine: "", headers: [], body: body)
        }
        let statusLine = headerLines[start]
        let statusField = statusLine.split(separator: " ", maxSplits: 2).dropFirst().first
        var headers: [HTTPHeaderField] = []
        for line in headerLines[(start + 1)...] where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingSpaces
            headers.append(HTTPHeaderField(name: name, value: value))
        }
        return HTTPResponse(status: statusField.flatMap { Int($0) } ?? 0, statusLine: statusLine,
                            headers: headers, body: body)
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// `CURLOPT_HEADERFUNCTION`: one header line per call, with its line ending.
let curlHeaderCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    var line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    while line.last?.isNewline == true { line.removeLast() }
    Unmanaged<HTTPExchange>.fromOpaque(userdata).takeUnretainedValue().headerLines.append(line)
    return length
}

/// `CURLOPT_WRITEFUNCTION`: body bytes.
let curlBodyCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    Unmanaged<HTTPExchange>.fromOpaque(userdata).takeUnretainedValue().body
        .append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}

/// What the loaded libcurl can do, read once at run time (`curl_version_info`).
enum LoadedCurl {
    static let versionNumber: Int = Int(curl_version_info(CURLVERSION_TENTH).pointee.version_num)

    static var version: String {
        "\(versionNumber >> 16).\((versionNumber >> 8) & 0xff).\(versionNumber & 0xff)"
    }

    /// `CURLOPT_CONNECT_ONLY = 2` exists since libcurl 7.86.0.
    static var supportsHTTPHandOver: Bool { versionNumber >= 0x07_56_00 }
}
