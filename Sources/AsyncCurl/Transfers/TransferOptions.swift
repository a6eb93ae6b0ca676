/// How a transfer runs: the connection options it shares with ``CurlMulti/connect(to:options:)``
/// (proxy, TLS, name resolution, time limits for the set-up) and what only a request has:
/// HTTP version, redirects, decompression, server authentication, cookies, time limits for the
/// whole request, the response buffer and progress.
///
/// ```swift
/// var options = TransferOptions()
/// options.connection.proxy = "http://proxy.internal:3128"
/// options.connection.tls.caFile = "/etc/ssl/internal-ca.pem"
/// options.redirects = .follow(max: 5)
/// options.timeout = .seconds(30)
/// let response = try await multi.execute(request, options: options)
/// ```
public struct TransferOptions: Sendable {
    /// Proxy, TLS, resolve entries, Unix socket, interface and connect timeout, as for a
    /// connection. ``ConnectionOptions/idleTimeout`` becomes libcurl's low-speed limit: the
    /// transfer fails with ``CurlError/Code/operationTimedOut`` when less than one byte per
    /// second moved for that long (whole seconds; a transfer paused because the application
    /// reads its body slowly does not count as idle). libcurl averages the speed over the last
    /// few seconds, so after a burst of bytes a stall is noticed up to about 5 s later than the
    /// limit (measured with libcurl 7.88.1: 7 s for a 1 s limit right after 1000 bytes).
    public var connection = ConnectionOptions()

    /// Which HTTP version to ask for. Default: ``HTTPVersionChoice/http2``.
    public var httpVersion: HTTPVersionChoice = .http2

    /// Whether to follow redirects. Default: ``RedirectPolicy/none``: a 3xx response is
    /// returned as it is.
    public var redirects: RedirectPolicy = .none

    /// Whether to ask for compressed bodies (`Accept-Encoding` with every coding this libcurl
    /// decodes: gzip, deflate, br and zstd here) and hand out the decoded bytes. Default:
    /// `true`. The `Content-Length` field and ``TransferFacts/bytesDownloaded`` then count the
    /// compressed bytes; the body hands out the decoded ones. A body whose coding does not
    /// decode fails with ``CurlError/Code/badContentEncoding``.
    public var decompresses = true

    /// The user name and password for the server (`CURLOPT_USERNAME`, `CURLOPT_PASSWORD`),
    /// used with ``serverAuthMethods``; also the login of `ftp://` and other URLs.
    public var credentials: Credentials?

    /// The HTTP authentication methods offered to the server with ``credentials``. Default:
    /// ``AuthMethods/any``: libcurl first asks without credentials and answers with the
    /// strongest method the server offers. With ``AuthMethods/basic`` alone the credentials go
    /// with the first request (one round trip less, readable outside TLS).
    public var serverAuthMethods: AuthMethods = .any

    /// Cookies: `nil` (the default) sends none and keeps none. A ``CookieJar`` receives the
    /// response's `Set-Cookie` fields and sends matching cookies, across redirects and across
    /// every transfer that uses the same jar.
    public var cookies: CookieJar?

    /// A limit for the whole transfer, from the start (time queued for a connection included)
    /// to the last byte of the body; `nil` (the default) for none. A transfer paused because
    /// the application reads its body slowly keeps counting. When it passes, the transfer fails
    /// with ``CurlError/Code/operationTimedOut``.
    public var timeout: Duration?

    /// How many bytes of the response body may wait for the application before the transfer
    /// pauses (back-pressure). Default: 1 MiB. libcurl may hold more while paused (up to its
    /// own buffers; over HTTP/2 a stream window, see <doc:TransfersAndBackPressure>).
    public var responseBufferSize = 1 << 20

    /// How many bytes of a streamed request body (``RequestBody/stream(_:length:)``) may wait
    /// for libcurl before the sequence is no longer iterated. Default: 256 KiB. Also the size of
    /// libcurl's upload buffer (`CURLOPT_UPLOAD_BUFFERSIZE`, kept within libcurl's 16 KiB to
    /// 2 MiB), the most it sends in one piece, for every kind of request body.
    public var requestBufferSize = 256 << 10

    /// The size of libcurl's receive buffer for this transfer (`CURLOPT_BUFFERSIZE`), which is
    /// also the largest chunk the body hands out. Default: 64 KiB; 1 KiB to 512 KiB.
    public var receiveBufferSize = 64 << 10

    /// Called with the transfer's progress, on the engine's queue, at most a few times per
    /// second and whenever bytes move: keep it short (store the figures, or yield them to an
    /// `AsyncStream`). `nil` (the default) costs nothing.
    public var progress: (@Sendable (TransferProgress) -> Void)?

    /// Through an HTTP proxy, whether `http://` requests go through a `CONNECT` tunnel too
    /// instead of being forwarded by the proxy. Default: `false` (`https://` always tunnels).
    public var proxyTunnel = false

    /// Schemes a transfer may use, and which libcurl may follow a redirect to. Transfers accept
    /// `http`, `https`, `ftp`, `ftps`, `sftp`, `scp`, `smb`, `smbs`, `tftp`, `dict`, `gopher`,
    /// `gophers`, `imap`, `imaps`, `pop3` and `pop3s` URLs; redirects go only to `http` and
    /// `https`, and from an `https` URL only to `https`.
    public static let schemes: Set<String> = [
        "http", "https", "ftp", "ftps", "sftp", "scp", "smb", "smbs", "tftp", "dict",
        "gopher", "gophers", "imap", "imaps", "pop3", "pop3s",
    ]

    public init() {}
}

/// The HTTP version a transfer asks for (``TransferOptions/httpVersion``).
public enum HTTPVersionChoice: Sendable, Hashable {
    /// HTTP/1.1 only.
    case http1_1
    /// HTTP/2 over TLS when the server offers it (ALPN), HTTP/1.1 otherwise; `http://` URLs
    /// use HTTP/1.1. Several transfers to one server then share one connection (multiplexing).
    case http2
    /// HTTP/2 without asking first (prior knowledge), also over cleartext (`h2c`); fails
    /// against a server that speaks only HTTP/1.1. With libcurl 7.88.x, which fails any
    /// transfer that reuses such a connection, each transfer gets a connection of its own
    /// (no multiplexing, no keep-alive).
    case http2PriorKnowledge
}

/// Whether and how far a transfer follows redirects (``TransferOptions/redirects``).
public enum RedirectPolicy: Sendable, Hashable {
    /// A 3xx response is the response.
    case none
    /// Follow up to `max` redirects (`Location` fields); one more fails the transfer with
    /// ``CurlError/Code/tooManyRedirects``. libcurl's rules decide the method: after a 301,
    /// 302 or 303 a POST becomes a GET without its body (after a 303, any method but HEAD
    /// does); a 307 or 308 keeps the method and sends the body again, which a streamed body
    /// cannot do once started (the transfer fails with ``CurlError/Code/sendFailRewind``).
    /// A redirect to a scheme other than `http` or `https`, or from `https` to `http`, fails
    /// with ``CurlError/Code/unsupportedProtocol``.
    case follow(max: Int)
}

/// A user name and password (``TransferOptions/credentials``).
public struct Credentials: Sendable, Hashable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}
