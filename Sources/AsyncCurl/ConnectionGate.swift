import CEpoll
import Dispatch
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
/// socket's one-shot epoll registration itself; the engine's event loop only resumes it.
///
/// Why it is safe:
/// - The socket is used, and its epoll registration armed, only while the lock is held, and
///   the engine clears it under the same lock before libcurl closes the descriptor (`close`).
///   A direct call therefore either finishes before the close or finds no socket: it can never
///   touch a closed descriptor, nor another connection's socket that reused the number.
/// - The in-progress flags are claimed here, before either path starts, so a direct call and an
///   engine call of the same direction never overlap: one receive and one send at a time.
/// - While the engine holds bytes or an end of stream for the next receive (`unread`,
///   `sawEndOfStream`), direct receives are off, so bytes are never delivered out of order.
/// - Every waiter is taken out of the state under the lock before it is resumed, by exactly one
///   of: readiness, its deadline, cancellation, or the connection's close.
///
/// `@unchecked Sendable`: the only mutable state, `state`, is read and written only inside
/// `withLock`, holding `mutex`, and nothing leaves the lock but `Sendable` results. The other
/// stored properties are immutable and `Sendable`.
final class ConnectionGate: @unchecked Sendable {
    private struct State {
        /// The open connection's socket, registered (one-shot) in the engine's epoll set.
        var socket: Int32?
        /// No TLS at any layer: callers may use `socket` themselves.
        var allowsDirectIO = false
        /// Otherwise callers call libcurl through this, on their own threads.
        var channel: CurlChannel?
        /// A failure libcurl reported while a receive read ahead; the next receive throws it.
        var pendingFailure: CurlError?
        /// The engine holds bytes (or the end of stream) that the next receive must return first.
        var engineHoldsReceivedBytes = false
        var isReceiving = false
        var isSending = false
        /// ``AsyncConnection/finishSending()`` shut down the sending side.
        var sendingFinished = false

        var readWaiter: ReadinessWaiter?
        var writeWaiter: ReadinessWaiter?
        var lastToken: UInt64 = 0
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

    private var state = State()
    private let mutex = PthreadMutex()
    /// The engine's epoll set and queue (for deadline timers).
    private let epoll: Epoll?
    private let timerQueue: DispatchQueue
    /// ``ConnectionOptions/idleTimeout``: the longest one wait may last.
    private let idleTimeout: Duration?

    init(epoll: Epoll?, timerQueue: DispatchQueue, idleTimeout: Duration?) {
        self.epoll = epoll
        self.timerQueue = timerQueue
        self.idleTimeout = idleTimeout
    }

    deinit {
        // Every wait is finished before its gate can go: `close` takes them all.
        assert(state.readWaiter == nil && state.writeWaiter == nil, "a connection's gate dropped with a suspended send or receive")
    }

