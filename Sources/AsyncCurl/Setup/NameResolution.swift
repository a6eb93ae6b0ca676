#if canImport(Glibc)
import Glibc
#endif

/// A host name and port resolved to fixed addresses, for ``ConnectionOptions/resolve``
/// (one `CURLOPT_RESOLVE` entry, curl's `--resolve host:port:addresses`).
public struct ResolveEntry: Sendable, Hashable {
    /// The host name as it appears in the URL, such as `"svc.example.test"`.
    public var host: String
    /// The port of the URL the entry applies to.
    public var port: Int
    /// IPv4 or IPv6 addresses (IPv6 without brackets), tried in order.
    public var addresses: [String]

    /// `host` on `port` resolves to `addresses`.
    public init(host: String, port: Int, addresses: [String]) {
        self.host = host
        self.port = port
        self.addresses = addresses
    }

    /// The `CURLOPT_RESOLVE` line, `host:port:addr1,[v6addr]`, after checking every part.
    func curlEntry() throws(CurlError) -> String {
        try checkHostName(host, option: "resolve")
        try checkPort(port, option: "resolve", entry: "\(host):\(port)")
        guard !addresses.isEmpty else {
            throw CurlError(code: .badFunctionArgument, message: "resolve: the entry for \(host):\(port) has no addresses")
        }
        let written = try addresses.map { (address: String) throws(CurlError) -> String in
            guard let family = ipFamily(of: address) else {
                throw CurlError(code: .badFunctionArgument, message: "resolve: '\(address)' (for \(host):\(port)) is not an IPv4 or IPv6 address")
            }
            return family == AF_INET6 ? "[\(address)]" : address
        }
        return "\(host):\(port):\(written.joined(separator: ","))"
    }
}

/// Connects somewhere else than the URL says, for ``ConnectionOptions/connectTo`` (one
/// `CURLOPT_CONNECT_TO` entry, curl's `--connect-to host:port:connectHost:connectPort`).
///
/// A `nil` ``host`` or ``port`` matches any; a `nil` ``connectHost`` or ``connectPort`` keeps
/// the URL's. TLS still verifies and names the URL's host.
///
/// ```swift
/// // Reach api.example.test:443 at the canary machine, verifying api.example.test's certificate.
/// options.connectTo = [ConnectToEntry(host: "api.example.test", port: 443, connectHost: "10.0.0.7")]
/// ```
public struct ConnectToEntry: Sendable, Hashable {
    /// The URL host this applies to, or `nil` for any.
    public var host: String?
    /// The URL port this applies to, or `nil` for any.
    public var port: Int?
    /// The host name or address to connect to instead, or `nil` for the URL's.
    public var connectHost: String?
    /// The port to connect to instead, or `nil` for the URL's.
    public var connectPort: Int?

    /// Connections to `host`:`port` go to `connectHost`:`connectPort`.
    public init(host: String? = nil, port: Int? = nil, connectHost: String? = nil, connectPort: Int? = nil) {
        self.host = host
        self.port = port
        self.connectHost = connectHost
        self.connectPort = connectPort
    }

    /// The `CURLOPT_CONNECT_TO` line, after checking every part.
    func curlEntry() throws(CurlError) -> String {
        func written(_ name: String?) throws(CurlError) -> String {
            guard let name else { return "" }
            try checkHostName(name, option: "connectTo")
            return ipFamily(of: name) == AF_INET6 ? "[\(name)]" : name
        }
        func written(_ port: Int?) throws(CurlError) -> String {
            guard let port else { return "" }
            try checkPort(port, option: "connectTo", entry: "\(host ?? ""):\(port)")
            return String(port)
        }
        return "\(try written(host)):\(try written(port)):\(try written(connectHost)):\(try written(connectPort))"
    }
}

/// The IP versions a host name may resolve to, for ``ConnectionOptions/ipVersion``
/// (`CURLOPT_IPRESOLVE`).
public enum IPVersion: Sendable, Hashable, CaseIterable {
    /// IPv4 and IPv6, with happy eyeballs between them.
    case any
    /// IPv4 addresses only.
    case v4
    /// IPv6 addresses only.
    case v6
}

/// DNS-over-HTTPS (RFC 8484) for ``ConnectionOptions/dnsOverHTTPS``: libcurl sends the DNS
/// queries for the peer's (and a proxy's) host name as HTTPS requests to ``url``, on the same
/// engine.
///
/// The DoH server's certificate is verified with the connection's CA settings (``TLSOptions/caFile``,
/// ``TLSOptions/caCertificates``, … of ``ConnectionOptions/tls``), and the switches here.
///
/// ```swift
/// options.dnsOverHTTPS = DNSOverHTTPS(url: "https://doh.internal/dns-query")
/// ```
public struct DNSOverHTTPS: Sendable, Hashable {
    /// The DoH server's URL (`CURLOPT_DOH_URL`); it must be `https://`.
    public var url: String
    /// Verify the DoH server's certificate chain (`CURLOPT_DOH_SSL_VERIFYPEER`).
    public var verifyPeer: Bool
    /// Verify that the certificate is for the DoH URL's host (`CURLOPT_DOH_SSL_VERIFYHOST`).
    public var verifyHost: Bool
    /// Require a stapled OCSP response from the DoH server (`CURLOPT_DOH_SSL_VERIFYSTATUS`).
    public var verifyStatus: Bool

    /// DoH through `url`, with verification on.
    public init(url: String, verifyPeer: Bool = true, verifyHost: Bool = true, verifyStatus: Bool = false) {
        self.url = url
        self.verifyPeer = verifyPeer
        self.verifyHost = verifyHost
        self.verifyStatus = verifyStatus
    }

    /// Checks ``url`` before it reaches libcurl: https only, and well-formed.
    func checkedURL() throws(CurlError) -> String {
        guard url.lowercased().hasPrefix("https://") else {
            throw CurlError(code: .urlMalformat, message: "dnsOverHTTPS: '\(url)' is not an https:// URL; DNS-over-HTTPS must run over TLS")
        }
        try checkURLWithCurl(url, describedAs: "dnsOverHTTPS: '\(url)'")
        return url
    }
}

/// `AF_INET` or `AF_INET6` if `text` is an IP address of that family.
func ipFamily(of text: String) -> Int32? {
    var buffer = in6_addr()
    if inet_pton(AF_INET, text, &buffer) == 1 { return AF_INET }
    if inet_pton(AF_INET6, text, &buffer) == 1 { return AF_INET6 }
    return nil
}

/// A host name or address curl can take in a `host:port:…` entry.
func checkHostName(_ host: String, option: String) throws(CurlError) {
    let valid = !host.isEmpty && host.allSatisfy { character in
        character.isASCII && (character.isLetter || character.isNumber || "-._:".contains(character))
    }
    guard valid else {
        throw CurlError(code: .badFunctionArgument, message: "\(option): '\(host)' is not a host name or address")
    }
}

func checkPort(_ port: Int, option: String, entry: String) throws(CurlError) {
    guard (1...65535).contains(port) else {
        throw CurlError(code: .badFunctionArgument, message: "\(option): port \(port) in '\(entry)' is not from 1 to 65535")
    }
}
