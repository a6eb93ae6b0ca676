import AsyncCurl
import Synchronization

/// A WebSocket client connection (RFC 6455), opened with
/// ``AsyncCurl/CurlMulti/webSocket(to:options:configuration:)`` over any connection libcurl can
/// set up: direct, through HTTP, HTTPS and SOCKS proxies, with every TLS option.
///
/// ```swift
/// let socket = try await multi.webSocket(to: "wss://echo.example.com/chat")
/// try await socket.send(.text("hello"))
/// for try await message in socket.messages {
///     print(message)
/// }
/// ```
///
/// ## Concurrency
/// Sending and receiving are independent: one task may read ``messages`` while others call
/// ``send(_:fragmentSize:timeout:)`` and ``ping(_:timeout:)``. Sends from several tasks are
/// queued, first come first served, and a message is never interleaved with another (control
/// frames, such as the automatic pongs, may go between the fragments of a long one, as RFC
/// 6455 allows). One task reads at a time: a second reader throws
/// ``WebSocketError/Code/receiveInProgress``.
///
/// ## Receiving
/// ``messages`` yields complete messages and ends (returns `nil`) when the closing handshake is
/// done, whoever began it; ``closeCode`` and ``closeReason`` then hold what the server said.
/// While it is read, pings are answered, pongs are matched to ``ping(_:timeout:)``, and the
/// keep-alive of ``WebSocketConfiguration/pingInterval`` runs. A peer that breaks the protocol
/// gets a close frame with the right code (1002, 1007, 1009) and the sequence throws
/// ``WebSocketError``; a connection that ends without a close frame throws
/// ``WebSocketError/Code/closedAbnormally``.
///
/// ## Cancellation
/// A cancelled read throws `CancellationError` and consumes nothing: the next read goes on
/// where it stopped. Sends follow `AsyncConnection`'s rules: cancelled before any
/// byte was written, nothing happened; cancelled after a partial write, the connection is closed.
///
/// ## Closing
/// ``close(code:reason:)`` runs the closing handshake with a deadline and releases the
/// connection. Dropping the last reference closes the connection without a handshake.
public final class WebSocket: Sendable {
    /// A complete message.
    public enum Message: Sendable, Hashable {
        /// A text message: valid UTF-8.
        case text(String)
        /// A binary message.
        case binary([UInt8])
    }

    /// The connection underneath, set up by libcurl.
    let connection: AsyncConnection
    let configuration: WebSocketConfiguration
    /// What only the current reader touches.
    let receiving: ReceiveSide
    /// What only the current sender of a message touches, and the send locks.
    let sending: SendSide
    let state = Mutex(SharedState())

    /// The sub-protocol the server chose from ``WebSocketConfiguration/subprotocols``, if any.
    public let subprotocol: String?

    /// The extensions in force, as the server's `Sec-WebSocket-Extensions` named them (such as
    /// `permessage-deflate; client_max_window_bits=15`); empty when none.
    public let extensions: [String]

    /// The server's `101 Switching Protocols` answer with all its header fields.
    public let handshakeResponse: WebSocketHandshakeResponse

    /// Facts about the connection underneath: addresses, TLS version and certificates, proxy,
    /// set-up timings.
    public var connectionInfo: ConnectionInfo { connection.info }

    init(connection: AsyncConnection, configuration: WebSocketConfiguration, response: WebSocketHandshakeResponse,
         agreement: OpeningHandshake.Agreement, deflater: Deflater?, inflater: Inflater?) {
        self.connection = connection
        self.configuration = configuration
        self.handshakeResponse = response
        self.subprotocol = agreement.subprotocol
        self.extensions = agreement.extensions
        receiving = ReceiveSide(configuration: configuration, inflater: inflater)
        sending = SendSide(deflater: deflater, minimumCompressedSize: configuration.compression?.minimumMessageSize ?? 0)
    }

    /// The close code of the server's close frame, once one has arrived; `nil` before, and when
    /// the frame carried no code (``WebSocketCloseCode/noStatusReceived`` on the wire's terms).
    public var closeCode: WebSocketCloseCode? { state.withLock { $0.receivedClose?.code } }

    /// The reason text of the server's close frame, once one has arrived (often empty).
    public var closeReason: String? { state.withLock { $0.receivedClose?.reason } }

    /// Whether the WebSocket is done: the closing handshake finished, the connection failed or
    /// was closed.
    public var isClosed: Bool { state.withLock { $0.isFinished } }
}

/// What the sending and receiving sides share, under the WebSocket's mutex.
struct SharedState {
    /// A close frame went out: no more data frames may follow (RFC 6455 §5.5.1).
    var closeSent = false
    /// The server's close frame, once it arrived.
    var receivedClose: (code: WebSocketCloseCode?, reason: String)?
    /// The reader has ended for good: closing handshake done, or the connection failed.
    var isFinished = false
    /// A task is reading (it owns ``WebSocket/receiving`` meanwhile).
    var readerActive = false
    /// Tasks waiting for the reader to leave (``WebSocket/close(code:reason:)``).
    var readerExitWaiters: [CheckedContinuation<Void, Never>] = []
    /// ``WebSocket/ping(_:timeout:)`` calls waiting for their pong.
    var pongWaiters = PongWaiters()
}