    /// Runs `body` with the state, under the lock. Not reentrant.
    private func withLock<Result: Sendable, Failure: Error>(
        _ body: (inout State) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try mutex.withLock { () throws(Failure) -> Result in try body(&state) }
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

    // MARK: Direct I/O

    /// What one send or receive on the caller's thread did.
    enum Transfer: Equatable {
        /// This many bytes moved; for a receive, 0 is the end of stream.
        case transferred(Int)
        /// The socket is not ready (`EAGAIN`, `CURLE_AGAIN`): wait with
        /// ``waitUntilReady(_:deadline:)``.
        case wouldBlock
        /// The engine must do it: it holds bytes for the connection, or the connection is closed.
        case notDirect
    }

    /// A receive on the caller's thread: one `recv(2)` into `buffer` for a connection without
    /// TLS; otherwise `curl_easy_recv` until `buffer` is full or libcurl has nothing more (one
    /// call returns at most one TLS record).
    func receiveDirectly(into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> Transfer {
        try withLock { (state: inout State) throws(CurlError) -> Transfer in
            guard let socket = state.socket, !state.engineHoldsReceivedBytes else { return .notDirect }
            if let failure = state.pendingFailure {
                state.pendingFailure = nil
                throw failure
            }
            if state.allowsDirectIO {
                return try Self.receive(on: socket, into: buffer)
            }
            guard let channel = state.channel else { return .notDirect }
            var total = 0
            while total < buffer.count {
                let transfer: Transfer
                do throws(CurlError) {
                    transfer = try channel.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
                } catch {
                    guard total > 0 else { throw error }
                    state.pendingFailure = error
                    break
                }
                guard case .transferred(let count) = transfer, count > 0 else {
                    // Nothing more now, or the end of stream (which libcurl reports again).
                    return total > 0 ? .transferred(total) : transfer
                }
                total += count
            }
            return .transferred(total)
        }
    }

    /// A send on the caller's thread: one `send(2)` of `bytes` for a connection without TLS,
    /// one `curl_easy_send` otherwise.
    func sendDirectly(_ bytes: UnsafeRawBufferPointer) throws(CurlError) -> Transfer {
        try withLock { (state: inout State) throws(CurlError) -> Transfer in
            guard let socket = state.socket else { return .notDirect }
            if state.allowsDirectIO {
                return try Self.send(on: socket, bytes)
            }
            return try state.channel?.send(bytes) ?? .notDirect
        }
    }

    /// Throws the failure a receive met while reading ahead, if there is one. For a receive
    /// that goes to the engine without ``receiveDirectly(into:)``.
    func throwPendingFailure() throws(CurlError) {
        try withLock { (state: inout State) throws(CurlError) in
            if let failure = state.pendingFailure {
                state.pendingFailure = nil
                throw failure
            }
        }
    }

    /// The engine's `recv(2)` for a connection without TLS whose receive it runs (with bytes it
    /// holds, or a delimited read): the same as ``receiveDirectly(into:)`` without the check for
    /// held bytes.
    func engineReceive(into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> Transfer {
        try withLock { (state: inout State) throws(CurlError) -> Transfer in
            guard state.allowsDirectIO, let socket = state.socket else { return .notDirect }
            return try Self.receive(on: socket, into: buffer)
        }
    }

    /// `recv(2)` with libcurl's wording for failures.
    private static func receive(on socket: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(CurlError) -> Transfer {
        while true {
            let count = Glibc.recv(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count >= 0 { return .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let number: throw CurlError(code: .recvError, message: "Recv failure: \(String(cString: strerror(number)))")
            }
        }
    }

    /// `send(2)` without `SIGPIPE`, with libcurl's wording for failures.
    private static func send(on socket: Int32, _ bytes: UnsafeRawBufferPointer) throws(CurlError) -> Transfer {
        while true {
            let count = Glibc.send(socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if count >= 0 { return .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let number: throw CurlError(code: .sendError, message: "Send failure: \(String(cString: strerror(number)))")
            }
        }
    }

    // MARK: Waiting for readiness

    /// Suspends until the socket is ready in `direction`. Throws ``ConnectionError/closed`` (or
    /// the engine's shut-down error) if the connection closes meanwhile, `CancellationError` if
    /// the task is cancelled, and `ReadinessTimeout` at `deadline` or after the connection's idle
    /// timeout, whichever comes first. Callable from any context.
    func waitUntilReady(_ direction: Readiness, deadline operationDeadline: ContinuousClock.Instant?) async throws {
        try Task.checkCancellation()
        var deadline = operationDeadline
        if let idleTimeout {
            let idleDeadline = ContinuousClock.now + idleTimeout
            deadline = min(deadline ?? idleDeadline, idleDeadline)
        }
        if let deadline, deadline <= ContinuousClock.now { throw ReadinessTimeout() }
        let token = withLock { state in
            state.lastToken += 1
            return state.lastToken
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let waiter = ReadinessWaiter(token: token, continuation: continuation, deadline: deadline)
                switch park(waiter, direction) {
                case .parked: break
                case .refused(let error): waiter.finish(throwing: error)
                case .retry: waiter.finish()
                }
            }
        } onCancel: {
            self.endWait(direction, token: token, with: CancellationError())
        }
    }

    private enum Parking {
        case parked
        /// Not parked; the wait throws this.
        case refused(any Error)
        /// Not parked, because the socket could not be armed (it always should be): the
        /// operation retries at once, so its system call reports the real problem.
        case retry
    }

    /// Stores `waiter` and arms the socket's registration for it.
    private func park(_ waiter: ReadinessWaiter, _ direction: Readiness) -> Parking {
        withLock { (state: inout State) -> Parking in
            guard let socket = state.socket else { return .refused(state.closeError) }
            // A cancellation that came before the waiter was stored found nothing to cancel;
            // one that comes after finds it, since it needs this lock.
            if Task.isCancelled { return .refused(CancellationError()) }
            if direction == .readable { state.readWaiter = waiter } else { state.writeWaiter = waiter }
            if let deadline = waiter.deadline {
                armTimer(&state, direction, for: deadline)
            }
            guard let epoll, epoll.arm(socket, for: state.waiting) == 0 else {
                _ = state.takeWaiter(direction)
                return .retry
            }
            return .parked
        }
    }

    /// Arms the timer for `direction`, creating it on first use.
    private func armTimer(_ state: inout State, _ direction: Readiness, for deadline: ContinuousClock.Instant) {
        let timer: DispatchSourceTimer
        if let existing = direction == .readable ? state.readTimer : state.writeTimer {
            timer = existing
        } else {
            timer = DispatchSource.makeTimerSource(queue: timerQueue)
            timer.setEventHandler { [weak self] in self?.expireWait(direction) }
            timer.activate()
            if direction == .readable { state.readTimer = timer } else { state.writeTimer = timer }
        }
        timer.schedule(deadline: .now() + (deadline - ContinuousClock.now).dispatchInterval)
    }

    /// A deadline timer fired: expire the current wait of `direction` if its deadline has passed
    /// (the timer may belong to a wait that has since been replaced).
    private func expireWait(_ direction: Readiness) {
        let expired = withLock { (state: inout State) -> ReadinessWaiter? in
            guard let waiter = direction == .readable ? state.readWaiter : state.writeWaiter,
                  let deadline = waiter.deadline else { return nil }
            if ContinuousClock.now < deadline {
                armTimer(&state, direction, for: deadline)
                return nil
            }
            return state.takeWaiter(direction)
        }
        expired?.finish(throwing: ReadinessTimeout())
    }

    /// Ends one particular wait early (cancellation). A wait that already ended (its token no
    /// longer matches) is left alone: the operation sees the cancellation itself.
    private func endWait(_ direction: Readiness, token: UInt64, with error: any Error) {
        let waiter = withLock { (state: inout State) -> ReadinessWaiter? in
            guard (direction == .readable ? state.readWaiter : state.writeWaiter)?.token == token else { return nil }
            return state.takeWaiter(direction)
        }
        waiter?.finish(throwing: error)
    }

    // MARK: The engine's side

    /// The connection is open on `socket`, which the engine has added (disarmed) to its epoll
    /// set. From now on callers read and write it themselves: with `direct`, with system calls;
    /// otherwise through `channel`.
    func open(socket: Int32, direct: Bool, channel: CurlChannel) {
        withLock { state in
            state.socket = socket
            state.allowsDirectIO = direct
            state.channel = direct ? nil : channel
        }
    }

    /// The event loop saw `ready` on the socket: resumes the waits of those directions. The
    /// one-shot registration is now disarmed; it is armed again for a wait that remains.
    func wake(_ ready: Readiness) {
        let (reader, writer) = withLock { (state: inout State) -> (ReadinessWaiter?, ReadinessWaiter?) in
            let reader = ready.contains(.readable) ? state.takeWaiter(.readable) : nil
            let writer = ready.contains(.writable) ? state.takeWaiter(.writable) : nil
            if let socket = state.socket, let epoll, !state.waiting.isEmpty, epoll.arm(socket, for: state.waiting) != 0 {
                // Cannot re-arm: wake the rest too, so they retry and see the problem.
                return (reader ?? state.takeWaiter(.readable), writer ?? state.takeWaiter(.writable))
            }
            return (reader, writer)
        }
        reader?.finish()
        writer?.finish()
    }

    /// Called by the engine whenever a receive it ran is over (and after attaching): direct
    /// receives are off while it holds bytes or the end of stream.
    func setEngineHoldsReceivedBytes(_ holds: Bool) {
        withLock { $0.engineHoldsReceivedBytes = holds }
    }

    /// Marks the sending side shut down: true the first time, false if it already was. Throws
    /// if a send is in progress.
    func finishSending() throws(ConnectionError) -> Bool {
        try withLock { (state: inout State) throws(ConnectionError) -> Bool in
            guard !state.sendingFinished else { return false }
            guard !state.isSending else { throw ConnectionError.sendInProgress }
            state.sendingFinished = true
            return true
        }
    }

    /// Suspended sends and receives, for the engine's diagnostics.
    var waiterCount: Int {
        withLock { ($0.readWaiter == nil ? 0 : 1) + ($0.writeWaiter == nil ? 0 : 1) }
    }

    /// The connection is closing: no direct I/O and no new waits from now on, and the current
    /// waits throw `error`. Returns once no direct call is using the socket, so libcurl may
    /// close it right after.
    func close(waitersThrow error: ConnectionError) {
        let (reader, writer) = withLock { (state: inout State) -> (ReadinessWaiter?, ReadinessWaiter?) in
            state.socket = nil
            state.allowsDirectIO = false
            state.channel = nil
            state.closeError = error
            state.readTimer?.cancel()
            state.writeTimer?.cancel()
            return (state.takeWaiter(.readable), state.takeWaiter(.writable))
        }
        reader?.finish(throwing: error)
        writer?.finish(throwing: error)
    }
}
