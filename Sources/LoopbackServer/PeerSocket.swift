#if canImport(Glibc)
import Glibc
#endif

/// A connected, blocking TCP socket, handed to a `LoopbackServer.Mode.handler` closure so a test
/// can script the server side of a conversation byte by byte.
///
/// Sendable because its only stored state is immutable (`fd`, `onClose`) or behind a `Locked`.
/// The server may close the socket from another thread (in `stop()`) while the handler is
/// blocked in a read or write on it. To make that safe against fd-number reuse, every operation
/// registers itself as in flight while it uses `fd`; a `close()` that finds operations in flight
/// only calls `shutdown(SHUT_RDWR)` (which wakes them: reads see EOF, writes fail) and the last
/// operation to finish performs the actual `close(2)`. So `fd` is never closed while a system
/// call may still be using it, and it is closed exactly once.
public final class PeerSocket: Sendable {
    /// The socket's file descriptor. Valid until `close()` or `reset()`.
    public let fd: Int32

    private struct State {
        /// `close()` or `reset()` was called: no new operations may start.
        var closeRequested = false
        /// Operations currently using `fd`.
        var inFlight = 0
        /// `close(2)` has been called on `fd`.
        var fdClosed = false
    }

    private let state = Locked(State())
    /// Called once, right after `fd` is closed (the server uses it to count open clients).
    private let onClose: (@Sendable () -> Void)?

    init(fd: Int32, onClose: (@Sendable () -> Void)? = nil) {
        self.fd = fd
        self.onClose = onClose
    }

    deinit {
        close()
    }

    // MARK: Writing

    /// Writes all of `bytes`, looping over partial writes. Uses MSG_NOSIGNAL, so a peer that has
    /// gone away produces an error (EPIPE, ECONNRESET), never a SIGPIPE.
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = try withFD("write") { fd in
                bytes.withUnsafeBytes { buffer in
                    send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                }
            }
            if sent >= 0 {
                offset += sent
            } else if errno != EINTR {
                throw LoopbackServerError("write", errno: errno)
            }
        }
    }

    /// Writes the UTF-8 bytes of `string`.
    public func write(_ string: String) throws {
        try write(Array(string.utf8))
    }

    // MARK: Reading

    /// Reads whatever is available, at most `maxLength` bytes, blocking until something is.
    /// Returns `nil` at EOF.
    public func read(maxLength: Int = 65536) throws -> [UInt8]? {
        precondition(maxLength > 0, "maxLength must be positive")
        var buffer = [UInt8](repeating: 0, count: maxLength)
        while true {
            let received = try withFD("read") { fd in
                buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            }
            if received > 0 {
                buffer.removeSubrange(received...)
                return buffer
            }
            if received == 0 { return nil }
            if errno != EINTR { throw LoopbackServerError("read", errno: errno) }
        }
    }

    /// Reads exactly `exactly` bytes; throws if EOF comes first.
    public func read(exactly count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            guard let chunk = try read(maxLength: min(count - result.count, 65536)) else {
                throw LoopbackServerError(
                    "read(exactly: \(count))",
                    message: "peer closed after \(result.count) bytes")
            }
            result += chunk
        }
        return result
    }

    /// Reads until the peer closes or shuts down its side.
    public func readToEnd() throws -> [UInt8] {
        var result: [UInt8] = []
        while let chunk = try read() {
            result += chunk
        }
        return result
    }

    // MARK: Closing

    /// `shutdown(SHUT_WR)`: sends FIN, so the peer reads EOF; reading stays possible.
    /// Does nothing once the socket is closed.
    public func shutdownWrite() {
        _ = try? withFD("shutdown") { fd in Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Closes with `SO_LINGER {1, 0}`, so the kernel sends RST instead of FIN: the peer sees
    /// ECONNRESET. Does nothing if the socket is already closed.
    public func reset() {
        close(abortive: true)
    }

    /// Closes the socket. Idempotent, and safe to call from any thread while another thread is
    /// blocked on the socket (see the type's documentation). Returns once `fd` is closed, unless
    /// an operation in flight takes longer than 2 s to notice the shutdown, in which case that
    /// operation closes `fd` when it returns.
    public func close() {
        close(abortive: false)
    }

    private func close(abortive: Bool) {
        let closedNow = state.withLock { state -> Bool in
            guard !state.closeRequested else { return false }
            state.closeRequested = true
            if abortive {
                var option = Glibc.linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            if state.inFlight == 0 {
                state.fdClosed = true
                closeQuietly(fd)
                return true
            }
            // Still under the lock, so `fd` cannot have been closed and reused yet. The blocked
            // operations wake up, and the last one closes `fd` in `finish()`.
            _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
            return false
        }
        if closedNow {
            onClose?()
            return
        }
        // Wait (briefly: a woken system call returns at once) so callers, and `stop()` in
        // particular, can rely on the fd being gone when this returns.
        for _ in 0..<20_000 {
            if state.withLock({ $0.fdClosed }) { return }
            usleep(100)
        }
    }

    // MARK: In-flight bookkeeping

    /// Runs `body` with `fd` while holding an in-flight registration, so `fd` stays open for it.
    /// `errno` is preserved from `body` for the caller to inspect.
    private func withFD<R>(_ operation: String, _ body: (Int32) -> R) throws -> R {
        let started = state.withLock { state -> Bool in
            guard !state.closeRequested else { return false }
            state.inFlight += 1
            return true
        }
        guard started else { throw LoopbackServerError(operation, errno: EBADF) }
        let result = body(fd)
        let savedErrno = errno
        finish()
        errno = savedErrno
        return result
    }

    private func finish() {
        let closedNow = state.withLock { state -> Bool in
            state.inFlight -= 1
            guard state.closeRequested, state.inFlight == 0, !state.fdClosed else { return false }
            state.fdClosed = true
            closeQuietly(fd)
            return true
        }
        if closedNow { onClose?() }
    }
}
