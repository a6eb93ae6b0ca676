import AsyncCurl

extension WebSocket {
    /// Runs the closing handshake: sends a close frame with `code` and `reason`, waits for the
    /// server's close frame (and for the server to close the connection), then releases the
    /// connection.
    ///
    /// If another task is reading ``messages``, that reader sees the server's close frame and
    /// its sequence ends; otherwise this call reads (and drops) whatever messages still arrive
    /// until the close frame does. After ``WebSocketConfiguration/closeTimeout`` the connection
    /// is closed without the server's frame. Calling it again, or after the server closed,
    /// returns once the WebSocket is finished. To have a reader receive the messages still in
    /// flight, begin with ``sendClose(code:reason:)``.
    ///
    /// - Parameters:
    ///   - code: A code that may be sent (``WebSocketCloseCode/isSendable``); default
    ///     ``WebSocketCloseCode/normalClosure``.
    ///   - reason: At most 123 bytes of UTF-8 (the room a control frame leaves).
    /// - Throws: ``WebSocketError/Code/invalidArgument`` for a code that may not be sent or a
    ///   reason that is too long, before anything is sent. Nothing else: a peer that has gone
    ///   away has closed the WebSocket as well.
    public func close(code: WebSocketCloseCode = .normalClosure, reason: String = "") async throws {
        guard try await sendCloseFrame(code: code, reason: reason) else { return }
        let connection = self.connection
        let deadline = configuration.closeTimeout
        await withTaskGroup(of: Void.self) { group in
            // The deadline: closing the connection wakes whichever task is reading.
            group.addTask {
                guard (try? await Task.sleep(for: deadline)) != nil else { return }
                await connection.close()
            }
            await drainUntilFinished()
            group.cancelAll()
        }
        await finish()
    }

    /// Begins the closing handshake and returns: sends a close frame with `code` and `reason`,
    /// and lets the task reading ``messages`` receive whatever the server still sends until its
    /// close frame, where the sequence ends.
    ///
    /// Use it when a reader should see every message that was already on its way (an echo, the
    /// answer to the last request); ``close(code:reason:)`` instead drops them when no task is
    /// inside `next()` at that moment. After it, ``send(_:fragmentSize:timeout:)`` throws
    /// ``WebSocketError/Code/closed``. The server's close frame is only seen by a reader: keep
    /// reading ``messages`` to its end, or call ``close(code:reason:)`` later, which waits for the
    /// handshake with its deadline and releases the connection.
    /// - Throws: ``WebSocketError/Code/invalidArgument`` as ``close(code:reason:)`` does.
    public func sendClose(code: WebSocketCloseCode = .normalClosure, reason: String = "") async throws {
        _ = try await sendCloseFrame(code: code, reason: reason)
    }

    /// Sends the close frame unless one went out already; `false` when the peer is gone (the
    /// WebSocket is then finished).
    private func sendCloseFrame(code: WebSocketCloseCode, reason: String) async throws -> Bool {
        guard code.isSendable else {
            throw WebSocketError(code: .invalidArgument, message: "close code \(code.rawValue) may not be sent in a close frame (1000–1003, 1007–1014 and 3000–4999 may)")
        }
        guard reason.utf8.count <= 123 else {
            throw WebSocketError(code: .invalidArgument, message: "a close reason is at most 123 bytes of UTF-8, not \(reason.utf8.count)")
        }
        guard !state.withLock({ $0.closeSent || $0.isFinished }) else { return true }
        do {
            try await sendControl(.close, payload: Self.closePayload(code: code, reason: reason), timeout: configuration.closeTimeout)
        } catch let error as WebSocketError where error.code == .closed {
            // Another task's close frame went first; the same handshake goes on.
        } catch {
            // The peer is gone: nothing to wait for.
            await finish()
            return false
        }
        return true
    }

    /// Reads and drops messages until the WebSocket is finished, or waits for the task that is
    /// reading to get there.
    private func drainUntilFinished() async {
        while true {
            switch claimReader() {
            case .finished:
                return
            case .claimed:
                defer { releaseReader() }
                do {
                    while try await readMessage() != nil {}
                } catch {
                    // Cancelled: stop waiting, close now. Any other error has finished it.
                    await finish()
                }
                return
            case .busy:
                await waitForReaderExit()
            }
        }
    }

    /// Returns once no task is reading (at once if none is).
    func waitForReaderExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock { state in
                guard state.readerActive else { return true }
                state.readerExitWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

extension WebSocket {
    /// The messages from the server, in order, as an `AsyncSequence`; see ``messages``.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = Message
        public typealias Failure = any Error

        let socket: WebSocket

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(socket: socket)
        }

        /// Reads one message per `next()`.
        public struct AsyncIterator: AsyncIteratorProtocol {
            public typealias Element = Message
            public typealias Failure = any Error

            let socket: WebSocket

            /// The next message; `nil` once the closing handshake is done.
            public mutating func next() async throws -> Message? {
                try await socket.nextMessage()
            }
        }
    }

    /// The messages from the server as an `AsyncSequence` that ends when the closing handshake is
    /// done (whoever began it) and throws ``WebSocketError`` when the connection fails.
    ///
    /// Messages are read on demand, one per iteration: a slow consumer slows the server down
    /// through TCP flow control instead of buffering without bound. One task reads at a time.
    ///
    /// A reader that is between two `next()` calls when ``close(code:reason:)`` begins does not
    /// fail: its next `next()` waits for the closing handshake and returns `nil`. The messages
    /// that `close` read (and dropped) meanwhile are not delivered.
    public var messages: Messages { Messages(socket: self) }

    /// The next message, or `nil` once the WebSocket is finished.
    ///
    /// Once a close frame has gone out, the task holding the reader claim may be
    /// ``close(code:reason:)`` itself, draining until the server's close frame because no reader
    /// was inside `next()` when it began (say, the reader was busy with the previous message).
    /// The reader then waits for that and ends with the closing handshake, instead of failing
    /// with ``WebSocketError/Code/receiveInProgress``.
    func nextMessage() async throws -> Message? {
        while true {
            switch claimReader() {
            case .busy:
                guard state.withLock({ $0.closeSent }) else {
                    throw WebSocketError(code: .receiveInProgress, message: "another task is already reading this WebSocket's messages")
                }
                await waitForReaderExit()
            case .finished:
                return nil
            case .claimed:
                defer { releaseReader() }
                return try await readMessage()
            }
        }
    }
}
