import CCurl
#if canImport(Glibc)
import Glibc
#endif

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

    func check(_ code: CURLcode, _ option: CURLoption) throws(CurlError) {
        guard code == CURLE_OK else {
            throw CurlError(code: CurlError.Code(code), message: "libcurl refused \(Self.name(of: option)): \(CurlError.Code(code).summary)")
        }
    }

    /// `CURLOPT_<NAME>` as libcurl's option table spells it, or the number.
    static func name(of option: CURLoption) -> String {
        guard let entry = curl_easy_option_by_id(option), let name = entry.pointee.name else {
            return "option \(option.rawValue)"
        }
        return "CURLOPT_\(String(cString: name))"
    }

    /// Applies everything `connect` needs: CONNECT_ONLY, the URL, and the user's options.
    func configure(target: ConnectionTarget, options: ConnectionOptions, id: ConnectionID,
                   errorBuffer: UnsafeMutablePointer<CChar>, traceBox: TraceBox?,
                   serverResponses: ServerResponses?, lists: inout CurlLists) throws(CurlError) {
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_PRIVATE, pointer: UnsafeMutableRawPointer(bitPattern: UInt(id.rawValue)))
        // Signals cannot be used from a multi-threaded process; the threaded resolver needs none.
        try set(CURLOPT_NOSIGNAL, true)
        try set(CURLOPT_CONNECT_ONLY, 1)
        try set(CURLOPT_URL, target.curlURL)
        // Only the target's own scheme, even if another URL were to slip through.
        try set(CURLOPT_PROTOCOLS_STR, target.curlScheme)
        // Never HTTP/2: libcurl 7.88.1 offers h2 by ALPN and, when the server picks it, sends the
        // HTTP/2 preface on the connect-only connection and reads the peer's bytes as frames.
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        if !target.isHTTP {
            // A raw tls:// or mail connection speaks no HTTP, so it claims none (ALPN offers nothing).
            try set(CURLOPT_SSL_ENABLE_ALPN, false)
        }
        // Sockets are close-on-exec, so a child process cannot keep a connection open.
        try check(ac_easy_setopt_opensocketfunction(raw, curlOpenSocketCallback), CURLOPT_OPENSOCKETFUNCTION)

        // Without a tunnel an HTTP proxy would be handed over as the connection itself.
        try set(CURLOPT_HTTPPROXYTUNNEL, true)
        try applyConnectionOptions(options, unixSocketPathFromURL: target.unixSocketPath, lists: &lists)
        try configureLogin(target: target, options: options, responses: serverResponses)

        if let traceBox {
            try enableTrace(traceBox)
        }
    }

    /// What connections and transfers share: the time limit for the set-up, proxy, TCP, local
    /// address, proxy login, TLS and every option of ``configureSetup(unixSocketPathFromURL:options:lists:)``.
    func applyConnectionOptions(_ options: ConnectionOptions, unixSocketPathFromURL: String?,
                                lists: inout CurlLists) throws(CurlError) {
        if let timeout = options.connectTimeout {
            try set(CURLOPT_CONNECTTIMEOUT_MS, max(1, timeout.wholeMilliseconds))
        }

        // An empty proxy string disables the environment's proxy variables (see useEnvironmentProxy).
        if let proxy = options.proxy {
            try set(CURLOPT_PROXY, try ProxyURL.checked(proxy, option: "proxy", schemes: ProxyURL.proxySchemes))
        } else if !options.useEnvironmentProxy {
            try set(CURLOPT_PROXY, "")
        }
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

        if let username = options.proxyUsername {
            try set(CURLOPT_PROXYUSERNAME, username)
        }
        if let password = options.proxyPassword {
            try set(CURLOPT_PROXYPASSWORD, password)
        }
        try apply(options.tls, TLSOptionNames.peer)
        try apply(options.proxyTLS, TLSOptionNames.proxy)
        if !options.cachesTLSSessions {
            try set(CURLOPT_SSL_SESSIONID_CACHE, false)
        }
        try configureSetup(unixSocketPathFromURL: unixSocketPathFromURL, options: options, lists: &lists)
    }

    /// Turns on libcurl's verbose trace into `box`, which must outlive the easy handle.
    func enableTrace(_ box: TraceBox) throws(CurlError) {
        try check(ac_easy_setopt_debugfunction(raw, curlTraceCallback), CURLOPT_DEBUGFUNCTION)
        try set(CURLOPT_DEBUGDATA, pointer: Unmanaged.passUnretained(box).toOpaque())
        try set(CURLOPT_VERBOSE, true)
    }
}

extension TLSVersion {
    /// The `CURL_SSLVERSION_*` value.
    var curlValue: Int {
        switch self {
        case .tls1_0: return Int(CURL_SSLVERSION_TLSv1_0)
        case .tls1_1: return Int(CURL_SSLVERSION_TLSv1_1)
        case .tls1_2: return Int(CURL_SSLVERSION_TLSv1_2)
        case .tls1_3: return Int(CURL_SSLVERSION_TLSv1_3)
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

/// `CURLOPT_OPENSOCKETFUNCTION`: libcurl's own socket creation plus `SOCK_CLOEXEC`; libcurl
/// makes the socket non-blocking itself afterwards.
let curlOpenSocketCallback: curl_opensocket_callback = { _, _, address in
    guard let address else { return CURL_SOCKET_BAD }
    return socket(address.pointee.family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
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
    while text.last?.isNewline == true { text.removeLast() }
    let box = Unmanaged<TraceBox>.fromOpaque(userdata).takeUnretainedValue()
    if kind == .text { box.lastText = text }
    box.handler?(TraceEvent(kind: kind, text: text))
    return 0
}
