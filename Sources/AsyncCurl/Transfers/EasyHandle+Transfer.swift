import CCurl
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// A transfer's URL, checked before libcurl sees it.
struct TransferURL {
    let string: String
    let scheme: String

    /// Refuses what would let a caller smuggle another request or header into the request
    /// line (control characters, spaces) and schemes transfers do not take.
    init(_ url: String) throws(CurlError) {
        guard !url.isEmpty, url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw CurlError(code: .urlMalformat, message: "the URL is empty or has spaces or control characters: \(url.debugDescription)")
        }
        let bytes = Array(url.utf8)
        guard let colon = Self.schemeEnd(in: bytes) else {
            throw CurlError(code: .urlMalformat, message: "the URL has no scheme: \(url.debugDescription)")
        }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        guard TransferOptions.schemes.contains(scheme) else {
            throw CurlError(code: .unsupportedProtocol, message: "transfers do not take '\(scheme)' URLs (TransferOptions.schemes lists those they do)")
        }
        self.string = url
        self.scheme = scheme
    }

    var isHTTP: Bool { scheme == "http" || scheme == "https" }

    /// The index of the `:` of a leading `scheme://`, or `nil` if the URL has none.
    static func schemeEnd(in bytes: [UInt8]) -> Int? {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: "://".utf8) else { return nil }
        return colon
    }
}

extension EasyHandle {
    /// Configures a transfer: the URL, the connection options, the request, the body and the
    /// callbacks that feed `record`.
    func configureTransfer(url: TransferURL, method: HTTPRequest.Method, headerFields: HTTPFields,
                           body: RequestBody?, options: TransferOptions, record: TransferRecord) throws(CurlError) {
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(record.errorBuffer))
        try set(CURLOPT_PRIVATE, pointer: UnsafeMutableRawPointer(bitPattern: UInt(record.id.rawValue)))
        try set(CURLOPT_NOSIGNAL, true)
        try set(CURLOPT_URL, url.string)
        try set(CURLOPT_PROTOCOLS_STR, url.scheme)
        try set(CURLOPT_REDIR_PROTOCOLS_STR, url.scheme == "https" ? "https" : "http,https")
        try check(ac_easy_setopt_opensocketfunction(raw, curlOpenSocketCallback), CURLOPT_OPENSOCKETFUNCTION)
        try applyConnectionOptions(options.connection, unixSocketPathFromURL: nil, lists: &record.lists)
        try set(CURLOPT_HTTPPROXYTUNNEL, options.proxyTunnel)
        // Explicit TLS (FTP's AUTH TLS, STARTTLS), only when asked for: see ConnectionOptions.tlsUpgrade.
        if ["ftp", "imap", "pop3"].contains(url.scheme), let upgrade = options.connection.serverLogin.explicitTLSUpgrade {
            try set(CURLOPT_USE_SSL, upgrade.curlValue)
        }
        // The proxy's CONNECT reply is not the response.
        try set(CURLOPT_SUPPRESS_CONNECT_HEADERS, true)

