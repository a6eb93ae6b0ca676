/// An open TCP or TLS connection set up by libcurl, with `async` send and receive.
///
/// Get one from ``CurlMulti/connect(to:options:)`` or ``CurlMulti/withConnection(to:options:isolation:_:)``.
/// `send` and `receive` run on the calling task's thread: over TLS they call `curl_easy_send` /
/// `curl_easy_recv` (holding the engine's libcurl lock); a connection with no TLS at any layer
/// uses `send(2)` / `recv(2)` on its socket directly. When the socket is not ready they suspend,
/// without polling or blocking a thread, until the engine's event loop sees it ready.
///
/// ## Concurrency
/// A connection is full duplex: one task may wait in ``receive(maxLength:timeout:)`` while another
/// calls ``send(_:timeout:)-([UInt8],_)``. Operations in the *same* direction must be sequential: a second
/// receive (or ``chunks`` iteration) while one is waiting throws
/// ``ConnectionError/Code/receiveInProgress``, and a second concurrent send throws
/// ``ConnectionError/Code/sendInProgress``. Nothing is ever interleaved or lost.
///
/// ## Cancellation
/// - A cancelled `receive` throws `CancellationError`, consumes no bytes, and leaves the
///   connection usable; so does a cancelled ``receive(exactly:timeout:)``, which gives back what it had
///   read.
/// - A `send` cancelled before any byte was written throws `CancellationError` and leaves the
///   connection usable. Cancelled after a partial write, it closes the connection (the peer saw
///   a torn message) and throws ``ConnectionError/Code/sendCancelled`` with the byte count.
///
/// ## Closing
/// ``close()`` is idempotent and wakes pending operations with ``ConnectionError/Code/closed``.
/// Dropping the last reference to an open connection closes it too.
public final class AsyncConnection: Sendable {
    /// The engine that owns this connection's easy handle and socket.
    public let multi: CurlMulti
    let id: ConnectionID
    /// The in-progress flags and, without TLS, the socket for direct I/O (shared with the engine).
    let gate: ConnectionGate

    /// Facts about the connection — addresses, TLS, proxy status, set-up timings — as they were
    /// when it was handed over.
    public let info: ConnectionInfo

    init(multi: CurlMulti, record: ConnectionRecord, info: ConnectionInfo) {
        self.multi = multi
        self.id = record.id
        self.gate = record.gate
        self.info = info
    }

    deinit {
        // Safe from any thread: the close runs later on the engine's queue.
        let id = self.id
        multi.onEngineQueue { $0.close(id) }
    }


    // MARK: Sending

    /// Writes all of `bytes`, suspending while the peer is not reading fast enough.
    ///
    /// - Parameters:
    ///   - bytes: The bytes to write.
    ///   - timeout: The longest the whole send may take. If it expires before any byte was
    ///     written, the connection stays usable; after a partial write it is closed. Either way
    ///     the send throws ``CurlError`` with ``CurlError/Code/operationTimedOut``.
    ///     ``ConnectionOptions/idleTimeout`` applies too.
    /// - Throws: ``CurlError`` with ``CurlError/Code/sendError`` if the peer reset or closed the
    ///   connection; ``ConnectionError`` when the connection is closed or another send is in
    ///   progress; `CancellationError` or ``ConnectionError/Code/sendCancelled`` on cancellation
    ///   (see the type's discussion).
    public func send(_ bytes: [UInt8], timeout: Duration? = nil) async throws {
        try gate.claimSend()
        defer { gate.endSend() }
        try Task.checkCancellation()
        guard !bytes.isEmpty else {
            // Nothing to write, but a closed connection still says so.
            return try gate.checkOpen()
        }
        try await write(bytes, from: 0, deadline: Self.deadline(after: timeout))
    }

    /// Writes the UTF-8 encoding of `string`; see ``send(_:timeout:)-([UInt8],_)``.
    public func send(_ string: String, timeout: Duration? = nil) async throws {
        try await send(Array(string.utf8), timeout: timeout)
    }

