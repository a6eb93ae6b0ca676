import CEpoll
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The part of an open connection that its callers reach without going through the engine's
/// executor: which operations are in progress, the socket's readiness waits and, for a
/// connection with no TLS at any layer, direct `send(2)` and `recv(2)`.
///
/// Why it exists: every call into the ``CurlMulti`` actor hands the caller's task to the
/// engine's queue and back, two thread hand-offs that cost more than the system call itself
/// (see BENCHMARKS.md). A plain TCP connection needs nothing from libcurl once it is open, so
/// its sends and receives run on the caller's thread, under this connection's lock. Other
/// connections (TLS, an HTTPS proxy, an HTTP hand-over) call `curl_easy_send` / `curl_easy_recv`
/// on the caller's thread too, through their ``CurlChannel``, holding the engine's libcurl lock
/// as well. When the socket is not ready, the caller parks a continuation here and arms the
/// socket's one-shot epoll registration itself; the engine's readiness thread only resumes it.
///
/// Why it is safe:
/// - The socket is used, and its epoll registration armed, only while the lock is held, and
///   the engine clears it under the same lock before libcurl closes the descriptor (`close`).
///   A direct call therefore either finishes before the close or finds no socket: it can never
///   touch a closed descriptor, nor another connection's socket that reused the number.
/// - The in-progress flags are claimed here, before an operation starts: one receive and one
///   send at a time, so bytes are never interleaved.
/// - Bytes received but not handed out yet (`unread`: read while attaching, given back by a
///   failed `receive(exactly:)`, or following a delimiter) live here too, and every receive
///   serves them first, so bytes are never delivered out of order.
/// - Every waiter is taken out of the state under the lock before it is resumed, by exactly one
///   of: readiness, its deadline, cancellation, or the connection's close.
///
/// `@unchecked Sendable`: the only mutable state not atomic, the `State` behind `state`, is read
/// and written only inside `withLock`, holding `mutex` (and in `deinit`, when no other reference
/// is left), and nothing leaves the lock but `Sendable` results. The other stored properties are
/// immutable and `Sendable` (`lastToken` is an `Atomic`).
final class ConnectionGate: @unchecked Sendable {
    struct State {
        /// The open connection's socket, registered (one-shot) in the engine's readiness set.
        var socket: Int32?
        /// No TLS at any layer: callers may use `socket` themselves.
        var allowsDirectIO = false
        /// Otherwise callers call libcurl through this, on their own threads.
        var channel: CurlChannel?
        /// A failure libcurl reported while a receive read ahead; the next receive throws it.
        var pendingFailure: CurlError?
        /// The first failure that ended the byte stream abnormally: any receive failure, or a
        /// reset that a send met first. Receives that then find the end of stream throw it
        /// instead of returning `nil`: the kernel reports a reset to one call only, and a reset
        /// must never read as a clean end of stream (a truncated reply would look complete).
        var streamFailure: CurlError?
        /// Bytes received but not handed out yet; every receive serves them first.
        var unread: [UInt8] = []
        var isReceiving = false
        var isSending = false
        /// ``AsyncConnection/finishSending()`` shut down the sending side.
        var sendingFinished = false

        var readWaiter: ReadinessWaiter?
        var writeWaiter: ReadinessWaiter?
        /// What a wait that starts after the close throws.
        var closeError = ConnectionError.closed
        /// One reusable timer per direction, created the first time a wait there has a deadline.
        /// Reusing it keeps a busy connection with long timeouts at constant memory.
        var readTimer: DispatchSourceTimer?
        var writeTimer: DispatchSourceTimer?

        var waiting: Readiness {
            var waiting: Readiness = []
            if readWaiter != nil { waiting.insert(.readable) }
            if writeWaiter != nil { waiting.insert(.writable) }
            return waiting
        }

        mutating func takeWaiter(_ direction: Readiness) -> ReadinessWaiter? {
            let waiter = direction == .readable ? readWaiter : writeWaiter
            guard let waiter else { return nil }
            if direction == .readable { readWaiter = nil } else { writeWaiter = nil }
            if waiter.deadline != nil {
                (direction == .readable ? readTimer : writeTimer)?.schedule(deadline: .distantFuture)
            }
            return waiter
        }
    }

    /// Only touched inside ``withLock(_:)``. Behind a pointer rather than a stored `var` because
    /// the lock already makes every access exclusive: a `var` of a class would add the runtime's
    /// dynamic exclusivity check to each of the several accesses a send or receive makes.
    private let state: UnsafeMutablePointer<State>
    private let mutex = PthreadMutex()
    /// The last wait's token; see `ReadinessWaiter.token`.
    let lastToken = Atomic<UInt64>(0)
    /// The engine's readiness set (where waits arm the socket) and queue (for deadline timers).
    let epoll: Epoll?
    let timerQueue: DispatchQueue
    /// ``ConnectionOptions/idleTimeout``: the longest one wait may last.
    let idleTimeout: Duration?

    init(epoll: Epoll?, timerQueue: DispatchQueue, idleTimeout: Duration?) {
        self.epoll = epoll
        self.timerQueue = timerQueue
        self.idleTimeout = idleTimeout
        state = UnsafeMutablePointer<State>.allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        // Every wait is finished before its gate can go: `close` takes them all.
        assert(state.pointee.readWaiter == nil && state.pointee.writeWaiter == nil, "a connection's gate dropped with a suspended send or receive")
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Runs `body` with the state, under the lock. Not reentrant.
    func withLock<Result: Sendable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try mutex.withLock { () throws(Failure) -> Result in try body(&state.pointee) }
    }

    // MARK: Claiming a direction

    /// Starts a receive; the caller must call ``endReceive()`` when it is over.
    func claimReceive() throws(ConnectionError) {
        try withLock { (state: inout State) throws(ConnectionError) in
            guard !state.isReceiving else { throw ConnectionError.receiveInProgress }
            state.isReceiving = true
        }
    }

    func endReceive() {
        withLock { $0.isReceiving = false }
    }

    /// Starts a send; the caller must call ``endSend()`` when it is over.
    func claimSend() throws {
        try withLock { state in
            guard !state.isSending else { throw ConnectionError.sendInProgress }
            guard !state.sendingFinished else {
                throw CurlError(code: .sendError, message: "the sending side was shut down by finishSending()")
            }
            state.isSending = true
        }
    }

    func endSend() {
        withLock { $0.isSending = false }
    }
}
