import CCurl
import HTTPTypes

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