    /// Writes the bytes of `buffer`; see ``send(_:timeout:)-([UInt8],_)``.
    ///
    /// `buffer` is used only until the call first suspends. On a connection without TLS, what
    /// the socket takes at once is written straight from it; the rest is copied first.
    public func send(_ buffer: UnsafeRawBufferPointer, timeout: Duration? = nil) async throws {
        try gate.claimSend()
        defer { gate.endSend() }
        try Task.checkCancellation()
        guard !buffer.isEmpty else { return try gate.checkOpen() }
        var written = 0
        if case .transferred(let count) = try gate.send(buffer) {
            written = count
        }
        guard written < buffer.count else { return }
        try await write(Array(buffer), from: written, deadline: Self.deadline(after: timeout))
    }

    /// Writes all bytes of `bytes`; see ``send(_:timeout:)-([UInt8],_)``.
    public func send(_ bytes: some Sequence<UInt8>, timeout: Duration? = nil) async throws {
        try await send(Array(bytes), timeout: timeout)
    }

    /// Writes every chunk of `chunks` in order, suspending as needed, until the sequence ends.
    ///
    /// Useful to pipe one connection into another: `try await to.send(contentsOf: from.chunks)`.
    /// - Parameters:
    ///   - chunks: The chunks to write.
    ///   - timeout: The longest each chunk's send may take (see ``send(_:timeout:)-([UInt8],_)``);
    ///     waiting for the sequence's next chunk is not limited.
    /// - Throws: What ``send(_:timeout:)-([UInt8],_)`` throws, or what the sequence throws.
    public func send<Chunks: AsyncSequence>(contentsOf chunks: Chunks, timeout: Duration? = nil) async throws
    where Chunks.Element == [UInt8] {
        for try await chunk in chunks {
            try await send(chunk, timeout: timeout)
        }
    }

    // MARK: Receiving

    /// Returns the bytes available now, at most `maxLength`, suspending until at least one byte
    /// has arrived; `nil` once the peer has closed its side of the stream.
    ///
    /// - Parameters:
    ///   - maxLength: The most bytes to return; at least 1. Default 64 KiB. One receive returns
    ///     at most 256 KiB, whatever `maxLength` says.
    ///   - timeout: The longest to wait for the first byte. On expiry the receive throws
    ///     ``CurlError`` with ``CurlError/Code/operationTimedOut``, consumes nothing, and the
    ///     connection stays usable. ``ConnectionOptions/idleTimeout`` applies too.
    /// - Throws: ``CurlError`` with ``CurlError/Code/recvError`` if the connection failed (for
    ///   example, a reset); ``ConnectionError`` when the connection is closed or another receive
    ///   is waiting; `CancellationError` on cancellation, with nothing consumed.
    public func receive(maxLength: Int = 65536, timeout: Duration? = nil) async throws -> [UInt8]? {
        guard maxLength > 0 else {
            throw CurlError(code: .badFunctionArgument, message: "receive(maxLength:) needs a maxLength of at least 1, not \(maxLength)")
        }
        try gate.claimReceive()
        defer { gate.endReceive() }
        return try await read(maxLength: maxLength, deadline: Self.deadline(after: timeout))
    }

