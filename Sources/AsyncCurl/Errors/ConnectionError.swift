/// An error about the use or the lifecycle of an ``AsyncConnection`` rather than the network:
/// using a closed connection, two receives at once, a stream that ended early, or a send that was
/// cancelled half-way.
///
/// Network and TLS failures are ``CurlError``s; cancellation before anything happened is
/// `CancellationError`.
///
/// ```swift
/// do {
///     let header = try await connection.receive(exactly: 4)
/// } catch let error as ConnectionError where error.code == .unexpectedEndOfStream {
///     print("peer hung up after \(error.byteCount) of 4 bytes")
/// }
/// ```
public struct ConnectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var code: Code

    /// Bytes involved: for ``Code/unexpectedEndOfStream`` how many were received before the end,
    /// for ``Code/sendCancelled`` how many were written before the cancellation, for
    /// ``Code/delimiterNotFound`` how many were searched. Zero otherwise.
    public var byteCount: Int

    /// Creates an error; mostly useful for tests of code that handles these errors.
    public init(code: Code, byteCount: Int = 0) {
        self.code = code
        self.byteCount = byteCount
    }

    /// The kinds of ``ConnectionError``.
    public enum Code: Hashable, Sendable {
        /// The connection was closed, by ``AsyncConnection/close()``, by a failed or cancelled
        /// partial send, or because its ``CurlMulti`` shut down.
        case closed
        /// Another `receive` (or `chunks` iteration) is already waiting on this connection.
        /// Receives on one connection must be sequential; sends may run at the same time.
        case receiveInProgress
        /// Another `send` is already in progress on this connection. Sends on one connection
        /// must be sequential; receives may run at the same time.
        case sendInProgress
        /// The peer ended the stream before ``AsyncConnection/receive(exactly:timeout:)`` had its bytes.
        case unexpectedEndOfStream
        /// The task was cancelled after part of a `send` was written. The peer saw a torn
        /// message, so the connection was closed.
        case sendCancelled
        /// ``AsyncConnection/receive(through:maxLength:timeout:)`` read `maxLength` bytes
        /// without finding the delimiter; the bytes stay in the connection.
        case delimiterNotFound
        /// The connection's ``CurlMulti`` was shut down (``CurlMulti/shutdown()``), which closed
        /// the connection or refused the connect.
        case engineShutDown
    }

    /// The connection is closed.
    public static let closed = ConnectionError(code: .closed)
    /// A `receive` is already waiting on this connection.
    public static let receiveInProgress = ConnectionError(code: .receiveInProgress)
    /// A `send` is already in progress on this connection.
    public static let sendInProgress = ConnectionError(code: .sendInProgress)
    /// The engine was shut down.
    public static let engineShutDown = ConnectionError(code: .engineShutDown)

    /// The stream ended after `received` of the expected bytes.
    public static func unexpectedEndOfStream(received: Int) -> ConnectionError {
        ConnectionError(code: .unexpectedEndOfStream, byteCount: received)
    }

    /// A send was cancelled after `bytesWritten` bytes; the connection is now closed.
    public static func sendCancelled(bytesWritten: Int) -> ConnectionError {
        ConnectionError(code: .sendCancelled, byteCount: bytesWritten)
    }

    public var description: String {
        switch code {
        case .closed:
            return "ConnectionError.closed: the connection is closed"
        case .receiveInProgress:
            return "ConnectionError.receiveInProgress: another receive is already waiting on this connection"
        case .sendInProgress:
            return "ConnectionError.sendInProgress: another send is already in progress on this connection"
        case .unexpectedEndOfStream:
            return "ConnectionError.unexpectedEndOfStream: the peer closed the stream after \(byteCount) bytes"
        case .sendCancelled:
            return "ConnectionError.sendCancelled: cancelled after \(byteCount) bytes were written; the connection was closed"
        case .delimiterNotFound:
            return "ConnectionError.delimiterNotFound: no delimiter in the first \(byteCount) bytes"
        case .engineShutDown:
            return "ConnectionError.engineShutDown: the CurlMulti engine was shut down"
        }
    }
}
