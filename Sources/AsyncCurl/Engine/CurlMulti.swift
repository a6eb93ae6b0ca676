import CCurl
import CEpoll
import Dispatch
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The engine: one libcurl multi handle, driven by a Dispatch event loop, that opens
/// ``AsyncConnection``s.
///
/// libcurl does the connection set-up (DNS, TCP, proxies, TLS); the engine drives it with
/// `curl_multi_socket_action` from one epoll set watched by one Dispatch source, and then hands
/// the socket to an ``AsyncConnection`` whose `send` and `receive` suspend, rather than poll,
/// when the socket is not ready; a thread of the engine's own waits for open connections'
/// sockets and resumes them (its readiness thread).
///
/// ```swift
/// let multi = CurlMulti()
/// let reply = try await multi.withConnection(to: "tcp://127.0.0.1:6379") { connection in
///     try await connection.send("PING\r\n")
///     return try await connection.receive(maxLength: 64)
/// }
/// ```
///
/// One `CurlMulti` serves thousands of connections on one serial queue; most programs use
/// ``shared``. The actor runs on that queue, so libcurl's socket events and callbacks never
/// race each other. Sends and receives run on the calling tasks' threads and only their waits
/// involve the engine (its readiness thread); every libcurl call, on the queue or on a caller's
/// thread, holds the engine's libcurl lock.
public actor CurlMulti {
    /// A process-wide engine for programs that need only one.
    public static let shared = CurlMulti()

    let executor: DispatchQueueExecutor

    /// The actor runs on the engine's serial queue, where the event sources fire too.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    /// `nil` if libcurl, the epoll sets or the readiness thread could not be created; `connect`
    /// then throws `setupError`.
    let multi: UnsafeMutableRawPointer?
    /// curl's sockets, watched by `curlSocketSource`.
    let epoll: Epoll?
    /// Open connections' sockets, watched by a thread of their own (see ``ReadinessThread``).
    let readiness: ReadinessThread?
    let setupError: CurlError?
    /// Whether plain connections give libcurl's easy handle back once open (``init()``: yes).
    nonisolated let releasesLibcurlHandles: Bool
    /// How many connection set-ups run at once, and the turns that enforce it.
    public nonisolated let setUpLimit: SetUpLimit
    nonisolated let setUpTurns: SetUpTurns
    let curlSocketSource: DispatchSourceRead?
    let timer: DispatchSourceTimer

    /// Held around every libcurl call on the multi handle or its easy handles, on the engine's
    /// queue and on the callers' threads alike (see ``CurlChannel``). Never held while taking a
    /// connection's gate lock; callers may take it inside theirs.
    let curlLock = CountingMutex()

    /// curl's sockets while it sets connections up.
    var interests = InterestTable()
    var connections: [ConnectionID: ConnectionRecord] = [:]
    /// Transfers in the multi handle (``execute(_:method:headerFields:body:options:)``); their
    /// numbers come from the same counter as the connections'.
    var transfers: [ConnectionID: TransferRecord] = [:]
    /// The last connection's number; taken on callers' threads, which prepare connections.
    let lastConnectionID = Atomic<UInt64>(0)
    /// The libcurl connection caches (`CURLSH`) the connections live in, a few dozen
    /// connections each (see ``ConnectionCachePool``).
    var connectionCaches = ConnectionCachePool<UnsafeMutableRawPointer>(capacity: CurlMulti.connectionsPerCache)
    static let connectionsPerCache = 32
    /// Connections with a share of their own (``ConnectionRecord/privateCache``).
    var privateCacheCount = 0
    /// Suspended connects, for the diagnostics (the connections' gates count their waits).
    var pendingContinuations = 0
    /// Set by ``shutdown()``: no new connections.
    var isShutDown = false
    /// A full pass over libcurl's handles is queued (see `scheduleFullPass`).
    var fullPassScheduled = false
    /// FTP transfers in the multi handle. libcurl 7.88.1, driven by `curl_multi_socket_action`,
    /// can stall an FTP transfer for good: when the `EPSV`/`PASV` reply is read within the DO
    /// step (on a reused control connection, the server answering at once), the handle moves to
    /// DOING_MORE and waits for an event that never comes (no timer, and the data connection is
    /// not opened yet). A full pass after each action (`socketAction`) moves it on, as
    /// `curl_multi_perform` would.
    var ftpTransfers = 0

    /// Where `epoll_wait` writes events; reused for every batch.
    let events: UnsafeMutableBufferPointer<epoll_event>
    /// Where the one `curl_easy_recv` that attaches a new connection writes (libcurl 7.88.1
    /// returns at most 16 KiB per call); one per engine is enough because the engine is serial.
    let receiveBuffer: UnsafeMutableRawBufferPointer

    /// Owns the resources above and releases them when the engine goes away.
    let resources: EngineResources

    static let eventBatchSize = 256
    static let receiveBufferSize = 16 * 1024

    /// Creates an engine with its own multi handle, epoll sets, readiness thread and serial queue.
    ///
    /// Creation does not fail: if libcurl or the kernel refuses a resource (for example, the
    /// process is out of file descriptors), every ``connect(to:options:)`` throws a
    /// ``CurlError`` that says so.
    ///
    /// The engine runs at most 256 connection set-ups at once, which keeps a burst of connects
    /// from leaving its memory behind (``SetUpLimit/default``); ``init(setUpLimit:)`` changes it.
    public init() {
        self.init(releasingLibcurlHandles: true, setUpLimit: .default)
    }

    /// Creates an engine like ``init()`` that runs at most `setUpLimit` connection set-ups at
    /// once (``SetUpLimit``); ``SetUpLimit/unlimited`` starts every set-up at once.
    public init(setUpLimit: SetUpLimit) {
        self.init(releasingLibcurlHandles: true, setUpLimit: setUpLimit)
    }

    /// Creates an engine that frees libcurl's easy handle of a plain connection once it is open
    /// (`true`, what ``init()`` does; see `ConnectionRecord.releasesCurlWhenOpen`) or keeps it
    /// until the connection closes (`false`). Only for the benchmarks, which compare the two in
    /// one run (BENCHMARKS.md, "Memory per connection").
    @_spi(Benchmarks)
    public init(releasingLibcurlHandles: Bool, setUpLimit: SetUpLimit = .default) {
        self.releasesLibcurlHandles = releasingLibcurlHandles
        self.setUpLimit = setUpLimit
        let executor = DispatchQueueExecutor(label: "AsyncCurl.CurlMulti")
        self.setUpTurns = SetUpTurns(limit: setUpLimit, queue: executor.queue)
        let timer = DispatchSource.makeTimerSource(queue: executor.queue)
        self.executor = executor
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: Self.eventBatchSize)
        let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.receiveBufferSize, alignment: 16)
        self.events = events
        self.receiveBuffer = receiveBuffer
        self.timer = timer

        var setupError: CurlError?
        let globalResult = ensureCurlGlobalInit()
        if globalResult != CURLE_OK {
            setupError = CurlError(code: CurlError.Code(globalResult), message: "curl_global_init failed")
        }
        var epoll: Epoll?
        if setupError == nil {
            epoll = Epoll()
            if epoll == nil {
                setupError = CurlError(code: .failedInit, message: "could not create an epoll set: \(String(cString: strerror(errno)))")
            }
        }
        var readiness: ReadinessThread?
        if setupError == nil {
            do throws(CurlError) {
                readiness = try ReadinessThread.start()
            } catch {
                setupError = error
            }
        }
        var multi: UnsafeMutableRawPointer?
        if setupError == nil {
            multi = curl_multi_init()
            if multi == nil {
                setupError = CurlError(code: .failedInit, message: "curl_multi_init failed")
            }
        }
        var source: DispatchSourceRead?
        if let epoll, let multi, let readiness {
            let readSource = DispatchSource.makeReadSource(fileDescriptor: epoll.fileDescriptor, queue: executor.queue)
            // The epoll fd is closed only once Dispatch has stopped watching it, so its number
            // cannot be reused while a source still refers to it.
            readSource.setCancelHandler { epoll.close() }
            source = readSource
            self.multi = multi
            self.epoll = epoll
            self.readiness = readiness
        } else {
            epoll?.close()
            readiness?.stop()
            if let multi { curl_multi_cleanup(multi) }
            self.multi = nil
            self.epoll = nil
            self.readiness = nil
        }
        self.curlSocketSource = source
        self.setupError = setupError
        self.resources = EngineResources(multi: self.multi, curlSocketSource: source, readiness: self.readiness,
                                         timer: timer, events: events, receiveBuffer: receiveBuffer)

        guard let multi, let source else { return }
        let engine = Unmanaged.passUnretained(self).toOpaque()
        _ = ac_multi_setopt_socketfunction(multi, curlSocketCallback)
        _ = ac_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, engine)
        _ = ac_multi_setopt_timerfunction(multi, curlTimerCallback)
        _ = ac_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, engine)
        source.setEventHandler { [weak self] in
            self?.assumeIsolated { $0.handleReadiness() }
        }
        timer.setEventHandler { [weak self] in
            self?.assumeIsolated { $0.handleTimer() }
        }
        timer.schedule(deadline: .distantFuture)
        source.activate()
        timer.activate()
    }

    // MARK: - Connecting

    /// Opens a connection and returns it once TCP (and, for `tls://` and `https://`, TLS) is up,
    /// through the proxy if one is set; for a mail URL, once libcurl has also greeted the
    /// server, upgraded to TLS and logged in (<doc:MailProtocols>).
    ///
    /// - Parameters:
    ///   - url: `tcp://host:port` for plain TCP, `tls://host:port` for TLS, or `http://` and
    ///     `https://` URLs (which default to ports 80 and 443). IPv6 hosts go in brackets:
    ///     `tcp://[::1]:6379`. No HTTP is spoken: the connection is raw. `unix:///path` for a
    ///     Unix domain socket. `smtp://`, `smtps://`, `imap://`, `imaps://`, `pop3://` and
    ///     `pop3s://` for a mail session, handed over after the login.
    ///   - options: Time limit, proxy, TLS and socket options.
    /// - Returns: An open connection. Close it with ``AsyncConnection/close()``, or use
    ///   ``withConnection(to:options:isolation:_:)`` to have it closed for you.
    /// - Throws: ``CurlError`` with ``CurlError/Code/urlMalformat`` or
    ///   ``CurlError/Code/unsupportedProtocol`` for a bad URL (before any I/O),
    ///   ``CurlError/Code/couldNotResolveHost``, ``CurlError/Code/couldNotConnect``,
    ///   ``CurlError/Code/operationTimedOut``, ``CurlError/Code/peerFailedVerification``,
    ///   for mail URLs ``CurlError/Code/loginDenied`` and ``CurlError/Code/useSSLFailed``, and
    ///   others for set-up failures; `CancellationError` if the task is cancelled meanwhile, in
    ///   which case everything the attempt used is released at once.
    public nonisolated func connect(to url: String, options: ConnectionOptions = ConnectionOptions()) async throws -> AsyncConnection {
        try Task.checkCancellation()
        // The set-up's turn first (``SetUpLimit``): this frame is all a waiting connect holds.
        let turn = try await setUpTurns.enter(timeout: options.connectTimeout)
        defer { setUpTurns.leave(turn.token) }
        return try await connect(parsing: url, options: options, waitedForTurn: turn.waited)
    }

    /// ``connect(to:options:)`` in the set-up's turn.
    private nonisolated func connect(parsing url: String, options: ConnectionOptions,
                                     waitedForTurn: UInt64) async throws -> AsyncConnection {
        // Parsed and prepared on the caller's thread: the engine's executor is what many
        // concurrent connects queue for, so it does only what needs the multi handle.
        let record: ConnectionRecord
        do {
            let target = try ConnectionTarget(parsing: url)
            record = try prepareConnection(to: target, options: try options.afterWaitingForATurn(waitedForTurn))
        } catch {
            options.logger?.debug("connect failed before any I/O", metadata: ["asynccurl.url": "\(url)", "asynccurl.error": "\(error)"])
            throw error
        }
        return try await open(record)
    }

    /// Sets up a prepared connection and returns it open.
    private func open(_ record: ConnectionRecord) async throws -> AsyncConnection {
        let info = try await establish(record)
        return AsyncConnection(multi: self, record: record, info: info)
    }

    /// Opens a connection to `host` and `port`: TCP, or TLS when `tls` is true. The same as
    /// ``connect(to:options:)`` with a `tcp://` or `tls://` URL; IPv6 addresses need no brackets.
    public nonisolated func connect(host: String, port: Int, tls: Bool = false,
                        options: ConnectionOptions = ConnectionOptions()) async throws -> AsyncConnection {
        let hostInURL = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return try await connect(to: "\(tls ? "tls" : "tcp")://\(hostInURL):\(port)", options: options)
    }

    /// Starts the easy handle and suspends until libcurl is done setting it up.
    ///
    /// The handle joins the multi handle only inside the continuation's closure, once the
    /// continuation is stored: entering `withTaskCancellationHandler` may suspend the task (it
    /// does when the task prefers a task executor), and the engine runs its event handlers
    /// meanwhile, so a connect that libcurl finished in that window would find no continuation
    /// to resume and would never return.
    func establish(_ record: ConnectionRecord) async throws -> ConnectionInfo {
        let logger = record.logger
        logger?.debug("connecting", metadata: ["asynccurl.url": "\(record.target.curlURL)"])
        do {
            let info = try await establishLogged(record)
            logger?.debug("connected", metadata: ["asynccurl.info": "\(info)"])
            return info
        } catch {
            logger?.debug("connect failed", metadata: ["asynccurl.error": "\(error)"])
            throw error
        }
    }

    /// ``establish(_:)`` without the logging.
    private func establishLogged(_ record: ConnectionRecord) async throws -> ConnectionInfo {
        let id = record.id
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ConnectionInfo, any Error>) in
                // A cancellation that came before this point found nothing to cancel.
                if let failure = Task.isCancelled ? CancellationError() : start(record) {
                    release(record)
                    continuation.resume(throwing: failure)
                    return
                }
                record.state = .connecting(continuation)
                pendingContinuations += 1
            }
        } onCancel: {
            self.onEngineQueue { $0.cancelConnect(id) }
        }
    }

    /// Opens a connection, runs `body` with it, and closes it on every way out: return, throw
    /// and cancellation.
    ///
    /// ```swift
    /// let greeting = try await CurlMulti.shared.withConnection(to: "tcp://127.0.0.1:25") { smtp in
    ///     try await smtp.receive()
    /// }
    /// ```
    ///
    /// - Returns: What `body` returns.
    /// - Throws: What ``connect(to:options:)`` or `body` throws.
    /// `body` runs in the caller's isolation, so it may touch the caller's state freely.
    public func withConnection<Result>(
        to url: String,
        options: ConnectionOptions = ConnectionOptions(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (AsyncConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await connect(to: url, options: options)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// The engine's readiness thread as a task executor, for code that wants the lowest latency
    /// per wait.
    ///
    /// Normally a send or receive that has to wait is resumed in two steps: the engine's
    /// readiness thread sees the socket ready and hands the task to a thread of Swift's global
    /// pool. A task that prefers this executor is run by the readiness thread itself, right
    /// after the event, which saves that hand-off (one thread wake-up instead of two, as in a
    /// blocking `poll` loop):
    ///
    /// ```swift
    /// try await withTaskExecutorPreference(multi.taskExecutor) {
    ///     for request in requests {
    ///         try await connection.send(request)
    ///         replies.append(try await connection.receive(exactly: 64))
    ///     }
    /// }
    /// ```
    ///
    /// - Important: The thread serves every connection of the engine, so code that runs on it
    ///   delays every other connection's wake-ups while it runs, as on an event loop. Keep such
    ///   code to the protocol work between sends and receives; do not block in it, and run
    ///   heavy computation elsewhere. When the engine is released, tasks that still prefer its
    ///   executor continue on the global concurrent executor. If the engine could not be set up
    ///   (see ``connect(to:options:)``), this is the global concurrent executor.
    public nonisolated var taskExecutor: any TaskExecutor {
        readiness ?? globalConcurrentExecutor
    }

    /// The version of the libcurl loaded at run time, such as `"7.88.1"`; what it supports
    /// (for example the HTTP hand-over, from 7.86.0) is decided from this, not from the headers
    /// AsyncCurl was built with.
    public static var libcurlVersion: String { LoadedCurl.version }

    /// Closes every connection and refuses new ones.
    ///
    /// Pending connects, sends and receives throw ``ConnectionError/Code/engineShutDown``, as do
    /// later calls on the engine's connections and later connects. Use it to stop a subsystem
    /// cleanly; the engine's own resources are released when the last reference to it goes.
    public func shutdown() {
        isShutDown = true
        for id in Array(connections.keys) {
            close(id, error: .engineShutDown)
        }
        for id in Array(transfers.keys) {
            cancelTransfer(id, error: ConnectionError.engineShutDown)
        }
        // No connection will use its TLS sessions any more.
        if let retained = resources.retainedConnectionCache {
            resources.retainedConnectionCache = nil
            curlLock.withLock { _ = curl_share_cleanup(retained) }
        }
    }

    /// Runs `body` on the engine's queue, isolated to the engine. For work that arrives from
    /// outside any task: cancellation handlers and `deinit`.
    nonisolated func onEngineQueue(_ body: @escaping @Sendable (isolated CurlMulti) -> Void) {
        executor.queue.async {
            self.assumeIsolated { body($0) }
        }
    }
}
