import CCurl
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The result of ``CurlMulti/connect(to:after:body:options:)``: the HTTP response, the body bytes
/// libcurl read with it, and the connection it arrived on, now raw and yours.
///
/// The response is swift-http-types' `HTTPResponse`, made of the header lines libcurl
/// received; see ``CurlMulti/connect(to:after:body:options:)`` for how they are read.
public struct HTTPHandOver: Sendable {
    /// The response to the request: its status (code and reason phrase) and header fields.
    public var response: HTTPResponse
    /// The response body bytes libcurl read before handing over. libcurl 7.88.1 reads the whole
    /// body (by `Content-Length` or chunked encoding) first; a libcurl that hands over after
    /// the header section leaves the body on the connection instead, and this is empty.
    public var body: [UInt8]
    /// The connection the response came on, for whatever protocol comes next.
    public var connection: AsyncConnection
}

/// The server answered but did not keep the connection open (`Connection: close`, HTTP/1.0, or
/// it closed after the response), so there is nothing to hand over. Carries the response and
/// its body.
public struct HTTPHandOverError: Error, Sendable, CustomStringConvertible {
    /// What the server answered before it closed the connection.
    public var response: HTTPResponse
    /// The response body bytes libcurl read.
    public var body: [UInt8]

    /// What the exchange read.
    init(_ exchange: HTTPExchange) {
        response = exchange.response
        body = exchange.body
    }

    public var description: String {
        "HTTPHandOverError: the server closed the connection after answering '\(response.status)'; there is no connection to hand over"
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// What the loaded libcurl can do, read once at run time (`curl_version_info`).
enum LoadedCurl {
    static let versionNumber: Int = Int(curl_version_info(CURLVERSION_TENTH).pointee.version_num)

    static var version: String {
        "\(versionNumber >> 16).\((versionNumber >> 8) & 0xff).\(versionNumber & 0xff)"
    }

    /// `CURLOPT_CONNECT_ONLY = 2` exists since libcurl 7.86.0.
    static var supportsHTTPHandOver: Bool { versionNumber >= 0x07_56_00 }

    /// libcurl 7.88.0 to 7.88.1 cannot reuse an HTTP/2 prior-knowledge (h2c) connection
    /// (curl#10634, fixed in 8.0.0).
    static var reusesPriorKnowledgeHTTP2: Bool { versionNumber < 0x07_58_00 || versionNumber >= 0x08_00_00 }

    /// Whether the libcurl's built-in default CA bundle (`CURLOPT_CAINFO`'s default, Debian's
    /// `/etc/ssl/certs/ca-certificates.crt`) is there to read: only then may a connection without
    /// ``TLSOptions/caFile`` drop the default CA directory (see ``TLSOptions/caDirectory``).
    static let hasDefaultCAFile: Bool = {
        let info = curl_version_info(CURLVERSION_TENTH).pointee
        // `cainfo` exists in the struct from CURLVERSION_SEVENTH (libcurl 7.70.0) on.
        guard info.age.rawValue >= CURLVERSION_SEVENTH.rawValue, let path = info.cainfo else { return false }
        return access(path, R_OK) == 0
    }()
}
