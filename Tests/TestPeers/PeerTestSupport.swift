import AsyncCurl
import Synchronization
import Testing

/// Collects libcurl's trace for assertions such as "the handshake negotiated TLSv1.3".
final class TraceRecorder: Sendable {
    private let events = Mutex<[TraceEvent]>([])

    /// The function to put in `ConnectionOptions.trace`.
    var handler: @Sendable (TraceEvent) -> Void {
        { [self] event in events.withLock { $0.append(event) } }
    }

    /// Every event so far, one per line (`* text`, `< header in`, `> header out`).
    var text: String {
        events.withLock { $0.map(\.description).joined(separator: "\n") }
    }

    func contains(_ fragment: String) -> Bool {
        events.withLock { $0.contains { $0.text.contains(fragment) } }
    }
}

/// Options for tests against real peers: a connect timeout, so a bug fails instead of hanging,
/// and optionally a trace recorder.
func peerOptions(trace: TraceRecorder? = nil) -> ConnectionOptions {
    var options = ConnectionOptions()
    options.connectTimeout = .seconds(15)
    options.trace = trace?.handler
    return options
}

/// Sends a line and checks that it comes back: proof that bytes cross whatever is in between.
func expectEcho(_ connection: AsyncConnection, _ text: String = "ping through the peer\r\n",
                sourceLocation: SourceLocation = #_sourceLocation) async throws {
    try await connection.send(text)
    let reply = try await connection.receive(exactly: text.utf8.count)
    #expect(reply == Array(text.utf8), sourceLocation: sourceLocation)
}

/// Connects, checks an echo round trip and closes; returns the connection's info.
@discardableResult
func connectAndEcho(_ multi: CurlMulti, to url: String, options: ConnectionOptions,
                    sourceLocation: SourceLocation = #_sourceLocation) async throws -> ConnectionInfo {
    try await multi.withConnection(to: url, options: options) { connection async throws in
        try await expectEcho(connection, sourceLocation: sourceLocation)
        return connection.info
    }
}

/// Runs `body`, which must fail with a `CurlError`, and returns that error (recording an issue
/// and returning `nil` if it did not fail that way).
func expectCurlError(sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () async throws -> Void) async -> CurlError? {
    do {
        try await body()
        Issue.record("expected a CurlError, but it succeeded", sourceLocation: sourceLocation)
    } catch let error as CurlError {
        return error
    } catch {
        Issue.record("expected a CurlError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A wait of a test's that ran out of time.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    var description: String { "deadline exceeded waiting for \(what)" }
}

/// Runs `body`, failing with `DeadlineExceeded` (and cancelling it) if it takes longer than
/// `timeout`: for reads that a bug could leave waiting forever.
func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw DeadlineExceeded(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Whether `condition` holds within `timeout`, checked every few milliseconds: for what a peer
/// writes to its log, which may land a moment after the client has moved on.
func eventually(within timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return true
}