    /// Receives into `buffer`: returns how many bytes were written to its start, between 1 and
    /// `buffer.count`, as soon as any have arrived; 0 once the peer has closed its side of the
    /// stream.
    ///
    /// For callers that manage their own memory, such as a parser's ring buffer. On a
    /// connection without TLS whose bytes have already arrived, the kernel copies them straight
    /// into `buffer`; otherwise the bytes are copied once from the engine. The buffer is used
    /// only until the call returns.
    /// - Parameters:
    ///   - buffer: Where to write; at least one byte long.
    ///   - timeout: As for ``receive(maxLength:timeout:)``.
    /// - Throws: What ``receive(maxLength:timeout:)`` throws.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration? = nil) async throws -> Int {
        guard !buffer.isEmpty else {
            throw CurlError(code: .badFunctionArgument, message: "receive(into:) needs a buffer of at least 1 byte")
        }
        try gate.claimReceive()
        defer { gate.endReceive() }
        return try await read(into: buffer, deadline: Self.deadline(after: timeout))
    }

    /// Returns exactly `count` bytes, waiting for as many segments as that takes.
    ///
    /// - Throws: ``ConnectionError/Code/unexpectedEndOfStream`` (with the bytes received so far
    ///   in ``ConnectionError/byteCount``) if the stream ends first; otherwise what
    ///   ``receive(maxLength:timeout:)`` throws. On any throw, the bytes already read stay in
    ///   the connection for the next receive.
    /// - Parameters:
    ///   - count: How many bytes to return.
    ///   - timeout: The longest the whole receive may take (see ``receive(maxLength:timeout:)``).
    public func receive(exactly count: Int, timeout: Duration? = nil) async throws -> [UInt8] {
        guard count >= 0 else {
            throw CurlError(code: .badFunctionArgument, message: "receive(exactly:) needs a count of at least 0, not \(count)")
        }
        try gate.claimReceive()
        defer { gate.endReceive() }
        return try await read(exactly: count, deadline: Self.deadline(after: timeout))
    }

    /// Returns the bytes up to and including the first occurrence of `delimiter`, such as one
    /// `\r\n`-terminated line of a text protocol; the bytes after it stay in the connection for
    /// the next receive. Returns `nil` at end of stream when no bytes are left.
    ///
    /// ```swift
    /// while let line = try await connection.receive(through: Array("\r\n".utf8)) {
    ///     handle(String(decoding: line.dropLast(2), as: UTF8.self))
    /// }
    /// ```
    ///
    /// Like every receive it is cancel-safe: a cancelled or timed-out call consumes nothing.
    /// - Parameters:
    ///   - delimiter: The byte sequence that ends a unit, at least one byte.
    ///   - maxLength: The most bytes to search, delimiter included. Default 64 KiB.
    ///   - timeout: The longest the whole call may take (see ``receive(maxLength:timeout:)``).
    /// - Throws: ``ConnectionError/Code/delimiterNotFound`` when `maxLength` bytes hold no
    ///   delimiter; ``ConnectionError/Code/unexpectedEndOfStream`` when the stream ends inside a
    ///   unit (the partial bytes stay readable); otherwise what ``receive(maxLength:timeout:)``
    ///   throws.
    public func receive(through delimiter: [UInt8], maxLength: Int = 65536, timeout: Duration? = nil) async throws -> [UInt8]? {
        guard !delimiter.isEmpty, maxLength >= delimiter.count else {
            throw CurlError(code: .badFunctionArgument, message: "receive(through:maxLength:) needs a non-empty delimiter no longer than maxLength")
        }
        try gate.claimReceive()
        defer { gate.endReceive() }
        return try await read(through: delimiter, maxLength: maxLength, deadline: Self.deadline(after: timeout))
    }

    /// The received bytes as an `AsyncSequence` of chunks, ending at end of stream.
    ///
    /// Chunks are read on demand, one `receive` per `next()`: a slow consumer slows the peer down
    /// through TCP flow control instead of buffering without bound.
    ///
    /// ```swift
    /// for try await chunk in connection.chunks {
    ///     output.append(contentsOf: chunk)
    /// }
    /// ```
    public var chunks: Chunks { Chunks(connection: self, maxLength: 65536) }

    /// Like ``chunks``, with chunks of at most `maxLength` bytes.
    public func chunks(maxLength: Int) -> Chunks {
        Chunks(connection: self, maxLength: maxLength)
    }

    /// Shuts down the sending side of a plain TCP connection (`shutdown(SHUT_WR)`): the peer
    /// reads end of stream, while this side can still receive. For protocols where the client
    /// signals the end of its input by half-closing, as netcat does.
    ///
    /// Later sends throw ``CurlError`` with ``CurlError/Code/sendError``. Calling it again does
    /// nothing.
    /// - Throws: ``CurlError`` with ``CurlError/Code/unsupportedProtocol`` on a TLS connection
    ///   (libcurl cannot send TLS's close_notify without closing the whole connection), and
    ///   ``ConnectionError/Code/closed`` on a closed one.
    public func finishSending() async throws {
        try await multi.finishSending(id)
    }

    /// When an operation given `timeout` now must end.
    private static func deadline(after timeout: Duration?) -> Deadline? {
        timeout.map(Deadline.after)
    }

    // MARK: Closing

    /// Closes the connection and releases its socket and libcurl handle. Pending sends and
    /// receives throw ``ConnectionError/Code/closed``. Calling it again does nothing.
    public func close() async {
        await multi.close(id)
    }
}
