import CCurl
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// Everything the engine holds for one transfer. Owned by the ``CurlMulti`` actor (its
/// `transfers`) from `curl_multi_add_handle` to `CURLMSG_DONE` or cancellation, and only
/// touched on its executor: by the engine, and by libcurl's callbacks, which run inside the
/// engine's libcurl calls.
///
/// The record is the single owner of the easy handle, its error buffer, lists, trace box, the
/// request body's source (file descriptor, producer task) and the private share; the engine
/// frees them in one place (`CurlMulti.endTransfer`).
final class TransferRecord {
    /// Where the request body comes from.
    enum Upload {
        case none
        case bytes([UInt8], offset: Int)
        case file(descriptor: Int32)
        case stream(RequestBodyStream, producer: Task<Void, Never>?)
    }

    let id: ConnectionID
    let easy: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>
    var lists = CurlLists()
    var traceBox: Unmanaged<TraceBox>?
    /// The progress handler, kept alive while libcurl holds a pointer to it.
    var progressBox: Unmanaged<ProgressBox>?
    /// A share of the transfer's own for its DNS and connection caches, when it has
    /// ``ConnectionOptions/resolve`` entries (as for connections: libcurl keeps them in the
    /// DNS cache for good, so they must not reach other transfers).
    var privateShare: UnsafeMutableRawPointer?
    /// The jar whose share the easy handle uses, kept alive as long as the handle.
    var cookieJar: CookieJar?
    /// Whether the transfer uses the engine's TLS session cache (`CurlMulti.transferShare`):
    /// yes, unless it has a share of its own (a cookie jar, resolve entries) or the options
    /// turn session reuse off.
    var usesEngineShare = false

    var upload: Upload = .none
    /// Starts a streamed body's producer task when the transfer starts (not before: a transfer
    /// refused before any I/O iterates nothing).
    var startProducer: (() -> Task<Void, Never>)?
    /// Asks the engine to resume the paused upload (for the request body's stream).
    let resumeSending: @Sendable () -> Void
    let stream: ResponseStream
    var parser = ResponseHeadParser()
    /// `execute` waits here for the head.
    var headContinuation: CheckedContinuation<HTTPResponse, any Error>?
    var headDelivered = false
    var trailerFields = HTTPFields()

    /// The write callback answered `CURL_WRITEFUNC_PAUSE` and the transfer was not resumed since.
    var receivePaused = false
    /// The read callback answered `CURL_READFUNC_PAUSE` and the transfer was not resumed since.
    var sendPaused = false
    /// The transfer is being taken out of the multi handle: the write callback refuses every
    /// byte (see `CurlMulti.releasePauseBuffers`).
    var discardsBody = false

    /// An HTTP or HTTPS URL: the header callback's lines are HTTP heads.
    let isHTTP: Bool
    /// An `ftp://` or `ftps://` URL: the engine runs a full pass after each action while it is
    /// in the multi handle (see `CurlMulti.ftpTransfers`).
    var isFTP = false
    /// libcurl follows redirects, so a 3xx head with a `Location` may not be the last.
    let followsRedirects: Bool
    /// Credentials for the server (or an HTTP proxy): a 401 (407) head may be followed by
    /// another round.
    let mayAuthenticate: (server: Bool, proxy: Bool)

    init(id: ConnectionID, easy: UnsafeMutableRawPointer, errorBuffer: UnsafeMutablePointer<CChar>, stream: ResponseStream,
         resumeSending: @escaping @Sendable () -> Void,
         isHTTP: Bool, followsRedirects: Bool, mayAuthenticate: (server: Bool, proxy: Bool)) {
        self.id = id
        self.resumeSending = resumeSending
        self.easy = easy
        self.errorBuffer = errorBuffer
        self.stream = stream
        self.isHTTP = isHTTP
        self.followsRedirects = followsRedirects
        self.mayAuthenticate = mayAuthenticate
    }

    /// Whether `head`, complete, is the one the application gets, or libcurl may still send
    /// another request (following a `Location`, answering an authentication challenge). A head
    /// that may not be final is handed out with the first body byte or at the end instead:
    /// libcurl discards the bodies of the responses it goes past.
    func isSurelyFinal(_ head: HTTPResponse) -> Bool {
        switch head.status.code {
        case 100..<200: return false
        case 300..<400: return !(followsRedirects && head.headerFields[.location] != nil)
        case 401: return !mayAuthenticate.server
        case 407: return !mayAuthenticate.proxy
        default: return true
        }
    }

    /// Hands the head to `execute`, once.
    func deliverHead(_ head: HTTPResponse) {
        guard !headDelivered else { return }
        headDelivered = true
        parser.startTrailers()
        headContinuation?.resume(returning: head)
        headContinuation = nil
    }

    /// The head to hand out when the body starts or the transfer ends without a final head
    /// having been recognised: the last complete one, or for other protocols the reply code.
    func fallbackHead() -> HTTPResponse {
        if let head = parser.lastHead { return head }
        let code = EasyHandle(raw: easy).long(CURLINFO_RESPONSE_CODE) ?? 0
        return HTTPResponse(status: .init(code: (0...999).contains(code) ? code : 0))
    }

    /// The failure libcurl reported, with its error buffer's details.
    func error(_ code: CURLcode) -> CurlError {
        let detail = String(cString: errorBuffer)
        return CurlError(code: CurlError.Code(code), message: detail)
    }

    /// Frees what the record owns; the easy handle must no longer be in the multi handle.
    func free() {
        curl_easy_cleanup(easy)
        errorBuffer.deallocate()
        lists.freeAll()
        traceBox?.release()
        traceBox = nil
        progressBox?.release()
        progressBox = nil
        if let privateShare { _ = curl_share_cleanup(privateShare) }
        privateShare = nil
        cookieJar = nil
        switch upload {
        case .file(let descriptor):
            Glibc.close(descriptor)
        case .stream(let stream, let producer):
            stream.transferFinished()
            producer?.cancel()
        case .none, .bytes:
            break
        }
        upload = .none
    }
}

/// The progress handler, for libcurl's `CURLOPT_XFERINFODATA`.
final class ProgressBox {
    let handler: @Sendable (TransferProgress) -> Void
    var last = TransferProgress()

    init(_ handler: @escaping @Sendable (TransferProgress) -> Void) {
        self.handler = handler
    }
}
