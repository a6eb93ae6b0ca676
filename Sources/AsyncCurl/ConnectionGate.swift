import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The part of a connection that its callers reach without going through the engine's
/// executor: which operations are in progress and, for a connection with no TLS at any layer,
/// its socket for direct `send(2)` and `recv(2)`.
///
/// Why it exists: every call into the ``CurlMulti`` actor hands the caller's task to the
/// engine's queue and back, two thread hand-offs that cost more than the system call itself
/// (see BENCHMARKS.md). A plain TCP connection needs nothing from libcurl once it is open, so a
/// `send` or `receive` whose bytes can move at once does so on the caller's thread, under this
/// connection's lock; only when it would have to wait (`EAGAIN`), or for TLS, does it go to the
/// engine.
///
/// Why it is safe:
/// - The socket is used only while the lock is held, and the engine clears it, under the same
///   lock, before libcurl closes the descriptor (`discard`). A direct call therefore either
///   finishes before the close or finds no socket: it can never touch a closed descriptor, nor
///   another connection's socket that reused the number.
/// - The in-progress flags are claimed here, before either path starts, so a direct call and an
///   engine call of the same direction never overlap: one receive and one send at a time.
/// - While the engine holds bytes or an end of stream for the next receive (`unread`,
///   `sawEndOfStream`), direct receives are off, so bytes are never delivered out of order.
final class ConnectionGate: Sendable {
    private struct State {
        /// Set while the connection is open and has no TLS layer.
        var socket: Int32?
        /// The engine holds bytes (or the end of stream) that the next receive must return first.
        var engineHoldsReceivedBytes = false
        var isReceiving = false
        var isSending = false
        /// ``AsyncConnection/finishSending()`` shut down the sending side.
        var sendingFinished = false
    }

    private let state = Mutex(State())

    // MARK: Claiming a direction

    /// Starts a receive; the caller must call ``endReceive()`` when it is over.
    func claimReceive() throws(ConnectionError) {
        try state.withLock { (state: inout State) throws(ConnectionError) in
            guard !state.isReceiving else { throw ConnectionError.receiveInProgress }
            state.isReceiving = true
        }
    }

    func endReceive() {
        state.withLock { $0.isReceiving = false }
    }

    /// Starts a send; the caller must call ``endSend()`` when it is over.
    func claimSend() throws {
        try state.withLock { state in
            guard !state.isSending else { throw ConnectionError.sendInProgress }
            guard !state.sendingFinished else { throw Self.sendingFinishedError }
            state.isSending = true
        }
    }

    func endSend() {
        state.withLock { $0.isSending = false }
    }

    static let sendingFinishedError = CurlError(
        code: .sendError, message: "the sending side was shut down by finishSending()")

    // MARK: Direct I/O

    /// One `recv(2)` into `buffer` if the connection can be read directly and the bytes are
    /// there: the count (0 at end of stream), or `nil` when the engine must do the receive
    /// (TLS, bytes held by the engine, a closed connection, or nothing to read yet).
    func receiveDirectly(into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> Int? {
        try state.withLock { (state: inout State) throws(CurlError) -> Int? in
            guard let socket = state.socket, !state.engineHoldsReceivedBytes else { return nil }
            return try Self.receive(on: socket, into: buffer)
        }
    }

    /// One `send(2)` of `bytes` if the connection can be written directly: how many bytes the
    /// kernel took, which is 0 when the engine must send (or wait for) the rest.
    func sendDirectly(_ bytes: UnsafeRawBufferPointer) throws(CurlError) -> Int {
        try state.withLock { (state: inout State) throws(CurlError) -> Int in
            guard let socket = state.socket else { return 0 }
            return try Self.send(on: socket, bytes) ?? 0
        }
    }

    /// `recv(2)` with libcurl's wording for failures: the count, 0 at end of stream, `nil` on
    /// `EAGAIN`.
    private static func receive(on socket: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> Int? {
        while true {
            let count = Glibc.recv(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let number: throw CurlError(code: .recvError, message: "Recv failure: \(String(cString: strerror(number)))")
            }
        }
    }

    /// `send(2)` without `SIGPIPE`: the count taken, `nil` on `EAGAIN`.
    private static func send(on socket: Int32, _ bytes: UnsafeRawBufferPointer) throws(CurlError) -> Int? {
        while true {
            let count = Glibc.send(socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if count >= 0 { return count }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let number: throw CurlError(code: .sendError, message: "Send failure: \(String(cString: strerror(number)))")
            }
        }
    }

    // MARK: The engine's side

    /// The engine's `recv(2)` for a direct connection (the receive is already claimed);
    /// `nil` on `EAGAIN`. Under the lock like every use of the socket.
    func engineReceive(into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> Int? {
        try state.withLock { (state: inout State) throws(CurlError) -> Int? in
            guard let socket = state.socket else { return nil }
            return try Self.receive(on: socket, into: buffer)
        }
    }

    /// The engine's `send(2)` for a direct connection (the send is already claimed).
    func engineSend(_ bytes: UnsafeRawBufferPointer) throws(CurlError) -> Int? {
        try state.withLock { (state: inout State) throws(CurlError) -> Int? in
            guard let socket = state.socket else { return nil }
            return try Self.send(on: socket, bytes)
        }
    }

    /// The connection is open and has no TLS layer: from now on `socket` may be used directly.
    func openDirect(socket: Int32) {
        state.withLock { $0.socket = socket }
    }

    /// Called by the engine whenever a receive it ran is over (and after attaching): direct
    /// receives are off while it holds bytes or the end of stream.
    func setEngineHoldsReceivedBytes(_ holds: Bool) {
        state.withLock { $0.engineHoldsReceivedBytes = holds }
    }

    /// Marks the sending side shut down; throws if a send is in progress.
    func finishSending() throws(ConnectionError) -> Bool {
        try state.withLock { (state: inout State) throws(ConnectionError) -> Bool in
            guard !state.sendingFinished else { return false }
            guard !state.isSending else { throw ConnectionError.sendInProgress }
            state.sendingFinished = true
            return true
        }
    }

    /// The connection is closing: no direct I/O from now on. Returns only once no direct call
    /// is using the socket, so libcurl may close it right after.
    func close() {
        state.withLock { $0.socket = nil }
    }
}
