import HTTPTypes

/// A response whose head has arrived: the status and header fields, and the body still
/// streaming (``ResponseBody``).
///
/// ```swift
/// let response = try await multi.execute(HTTPRequest(method: .get, scheme: "https",
///                                                    authority: "example.com", path: "/"))
/// print(response.head.status)
/// for try await chunk in response.body { consume(chunk) }
/// ```
///
/// Drop the response (or its body) without reading the body to the end and the transfer is
/// cancelled and everything it held released.
public struct TransferResponse: Sendable {
    /// The final response's status line and header fields (after any redirects and
    /// authentication rounds libcurl did). For protocols other than HTTP the status is the
    /// protocol's last reply code when the body started — for an FTP download the reply that
    /// opened the data transfer, 125 or 150, so `status.kind` is `.informational`; for an
    /// upload with no body, the final 226 — and the fields are empty. The transfer's final code
    /// is ``TransferFacts/responseCode``.
    public let head: HTTPResponse

    /// The body, streaming with back-pressure.
    public let body: ResponseBody

    /// The status, from ``head``.
    public var status: HTTPResponse.Status { head.status }

    /// The header fields, from ``head``.
    public var headerFields: HTTPFields { head.headerFields }
}

/// A response body as an `AsyncSequence` of non-empty byte chunks (at most
/// ``TransferOptions/receiveBufferSize`` each), with back-pressure: while the application does
/// not read, at most ``TransferOptions/responseBufferSize`` bytes wait for it and the transfer
/// pauses; it resumes when the application has read half of them.
///
/// One consumer: iterate it once, from one task (a second iteration throws
/// ``TransferError/Code/bodyAlreadyConsumed``). The iteration ends when the body is complete,
/// throws the transfer's error (a ``CurlError``) if it fails, and throws `CancellationError` if
/// the iterating task is cancelled, which also cancels the transfer.
public struct ResponseBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error

    let owner: ResponseBodyOwner

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(owner: owner, claimed: owner.claim())
    }

    /// Reads the next chunk on demand. Not `Sendable`: iterate from one task.
    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Element = [UInt8]
        public typealias Failure = any Error

        let owner: ResponseBodyOwner
        let claimed: Bool

        public mutating func next() async throws -> [UInt8]? {
            try await next(isolation: nil)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
            guard claimed else { throw TransferError(code: .bodyAlreadyConsumed) }
            return try await owner.stream.next()
        }
    }

    /// Reads the whole body, failing with ``TransferError/Code/bodyTooLarge`` (and cancelling
    /// the transfer) once more than `maxBytes` arrived.
    public func collect(upTo maxBytes: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in self {
            guard bytes.count + chunk.count <= maxBytes else {
                owner.stream.consumerGone()
                throw TransferError(code: .bodyTooLarge, message: "the body is larger than \(maxBytes) bytes")
            }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }

    /// The transfer's facts, once it has ended; throws the transfer's error if it failed.
    ///
    /// It waits for the end of the transfer: read the body first (a body larger than the
    /// response buffer that nobody reads keeps the transfer paused, and this waits with it,
    /// up to ``TransferOptions/timeout``).
    public func facts() async throws -> TransferFacts {
        let completion = await owner.stream.completion()
        if let error = completion.error { throw error }
        return completion.facts
    }

    /// The trailer fields that followed the body (HTTP/1.1 chunked or HTTP/2), once the
    /// transfer has ended; empty if there were none.
    public func trailerFields() async throws -> HTTPFields {
        let completion = await owner.stream.completion()
        if let error = completion.error { throw error }
        return completion.trailerFields
    }
}

@available(*, unavailable)
extension ResponseBody.AsyncIterator: Sendable {}

/// Keeps a response's transfer alive while the application holds its body, and cancels it
/// when the application drops the body unread.
final class ResponseBodyOwner: Sendable {
    let stream: ResponseStream
    /// The engine runs the transfer: it must outlive the body (a connection holds its engine
    /// the same way), or releasing it would end the transfer without telling the consumer.
    let engine: CurlMulti
    private let claimed = PthreadLocked(false)

    init(stream: ResponseStream, engine: CurlMulti) {
        self.stream = stream
        self.engine = engine
    }

    /// The first caller gets `true`: the body's one consumer.
    func claim() -> Bool {
        claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }

    deinit {
        stream.consumerGone()
    }
}
