extension AsyncConnection {
    /// The bytes a connection receives, as an `AsyncSequence` of non-empty `[UInt8]` chunks
    /// that ends when the peer closes its side.
    ///
    /// Each `next()` is one ``AsyncConnection/receive(maxLength:timeout:)``: nothing is read ahead, so
    /// a slow consumer applies back-pressure to the peer. Only one iterator may wait at a time
    /// (a second throws ``ConnectionError/Code/receiveInProgress``). Errors end the iteration by
    /// throwing; cancellation throws `CancellationError` and consumes nothing.
    public struct Chunks: AsyncSequence, Sendable {
        public typealias Element = [UInt8]
        public typealias Failure = any Error

        let connection: AsyncConnection
        let maxLength: Int

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(connection: connection, maxLength: maxLength)
        }

        /// Reads the next chunk on demand. Not `Sendable`: iterate from one task.
        public struct AsyncIterator: AsyncIteratorProtocol {
            public typealias Element = [UInt8]
            public typealias Failure = any Error

            let connection: AsyncConnection
            let maxLength: Int
            var finished = false

            public mutating func next() async throws -> [UInt8]? {
                try await next(isolation: nil)
            }

            /// Reads the next chunk in the caller's isolation, so actor-isolated code can iterate.
            public mutating func next(isolation actor: isolated (any Actor)?) async throws -> [UInt8]? {
                guard !finished else { return nil }
                do {
                    if let chunk = try await connection.receive(maxLength: maxLength, timeout: nil) {
                        return chunk
                    }
                    finished = true
                    return nil
                } catch {
                    // A cancelled iteration may be resumed; any other error ends the sequence.
                    if !(error is CancellationError) { finished = true }
                    throw error
                }
            }
        }
    }
}

@available(*, unavailable)
extension AsyncConnection.Chunks.AsyncIterator: Sendable {}
