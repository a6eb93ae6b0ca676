import AsyncCurl

extension WebSocket {
    /// Sends a message: one frame, or fragments of at most `fragmentSize` payload bytes.
    ///
    /// With permessage-deflate in force, the message is compressed first (and the compressed
    /// bytes fragmented). Sends from several tasks are queued and never interleave.
    ///
    /// - Parameters:
    ///   - message: The message.
    ///   - fragmentSize: The most payload bytes per frame; `nil` uses
    ///     ``WebSocketConfiguration/sendFragmentSize`` (by default, one frame).
    ///   - timeout: The longest each frame's write may take (see
    ///     `AsyncConnection/send(_:timeout:)`).
    /// - Throws: ``WebSocketError/Code/closed`` once a close frame was sent or the WebSocket
    ///   finished; ``WebSocketError/Code/invalidArgument`` for a `fragmentSize` below 1; the
    ///   connection's errors.
    public func send(_ message: Message, fragmentSize: Int? = nil, timeout: Duration? = nil) async throws {
        let (opcode, payload): (WebSocketOpcode, [UInt8])
        switch message {
        case .text(let text): (opcode, payload) = (.text, Array(text.utf8))
        case .binary(let bytes): (opcode, payload) = (.binary, bytes)
        }
        let fragmentSize = fragmentSize ?? configuration.sendFragmentSize
        if let fragmentSize, fragmentSize < 1 {
            throw WebSocketError(code: .invalidArgument, message: "fragmentSize must be at least 1, not \(fragmentSize)")
        }
        try await sending.messageLock.lock()
        defer { sending.messageLock.unlock() }
        try checkMaySend()
        var wire = payload
        var compressed = false
        if let deflater = sending.deflater, payload.count >= sending.minimumCompressedSize {
            wire = payload.withUnsafeBytes { deflater.compress($0) }
            compressed = true
        }
        guard let fragmentSize, wire.count > fragmentSize else {
            return try await sendFrame(opcode, fin: true, rsv1: compressed, payload: wire[...], timeout: timeout)
        }
        var start = 0
        repeat {
            let end = min(start + fragmentSize, wire.count)
            try await sendFrame(start == 0 ? opcode : .continuation, fin: end == wire.count, rsv1: compressed && start == 0,
                                payload: wire[start..<end], timeout: timeout)
            start = end
        } while start < wire.count
    }

    /// Sends a ping and waits for the server's pong.
    ///
    /// Pongs are seen by the task reading ``messages``: without a reader, the ping times out.
    /// - Parameters:
    ///   - payload: At most 125 bytes, which the pong echoes; by default 8 random bytes, so that
    ///     each ping is told apart.
    ///   - timeout: How long to wait for the pong; default 30 seconds.
    /// - Returns: The round-trip time.
    /// - Throws: ``WebSocketError/Code/pingTimedOut`` (the connection stays open),
    ///   ``WebSocketError/Code/closed``, ``WebSocketError/Code/invalidArgument`` for a payload
    ///   over 125 bytes, `CancellationError`, or the connection's errors.
    @discardableResult
    public func ping(_ payload: [UInt8]? = nil, timeout: Duration = .seconds(30)) async throws -> Duration {
        var random = SystemRandomNumberGenerator()
        let payload = payload ?? (0..<8).map { _ in UInt8.random(in: 0...255, using: &random) }
        guard payload.count <= 125 else {
            throw WebSocketError(code: .invalidArgument, message: "a ping's payload is at most 125 bytes, not \(payload.count)")
        }
        let id: UInt64 = try state.withLock { state throws(WebSocketError) in
            guard !state.isFinished else { throw WebSocketError(code: .closed, message: "the WebSocket is closed") }
            return state.pongWaiters.register(payload: payload)
        }
        let start = ContinuousClock.now
        do {
            try await sendControl(.ping, payload: payload)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw WebSocketError(code: .pingTimedOut, message: "no pong within \(timeout)")
                }
                group.addTask {
                    try await self.waitForPong(id: id)
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            _ = state.withLock { $0.pongWaiters.remove(id: id) }
            throw error
        }
        return ContinuousClock.now - start
    }

    private func waitForPong(id: UInt64) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (outcome, finished) = state.withLock { ($0.pongWaiters.wait(id: id, continuation: continuation), $0.isFinished) }
                switch outcome {
                case .waiting: break
                case .answered: continuation.resume()
                case .gone where finished: continuation.resume(throwing: WebSocketError(code: .closed, message: "the WebSocket closed before the pong"))
                case .gone: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            state.withLock { $0.pongWaiters.remove(id: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Resumes the ``ping(_:timeout:)`` calls a pong answers.
    func pongArrived(_ payload: [UInt8]) {
        for continuation in state.withLock({ $0.pongWaiters.answered(by: payload) }) {
            continuation.resume()
        }
    }

    /// Throws ``WebSocketError/Code/closed`` once no data frame may go out any more.
    func checkMaySend() throws(WebSocketError) {
        let (closeSent, finished) = state.withLock { ($0.closeSent, $0.isFinished) }
        if closeSent || finished {
            throw WebSocketError(code: .closed, message: finished ? "the WebSocket is closed" : "the WebSocket is closing: a close frame was sent")
        }
    }

    /// Sends a ping, pong or close frame (close frames mark the WebSocket as closing).
    func sendControl(_ opcode: WebSocketOpcode, payload: [UInt8], timeout: Duration? = nil) async throws {
        try await sendFrame(opcode, fin: true, rsv1: false, payload: payload[...], timeout: timeout)
    }

    /// Encodes (masking with a fresh key) and writes one frame, holding the frame lock.
    func sendFrame(_ opcode: WebSocketOpcode, fin: Bool, rsv1: Bool, payload: ArraySlice<UInt8>, timeout: Duration?) async throws {
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 14)
        payload.withUnsafeBytes { bytes in
            FrameEncoder.encode(opcode: opcode, fin: fin, rsv1: rsv1, payload: bytes, into: &frame)
        }
        try await sending.frameLock.lock()
        defer { sending.frameLock.unlock() }
        let mayGo: Bool = state.withLock { state in
            guard !state.closeSent, !state.isFinished else { return false }
            if opcode == .close { state.closeSent = true }
            return true
        }
        guard mayGo else {
            throw WebSocketError(code: .closed, message: "the WebSocket is closing: a close frame was sent")
        }
        try await connection.send(frame, timeout: timeout)
    }
}
