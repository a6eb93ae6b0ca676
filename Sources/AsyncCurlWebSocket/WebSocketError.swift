import AsyncCurl

/// An error of the WebSocket layer: a bad URL or argument, a refused or invalid opening
/// handshake, a peer that broke the protocol, a connection lost without a closing handshake.
///
/// Failures of the connection underneath (DNS, proxy, TLS, a reset) are AsyncCurl's
/// `CurlError` and `ConnectionError`, thrown as they are; cancellation is
/// `CancellationError`.
///
/// ```swift
/// do {
///     let socket = try await multi.webSocket(to: "wss://api.example.com/stream")
/// } catch let error as WebSocketError where error.code == .handshakeFailed {
///     print("server answered", error.handshakeResponse?.statusCode ?? 0, error.message)
/// }
/// ```
public struct WebSocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var code: Code
    /// A description for people: what happened, and what to change where that is known.
    public var message: String
    /// For ``Code/protocolViolation`` and ``Code/messageTooBig``, the close code this client
    /// sent the peer (1002, 1007, 1009, …); for ``Code/closedAbnormally``,
    /// ``WebSocketCloseCode/abnormalClosure``. `nil` otherwise.
    public var closeCode: WebSocketCloseCode?
    /// For ``Code/handshakeFailed``, the server's answer when it sent a complete one.
    public var handshakeResponse: WebSocketHandshakeResponse?

    /// Creates an error; mostly useful for tests of code that handles these errors.
    public init(code: Code, message: String, closeCode: WebSocketCloseCode? = nil,
                handshakeResponse: WebSocketHandshakeResponse? = nil) {
        self.code = code
        self.message = message
        self.closeCode = closeCode
        self.handshakeResponse = handshakeResponse
    }

    /// The kinds of ``WebSocketError``.
    public enum Code: String, Hashable, Sendable {
        /// The URL is not a `ws://` or `wss://` one, or is malformed. Thrown before any I/O.
        case invalidURL
        /// An argument is not valid: a header with a line break, a sub-protocol that is not a
        /// token, a close reason over 123 bytes, a ping payload over 125 bytes, a close code that
        /// may not be sent. Thrown before any I/O.
        case invalidArgument
        /// The server did not accept the upgrade: an HTTP status other than 101 (see
        /// ``WebSocketError/handshakeResponse``), a wrong `Sec-WebSocket-Accept`, a
        /// sub-protocol or extension that was not offered, or an answer that is not HTTP.
        case handshakeFailed
        /// The peer broke RFC 6455 or RFC 7692 (a masked frame, a reserved opcode or bit,
        /// invalid UTF-8 in a text message, a bad close frame, undecodable compressed data).
        /// The client sent a close frame with ``WebSocketError/closeCode`` and closed the
        /// connection.
        case protocolViolation
        /// A frame or message exceeded ``WebSocketConfiguration/maximumFrameSize`` or
        /// ``WebSocketConfiguration/maximumMessageSize`` (for a compressed message, its
        /// inflated size). The client closed with 1009.
        case messageTooBig
        /// The connection ended without a closing handshake (close code 1006).
        case closedAbnormally
        /// No frame arrived within ``WebSocketConfiguration/pongTimeout`` of a keep-alive
        /// ping (``WebSocketConfiguration/pingInterval``): the peer or the path is dead. The
        /// connection was closed.
        case peerUnresponsive
        /// The WebSocket is closing or closed: no message may be sent any more.
        case closed
        /// Another task is already reading ``WebSocket/messages``: one reader at a time.
        case receiveInProgress
        /// A ``WebSocket/ping(_:timeout:)`` got no pong in time. The connection stays open.
        case pingTimedOut
    }

    public var description: String {
        let close = closeCode.map { " (close code \($0.rawValue))" } ?? ""
        return "WebSocketError.\(code.rawValue)\(close): \(message)"
    }
}
