import HTTPTypes

extension CurlMulti {
    /// Sends an HTTP/1.1 request with libcurl, reads the response, and then hands the same
    /// connection over for raw bytes (`CURLOPT_CONNECT_ONLY = 2`).
    ///
    /// Use it to authenticate or upgrade with HTTP and then speak another protocol on the same
    /// TCP or TLS connection, or to send further raw (pipelined) HTTP requests. libcurl does the
    /// proxy, TLS and HTTP work, with everything ``ConnectionOptions`` offers. The request and
    /// the response are swift-http-types' `HTTPRequest` and `HTTPResponse` (`import HTTPTypes`).
    ///
    /// ```swift
    /// import HTTPTypes
    ///
    /// let request = HTTPRequest(method: .post, scheme: nil, authority: nil, path: nil,
    ///                           headerFields: [.authorization: "Bearer \(token)"])
    /// let handOver = try await multi.connect(to: "https://service.internal:8443/session", after: request,
    ///                                        body: Array("{}".utf8))
    /// guard handOver.response.status == .ok else { … }
    /// try await handOver.connection.send("SUBSCRIBE prices\n")
    /// ```
    ///
    /// **The request.** `url` decides where the request goes and its request target: the
    /// request's `scheme`, `authority` and `path` (and `extendedConnectProtocol`) are not used,
    /// so they may be `nil`. Its `method` is sent as written (methods are case-sensitive), and
    /// its `headerFields` in order, after libcurl's own `Host` (and `Content-Length` with a
    /// body); a field named like one of libcurl's own replaces it, and one with an empty value
    /// removes it (so no field can be sent with an empty value). `HTTPFields` accepts RFC 9110
    /// field names only and turns CR, LF and NUL in a value into spaces.
    ///
    /// **The response.** It is made of the header lines libcurl delivers, after the last status
    /// line (interim `1xx` responses and a proxy's `CONNECT` reply come before it), and never
    /// traps on what the server sent:
    /// - The status is the status line's three-digit code and its reason phrase (read as
    ///   ISO Latin 1). A status line without a three-digit code gives code 0, with the rest of the
    ///   line as the reason phrase.
    /// - Header fields are in the order received, names spelled as received. A line with no
    ///   colon, or whose name is not an RFC 9110 token, is left out, with the continuation lines
    ///   (obsolete line folding) that follow it; a continuation line of a kept field is joined to
    ///   its value with one space. Values keep their bytes, except that control characters become
    ///   spaces and leading and trailing white space is dropped (as `HTTPField` does). Fields
    ///   past the 65,534 an `HTTPFields` holds are left out. The trailer fields of a chunked
    ///   body, which libcurl 7.88.1 also reads, come after the header fields.
    ///
    /// - Parameters:
    ///   - url: An `http://` or `https://` URL: where to connect, and the request target.
    ///   - request: The method and header fields to send.
    ///   - body: The request body, or `nil` for none. A `GET` with a body goes out as a `GET`.
    ///   - options: How to set up the connection.
    /// - Returns: The response, the body bytes read with it, and the open connection.
    /// - Important: libcurl 7.88.1 reads the whole response body before handing over (it is in
    ///   ``HTTPHandOver/body``), so the server must keep the connection open after the response
    ///   (HTTP/1.1 keep-alive). If it closes it, this throws ``HTTPHandOverError`` with the
    ///   response. The body is read into memory, not streamed. Only `http://` and `https://`
    ///   URLs are accepted; the request is always HTTP/1.1.
    /// - Throws: ``HTTPHandOverError`` when the server closed the connection after answering;
    ///   ``CurlError`` for URL, connection, proxy and TLS failures, and with
    ///   ``CurlError/Code/notBuiltIn`` when the loaded libcurl is older than 7.86.0;
    ///   `CancellationError` when cancelled.
    public nonisolated func connect(to url: String, after request: HTTPRequest, body: [UInt8]? = nil,
                                    options: ConnectionOptions = ConnectionOptions()) async throws -> HTTPHandOver {
        let target = try ConnectionTarget(parsing: url)
        guard target.isHTTP else {
            throw CurlError(code: .unsupportedProtocol, message: "'\(url)': an HTTP hand-over needs an http:// or https:// URL")
        }
        guard LoadedCurl.supportsHTTPHandOver else {
            throw CurlError(code: .notBuiltIn, message: "the loaded libcurl \(LoadedCurl.version) cannot hand over a connection after HTTP; 7.86.0 or newer is needed")
        }
        try Task.checkCancellation()
        let turn = try await setUpTurns.enter(timeout: options.connectTimeout)
        defer { setUpTurns.leave(turn.token) }
        let record = try prepareConnection(to: target, options: try options.afterWaitingForATurn(turn.waited),
                                           handOver: (request, body))
        return try await handOver(record)
    }

    /// Sets up a prepared HTTP hand-over and returns the response with the open connection.
    private func handOver(_ record: ConnectionRecord) async throws -> HTTPHandOver {
        let info = try await establish(record)
        let connection = AsyncConnection(multi: self, record: record, info: info)
        let exchange = record.exchange?.takeUnretainedValue()
        return HTTPHandOver(response: exchange?.response ?? HTTPResponse(status: HTTPResponse.Status(code: 0)),
                            body: exchange?.body ?? [], connection: connection)
    }
}
