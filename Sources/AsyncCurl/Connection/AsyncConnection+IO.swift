// The loops behind AsyncConnection's public sends and receives. The caller has claimed the
// direction in the gate. Bytes move on the caller's thread (send(2)/recv(2) without TLS,
// curl_easy_send/recv through the connection's CurlChannel otherwise), and the call waits in
// the gate when the socket is not ready; the engine is involved only to resume it.

extension AsyncConnection {
    /// The most one receive returns (and allocates up front). It also bounds what a
    /// `maxLength` or `count` taken from the network can make the connection allocate before
    /// the bytes are there.
    static let receiveLimit = 256 * 1024

    /// Writes `bytes` from index `start` on.
    func write(_ bytes: [UInt8], from start: Int, deadline: Deadline?) async throws {
        var written = start
        while written < bytes.count {
            let transfer = try bytes.withUnsafeBytes { buffer in
                try gate.send(UnsafeRawBufferPointer(rebasing: buffer[written...]))
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
            }
        }
    }

    /// Returns up to `maxLength` bytes once any are there; `nil` at end of stream.
    func read(maxLength: Int, deadline: Deadline?) async throws -> [UInt8]? {
        let capacity = min(maxLength, Self.receiveLimit)
        while true {
            var transfer = ConnectionGate.Transfer.wouldBlock
            let bytes = try [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                transfer = try gate.receive(into: UnsafeMutableRawBufferPointer(buffer))
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
            }
        }
    }

    /// Reads into `buffer`: the count, 0 at end of stream.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> Int {
        while true {
            switch try gate.receive(into: buffer) {
            case .transferred(let count):
                return count
            case .wouldBlock:
                try await waitToReceive(deadline: deadline)
            }
        }
    }

    /// Reads exactly `count` bytes. On a throw, what was read goes back to the connection.
    func read(exactly count: Int, deadline: Deadline?) async throws -> [UInt8] {
        // The usual case: one read has it all, straight into the result.
        var transfer = ConnectionGate.Transfer.transferred(0)
        var result = try [UInt8](unsafeUninitializedCapacity: min(count, Self.receiveLimit)) { buffer, initialized in
            guard count > 0 else { return }
            transfer = try gate.receive(into: UnsafeMutableRawBufferPointer(buffer))
            if case .transferred(let received) = transfer { initialized = received }
        }
        if result.count == count { return result }
        do {
            while result.count < count {
                switch transfer {
                case .transferred(0):
                    throw ConnectionError.unexpectedEndOfStream(received: result.count)
                case .transferred:
                    break
                case .wouldBlock:
                    try await waitToReceive(deadline: deadline)
                }
                let wanted = count - result.count
                transfer = try withUnsafeTemporaryAllocation(byteCount: min(wanted, 65536), alignment: 1) { buffer in
                    let transfer = try gate.receive(into: buffer)
                    if case .transferred(let received) = transfer {
                        result.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<received]))
                    }
                    return transfer
                }
            }
            return result
        } catch {
            gate.giveBack(result)
            throw error
        }
    }

    /// Reads up to and including `delimiter`; `nil` at end of stream with nothing left.
    func read(through delimiter: [UInt8], maxLength: Int, deadline: Deadline?) async throws -> [UInt8]? {
        var searchFrom = 0
        while true {
            switch try gate.receiveUnit(through: delimiter, maxLength: maxLength, searchFrom: &searchFrom) {
            case .unit(let unit):
                return unit
            case .endOfStream:
                return nil
            case .wouldBlock:
                try await waitToReceive(deadline: deadline)
            }
        }
    }

    /// Waits until the socket is readable, with the receive's timeout error.
    private func waitToReceive(deadline: Deadline?) async throws {
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
