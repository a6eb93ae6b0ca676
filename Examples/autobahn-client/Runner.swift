import AsyncCurl
import AsyncCurlWebSocket

/// Talks to the fuzzingserver: its service endpoints, and the echo that each test case needs.
struct Runner: Sendable {
    let options: AutobahnClient.Options
    let multi = CurlMulti()

    init(options: AutobahnClient.Options) {
        self.options = options
    }

    /// What one case came to, from this side, with the server's verdict when it gave one.
    struct Outcome {
        var id = "?"
        var verdict = "?"
        var echoed = 0
        var ending = ""
        var elapsed: Duration = .zero
        var timedOut = false

        func line(number: Int, of count: Int) -> String {
            let seconds = Double(elapsed.components.attoseconds / 1_000_000_000_000_000) / 1000 + Double(elapsed.components.seconds)
            let rounded = (seconds * 1000).rounded() / 1000
            return "[\(number)/\(count)] \(id) \(verdict): \(echoed) echoed in \(rounded) s, \(ending)"
        }
    }

    /// The configuration for the test cases: limits above the suite's largest message (16 MiB
    /// in 9.1.6 and 9.2.6), permessage-deflate when asked for.
    var caseConfiguration: WebSocketConfiguration {
        var configuration = WebSocketConfiguration()
        configuration.maximumFrameSize = 64 << 20
        configuration.maximumMessageSize = 64 << 20
        configuration.closeTimeout = .seconds(5)
        if options.deflate { configuration.compression = .permessageDeflate }
        return configuration
    }

    /// The number of cases the server's spec selects.
    func caseCount() async throws -> Int {
        guard let text = try await firstMessage(path: "/getCaseCount", timeout: .seconds(30)), let count = Int(text) else {
            throw WebSocketError(code: .protocolViolation, message: "/getCaseCount sent no number")
        }
        return count
    }

    /// Asks the server to write its reports for this agent, and waits until it has.
    func updateReports() async throws {
        _ = try await firstMessage(path: "/updateReports?agent=\(options.agent)", timeout: .seconds(300))
    }

    /// Runs case `number`: echoes until the server closes, within the per-case deadline.
    func run(case number: Int) async -> Outcome {
        var outcome = Outcome()
        if let info = try? await firstMessage(path: "/getCaseInfo?case=\(number)", timeout: .seconds(10)),
           let id = Self.jsonString(named: "id", in: info) {
            outcome.id = id
        }
        let url = "\(options.server)/runCase?case=\(number)&agent=\(options.agent)"
        let started = ContinuousClock.now
        let echo = Echo(multi: multi, url: url, configuration: caseConfiguration)
        let finished = await withDeadline(options.caseTimeout) { await echo.run() }
        outcome.elapsed = ContinuousClock.now - started
        if let finished {
            outcome.echoed = finished.echoed
            outcome.ending = finished.ending
        } else {
            outcome.timedOut = true
            outcome.ending = "gave up after the case deadline of \(options.caseTimeout)"
        }
        if let status = try? await firstMessage(path: "/getCaseStatus?case=\(number)&agent=\(options.agent)", timeout: .seconds(15)),
           let behavior = Self.jsonString(named: "behavior", in: status) {
            outcome.verdict = behavior
        }
        return outcome
    }

    /// Opens `path`, returns the first text message, and reads on until the server closes.
    func firstMessage(path: String, timeout: Duration) async throws -> String? {
        let socket = try await multi.webSocket(to: options.server + path)
        let text = try await withDeadline(timeout) { () async throws -> String? in
            var first: String?
            do {
                for try await message in socket.messages where first == nil {
                    if case .text(let text) = message { first = text }
                }
            } catch let error as WebSocketError where first != nil && error.code == .closedAbnormally {
                // The answer came; how the connection ended after it does not matter.
            }
            return first
        }
        try await socket.close()
        return text ?? nil
    }

    /// The string value of `"name": "…"` in a flat JSON object (the service answers only).
    static func jsonString(named name: String, in json: String) -> String? {
        let key = Array("\"\(name)\"".utf8)
        let bytes = Array(json.utf8)
        guard bytes.count >= key.count,
              let start = (0...(bytes.count - key.count)).first(where: { bytes[$0..<$0 + key.count].elementsEqual(key) }) else {
            return nil
        }
        let rest = Substring(decoding: bytes[(start + key.count)...], as: UTF8.self).drop { $0 == " " || $0 == ":" }
        guard rest.first == "\"" else { return nil }
        let value = rest.dropFirst().prefix { $0 != "\"" }
        return String(value)
    }
}

/// One case's echo: every message goes back as it came, until the server ends the connection.
struct Echo: Sendable {
    let multi: CurlMulti
    let url: String
    let configuration: WebSocketConfiguration

    struct Result: Sendable {
        var echoed = 0
        var ending = ""
    }

    func run() async -> Result {
        var result = Result()
        let socket: WebSocket
        do {
            socket = try await multi.webSocket(to: url, configuration: configuration)
        } catch {
            result.ending = "the opening handshake failed: \(error)"
            return result
        }
        do {
            for try await message in socket.messages {
                do {
                    try await socket.send(message)
                    result.echoed += 1
                } catch let error as WebSocketError where error.code == .closed {
                    // The server's close frame came first, or a violation closed us: the
                    // reader tells how it ended.
                }
            }
            let code = socket.closeCode.map { String($0.rawValue) } ?? "no code"
            result.ending = "closed by the server with \(code)"
        } catch is CancellationError {
            result.ending = "cancelled"
        } catch {
            result.ending = "\(error)"
        }
        return result
    }
}

/// Runs `body`, cancelling it after `limit`: `nil` when the deadline came first.
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async rethrows -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { return nil }
        return first
    }
}
