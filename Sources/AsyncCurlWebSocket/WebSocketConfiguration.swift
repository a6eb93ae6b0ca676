import AsyncCurl

/// How ``AsyncCurl/CurlMulti/webSocket(to:options:configuration:)`` opens a WebSocket and runs
/// it: the sub-protocols and extensions it offers, extra request headers, limits, keep-alive and
/// the closing handshake's deadline.
///
/// How the connection itself is set up (proxies, TLS, name resolution, timeouts of the connect)
/// is the `ConnectionOptions` passed beside it.
///
/// ```swift
/// var configuration = WebSocketConfiguration()
/// configuration.compression = .permessageDeflate
/// configuration.subprotocols = ["graphql-transport-ws"]
/// configuration.headers = [("Authorization", "Bearer \(token)")]
/// configuration.pingInterval = .seconds(20)
/// ```
public struct WebSocketConfiguration: Sendable {
    /// The compression extension to offer, or `nil` (the default) to offer none.
    /// ``WebSocket/extensions`` says whether the server accepted it.
    public var compression: WebSocketCompression?

    /// Sub-protocols to offer in `Sec-WebSocket-Protocol`, most wanted first; the server picks
    /// at most one (``WebSocket/subprotocol``). Each must be an HTTP token. Default: none.
    public var subprotocols: [String] = []

    /// Extra request headers for the opening handshake, such as `Authorization`, `Origin` or
    /// `Cookie`. Names and values may not contain line breaks; the handshake's own headers
    /// (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-*`) may not be given here.
    public var headers: [(name: String, value: String)] = []

    /// The largest frame payload accepted from the server: a longer frame fails the connection
    /// with close code 1009 as soon as its header arrives, before its payload is buffered.
    /// Default 16 MiB.
    public var maximumFrameSize: Int = 16 << 20

    /// The largest message accepted from the server, after decompression: a larger one fails
    /// the connection with close code 1009 as soon as it passes the limit, so a message
    /// compressed to a few bytes cannot inflate to gigabytes. Default 16 MiB.
    public var maximumMessageSize: Int = 16 << 20

    /// The longest the opening handshake may take once the connection is set up, from sending
    /// the request to the end of the server's answer. Default 30 seconds.
    public var handshakeTimeout: Duration = .seconds(30)

    /// How long ``WebSocket/close(code:reason:)`` waits for the server's close frame (and then
    /// for it to close the connection) before closing the connection without it. Default 10
    /// seconds.
    public var closeTimeout: Duration = .seconds(10)

    /// When set, a ping is sent after this long without any frame from the server, while
    /// ``WebSocket/messages`` is being read; see ``pongTimeout``. Default `nil`: no keep-alive
    /// pings.
    public var pingInterval: Duration?

    /// How long after a keep-alive ping a frame (any frame: the pong, or anything else) must
    /// arrive; otherwise the connection is closed and ``WebSocket/messages`` throws
    /// ``WebSocketError/Code/peerUnresponsive``. Default 20 seconds.
    public var pongTimeout: Duration = .seconds(20)

    /// The largest frame this client sends: a longer message goes out as a fragmented message
    /// of frames of at most this many payload bytes. Default `nil`: one frame per message.
    /// ``WebSocket/send(_:fragmentSize:timeout:)`` can choose per message.
    public var sendFragmentSize: Int?

    /// A configuration with the defaults.
    public init() {}
}
