import CCurl

/// What libcurl measured about a finished transfer: timings, sizes, addresses, the protocol
/// version and the redirects followed (from `curl_easy_getinfo`).
///
/// Timings count from the transfer's start; each includes the ones before it (the
/// `time_*` of curl's `--write-out`).
public struct TransferFacts: Sendable, Hashable {
    /// The URL of the last request (after redirects).
    public var effectiveURL: String?
    /// The last response's status code (for FTP and other protocols, the last reply code).
    public var responseCode: Int
    /// The HTTP version of the last response: `"1.0"`, `"1.1"`, `"2"`, or `nil` for another protocol.
    public var httpVersion: String?
    /// Redirects followed.
    public var redirectCount: Int
    /// New connections the transfer made (0 when it reused one).
    public var connectionsMade: Int

    /// Name resolution done.
    public var nameLookupTime: Duration
    /// TCP (or proxy) connection up.
    public var connectTime: Duration
    /// TLS handshake done (0 without TLS).
    public var tlsHandshakeTime: Duration
    /// Just before the request went out.
    public var preTransferTime: Duration
    /// The first response byte arrived.
    public var startTransferTime: Duration
    /// The whole transfer, to its last byte.
    public var totalTime: Duration
    /// Time spent on redirects before the last request.
    public var redirectTime: Duration

    /// Body bytes received, as they came on the wire: for a compressed body that
    /// ``TransferOptions/decompresses`` decoded, the compressed size, not what the body handed out.
    public var bytesDownloaded: Int64
    /// Body bytes sent, with HTTP/1.1's chunked framing when the body went chunked.
    public var bytesUploaded: Int64
    /// Response header bytes received, all responses together.
    public var headerBytes: Int
    /// Request bytes sent, headers included (the request line and fields of every request).
    public var requestBytes: Int
    /// The `Content-Length` of the last response, if it had one.
    public var contentLength: Int64?

    /// The peer's address and port (the proxy's, through a proxy).
    public var remoteAddress: String?
    public var remotePort: Int?
    /// The local end.
    public var localAddress: String?
    public var localPort: Int?

    public init() {
        responseCode = 0
        redirectCount = 0
        connectionsMade = 0
        nameLookupTime = .zero
        connectTime = .zero
        tlsHandshakeTime = .zero
        preTransferTime = .zero
        startTransferTime = .zero
        totalTime = .zero
        redirectTime = .zero
        bytesDownloaded = 0
        bytesUploaded = 0
        headerBytes = 0
        requestBytes = 0
    }
}

extension EasyHandle {
    /// The addresses of a transfer's connection, as libcurl last reported them: two transfers in
    /// flight with the same ones share a connection (HTTP/2 streams). Over a Unix socket every
    /// connection to one path looks the same.
    struct ConnectionAddresses: Equatable {
        var localIP: String?
        var localPort: Int?
        var remoteIP: String?
        var remotePort: Int?
    }

    /// Call it holding the engine's curl lock.
    var connectionAddresses: ConnectionAddresses {
        ConnectionAddresses(localIP: string(CURLINFO_LOCAL_IP), localPort: long(CURLINFO_LOCAL_PORT),
                            remoteIP: string(CURLINFO_PRIMARY_IP), remotePort: long(CURLINFO_PRIMARY_PORT))
    }

    /// The facts of a finished transfer. Call it holding the engine's curl lock.
    func transferFacts() -> TransferFacts {
        var facts = TransferFacts()
        facts.effectiveURL = string(CURLINFO_EFFECTIVE_URL)
        facts.responseCode = long(CURLINFO_RESPONSE_CODE) ?? 0
        switch long(CURLINFO_HTTP_VERSION) ?? 0 {
        case Int(CURL_HTTP_VERSION_1_0): facts.httpVersion = "1.0"
        case Int(CURL_HTTP_VERSION_1_1): facts.httpVersion = "1.1"
        case Int(CURL_HTTP_VERSION_2_0): facts.httpVersion = "2"
        case Int(CURL_HTTP_VERSION_3): facts.httpVersion = "3"
        default: facts.httpVersion = nil
        }
        facts.redirectCount = long(CURLINFO_REDIRECT_COUNT) ?? 0
        facts.connectionsMade = long(CURLINFO_NUM_CONNECTS) ?? 0
        facts.nameLookupTime = duration(CURLINFO_NAMELOOKUP_TIME_T) ?? .zero
        facts.connectTime = duration(CURLINFO_CONNECT_TIME_T) ?? .zero
        facts.tlsHandshakeTime = duration(CURLINFO_APPCONNECT_TIME_T) ?? .zero
        facts.preTransferTime = duration(CURLINFO_PRETRANSFER_TIME_T) ?? .zero
        facts.startTransferTime = duration(CURLINFO_STARTTRANSFER_TIME_T) ?? .zero
        facts.totalTime = duration(CURLINFO_TOTAL_TIME_T) ?? .zero
        facts.redirectTime = duration(CURLINFO_REDIRECT_TIME_T) ?? .zero
        facts.bytesDownloaded = offT(CURLINFO_SIZE_DOWNLOAD_T) ?? 0
        facts.bytesUploaded = offT(CURLINFO_SIZE_UPLOAD_T) ?? 0
        facts.headerBytes = long(CURLINFO_HEADER_SIZE) ?? 0
        facts.requestBytes = long(CURLINFO_REQUEST_SIZE) ?? 0
        if let length = offT(CURLINFO_CONTENT_LENGTH_DOWNLOAD_T), length >= 0 { facts.contentLength = length }
        facts.remoteAddress = string(CURLINFO_PRIMARY_IP)
        facts.remotePort = long(CURLINFO_PRIMARY_PORT).flatMap { $0 > 0 ? $0 : nil }
        facts.localAddress = string(CURLINFO_LOCAL_IP)
        facts.localPort = long(CURLINFO_LOCAL_PORT).flatMap { $0 > 0 ? $0 : nil }
        return facts
    }
}

/// A transfer's progress (``TransferOptions/progress``). Totals are `nil` while unknown
/// (no `Content-Length`, a streamed upload).
public struct TransferProgress: Sendable, Hashable {
    public var bytesDownloaded: Int64
    public var downloadTotal: Int64?
    public var bytesUploaded: Int64
    public var uploadTotal: Int64?

    public init(bytesDownloaded: Int64 = 0, downloadTotal: Int64? = nil, bytesUploaded: Int64 = 0, uploadTotal: Int64? = nil) {
        self.bytesDownloaded = bytesDownloaded
        self.downloadTotal = downloadTotal
        self.bytesUploaded = bytesUploaded
        self.uploadTotal = uploadTotal
    }
}
