import CCurl
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// `/dev/null`, open for writing once per process, for libcurl output nobody reads (see
/// `configureSetup`); `nil` if it cannot be opened, and then the output goes to stderr.
///
/// `nonisolated(unsafe)`: a `let` set once by Swift's thread-safe global initialisation and
/// only read afterwards; the `FILE` it points to is written by libcurl alone, with stdio's own
/// locking, and never closed.
nonisolated(unsafe) let discardedOutput: UnsafeMutablePointer<FILE>? = fopen("/dev/null", "we")

/// The `curl_slist`s a connection's options hand to libcurl, which reads them until the
/// transfer is done and does not copy them: owned by the connection's record and freed with
/// its easy handle.
struct CurlLists {
    private(set) var lists: [UnsafeMutablePointer<curl_slist>] = []

    /// A new list of `lines`, kept until ``freeAll()``.
    mutating func make(_ lines: [String], for option: String) throws(CurlError) -> UnsafeMutablePointer<curl_slist> {
        try make(lines.map { Array($0.utf8) }, for: option)
    }

    /// A new list of `lines`, each its bytes without a terminating NUL, kept until ``freeAll()``.
    mutating func make(_ lines: [[UInt8]], for option: String) throws(CurlError) -> UnsafeMutablePointer<curl_slist> {
        var list: UnsafeMutablePointer<curl_slist>?
        for (number, line) in zip(1..., lines) {
            let cString = line.map { CChar(bitPattern: $0) } + [0]
            guard let appended = cString.withUnsafeBufferPointer({ curl_slist_append(list, $0.baseAddress) }) else {
                curl_slist_free_all(list)
                throw CurlError(code: .outOfMemory, message: "\(option): could not copy line \(number)")
            }
            list = appended
        }
        guard let list else {
            throw CurlError(code: .badFunctionArgument, message: "\(option): empty list")
        }
        lists.append(list)
        return list
    }

    mutating func freeAll() {
        for list in lists { curl_slist_free_all(list) }
        lists = []
    }
}

extension EasyHandle {
    /// The options of "every connection curl can set up": proxy authentication and chains,
    /// Unix sockets, name resolution, DNS-over-HTTPS, certificate info.
    func configureSetup(unixSocketPathFromURL: String?, options: ConnectionOptions, lists: inout CurlLists) throws(CurlError) {
        // libcurl's default is Basic only; set it always so the documented default holds.
        try set(CURLOPT_PROXYAUTH, Int(bitPattern: options.proxyAuthMethods.rawValue))
        if !options.proxyHeaders.isEmpty {
            let lines = options.proxyHeaders.curlHeaderLines
            try set(CURLOPT_PROXYHEADER, pointer: UnsafeMutableRawPointer(try lists.make(lines, for: "proxyHeaders")))
            // The default since 7.42.0, set so the headers can never reach the peer.
            try set(CURLOPT_HEADEROPT, Int(CURLHEADER_SEPARATE))
        }
        if let preProxy = options.preProxy {
            try set(CURLOPT_PRE_PROXY, try ProxyURL.checked(preProxy, option: "preProxy", schemes: ProxyURL.socksSchemes))
        }
        if options.haproxyProtocol {
            try set(CURLOPT_HAPROXYPROTOCOL, true)
        }

        if let name = options.abstractUnixSocket {
            try Self.checkSocketPath(name, option: "abstractUnixSocket", absolute: false)
            try set(CURLOPT_ABSTRACT_UNIX_SOCKET, name)
        } else if let path = unixSocketPathFromURL ?? options.unixSocketPath {
            if let fromURL = unixSocketPathFromURL, let fromOptions = options.unixSocketPath, fromURL != fromOptions {
                throw CurlError(code: .badFunctionArgument, message: "unixSocketPath: '\(fromOptions)' differs from the unix:// URL's '\(fromURL)'; give the path once")
            }
            try Self.checkSocketPath(path, option: "unixSocketPath", absolute: false)
            try set(CURLOPT_UNIX_SOCKET_PATH, path)
        }

        if !options.resolve.isEmpty {
            let lines = try options.resolve.map { (entry: ResolveEntry) throws(CurlError) in try entry.curlEntry() }
            try set(CURLOPT_RESOLVE, pointer: UnsafeMutableRawPointer(try lists.make(lines, for: "resolve")))
        }
        if !options.connectTo.isEmpty {
            let lines = try options.connectTo.map { (entry: ConnectToEntry) throws(CurlError) in try entry.curlEntry() }
            try set(CURLOPT_CONNECT_TO, pointer: UnsafeMutableRawPointer(try lists.make(lines, for: "connectTo")))
        }
        switch options.ipVersion {
        case .any: break
        case .v4: try set(CURLOPT_IPRESOLVE, Int(CURL_IPRESOLVE_V4))
        case .v6: try set(CURLOPT_IPRESOLVE, Int(CURL_IPRESOLVE_V6))
        }
        if let timeout = options.happyEyeballsTimeout {
            try set(CURLOPT_HAPPY_EYEBALLS_TIMEOUT_MS, max(0, timeout.wholeMilliseconds))
        }
        if let timeout = options.dnsCacheTimeout {
            guard timeout >= .zero else {
                throw CurlError(code: .badFunctionArgument, message: "dnsCacheTimeout: \(timeout) is negative")
            }
            try set(CURLOPT_DNS_CACHE_TIMEOUT, Int(clamping: timeout.components.seconds))
        }
        if let doh = options.dnsOverHTTPS {
            try set(CURLOPT_DOH_URL, try doh.checkedURL())
            try set(CURLOPT_DOH_SSL_VERIFYPEER, doh.verifyPeer)
            try set(CURLOPT_DOH_SSL_VERIFYHOST, doh.verifyHost ? 2 : 0)
            if doh.verifyStatus { try set(CURLOPT_DOH_SSL_VERIFYSTATUS, true) }
            // libcurl 7.88.1's DoH requests are transfers of their own that copy CURLOPT_VERBOSE
            // (on while a trace or logger listens) but not the debug function, so they would
            // print their trace to the process's stderr; they copy CURLOPT_STDERR, so it goes
            // nowhere. The connection's own trace still has curl's DoH lines ("DoH A: …").
            if let discard = discardedOutput {
                try set(CURLOPT_STDERR, pointer: UnsafeMutableRawPointer(discard))
            }
        }
        if options.collectsPeerCertificates {
            try set(CURLOPT_CERTINFO, true)
        }
        try configureMoreSetup(options: options)
    }

