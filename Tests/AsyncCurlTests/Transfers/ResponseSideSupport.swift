@testable import AsyncCurl
import HTTPTypes
import Synchronization
import Testing
@testable import TestPeers

/// Helpers of the request/response transfer tests (TransferHTTPTests, TransferHTTP2Tests,
/// TransferRedirectTests, TransferAuthCookieTests, TransferProxyTests): options for the nginx
/// peer, one GET read to the end, and the leak check every suite runs its transfers in.
enum ResponseSide {
    /// What one transfer gave: its head, its whole body and its facts.
    struct Fetched: Sendable {
        let head: HTTPResponse
        let body: [UInt8]
        let facts: TransferFacts

        var status: Int { head.status.code }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Options that trust the test CA, with a limit on the whole transfer so that a bug fails
    /// the test instead of hanging it.
    static func options(_ version: HTTPVersionChoice = .http2, caFile: String? = nil) -> TransferOptions {
        var options = TransferOptions()
        options.connection = peerOptions()
        options.connection.tls.caFile = caFile
        options.httpVersion = version
        options.timeout = .seconds(60)
        return options
    }

    /// Sends a GET (or `method`) to `url` and reads the whole body and the facts.
    static func get(_ multi: CurlMulti, _ url: String, method: HTTPRequest.Method = .get,
                    headerFields: HTTPFields = [:], options: TransferOptions) async throws -> Fetched {
        let response = try await multi.execute(url, method: method, headerFields: headerFields, options: options)
        let body = try await response.body.collect(upTo: 64 << 20)
        return Fetched(head: response.head, body: body, facts: try await response.body.facts())
    }

    /// Runs `body` with an engine of its own and proves that nothing stays behind: once `body`
    /// returns, the engine has no transfer left (`CurlMulti.transfers`) and its diagnostics are
    /// idle; once the engine is released (which closes the connections libcurl keeps alive in
    /// its cache), the process has no more open file descriptors than before.
    ///
    /// A warm-up engine first makes one transfer to `warmUpURL` and goes, so that what is created
    /// once per process (libcurl's and OpenSSL's global state, Dispatch's threads, the
    /// continuous clock's timerfd that `Task.sleep` opens) is in the baseline.
    static func checkingLeaks(warmUp warmUpURL: String, options: TransferOptions,
                              sourceLocation: SourceLocation = #_sourceLocation,
                              _ body: (CurlMulti) async throws -> Void) async throws {
        weak var warmUpEngine: CurlMulti?
        do {
            let multi = CurlMulti()
            warmUpEngine = multi
            _ = try await get(multi, warmUpURL, options: options)
            // Opens the continuous clock's timerfd now, not during the test (`withDeadline`,
            // `eventually` and the peers' polls sleep on it).
            try await Task.sleep(for: .milliseconds(1))
        }
        try await waitUntil("the warm-up engine to be released") { warmUpEngine == nil }
        let baseline = openFileDescriptorCount()

        weak var released: CurlMulti?
        do {
            let multi = CurlMulti()
            released = multi
            try await body(multi)
            try await waitUntil("every transfer to leave the engine") { await multi.diagnostics.transfers == 0 }
            #expect(await multi.diagnostics == .idle, sourceLocation: sourceLocation)
        }
        try await waitUntil("the engine to be released") { released == nil }
        try await waitUntil("the descriptors to return to the baseline of \(baseline)") {
            openFileDescriptorCount() <= baseline
        }
    }

    /// Checks the order of the timings libcurl measured (each includes the ones before it).
    static func expectMonotonicTimings(_ facts: TransferFacts, tls: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let ordered = [facts.nameLookupTime, facts.connectTime] + (tls ? [facts.tlsHandshakeTime] : [])
            + [facts.preTransferTime, facts.startTransferTime, facts.totalTime]
        #expect(zip(ordered, ordered.dropFirst()).allSatisfy { $0 <= $1 }, "timings out of order: \(ordered)", sourceLocation: sourceLocation)
        #expect(facts.totalTime > .zero, sourceLocation: sourceLocation)
        if tls {
            #expect(facts.tlsHandshakeTime > facts.connectTime, "\(facts)", sourceLocation: sourceLocation)
        } else {
            #expect(facts.tlsHandshakeTime == .zero, "\(facts)", sourceLocation: sourceLocation)
        }
    }
}

/// A thread-safe list, for what progress handlers and other callbacks see.
final class ResponseSideRecorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    func append(_ item: Element) {
        items.withLock { $0.append(item) }
    }

    var all: [Element] { items.withLock { $0 } }
}
