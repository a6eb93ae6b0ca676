import CCurl
import HTTPTypes

// Transfers: libcurl's own requests (HTTP/1.1, HTTP/2, FTP and more) on the engine's multi
// handle and event loop, with the same options as connections.

extension CurlMulti {
    /// Sends `request` and returns the response as soon as its head has arrived; the body
    /// streams in ``TransferResponse/body``.
    ///
    /// The URL is the request's scheme, authority and path. libcurl does the connection (with
    /// ``TransferOptions/connection``'s proxy, TLS and resolve options), reuses kept-alive
    /// connections and, over HTTP/2, shares one connection among concurrent transfers.
    ///
    /// ```swift
    /// var request = HTTPRequest(method: .get, scheme: "https", authority: "api.internal", path: "/v1/items")
    /// request.headerFields[.accept] = "application/json"
    /// let response = try await CurlMulti.shared.execute(request)
    /// guard response.status == .ok else { … }
    /// let json = try await response.body.collect(upTo: 1 << 20)
    /// ```
    ///
    /// - Parameters:
    ///   - request: The method, URL parts and header fields. Field values are sent as
    ///     `HTTPFields` legalized them (no line breaks can reach the request); an empty value
    ///     is sent as an empty field.
    ///   - body: What to send, if anything. POST, PUT and PATCH without a body send an empty one.
    ///   - options: Connection, HTTP version, redirects, authentication, time limits and more.
    /// - Returns: The head and the streaming body. Drop it unread and the transfer is cancelled.
    /// - Throws: ``CurlError`` (``CurlError/Code/urlMalformat`` and
    ///   ``CurlError/Code/unsupportedProtocol`` before any I/O; connection, TLS, proxy and
    ///   protocol failures; ``CurlError/Code/operationTimedOut``), `CancellationError` if the
    ///   task is cancelled before the head arrived (the transfer stops and everything it held is
    ///   released), ``ConnectionError/Code/engineShutDown`` after ``shutdown()``.
    public nonisolated func execute(_ request: HTTPRequest, body: RequestBody? = nil,
                                    options: TransferOptions = TransferOptions()) async throws -> TransferResponse {
        guard let scheme = request.scheme, let authority = request.authority else {
            throw CurlError(code: .urlMalformat, message: "the request has no scheme or no authority")
        }
        let path = request.path ?? "/"
        return try await execute("\(scheme)://\(authority)\(path.isEmpty ? "/" : path)", method: request.method,
                                 headerFields: request.headerFields, body: body, options: options)
    }

    /// Sends a request to `url` (`http://`, `https://`, `ftp://`, and the other schemes of
    /// ``TransferOptions/schemes``) and returns the response once its head has arrived; see
    /// ``execute(_:body:options:)``.
    ///
    /// ```swift
    /// let response = try await multi.execute("ftp://files.internal/report.csv", options: options)
    /// try await response.body.write(toFile: "/tmp/report.csv")
    /// ```
    public nonisolated func execute(_ url: String, method: HTTPRequest.Method = .get, headerFields: HTTPFields = [:],
                                    body: RequestBody? = nil, options: TransferOptions = TransferOptions()) async throws -> TransferResponse {
        try Task.checkCancellation()
        let record: TransferRecord
        do {
            record = try prepareTransfer(url: url, method: method, headerFields: headerFields, body: body, options: options)
        } catch {
            options.connection.logger?.debug("transfer refused before any I/O", metadata: ["asynccurl.url": "\(url)", "asynccurl.error": "\(error)"])
            throw error
        }
        let stream = record.stream
        let head = try await run(record)
        return TransferResponse(head: head, body: ResponseBody(owner: ResponseBodyOwner(stream: stream, engine: self)))
    }

    /// Sends the request and collects the whole body, failing with
    /// ``TransferError/Code/bodyTooLarge`` past `maxBodySize` bytes.
    ///
    /// - Returns: The head, the body and the transfer's facts.
    public nonisolated func collect(_ request: HTTPRequest, body: RequestBody? = nil, maxBodySize: Int,
                                    options: TransferOptions = TransferOptions()) async throws -> (head: HTTPResponse, body: [UInt8], facts: TransferFacts) {
        let response = try await execute(request, body: body, options: options)
        let bytes = try await response.body.collect(upTo: maxBodySize)
        return (response.head, bytes, try await response.body.facts())
    }

