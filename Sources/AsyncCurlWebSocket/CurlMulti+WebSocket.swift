import AsyncCurl

extension CurlMulti {
    /// Opens a WebSocket: libcurl sets up the connection (DNS, proxies, TLS) as `options` say,
    /// then the client runs RFC 6455's opening handshake on it.
    ///
    /// ```swift
    /// var options = ConnectionOptions()
    /// options.proxy = "http://proxy.internal:3128"
    /// options.proxyUsername = "svc"
    /// options.proxyPassword = secret
    /// var configuration = WebSocketConfiguration()
    /// configuration.compression = .permessageDeflate
    /// let socket = try await CurlMulti.shared.webSocket(to: "wss://stream.example.com/v1?x=1",
    ///                                                    options: options, configuration: configuration)
    /// ```
    ///
    /// `ws://` is plain TCP, `wss://` is TLS verified for the URL's host with `ConnectionOptions/tls`.
    /// Through an HTTP or HTTPS proxy the connection is a `CONNECT` tunnel, so the proxy never sees
    /// the upgrade request; SOCKS proxies work as for any connection.
    ///
    /// - Parameters:
    ///   - url: `ws://host[:port]/path?query` or `wss://…`; no fragment, no credentials.
    ///   - options: How the connection is set up; `ConnectionOptions/connectTimeout` covers the
    ///     set-up, ``WebSocketConfiguration/handshakeTimeout`` the upgrade after it.
    ///   - configuration: Sub-protocols, extensions, headers, limits and keep-alive.
    /// - Throws: ``WebSocketError`` (``WebSocketError/Code/invalidURL`` and
    ///   ``WebSocketError/Code/invalidArgument`` before any I/O,
    ///   ``WebSocketError/Code/handshakeFailed`` with the server's answer), the set-up's
    ///   `CurlError`, or `CancellationError`. Nothing stays open after a failure.
    public nonisolated func webSocket(to url: String, options: ConnectionOptions = ConnectionOptions(),
                                      configuration: WebSocketConfiguration = WebSocketConfiguration()) async throws -> WebSocket {
        let target = try WebSocketURL(parsing: url)
        let handshake = try OpeningHandshake(url: target, configuration: configuration)
        guard configuration.maximumFrameSize > 0, configuration.maximumMessageSize > 0 else {
            throw WebSocketError(code: .invalidArgument, message: "maximumFrameSize and maximumMessageSize must be positive")
        }
        let connection = try await connect(to: target.connectionURL, options: options)
        do {
            try await connection.send(handshake.request, timeout: configuration.handshakeTimeout)
            // The head ends with an empty line; bytes after it (the server may send frames at
            // once) stay in the connection for the frame decoder.
            guard let head = try await connection.receive(through: Array("\r\n\r\n".utf8), maxLength: 64 * 1024,
                                                          timeout: configuration.handshakeTimeout) else {
                throw WebSocketError(code: .handshakeFailed, message: "the server closed the connection without answering the upgrade request")
            }
            let response = try WebSocketHandshakeResponse(parsing: head)
            let agreement = try handshake.check(response)
            var deflater: Deflater?
            var inflater: Inflater?
            if let deflate = agreement.deflate {
                deflater = deflate.makeDeflater(compressionLevel: configuration.compression?.compressionLevel ?? 6)
                inflater = deflate.makeInflater()
                guard deflater != nil, inflater != nil else {
                    throw WebSocketError(code: .handshakeFailed, message: "zlib could not allocate the permessage-deflate state")
                }
            }
            return WebSocket(connection: connection, configuration: configuration, response: response, agreement: agreement,
                             deflater: deflater, inflater: inflater)
        } catch let error as ConnectionError where error.code == .delimiterNotFound {
            await connection.close()
            throw WebSocketError(code: .handshakeFailed, message: "the server's answer to the upgrade request has no end within 64 KiB")
        } catch let error as ConnectionError where error.code == .unexpectedEndOfStream {
            await connection.close()
            throw WebSocketError(code: .handshakeFailed, message: "the server closed the connection in the middle of its answer to the upgrade request")
        } catch {
            await connection.close()
            throw error
        }
    }
}

extension CurlMultiGroup {
    /// Opens a WebSocket on the group's next engine; see
    /// ``AsyncCurl/CurlMulti/webSocket(to:options:configuration:)``.
    public func webSocket(to url: String, options: ConnectionOptions = ConnectionOptions(),
                          configuration: WebSocketConfiguration = WebSocketConfiguration()) async throws -> WebSocket {
        try await next().webSocket(to: url, options: options, configuration: configuration)
    }
}
