// The loops behind AsyncConnection's public sends and receives. The caller has claimed the
// direction in the gate. Bytes move here, on the caller's thread (send(2)/recv(2) without TLS,
// curl_easy_send/recv through the connection's CurlChannel otherwise), and the call waits in
// the gate when the socket is not ready. What the engine must do — bytes it holds for the
// connection, delimited reads, a closed connection's error — goes to the engine.

extension AsyncConnection {
    /// The most one direct read asks for, and so the most one receive returns, as over TLS
    /// (the engine's receive buffer). It also bounds what a `maxLength` or `count` taken from
    /// the network can make the connection allocate up front.
    static let directReadLimit = CurlMulti.receiveBufferSize

    /// Writes `bytes` from index `start` on.
    func write(_ bytes: [UInt8], from start: Int, deadline: ContinuousClock.Instant?) async throws {
        var written = start
        while written < bytes.count {
            let transfer = try bytes.withUnsafeBytes { buffer throws(CurlError) in
                try gate.sendDirectly(UnsafeRawBufferPointer(rebasing: buffer[written...]))
            }
            switch transfer {
            case .transferred(let count):
                written += count
            case .wouldBlock:
                do {
                    try await gate.waitUntilReady(.writable, deadline: deadline)
                } catch {
                    let failure = SendWaitFailure(error, written: written, total: bytes.count)
                    if failure.closesConnection { await multi.close(id) }
                    throw failure.error
                }
            case .notDirect:
                try await multi.send(id, bytes, from: written, deadline: deadline)
                return
            }
        }
    }

    /// Returns up to `maxLength` bytes once any are there; `nil` at end of stream.
    func read(maxLength: Int, deadline: ContinuousClock.Instant?) async throws -> [UInt8]? {
        let capacity = min(maxLength, Self.directReadLimit)
        while true {
            var transfer = ConnectionGate.Transfer.notDirect
            let bytes = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized throws(CurlError) in
                transfer = try gate.receiveDirectly(into: UnsafeMutableRawBufferPointer(buffer))
                if case .transferred(let count) = transfer { initialized = count }
            }
            switch transfer {
            case .transferred(0):
                return nil
            case .transferred(let count):
                // A mostly full array is returned as it is; a few bytes are not left holding
                // on to a buffer of maxLength.
                return count >= capacity / 2 ? bytes : [UInt8](unsafeUninitializedCapacity: count) { copy, initialized in
                    initialized = copy.initialize(fromContentsOf: bytes)
                }
            case .wouldBlock:
                try await waitToReceive(deadline: deadline)
            case .notDirect:
                return try await multi.receive(id, maxLength: maxLength, deadline: deadline)
            }
        }
    }

    /// Reads into `buffer`: the count, 0 at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: ContinuousClock.Instant?) async throws -> Int {
        while true {
            switch try gate.receiveDirectly(into: buffer) {
            case .transferred(let count):
                return count
            case .wouldBlock:
                try await waitToReceive(deadline: deadline)
            case .notDirect:
                guard let bytes = try await multi.receive(id, maxLength: buffer.count, deadline: deadline) else { return 0 }
                buffer.copyBytes(from: bytes)
                return bytes.count
            }
        }
    }

    /// Reads exactly `count` bytes. On a throw, what was read goes back to the connection.
    func read(exactly count: Int, deadline: ContinuousClock.Instant?) async throws -> [UInt8] {
        // The usual case: one recv(2) has it all, straight into the result.
        var transfer = ConnectionGate.Transfer.notDirect
        var result = try [UInt8](unsafeUninitializedCapacity: min(count, Self.directReadLimit)) { buffer, initialized throws(CurlError) in
            guard count > 0 else { return }
            transfer = try gate.receiveDirectly(into: UnsafeMutableRawBufferPointer(buffer))
            if case .transferred(let received) = transfer { initialized = received }
        }
        if result.count == count { return result }
        var engineReadsTheRest = false
        do {
            reading: while result.count < count {
                switch transfer {
                case .transferred(0):
                    throw ConnectionError.unexpectedEndOfStream(received: result.count)
                case .transferred:
                    break
                case .wouldBlock:
                    try await waitToReceive(deadline: deadline)
                case .notDirect:
                    engineReadsTheRest = true
                    break reading
                }
                let wanted = count - result.count
                transfer = try withUnsafeTemporaryAllocation(byteCount: min(wanted, 65536), alignment: 1) { buffer throws(CurlError) in
                    let transfer = try gate.receiveDirectly(into: buffer)
                    if case .transferred(let received) = transfer {
                        result.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<received]))
                    }
                    return transfer
                }
            }
        } catch {
            await multi.giveBack(id, result)
            throw error
        }
        guard engineReadsTheRest else { return result }
        // The engine gives everything back itself if it throws.
        return try await multi.receive(id, exactly: count, prefix: result, deadline: deadline)
    }

    /// Waits until the socket is readable, with the receive's timeout error.
    private func waitToReceive(deadline: ContinuousClock.Instant?) async throws {
        do {
            try await gate.waitUntilReady(.readable, deadline: deadline)
        } catch is ReadinessTimeout {
            throw CurlError.receiveTimedOut
        }
    }
}

/// How a send ends when its wait for writability fails: the error to throw, and whether the
/// connection must close because the peer has seen part of the message.
struct SendWaitFailure {
    let error: any Error
    let closesConnection: Bool

    init(_ waitError: any Error, written: Int, total: Int) {
        switch waitError {
        case is CancellationError where written > 0:
            error = ConnectionError.sendCancelled(bytesWritten: written)
            closesConnection = true
        case is ReadinessTimeout where written == 0:
            error = CurlError(code: .operationTimedOut, message: "send timed out before the peer accepted any of \(total) bytes; nothing was written and the connection is still usable")
            closesConnection = false
        case is ReadinessTimeout:
            error = CurlError(code: .operationTimedOut, message: "send timed out after \(written) of \(total) bytes were written; the connection was closed because the peer saw a partial message")
            closesConnection = true
        default:
            error = waitError
            closesConnection = false
        }
    }
}

extension CurlError {
    /// A receive's timeout: nothing is consumed, so the connection stays usable.
    static let receiveTimedOut = CurlError(
        code: .operationTimedOut, message: "receive timed out waiting for data; nothing was consumed and the connection is still usable")
}