    /// Creates and configures the easy handle, on the caller's thread.
    nonisolated func prepareTransfer(url: String, method: HTTPRequest.Method, headerFields: HTTPFields,
                                     body: RequestBody?, options: TransferOptions) throws -> TransferRecord {
        if let setupError { throw setupError }
        let checked = try TransferURL(url)
        let (easy, id, errorBuffer) = try makeEasyHandle()
        let stream = ResponseStream(
            limit: options.responseBufferSize,
            resumeTransfer: { [weak self] in self?.onEngineQueue { $0.resumeTransfer(id, receiving: true) } },
            cancelTransfer: { [weak self] in self?.onEngineQueue { $0.cancelTransfer(id, error: CancellationError()) } })
        var follows = false
        if case .follow = options.redirects { follows = true }
        let record = TransferRecord(
            id: id, easy: easy, errorBuffer: errorBuffer, stream: stream,
            resumeSending: { [weak self] in self?.onEngineQueue { $0.resumeTransfer(id, receiving: false) } },
            isHTTP: checked.isHTTP, followsRedirects: follows,
            mayAuthenticate: (server: options.credentials != nil, proxy: options.connection.proxyUsername != nil))
        record.isFTP = checked.scheme == "ftp" || checked.scheme == "ftps"
        do {
            let handle = EasyHandle(raw: easy)
            try handle.configureTransfer(url: checked, method: method, headerFields: headerFields, body: body,
                                         options: options, record: record)
            var logger = options.connection.logger
            logger?[metadataKey: "asynccurl.transfer"] = "\(id)"
            if let handler = TraceBox.handler(trace: options.connection.trace, logger: logger) {
                let box = Unmanaged.passRetained(TraceBox(handler))
                record.traceBox = box
                try handle.enableTrace(box.takeUnretainedValue())
            }
        } catch {
            record.free()
            throw error
        }
        return record
    }

