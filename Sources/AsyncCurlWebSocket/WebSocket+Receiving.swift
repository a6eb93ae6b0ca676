import AsyncCurl

extension WebSocket {
    /// Outcome of trying to become the reader.
    enum ReaderClaim {
        case claimed
        case busy
        case finished
    }

    /// Becomes the reader, unless another task is one or the WebSocket is finished.
    func claimReader() -> ReaderClaim {
        state.withLock { state in
            if state.readerActive { return .busy }
            if state.isFinished { return .finished }
            state.readerActive = true
            return .claimed
        }
    }

    /// Stops being the reader and wakes the tasks waiting for that.
    func releaseReader() {
        let waiters = state.withLock { state in
            state.readerActive = false
            defer { state.readerExitWaiters = [] }
            return state.readerExitWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The next complete message, or `nil` once the closing handshake is done. The caller must
    /// hold the reader claim.
    ///
    /// Any error but `CancellationError` (and a keep-alive timer's own expiry, handled here)
    /// ends the WebSocket: the connection is closed and ``SharedState/isFinished`` set.
    func readMessage() async throws -> Message? {
        let side = receiving
        while true {
            switch side.decodeNext() {
            case .needMore:
                break
            case .violation(let violation):
                throw await fail(violation)
            case .event(.message(let message)):
                return message
            case .event(.ping(let payload)):
                // A pong that cannot go out (closing, or the peer stopped reading) is not the
                // reader's failure: the next read tells what happened.
                if !state.withLock({ $0.closeSent }) {
                    try? await sendControl(.pong, payload: payload, timeout: configuration.closeTimeout)
                }
                continue
            case .event(.pong(let payload)):
                pongArrived(payload)
                continue
            case .event(.close(let code, let reason)):
                await completeClosingHandshake(code: code, reason: reason)
                return nil
            }
            let received: [UInt8]?
            do {
                // An array per read rather than a buffer per WebSocket: a reader waiting on an
                // idle connection holds no read buffer, and the decoder takes the array over
                // without copying when it has nothing buffered.
                received = try await connection.receive(maxLength: ReceiveSide.readSize, timeout: keepAliveWait())
            } catch let error as CurlError where error.code == .operationTimedOut && configuration.pingInterval != nil {
                try await keepAliveTimerExpired()
                continue
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                await finish()
                if state.withLock({ $0.closeSent }) {
                    // We began closing and the connection ended (or our own deadline closed it).
                    throw WebSocketError(code: .closedAbnormally, message: "the connection ended before the server's close frame (\(error))", closeCode: .abnormalClosure)
                }
                throw error
            }
            guard let received else {
                await finish()
                throw WebSocketError(code: .closedAbnormally, message: "the server closed the connection without a closing handshake", closeCode: .abnormalClosure)
            }
            side.decoder.append(received)
            side.lastActivity = .now
            side.keepAlivePingSent = nil
        }
    }

    /// How long the next read may wait before the keep-alive must act, or `nil` without one.
    private func keepAliveWait() -> Duration? {
        guard let interval = configuration.pingInterval else { return nil }
        let due = receiving.keepAlivePingSent.map { $0 + configuration.pongTimeout } ?? receiving.lastActivity + interval
        return max(.milliseconds(1), due - .now)
    }

    /// Sends the keep-alive ping, or gives up on a peer that did not answer the last one.
    private func keepAliveTimerExpired() async throws {
        let side = receiving
        if let sent = side.keepAlivePingSent {
            guard ContinuousClock.now - sent >= configuration.pongTimeout else { return }
            await finish()
            throw WebSocketError(code: .peerUnresponsive, message: "nothing arrived within \(configuration.pongTimeout) of a keep-alive ping; the connection was closed")
        }
        guard ContinuousClock.now - side.lastActivity >= (configuration.pingInterval ?? .zero) else { return }
        side.keepAlivePingSent = .now
        var random = SystemRandomNumberGenerator()
        try? await sendControl(.ping, payload: (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) },
                               timeout: configuration.pongTimeout)
    }

    /// The server's close frame arrived: answer it (if this side has not sent one), let the
    /// server close the connection, and finish.
    private func completeClosingHandshake(code: WebSocketCloseCode?, reason: String) async {
        let mustAnswer: Bool = state.withLock { state in
            state.receivedClose = (code, reason)
            return !state.closeSent
        }
        if mustAnswer {
            // RFC 6455 §5.5.1: echo the status code; a frame without one gets an empty answer.
            let payload = code.map { Self.closePayload(code: $0, reason: "") } ?? []
            try? await sendControl(.close, payload: payload, timeout: configuration.closeTimeout)
        }
        // §7.1.1: the server closes the TCP connection first; wait a little for it, so that the
        // TIME_WAIT state stays on the server's side.
        _ = try? await connection.receive(maxLength: 1, timeout: min(configuration.closeTimeout, .seconds(2)))
        await finish()
    }

    /// Closes with the violation's code, finishes, and returns the error to throw.
    ///
    /// The close frame gets one second in all, waiting for the frame lock included: a send of
    /// the application's may hold the lock for long when the peer does not read, and then
    /// nobody would read the close frame either.
    private func fail(_ violation: WebSocketProtocolViolation) async -> WebSocketError {
        let payload = Self.closePayload(code: violation.closeCode, reason: violation.reason)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.sendControl(.close, payload: payload, timeout: .seconds(1)) }
            group.addTask { try? await Task.sleep(for: .seconds(1)) }
            await group.next()
            group.cancelAll()
        }
        await finish()
        let code: WebSocketError.Code = violation.closeCode == .messageTooBig ? .messageTooBig : .protocolViolation
        return WebSocketError(code: code, message: violation.reason, closeCode: violation.closeCode)
    }

    /// Ends the WebSocket for good: closes the connection, marks it finished, and fails the
    /// pings still waiting.
    func finish() async {
        await connection.close()
        let waiters = state.withLock { state in
            state.isFinished = true
            return state.pongWaiters.takeAll()
        }
        for waiter in waiters {
            waiter.resume(throwing: WebSocketError(code: .closed, message: "the WebSocket closed before the pong"))
        }
    }

    /// A close frame's payload: the code in network byte order, then the reason, cut to the
    /// 123 bytes a control frame leaves for it (at a character boundary).
    static func closePayload(code: WebSocketCloseCode, reason: String) -> [UInt8] {
        var reasonBytes = Array(reason.utf8)
        if reasonBytes.count > 123 {
            var cut = 123
            while cut > 0, reasonBytes[cut] & 0xC0 == 0x80 { cut -= 1 }
            reasonBytes = Array(reasonBytes[..<cut])
        }
        return [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)] + reasonBytes
    }
}
