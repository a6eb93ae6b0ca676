import CCurl

/// Typed setters over the C target's non-variadic `curl_easy_setopt` wrappers, turning every
/// failure into a ``CurlError`` that names the option.
struct EasyHandle {
    let raw: UnsafeMutableRawPointer

    func set(_ option: CURLoption, _ value: Int) throws(CurlError) {
        try check(ac_easy_setopt_long(raw, option, value), option)
    }

    func set(_ option: CURLoption, _ value: Bool) throws(CurlError) {
        try set(option, value ? 1 : 0)
    }

    /// libcurl copies strings it is given, so the Swift string need not outlive the call.
    func set(_ option: CURLoption, _ value: String) throws(CurlError) {
        try check(ac_easy_setopt_string(raw, option, value), option)
    }

    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) throws(CurlError) {
        try check(ac_easy_setopt_pointer(raw, option, pointer), option)
    }

    private func check(_ code: CURLcode, _ option: CURLoption) throws(CurlError) {
        guard code == CURLE_OK else {
            throw CurlError(code: CurlError.Code(code), message: "libcurl refused option \(option.rawValue): \(CurlError.Code(code).summary)")
        }
    }

    /// Applies everything `connect` needs: CONNECT_ONLY, the URL, and the user's options.
    func configure(target: ConnectionTarget, options: ConnectionOptions, id: ConnectionID,
                   errorBuffer: UnsafeMutablePointer<CChar>, traceBox: TraceBox?) throws(CurlError) {
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_PRIVATE, pointer: UnsafeMutableRawPointer(bitPattern: UInt(id.rawValue)))
        // Signals cannot be used from a multi-threaded process; the threaded resolver needs none.
        try set(CURLOPT_NOSIGNAL, true)
        try set(CURLOPT_CONNECT_ONLY, 1)
        try set(CURLOPT_URL, target.curlURL)
        // Only the schemes ConnectionTarget produces, even if a URL were to slip through.
        try set(CURLOPT_PROTOCOLS_STR, "http,https")

        if let timeout = options.connectTimeout {
            try set(CURLOPT_CONNECTTIMEOUT_MS, max(1, timeout.wholeMilliseconds))
        }

        // An empty proxy string disables the environment's proxy variables (see useEnvironmentProxy).
        if let proxy = options.proxy {
            try set(CURLOPT_PROXY, proxy)
        } else if !options.useEnvironmentProxy {
            try set(CURLOPT_PROXY, "")
        }
        // Without a tunnel an HTTP proxy would be handed over as the connection itself.
        try set(CURLOPT_HTTPPROXYTUNNEL, true)
        if let noProxy = options.noProxy {
            try set(CURLOPT_NOPROXY, noProxy)
        }

        try set(CURLOPT_TCP_NODELAY, options.tcpNoDelay)
        if let keepAlive = options.keepAlive {
            try set(CURLOPT_TCP_KEEPALIVE, true)
            try set(CURLOPT_TCP_KEEPIDLE, max(1, Int(keepAlive.idle.components.seconds)))
            try set(CURLOPT_TCP_KEEPINTVL, max(1, Int(keepAlive.interval.components.seconds)))
        }
        if let localInterface = options.localInterface {
            try set(CURLOPT_INTERFACE, localInterface)
        }
        if let localPort = options.localPort {
            try set(CURLOPT_LOCALPORT, Int(localPort))
            try set(CURLOPT_LOCALPORTRANGE, max(1, options.localPortRange))
        }

        let tls = options.tls
        if let caFile = tls.caFile {
            try set(CURLOPT_CAINFO, caFile)
        }
        try set(CURLOPT_SSL_VERIFYPEER, tls.verifyPeer)
        try set(CURLOPT_SSL_VERIFYHOST, tls.verifyHost ? 2 : 0)
        if let certificate = tls.clientCertificateFile {
            try set(CURLOPT_SSLCERT, certificate)
        }
        if let key = tls.clientKeyFile {
            try set(CURLOPT_SSLKEY, key)
        }

        if let traceBox {
            try check(ac_easy_setopt_debugfunction(raw, curlTraceCallback), CURLOPT_DEBUGFUNCTION)
            try set(CURLOPT_DEBUGDATA, pointer: Unmanaged.passUnretained(traceBox).toOpaque())
            try set(CURLOPT_VERBOSE, true)
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up so that a tiny positive time limit stays
    /// positive, and saturating instead of trapping on absurd values.
    var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        let (millisFromSeconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return seconds < 0 ? Int.min : Int.max }
        let extra = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(clamping: millisFromSeconds) &+ Int(extra)
    }
}

/// libcurl's `CURLOPT_DEBUGFUNCTION`: forwards text and header lines to the connection's handler.
private let curlTraceCallback: curl_debug_callback = { _, type, data, size, userdata in
    guard let data, let userdata else { return 0 }
    let kind: TraceEvent.Kind
    switch type {
    case CURLINFO_TEXT: kind = .text
    case CURLINFO_HEADER_IN: kind = .headerIn
    case CURLINFO_HEADER_OUT: kind = .headerOut
    default: return 0
    }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var text = String(decoding: bytes, as: UTF8.self)
    while let last = text.last, last == "\n" || last == "\r" { text.removeLast() }
    Unmanaged<TraceBox>.fromOpaque(userdata).takeUnretainedValue().handler(TraceEvent(kind: kind, text: text))
    return 0
}
