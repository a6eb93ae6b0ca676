import CCurl

/// An open connection's easy handle, for the `curl_easy_send` / `curl_easy_recv` that its
/// callers make on their own threads: TLS connections, and others the direct path cannot take
/// (an HTTPS proxy, an HTTP hand-over).
///
/// libcurl handles are not bound to a thread, but must never be used concurrently: every libcurl
/// call of an engine, on its queue or on a caller's thread, holds the engine's `curlLock`.
///
/// `@unchecked Sendable`: the pointers are used only while holding `curlLock`, and only while
/// the connection is open. The gate uses a channel only under its own lock and only while it
/// still has the connection's socket, and the engine takes the socket away (`ConnectionGate.close`,
/// which waits for that lock) before it frees the easy handle, the error buffer or the trace box.
/// `errorBufferIsStale` no longer changes once the connection is open.
struct CurlChannel: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>
    let traceBox: Unmanaged<TraceBox>?
    let errorBufferIsStale: Bool
    let curlLock: CountingMutex

    /// One `curl_easy_recv` into `buffer`.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> ConnectionGate.Transfer {
        try curlLock.withLock { () throws(CurlError) -> ConnectionGate.Transfer in
            var received = 0
            let result = curl_easy_recv(easy, buffer.baseAddress, buffer.count, &received)
            switch result {
            case CURLE_OK: return .transferred(received)
            case CURLE_AGAIN: return .wouldBlock
            default: throw error(result)
            }
        }
    }

    /// One `curl_easy_send` of `bytes`.
    func send(_ bytes: UnsafeRawBufferPointer) throws(CurlError) -> ConnectionGate.Transfer {
        try curlLock.withLock { () throws(CurlError) -> ConnectionGate.Transfer in
            var sent = 0
            let result = curl_easy_send(easy, bytes.baseAddress, bytes.count, &sent)
            switch result {
            case CURLE_OK: return .transferred(sent)
            case CURLE_AGAIN: return .wouldBlock
            default: throw error(result)
            }
        }
    }

    /// The error for `code`, from the error buffer (or the trace, once the buffer is stale).
    /// Call it holding `curlLock`, right after the failing call.
    func error(_ code: CURLcode, proxyStatus: Int? = nil) -> CurlError {
        var message = String(cString: errorBuffer)
        errorBuffer[0] = 0
        if message.isEmpty, errorBufferIsStale, let traced = traceBox?.takeUnretainedValue().lastText {
            message = traced
        }
        if code == CURLE_SSL_CONNECT_ERROR, message.contains("wrong version number") {
            message += " (the peer does not seem to speak TLS on this port)"
        }
        return CurlError(code: CurlError.Code(code), message: message, proxyStatusCode: proxyStatus)
    }
}