        switch options.httpVersion {
        case .http1_1:
            try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        case .http2:
            try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
            // Waiting to multiplex makes sense only where HTTP/2 may come: over TLS. On an
            // `http://` URL libcurl 7.88.1 would hold every further transfer to the host until
            // the first one's response head said "HTTP/1.1" (behind a slow answer, for good).
            if url.scheme == "https" { try set(CURLOPT_PIPEWAIT, true) }
        case .http2PriorKnowledge:
            try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE))
            if LoadedCurl.reusesPriorKnowledgeHTTP2 {
                try set(CURLOPT_PIPEWAIT, true)
            } else {
                // libcurl 7.88.x fails every transfer that reuses a prior-knowledge connection,
                // sequential or multiplexed ("Error in the HTTP2 framing layer", curl#10634,
                // fixed in 8.0.0): one connection per transfer, closed after it.
                try set(CURLOPT_FRESH_CONNECT, true)
                try set(CURLOPT_FORBID_REUSE, true)
            }
        }
        if case .follow(let max) = options.redirects {
            guard max >= 0 else {
                throw CurlError(code: .badFunctionArgument, message: "redirects: .follow(max: \(max)) is negative")
            }
            try set(CURLOPT_FOLLOWLOCATION, true)
            try set(CURLOPT_MAXREDIRS, max)
        }
        if options.decompresses {
            // "" asks for every coding this libcurl decodes.
            try set(CURLOPT_ACCEPT_ENCODING, "")
        }
        if let credentials = options.credentials {
            try set(CURLOPT_USERNAME, credentials.username)
            try set(CURLOPT_PASSWORD, credentials.password)
            try set(CURLOPT_HTTPAUTH, Int(bitPattern: options.serverAuthMethods.rawValue))
        }
        try configureShares(options, record: record)
        if let timeout = options.timeout {
            try set(CURLOPT_TIMEOUT_MS, max(1, timeout.wholeMilliseconds))
        }
        if let idle = options.connection.idleTimeout {
            // One byte per second for at least that many whole seconds.
            let seconds = max(1, Int(idle.components.seconds) + (idle.components.attoseconds > 0 ? 1 : 0))
            try set(CURLOPT_LOW_SPEED_LIMIT, 1)
            try set(CURLOPT_LOW_SPEED_TIME, seconds)
        }
        try set(CURLOPT_BUFFERSIZE, min(max(options.receiveBufferSize, 1024), 512 << 10))
        // libcurl sends a request body in pieces of its upload buffer (64 KiB by default): one
        // socket event, and so one engine wake-up, per piece. requestBufferSize bytes are there
        // to send anyway (libcurl's range: 16 KiB to 2 MiB).
        try set(CURLOPT_UPLOAD_BUFFERSIZE, min(max(options.requestBufferSize, 16 << 10), 2 << 20))

        let pointer = Unmanaged.passUnretained(record).toOpaque()
        try check(ac_easy_setopt_writefunction(raw, CURLOPT_HEADERFUNCTION, transferHeaderCallback), CURLOPT_HEADERFUNCTION)
        try set(CURLOPT_HEADERDATA, pointer: pointer)
        try check(ac_easy_setopt_writefunction(raw, CURLOPT_WRITEFUNCTION, transferWriteCallback), CURLOPT_WRITEFUNCTION)
        try set(CURLOPT_WRITEDATA, pointer: pointer)

        try configureRequest(method: method, headerFields: headerFields, body: body, url: url, options: options, record: record)

        if let progress = options.progress {
            let box = Unmanaged.passRetained(ProgressBox(progress))
            record.progressBox = box
            try check(ac_easy_setopt_xferinfofunction(raw, transferProgressCallback), CURLOPT_XFERINFOFUNCTION)
            try set(CURLOPT_XFERINFODATA, pointer: box.toOpaque())
            try set(CURLOPT_NOPROGRESS, false)
        }
    }

    /// The cookie jar's share, or a share of the transfer's own for its resolve entries.
    private func configureShares(_ options: TransferOptions, record: TransferRecord) throws(CurlError) {
        let hasResolveEntries = !options.connection.resolve.isEmpty
        if let jar = options.cookies {
            guard !hasResolveEntries else {
                throw CurlError(code: .badFunctionArgument, message: "cookies: a cookie jar cannot be combined with resolve entries (each needs the transfer's one share handle)")
            }
            guard let share = jar.share else {
                throw CurlError(code: .failedInit, message: "cookies: libcurl could not create the jar's share handle")
            }
            record.cookieJar = jar
            try set(CURLOPT_COOKIEFILE, "")
            try set(CURLOPT_SHARE, pointer: share)
        } else if hasResolveEntries {
            let share = try CurlMulti.makeShare([CURL_LOCK_DATA_CONNECT, CURL_LOCK_DATA_DNS])
            record.privateShare = share
            try set(CURLOPT_SHARE, pointer: share)
        } else {
            // Set on the engine's queue, under its curl lock (`CurlMulti.startTransfer`).
            record.usesEngineShare = options.connection.cachesTLSSessions
        }
    }

    /// The method, header fields and body.
    private func configureRequest(method: HTTPRequest.Method, headerFields: HTTPFields, body: RequestBody?,
                                  url: TransferURL, options: TransferOptions, record: TransferRecord) throws(CurlError) {
        var body = body
        if body == nil, url.isHTTP, [.post, .put, .patch].contains(method) {
            // A Content-Length of 0 rather than none, which servers may refuse (411).
            body = .bytes([])
        }
        var lines: [String] = []
        for field in headerFields {
            // "Name;" sends a field with an empty value; "Name:" would remove curl's own.
            lines.append(field.value.isEmpty ? "\(field.name.rawName);" : "\(field.name.rawName): \(field.value)")
        }
        if url.isHTTP {
            if method == .head {
                guard body == nil else {
                    throw CurlError(code: .badFunctionArgument, message: "a HEAD request cannot have a body")
                }
                try set(CURLOPT_NOBODY, true)
            } else if body == nil, method != .get {
                try set(CURLOPT_CUSTOMREQUEST, method.rawValue)
            }
        }
        guard let body else {
            if !lines.isEmpty { try set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(try record.lists.make(lines, for: "headerFields"))) }
            return
        }
        let length = try prepareUpload(body, options: options, record: record)
        if url.isHTTP, method != .put {
            // POST mode, so that libcurl's redirect rules for POST apply.
            try set(CURLOPT_POST, true)
            try check(ac_easy_setopt_off_t(raw, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(length ?? -1)), CURLOPT_POSTFIELDSIZE_LARGE)
            if method != .post { try set(CURLOPT_CUSTOMREQUEST, method.rawValue) }
            // libcurl would add a form Content-Type to a POST; only the caller's goes.
            if headerFields[.contentType] == nil { lines.append("Content-Type:") }
        } else {
            try set(CURLOPT_UPLOAD, true)
            try check(ac_easy_setopt_off_t(raw, CURLOPT_INFILESIZE_LARGE, curl_off_t(length ?? -1)), CURLOPT_INFILESIZE_LARGE)
        }
        if !lines.isEmpty { try set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(try record.lists.make(lines, for: "headerFields"))) }
        let pointer = Unmanaged.passUnretained(record).toOpaque()
        try check(ac_easy_setopt_readfunction(raw, transferReadCallback), CURLOPT_READFUNCTION)
        try set(CURLOPT_READDATA, pointer: pointer)
        try check(ac_easy_setopt_seekfunction(raw, transferSeekCallback), CURLOPT_SEEKFUNCTION)
        try set(CURLOPT_SEEKDATA, pointer: pointer)
    }

    /// Sets the record's upload source; returns the body's length if known.
    private func prepareUpload(_ body: RequestBody, options: TransferOptions, record: TransferRecord) throws(CurlError) -> Int? {
        switch body.content {
        case .bytes(let bytes):
            record.upload = .bytes(bytes, offset: 0)
            return bytes.count
        case .file(let path):
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw CurlError(code: .readError, message: "cannot open the request body's file '\(path)': \(String(cString: strerror(errno)))")
            }
            var status = stat()
            guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
                Glibc.close(descriptor)
                throw CurlError(code: .readError, message: "the request body's file '\(path)' is not a regular file")
            }
            record.upload = .file(descriptor: descriptor)
            return Int(status.st_size)
        case .stream(let length, let start):
            if let length, length < 0 {
                throw CurlError(code: .badFunctionArgument, message: "RequestBody.stream: length \(length) is negative")
            }
            let stream = RequestBodyStream(limit: options.requestBufferSize, resumeTransfer: record.resumeSending)
            record.upload = .stream(stream, producer: nil)
            record.startProducer = { start(stream) }
            return length
        }
    }
}
