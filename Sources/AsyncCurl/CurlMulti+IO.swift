import CCurl
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

// Sending, receiving and closing: curl_easy_send / curl_easy_recv on the engine's executor,
// suspending on CURLE_AGAIN until the epoll set reports the socket ready.

extension CurlMulti {
    // The operations below are the engine's half of ``AsyncConnection``'s sends and receives:
    // the connection has already claimed the direction in its ``ConnectionGate`` and tried the
    // direct path; what arrives here must use libcurl, or wait.

    // MARK: - Send

    /// Writes `bytes` from index `start` on (the bytes before it were already written directly),
    /// suspending whenever the socket's send buffer is full.
    func send(_ id: ConnectionID, _ bytes: [UInt8], from start: Int, deadline: ContinuousClock.Instant?) async throws {
        let record = try openRecord(id)
        var written = start
        while written < bytes.count {
            let outcome = bytes.withUnsafeBytes { buffer in
                sendOnce(record, UnsafeRawBufferPointer(rebasing: buffer[written...]))
            }
            switch outcome {
            case .sent(let count):
                written += count
            case .again:
                do {
                    try await waitUntilReady(record, .writable, deadline: deadline)
                } catch {
                    let failure = SendWaitFailure(error, written: written, total: bytes.count)
                    if failure.closesConnection { close(id) }
                    throw failure.error
                }
            case .failed(let error):
                throw error
            }
        }
    }

    /// What one curl_easy_send (or send(2)) did.
    enum SendOutcome {
        case sent(Int)
        /// Nothing was taken (`CURLE_AGAIN`).
        case again
        case failed(CurlError)
    }

    /// One curl_easy_send. (A connection without TLS never sends here while open: its
    /// ``AsyncConnection`` writes and waits through the gate itself.)
    private func sendOnce(_ record: ConnectionRecord, _ bytes: UnsafeRawBufferPointer) -> SendOutcome {
        do throws(CurlError) {
            switch try record.channel.send(bytes) {
            case .transferred(let count): return .sent(count)
            case .wouldBlock, .notDirect: return .again
            }
        } catch {
            return .failed(error)
        }
    }

