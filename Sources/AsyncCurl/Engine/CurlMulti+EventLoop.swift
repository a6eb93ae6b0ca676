import CCurl
import Dispatch
import CEpoll
#if canImport(Glibc)
import Glibc
#endif

// The event loop: libcurl's socket and timer callbacks feed the epoll set and the one timer;
// the Dispatch read source on the epoll fd and the timer call `curl_multi_socket_action`, and
// every action is followed by draining `curl_multi_info_read`. Everything here runs on the
// engine's queue, isolated to the engine.

/// `CURLMOPT_SOCKETFUNCTION`. libcurl calls it only from inside calls the engine makes on its
/// own executor, so the engine is already isolated; it must not call libcurl back.
let curlSocketCallback: curl_socket_callback = { _, socket, what, engine, _ in
    guard let engine else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(engine).takeUnretainedValue().assumeIsolated { engine in
        engine.curlWantsSocket(socket, what: what)
    }
    return 0
}

/// `CURLMOPT_TIMERFUNCTION`: one one-shot timer, replaced on every call.
let curlTimerCallback: curl_multi_timer_callback = { _, timeoutMilliseconds, engine in
    guard let engine else { return 0 }
    Unmanaged<CurlMulti>.fromOpaque(engine).takeUnretainedValue().assumeIsolated { engine in
        engine.curlWantsTimer(milliseconds: timeoutMilliseconds)
    }
    return 0
}

extension CurlMulti {
    /// libcurl's complete wanted set for `socket`; `CURL_POLL_REMOVE` is the empty set.
    func curlWantsSocket(_ socket: Int32, what: Int32) {
        var interest: Readiness = []
        switch what {
        case CURL_POLL_IN: interest = .readable
        case CURL_POLL_OUT: interest = .writable
        case CURL_POLL_INOUT: interest = [.readable, .writable]
        default: interest = []
        }
        apply(interests.setCurlInterest(interest, for: socket))
    }

    /// -1 stops the timer; 0 means "as soon as possible", but never from inside the callback,
    /// which a Dispatch timer on the engine's queue guarantees.
    func curlWantsTimer(milliseconds: Int) {
        if milliseconds < 0 {
            timer.schedule(deadline: .distantFuture)
        } else {
            timer.schedule(deadline: .now() + .milliseconds(milliseconds))
        }
    }

    /// Makes the epoll set match what the interest table says.
    func apply(_ change: InterestTable.Change) {
        guard let epoll else { return }
        switch change {
        case .none:
            break
        case .watch(let socket, let interest):
            // A failure means curl closed the fd meanwhile; curl notices that by itself.
            epoll.set(socket, interest: interest)
        case .unwatch(let socket):
            epoll.remove(socket)
        }
    }

    /// The epoll fd is readable: serve one batch of events. If more are ready, Dispatch calls
    /// again, so one busy socket cannot starve the queue.
    func handleReadiness() {
        guard let epoll else { return }
        let count = epoll.poll(into: events)
        for index in 0..<count {
            let event = events[index]
            let socket = event.data.fd
            let ready = Epoll.readiness(of: event.events)
            if interests[socket] != nil {
                var bits: Int32 = 0
                if ready.contains(.readable) { bits |= CURL_CSELECT_IN }
                if ready.contains(.writable) { bits |= CURL_CSELECT_OUT }
                let failed = Epoll.isError(event.events)
                if failed { bits |= CURL_CSELECT_ERR }
                socketAction(socket, bits)
                drainMessages()
                if failed { scheduleFullPass() }
            } else {
                // Nobody wants this fd any more; make sure it stops reporting.
                epoll.remove(socket)
            }
        }
    }

    /// After a socket of curl's failed (a refused connect, say), runs every handle once more
    /// on the next turn of the queue, if connects are still under way.
    ///
    /// libcurl 7.88.1 notices the failed attempt but, driven by `curl_multi_socket_action`, starts
    /// the name's next address only when the attempt's timer expires: the first time after the
    /// 200 ms happy-eyeballs delay, then after half the remaining connect timeout (seconds, or
    /// 150 s with the default 300 s limit). `curl_multi_perform`, as the curl tool uses, runs every
    /// handle and so moves on at once; `curl_multi_socket_all` does that and also tells the
    /// socket callback about the new attempt's socket. It costs a walk over the engine's handles,
    /// so it runs only after such an error, at most once per turn.
    func scheduleFullPass() {
        guard !fullPassScheduled, !transfers.isEmpty || connections.values.contains(where: \.isConnecting) else { return }
        fullPassScheduled = true
        onEngineQueue { engine in
            engine.fullPassScheduled = false
            guard let multi = engine.multi else { return }
            var running: Int32 = 0
            _ = engine.curlLock.withLock { ac_multi_socket_all(multi, &running) }
            engine.drainMessages()
            // An FTP transfer that reached its DO step in that pass can stall there the same way
            // (see `ftpTransfers`); one more pass moves it on.
            if engine.ftpTransfers > 0 {
                _ = engine.curlLock.withLock { ac_multi_socket_all(multi, &running) }
                engine.drainMessages()
            }
        }
    }

