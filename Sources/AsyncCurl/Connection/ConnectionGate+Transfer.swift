#if canImport(Glibc)
import Glibc
#endif

// Moving bytes on the caller's thread: `send(2)` / `recv(2)` for a connection without TLS,
// `curl_easy_send` / `curl_easy_recv` through its `CurlChannel` otherwise; bytes the connection
// holds (`unread`) first. Everything here runs under the gate's lock and never blocks.

extension ConnectionGate {
    /// What one send or receive on the caller's thread did.
    enum Transfer: Equatable {
        /// This many bytes moved; for a receive, 0 is the end of stream.
        case transferred(Int)
        /// The socket is not ready (`EAGAIN`, `CURLE_AGAIN`): wait with
        /// ``waitUntilReady(_:deadline:)``.
        case wouldBlock
    }

    /// What one step of a delimited receive found.
    enum Unit {
        /// The bytes up to and including the delimiter.
        case unit([UInt8])
        /// The stream ended with nothing left.
        case endOfStream
        /// No delimiter yet and nothing more to read now.
        case wouldBlock
    }

    // MARK: The engine's side

    /// The connection is open on `socket`, which the engine has added (disarmed) to its readiness
    /// set. From now on callers read and write it themselves: with `direct`, with system calls;
    /// otherwise through `channel` (`nil` only with `direct`). `received` is what the connect's
    /// attaching read got.
    func open(socket: Int32, direct: Bool, channel: CurlChannel?, received: [UInt8]) {
        withLock { state in
            state.socket = socket
            state.allowsDirectIO = direct
            state.channel = direct ? nil : channel
            state.unread = received
        }
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

    // MARK: Sending

    /// One `send(2)` or `curl_easy_send` of `bytes`. Throws the close's error once closed.
    func send(_ bytes: UnsafeRawBufferPointer) throws -> Transfer {
        try withLock { (state: inout State) throws -> Transfer in
            guard let socket = state.socket else { throw state.closeError }
            if state.allowsDirectIO {
                return try Self.send(on: socket, bytes, &state)
            }
            guard let channel = state.channel else { throw state.closeError }
            return try channel.send(bytes)
        }
    }

    /// Throws the close's error if the connection is closed.
    func checkOpen() throws {
        try withLock { (state: inout State) throws in
            if state.socket == nil { throw state.closeError }
        }
    }

    // MARK: Receiving

    /// Fills the start of `buffer` from the bytes the connection holds, or else from the socket:
    /// one `recv(2)`, or `curl_easy_recv` until `buffer` is full or libcurl has nothing more
    /// (one call returns at most one TLS record). Throws the close's error once closed, and a
    /// failure met while reading ahead before anything else.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Transfer {
        try withLock { (state: inout State) throws -> Transfer in
            if !state.unread.isEmpty {
                let count = min(buffer.count, state.unread.count)
                buffer.copyBytes(from: state.unread[..<count])
                state.unread.removeFirst(count)
                return .transferred(count)
            }
            return try Self.read(&state, into: buffer)
        }
    }

    /// Puts `bytes` back in front of what the connection holds: a receive that read them and
    /// then failed.
    func giveBack(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        withLock { $0.unread.insert(contentsOf: bytes, at: 0) }
    }

    /// One step of a delimited receive: the unit up to and including `delimiter` if the held
    /// bytes have one within `maxLength`, reading once more if they do not. `searchFrom` keeps
    /// where the next search starts between steps of one receive. Everything read stays held
    /// until a unit is complete, so a wait that ends in cancellation or a timeout loses nothing.
    func receiveUnit(through delimiter: [UInt8], maxLength: Int, searchFrom: inout Int) throws -> Unit {
        try withLock { (state: inout State) throws -> Unit in
            while true {
                // Only a delimiter that ends within the first maxLength bytes counts.
                let window = min(state.unread.count, maxLength)
                if searchFrom < window, let match = state.unread[searchFrom..<window].firstRange(of: delimiter) {
                    let unit = Array(state.unread[..<match.upperBound])
                    state.unread.removeFirst(match.upperBound)
                    return .unit(unit)
                }
                searchFrom = max(0, window - delimiter.count + 1)
                guard state.unread.count < maxLength else {
                    throw ConnectionError(code: .delimiterNotFound, byteCount: state.unread.count)
                }
                let room = min(maxLength - state.unread.count, 65536)
                let transfer = try withUnsafeTemporaryAllocation(byteCount: room, alignment: 1) { buffer throws -> Transfer in
                    let transfer = try Self.read(&state, into: buffer)
                    if case .transferred(let count) = transfer {
                        state.unread.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                    }
                    return transfer
                }
                switch transfer {
                case .transferred(0):
                    guard state.unread.isEmpty else {
                        throw ConnectionError.unexpectedEndOfStream(received: state.unread.count)
                    }
                    return .endOfStream
                case .transferred:
                    continue
                case .wouldBlock:
                    return .wouldBlock
                }
            }
        }
    }

    /// Reads from the socket (not from `unread`) into `buffer`. Once the stream has failed, the
    /// end of stream throws that failure (see `State.streamFailure`).
    private static func read(_ state: inout State, into buffer: UnsafeMutableRawBufferPointer) throws -> Transfer {
        let transfer: Transfer
        do {
            transfer = try readOnce(&state, into: buffer)
        } catch let failure as CurlError {
            if state.streamFailure == nil { state.streamFailure = failure }
            throw failure
        }
        if transfer == .transferred(0), let failure = state.streamFailure { throw failure }
        return transfer
    }

    private static func readOnce(_ state: inout State, into buffer: UnsafeMutableRawBufferPointer) throws -> Transfer {
        guard let socket = state.socket else { throw state.closeError }
        if let failure = state.pendingFailure {
            state.pendingFailure = nil
            throw failure
        }
        if state.allowsDirectIO {
            return try receive(on: socket, into: buffer)
        }
        guard let channel = state.channel else { throw state.closeError }
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

    /// `send(2)` without `SIGPIPE`, with libcurl's wording for failures. A reset met here is
    /// kept for the receives (`State.streamFailure`), since the kernel reports it only once.
    private static func send(on socket: Int32, _ bytes: UnsafeRawBufferPointer, _ state: inout State) throws(CurlError) -> Transfer {
        while true {
            let count = Glibc.send(socket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            if count >= 0 { return .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case let number:
                let reason = String(cString: strerror(number))
                if number == ECONNRESET, state.streamFailure == nil {
                    state.streamFailure = CurlError(code: .recvError, message: "Recv failure: \(reason)")
                }
                throw CurlError(code: .sendError, message: "Send failure: \(reason)")
            }
        }
    }
}