    /// Half-closes a plain TCP connection: `shutdown(SHUT_WR)` on its socket.
    func finishSending(_ id: ConnectionID) throws {
        let record = try openRecord(id)
        guard !record.target.usesTLS else {
            throw CurlError(code: .unsupportedProtocol, message: "finishSending() is not possible on a TLS connection: libcurl cannot send close_notify without closing the connection")
        }
        guard let socket = record.socket, try record.gate.finishSending() else { return }
        if Glibc.shutdown(socket, Int32(SHUT_WR)) != 0 {
            throw CurlError(code: .sendError, message: "shutdown(SHUT_WR) failed: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: - Receive

    /// Returns between 1 and `maxLength` bytes as soon as any are there, or `nil` at end of stream.
    func receive(_ id: ConnectionID, maxLength: Int, deadline: ContinuousClock.Instant?) async throws -> [UInt8]? {
        let record = try openRecord(id)
        defer { record.updateGate() }
        do {
            return try await receiveSome(record, maxLength: maxLength, deadline: deadline)
        } catch is ReadinessTimeout {
            throw CurlError.receiveTimedOut
        }
    }

    /// Returns exactly `count` bytes, starting with `prefix` (already read directly). On a
    /// throw (end of stream, cancellation, error) the bytes already read, `prefix` included,
    /// are given back to the connection, so nothing is lost.
    func receive(_ id: ConnectionID, exactly count: Int, prefix: [UInt8], deadline: ContinuousClock.Instant?) async throws -> [UInt8] {
        let record = try openRecord(id)
        defer { record.updateGate() }
        var result = prefix
        // Not all of `count` up front: it may come from the network.
        result.reserveCapacity(min(count, receiveBuffer.count))
        do {
            while result.count < count {
                guard let chunk = try await receiveSome(record, maxLength: count - result.count, deadline: deadline) else {
                    throw ConnectionError.unexpectedEndOfStream(received: result.count)
                }
                result.append(contentsOf: chunk)
            }
        } catch {
            if !result.isEmpty, connections[id] === record {
                record.unread.insert(contentsOf: result, at: 0)
            }
            throw error is ReadinessTimeout ? CurlError.receiveTimedOut : error
        }
        return result
    }

    /// Puts `bytes` back in front of the connection's unread bytes: a receive that read them
    /// directly and then failed.
    func giveBack(_ id: ConnectionID, _ bytes: [UInt8]) {
        guard !bytes.isEmpty, let record = connections[id] else { return }
        record.unread.insert(contentsOf: bytes, at: 0)
        record.updateGate()
    }

    /// Returns the bytes up to and including the first `delimiter`, leaving what follows in the
    /// connection; `nil` at end of stream when nothing is left.
    func receive(_ id: ConnectionID, through delimiter: [UInt8], maxLength: Int,
                 deadline: ContinuousClock.Instant?) async throws -> [UInt8]? {
        let record = try openRecord(id)
        defer { record.updateGate() }
        var searchFrom = 0
        while true {
            // Only a delimiter that ends within the first maxLength bytes counts.
            let window = min(record.unread.count, maxLength)
            if searchFrom < window, let match = record.unread[searchFrom..<window].firstRange(of: delimiter) {
                let line = Array(record.unread[..<match.upperBound])
                record.unread.removeFirst(match.upperBound)
                return line
            }
            searchFrom = max(0, window - delimiter.count + 1)
            guard record.unread.count < maxLength else {
                throw ConnectionError(code: .delimiterNotFound, byteCount: record.unread.count)
            }
            // Everything read stays in `unread` until the delimiter arrives, so a cancellation,
            // timeout or error loses nothing.
            do {
                guard try await readMore(record, upTo: maxLength - record.unread.count, deadline: deadline) else {
                    if record.unread.isEmpty { return nil }
                    throw ConnectionError.unexpectedEndOfStream(received: record.unread.count)
                }
            } catch is ReadinessTimeout {
                throw CurlError.receiveTimedOut
            }
        }
    }

    /// Appends what the socket has (at most `limit` bytes) to the connection's unread bytes,
    /// waiting if nothing is there yet; false at end of stream.
    private func readMore(_ record: ConnectionRecord, upTo limit: Int, deadline: ContinuousClock.Instant?) async throws -> Bool {
        while true {
            try checkOpen(record)
            if let failure = record.deferredFailure {
                record.deferredFailure = nil
                throw failure
            }
            if record.sawEndOfStream { return false }
            switch receiveOnce(record, upTo: limit) {
            case .received(let count):
                record.unread.append(contentsOf: UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count]))
                return true
            case .endOfStream:
                return false
            case .again:
                try await waitUntilReady(record, .readable, deadline: deadline)
            case .failed(let error):
                throw error
            }
        }
    }

    /// The receive loop: bytes kept back first, then curl_easy_recv until it has something,
    /// waiting for readability on `CURLE_AGAIN`. curl is always asked before waiting, because
    /// TLS may hold decrypted bytes while the socket itself is not readable.
    private func receiveSome(_ record: ConnectionRecord, maxLength: Int, deadline: ContinuousClock.Instant?) async throws -> [UInt8]? {
        while true {
            try checkOpen(record)
            if !record.unread.isEmpty {
                let take = min(maxLength, record.unread.count)
                let bytes = Array(record.unread[..<take])
                record.unread.removeFirst(take)
                return bytes
            }
            if let failure = record.deferredFailure {
                record.deferredFailure = nil
                throw failure
            }
            if record.sawEndOfStream { return nil }
            switch receiveOnce(record, upTo: maxLength) {
            case .received(let count):
                let total = readAhead(record, after: count, upTo: maxLength)
                return Array(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<total]))
            case .endOfStream:
                return nil
            case .again:
                try await waitUntilReady(record, .readable, deadline: deadline)
            case .failed(let error):
                throw error
            }
        }
    }

    /// After a read of `count` bytes, keeps reading into `receiveBuffer` without waiting, until
    /// `limit` bytes or `CURLE_AGAIN`: over TLS one curl_easy_recv returns one record (at most
    /// 16 KiB), and each receive that comes to the engine costs two thread hand-offs. An end of
    /// stream or failure met here is kept for the next receive. Returns the new count.
    private func readAhead(_ record: ConnectionRecord, after count: Int, upTo limit: Int) -> Int {
        var total = count
        let limit = min(limit, receiveBuffer.count)
        while total < limit {
            switch receiveOnce(record, upTo: limit - total, at: total) {
            case .received(let more):
                total += more
            case .endOfStream, .again:
                return total
            case .failed(let error):
                record.deferredFailure = error
                return total
            }
        }
        return total
    }

    /// What one curl_easy_recv gave.
    enum ReceiveOutcome {
        /// This many bytes were written to `receiveBuffer` at the offset asked for.
        case received(Int)
        /// The peer closed its side; recorded in `sawEndOfStream`.
        case endOfStream
        /// Nothing yet (`CURLE_AGAIN`).
        case again
        case failed(CurlError)
    }

    /// One curl_easy_recv (or, once a connection without TLS is open, one recv(2) through the
    /// gate) of at most `limit` bytes into the engine's `receiveBuffer` at `offset`. Every read
    /// the engine makes goes through here, so end of stream is recorded in one place.
    func receiveOnce(_ record: ConnectionRecord, upTo limit: Int, at offset: Int = 0) -> ReceiveOutcome {
        let buffer = UnsafeMutableRawBufferPointer(rebasing: receiveBuffer[offset..<(offset + min(limit, receiveBuffer.count - offset))])
        let received: Int
        do throws(CurlError) {
            let transfer = record.usesDirectIO
                ? try record.gate.engineReceive(into: buffer)
                : try record.channel.receive(into: buffer)
            guard case .transferred(let count) = transfer else { return .again }
            received = count
        } catch {
            return .failed(error)
        }
        if received == 0 {
            record.sawEndOfStream = true
            return .endOfStream
        }
        return .received(received)
    }

    /// Throws the closed (or shut-down) error unless `record` is still an open connection of
    /// this engine.
    private func checkOpen(_ record: ConnectionRecord) throws(ConnectionError) {
        guard case .open = record.state, connections[record.id] === record, !record.isDiscarded else {
            throw closedError
        }
    }

    // MARK: - Waiting for readiness

    /// Suspends until the connection's socket is ready in `direction` (see
    /// ``ConnectionGate/waitUntilReady(_:deadline:)``), and checks the connection is still open
    /// afterwards: a close may have released `easy` meanwhile.
    private func waitUntilReady(_ record: ConnectionRecord, _ direction: Readiness,
                                deadline: ContinuousClock.Instant?) async throws {
        guard !record.isDiscarded else { throw closedError }
        try await record.gate.waitUntilReady(direction, deadline: deadline)
        guard !record.isDiscarded else { throw closedError }
    }

    /// The error for an operation on a connection that is gone.
    private var closedError: ConnectionError {
        isShutDown ? .engineShutDown : .closed
    }

    // MARK: - Closing

    /// Closes connection `id` if it is still open; waiting operations throw `error`.
    /// Idempotent.
    func close(_ id: ConnectionID, error: ConnectionError = .closed) {
        guard let record = connections[id] else { return }
        var connecting: CheckedContinuation<ConnectionInfo, any Error>?
        if case .connecting(let continuation) = record.state { connecting = continuation }
        discard(record, waitersThrow: error)
        if connecting != nil { pendingContinuations -= 1 }
        connecting?.resume(throwing: error)
    }

    /// Takes a connection out of the engine and frees its libcurl resources; its suspended
    /// sends and receives throw `error`. The caller has already taken (and will resume) the
    /// connect's continuation.
    func discard(_ record: ConnectionRecord, waitersThrow error: ConnectionError = .closed) {
        guard connections.removeValue(forKey: record.id) != nil else { return }
        // No direct I/O and no waits from here on; returns once no caller is using the socket,
        // which libcurl closes below.
        record.gate.close(waitersThrow: error)
        if let socket = record.socket {
            // Stop watching before curl closes the fd inside curl_multi_remove_handle, so the fd
            // number can be reused at once without a stale registration.
            openSockets.removeValue(forKey: socket)
            epoll?.remove(socket)
        }
        record.isDiscarded = true
        if let multi {
            _ = curlLock.withLock { curl_multi_remove_handle(multi, record.easy) }
        }
        release(record)
    }

    /// Frees what a record owns; the easy handle must no longer be in the multi handle.
    func release(_ record: ConnectionRecord) {
        curlLock.withLock { curl_easy_cleanup(record.easy) }
        record.errorBuffer.deallocate()
        record.traceBox?.release()
        record.exchange?.release()
        record.exchange = nil
        curl_slist_free_all(record.headerList)
        record.headerList = nil
    }

    /// The record of an open connection, or ``ConnectionError/closed``
    /// (``ConnectionError/engineShutDown`` once the engine is shut down).
    private func openRecord(_ id: ConnectionID) throws(ConnectionError) -> ConnectionRecord {
        guard let record = connections[id] else { throw closedError }
        try checkOpen(record)
        return record
    }
}

extension Duration {
    /// The duration for `DispatchQueue.asyncAfter`, saturating instead of trapping.
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, seconds >= 0 else { return seconds < 0 ? .nanoseconds(0) : .never }
        return .nanoseconds(Int(clamping: nanoseconds &+ attoseconds / 1_000_000_000))
    }
}