    func handleTimer() {
        socketAction(CURL_SOCKET_TIMEOUT, 0)
        drainMessages()
    }

    func socketAction(_ socket: Int32, _ bits: Int32) {
        guard let multi else { return }
        var running: Int32 = 0
        _ = curlLock.withLock { curl_multi_socket_action(multi, socket, bits, &running) }
        if ftpTransfers > 0 { scheduleFullPass() }
    }

    /// Completes every connect and transfer that libcurl finished.
    func drainMessages() {
        guard let multi else { return }
        while let (easy, id, result) = nextDone(multi) {
            if let record = connections[id], record.easy == easy {
                finishConnecting(record, result: result)
            } else if let transfer = transfers[id], transfer.easy == easy {
                finishTransfer(transfer, result: result)
            }
        }
    }

    /// The next `CURLMSG_DONE`: its easy handle, connection and result, read under the curl
    /// lock before anything can reuse the message's storage.
    private func nextDone(_ multi: UnsafeMutableRawPointer) -> (UnsafeMutableRawPointer, ConnectionID, CURLcode)? {
        curlLock.withLock {
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                var privateData: UnsafeMutableRawPointer?
                _ = ac_easy_getinfo_pointer(easy, CURLINFO_PRIVATE, &privateData)
                return (easy, ConnectionID(rawValue: UInt64(UInt(bitPattern: privateData))), message.pointee.data.result)
            }
            return nil
        }
    }

    /// `CURLMSG_DONE` for a connect: hand the socket to the connection, or fail the connect.
    private func finishConnecting(_ record: ConnectionRecord, result: CURLcode) {
        guard case .connecting(let continuation) = record.state else { return }
        var socket: curl_socket_t = -1
        var failure: (any Error)?
        var info = curlLock.withLock {
            if result == CURLE_OK {
                // A walk over the connection's cache in libcurl 7.88.1, at most 32 long
                // (ConnectionCachePool).
                _ = ac_easy_getinfo_socket(record.easy, CURLINFO_ACTIVESOCKET, &socket)
            }
            if result != CURLE_OK {
                failure = record.error(result)
            } else if socket < 0, let exchange = record.exchange {
                // The server answered but closed the connection (Connection: close, HTTP/1.0).
                failure = HTTPHandOverError(exchange.takeUnretainedValue())
            } else if socket < 0 {
                failure = CurlError(code: .gotNothing, message: "libcurl finished connecting but has no socket")
            } else {
                record.captureFailuresAfterStaleErrorBuffer()
            }
            var info = EasyHandle(raw: record.easy).connectionInfo(for: record.target, setup: record.setup)
            if failure == nil, let problem = record.addMailFacts(to: &info) {
                failure = problem
            }
            return info
        }
        if failure == nil {
            // curl watches nothing from here on; anything recorded for this fd number is stale.
            apply(interests.reset(socket))
            record.state = .open(socket: socket)
            if record.releasesCurlWhenOpen, releasesLibcurlHandles { releaseCurl(of: record, socket: socket) }
            failure = attach(record)
        }
        info.connectionNumber = record.id.rawValue
        if failure == nil, info.usesTLS {
            // Attached again by attach's curl_easy_recv, so libcurl can find the TLS session;
            // nobody else has the connection yet.
            curlLock.withLock { EasyHandle(raw: record.easy).addTLSFacts(to: &info) }
        }
        if let failure {
            discard(record)
            if let continuation {
                pendingContinuations -= 1
                continuation.resume(throwing: failure)
            }
            return
        }
        if let continuation {
            pendingContinuations -= 1
            continuation.resume(returning: info)
        }
    }

    /// One curl_easy_recv right after `CURLMSG_DONE` ties the connect-only connection to its
    /// easy handle, so another transfer's cache pruning cannot close it (libcurl 7.88.1; see
    /// the design notes). Whatever it reads is kept for the first `receive`; an error (such as
    /// a TLS 1.3 server's rejection of the client certificate, sent right after the handshake)
    /// fails the connect, since the connection is unusable.
    /// Then the socket goes to the readiness thread for the connection's own waits, and the
    /// connection's callers read and write it from their own threads from then on
    /// (``ConnectionGate``): directly without TLS, through the ``CurlChannel`` otherwise.
    /// A connection that no longer has an easy handle (``ConnectionRecord/ownsSocket``) skips
    /// the read: libcurl holds none of its bytes, and there is nothing to tie.
    private func attach(_ record: ConnectionRecord) -> CurlError? {
        let channel = record.ownsSocket ? nil : record.channel
        var received: [UInt8] = []
        do throws(CurlError) {
            // CURLE_AGAIN is the usual answer: nothing has arrived yet.
            if let channel, case .transferred(let count) = try channel.receive(into: receiveBuffer) {
                received = Array(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count]))
            }
        } catch {
            return error
        }
        guard let readiness, let socket = record.socket else { return nil }
        let failure = readiness.watch(socket, for: record.gate)
        guard failure == 0 else {
            return CurlError(code: .couldNotConnect, message: "could not watch the connection's socket: \(String(cString: strerror(failure)))")
        }
        record.gate.open(socket: socket, direct: record.allowsDirectIO, channel: channel, received: received)
        return nil
    }
}