    static func checkSocketPath(_ path: String, option: String, absolute: Bool) throws(CurlError) {
        guard !path.isEmpty, !path.utf8.contains(0) else {
            throw CurlError(code: .badFunctionArgument, message: "\(option): '\(path)' is not a socket path")
        }
        // sockaddr_un.sun_path holds 108 bytes, with the terminating NUL (or, abstract, the leading one).
        guard path.utf8.count <= 107 else {
            throw CurlError(code: .badFunctionArgument, message: "\(option): '\(path)' is longer than a Unix socket address can hold (107 bytes)")
        }
        if absolute, !path.hasPrefix("/") {
            throw CurlError(code: .urlMalformat, message: "\(option): '\(path)' is not an absolute path")
        }
    }
}

extension HTTPFields {
    /// The fields as lines for a libcurl header list (`CURLOPT_HTTPHEADER`,
    /// `CURLOPT_PROXYHEADER`), in order and byte for byte: `Name: value`, or `Name:` for an
    /// empty value, which makes libcurl send no field of that name, not even its own.
    ///
    /// Nothing is left to check: `HTTPField.Name` is an RFC 9110 token, and HTTPTypes turns
    /// CR, LF and NUL in a value into spaces, so a field cannot add a line of its own.
    var curlHeaderLines: [[UInt8]] {
        map { field in
            var line = Array(field.name.rawName.utf8)
            line.append(UInt8(ascii: ":"))
            field.withUnsafeBytesOfValue { value in
                if !value.isEmpty {
                    line.append(UInt8(ascii: " "))
                    line.append(contentsOf: value)
                }
            }
            return line
        }
    }
}

/// Proxy URLs checked before libcurl sees them, so a typo is an error naming the option rather
/// than a confusing failure later.
enum ProxyURL {
    static let socksSchemes: Set<String> = ["socks4", "socks4a", "socks5", "socks5h"]
    static let proxySchemes: Set<String> = socksSchemes.union(["http", "https"])

    /// `url` if it is a proxy URL with one of `schemes` (a URL without a scheme is `http://`, as
    /// libcurl reads it) and a host. The empty string, which turns proxies off, passes.
    static func checked(_ url: String, option: String, schemes: Set<String>) throws(CurlError) -> String {
        if url.isEmpty, option == "proxy" { return url }
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        let scheme = parts.count == 2 ? parts[0].lowercased() : nil
        if let scheme, !schemes.contains(scheme) {
            throw CurlError(code: .unsupportedProtocol, message: "\(option): '\(url)' has the scheme '\(scheme)'; use \(schemes.sorted().map { "\($0)://" }.joined(separator: ", "))")
        }
        if scheme == nil, !schemes.contains("http") {
            throw CurlError(code: .urlMalformat, message: "\(option): '\(url)' has no scheme; use \(schemes.sorted().map { "\($0)://" }.joined(separator: ", "))")
        }
        let full = scheme == nil ? "http://\(url)" : url
        try checkURLWithCurl(full, describedAs: "\(option): '\(full)'", allowingAnyScheme: true)
        return url
    }
}