    /// Adds the transfer to the multi handle and waits for its head.
    private func run(_ record: TransferRecord) async throws -> HTTPResponse {
        let id = record.id
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                // A cancellation that came before this point found nothing to cancel.
                if let failure = Task.isCancelled ? CancellationError() : startTransfer(record) {
                    record.free()
                    continuation.resume(throwing: failure)
                    return
                }
                record.headContinuation = continuation
            }
        } onCancel: {
            self.onEngineQueue { $0.cancelTransfer(id, error: CancellationError()) }
        }
    }

    private func startTransfer(_ record: TransferRecord) -> (any Error)? {
        if isShutDown { return ConnectionError.engineShutDown }
        guard let multi else {
            return setupError ?? CurlError(code: .failedInit, message: "the engine has no multi handle")
        }
        if record.usesEngineShare {
            do {
                let share = try transferShare()
                let result = curlLock.withLock { ac_easy_setopt_pointer(record.easy, CURLOPT_SHARE, share) }
                guard result == CURLE_OK else {
                    return CurlError(code: CurlError.Code(result), message: "curl_easy_setopt(CURLOPT_SHARE) failed")
                }
            } catch {
                return error
            }
        }
        let added = curlLock.withLock { curl_multi_add_handle(multi, record.easy) }
        guard added == CURLM_OK else {
            return CurlError(code: .failedInit, message: "curl_multi_add_handle failed: \(String(cString: curl_multi_strerror(added)))")
        }
        transfers[record.id] = record
        if record.isFTP { ftpTransfers += 1 }
        if let start = record.startProducer, case .stream(let stream, nil) = record.upload {
            record.upload = .stream(stream, producer: start())
            record.startProducer = nil
        }
        return nil
    }

    /// The engine's TLS session cache for transfers, made on first use.
    private func transferShare() throws(CurlError) -> UnsafeMutableRawPointer {
        if let share = resources.transferShare { return share }
        let share = try Self.makeShare([CURL_LOCK_DATA_SSL_SESSION])
        resources.transferShare = share
        return share
    }

    /// `CURLMSG_DONE` for a transfer.
    func finishTransfer(_ record: TransferRecord, result: CURLcode) {
        var failure: (any Error)?
        if result != CURLE_OK {
            failure = curlLock.withLock { explainTransferFailure(record.error(result), record) }
        }
        if case .stream(let stream, _) = record.upload, let thrown = stream.producerError {
            failure = CurlError(code: .abortedByCallback, message: "the request body's sequence threw: \(thrown)")
        }
        endTransfer(record, error: failure)
    }

    /// Stops a transfer that has not finished: cancellation, the consumer gone, shutdown.
    func cancelTransfer(_ id: ConnectionID, error: any Error) {
        guard let record = transfers[id] else { return }
        endTransfer(record, error: error)
    }

    /// Takes the transfer out of the multi handle, frees it, and tells `execute` or the body's
    /// consumer how it ended. The one place a transfer ends.
    private func endTransfer(_ record: TransferRecord, error: (any Error)?) {
        guard transfers.removeValue(forKey: record.id) != nil else { return }
        if record.isFTP { ftpTransfers -= 1 }
        var head: HTTPResponse?
        let facts = curlLock.withLock { () -> TransferFacts in
            let facts = EasyHandle(raw: record.easy).transferFacts()
            if error == nil, !record.headDelivered { head = record.fallbackHead() }
            releasePauseBuffers(record)
            if let multi { _ = curl_multi_remove_handle(multi, record.easy) }
            record.free()
            return facts
        }
        if let head {
            record.deliverHead(head)
        } else if let continuation = record.headContinuation {
            record.headContinuation = nil
            continuation.resume(throwing: error ?? CancellationError())
        }
        record.stream.finish(ResponseStream.Completion(facts: facts, trailerFields: record.trailerFields, error: error))
    }

    /// Frees what libcurl holds back for a transfer paused on receiving, before the transfer is
    /// taken out of the multi handle. libcurl 7.88.1 frees those pause buffers only when the
    /// connection has no other transfer: a stream cancelled while paused on an HTTP/2
    /// connection that other streams still use leaked them (a 16 KiB DATA frame each in the
    /// tests, 253 KiB once; curl issue 10971, fixed in 8.1.0). Unpausing hands them to the write
    /// callback, which refuses them, and libcurl frees each buffer even when the callback
    /// fails. Only then: unpausing also opens the stream's window, so the server sends more of
    /// a body nobody reads until the stream's reset reaches it. Called with the curl lock held,
    /// after `record` left `transfers`.
    private func releasePauseBuffers(_ record: TransferRecord) {
        guard record.receivePaused else { return }
        let handle = EasyHandle(raw: record.easy)
        guard handle.long(CURLINFO_HTTP_VERSION) == Int(CURL_HTTP_VERSION_2_0) else { return }
        let connection = handle.connectionAddresses
        guard transfers.values.contains(where: { EasyHandle(raw: $0.easy).connectionAddresses == connection }) else { return }
        record.receivePaused = false
        record.discardsBody = true
        _ = curl_easy_pause(record.easy, Int32(record.sendPaused ? CURLPAUSE_SEND : 0))
    }

    /// The consumer or the producer made room: resume the paused direction.
    func resumeTransfer(_ id: ConnectionID, receiving: Bool) {
        guard let record = transfers[id], let multi else { return }
        if receiving {
            guard record.receivePaused else { return }
            record.receivePaused = false
        } else {
            guard record.sendPaused else { return }
            record.sendPaused = false
        }
        let bits = (record.receivePaused ? CURLPAUSE_RECV : 0) | (record.sendPaused ? CURLPAUSE_SEND : 0)
        // May call the write callback at once with what libcurl held back, which may pause again.
        let result = curlLock.withLock { curl_easy_pause(record.easy, Int32(bits)) }
        if result != CURLE_OK {
            endTransfer(record, error: curlLock.withLock { record.error(result) })
            return
        }
        // Unpausing expires the transfer's timer; run it now, from the loop, not from a callback.
        var running: Int32 = 0
        _ = curlLock.withLock { curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running) }
        drainMessages()
    }

    /// Adds what the user needs to libcurl's message.
    private func explainTransferFailure(_ error: CurlError, _ record: TransferRecord) -> CurlError {
        var error = error
        if error.code == .unsupportedProtocol, record.followsRedirects {
            error.message += " (a redirect may go only to http or https, and from https only to https)"
        }
        if error.code == .outOfMemory {
            error.message += " (libcurl 7.88.1 also fails this way on a response header section over its 100 KiB limit)"
        }
        if error.code == .operationTimedOut, error.message.contains("Operation too slow") {
            error.message += " (TransferOptions.connection.idleTimeout)"
        }
        return error
    }
}
