import AsyncCurl
import BenchC

/// The TLS reconnect scenario (`--scenarios tls-reconnect`, AsyncCurl only): connect to the TLS
/// server, receive a few bytes (so that a TLS 1.3 ticket is taken in), close, and again, many
/// times; once with TLS session reuse (`reusesTLSSessions`, the default) and once without.
/// Reports the median of each round's reconnects: the connect's wall time and the TLS
/// handshake's share of it (`timings.tlsEstablished - timings.connected`).
struct ReconnectOutcome {
    /// Microseconds per reconnect, in order.
    var connect: [Double] = []
    var handshake: [Double] = []
    var resumed = 0

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}

extension AsyncCurlClient {
    func tlsReconnects(count: Int, reusesSessions: Bool, maximumVersion: TLSVersion?) async throws -> ReconnectOutcome {
        var options = ConnectionOptions()
        options.tls.caFile = server.caFile
        options.tls.maximumVersion = maximumVersion
        options.reusesTLSSessions = reusesSessions
        let url = "tls://127.0.0.1:\(server.tlsPort)"
        var outcome = ReconnectOutcome()
        outcome.connect.reserveCapacity(count)
        outcome.handshake.reserveCapacity(count)
        // One unmeasured connect first, which leaves a session to resume from.
        for index in -1..<count {
            let start = bench_now_ns()
            let connection = try await multi.connect(to: url, options: options)
            let elapsed = Double(bench_now_ns() - start) / 1000
            try await connection.send(header(BENCH_MODE_SOURCE, total: 8))
            _ = try await connection.receive(exactly: 8)
            await connection.close()
            guard index >= 0 else { continue }
            let timings = connection.info.timings
            outcome.connect.append(elapsed)
            if let tls = timings.tlsEstablished {
                outcome.handshake.append(Double((tls - timings.connected) / .nanoseconds(1)) / 1000)
            }
            if connection.info.tlsSessionResumed == true { outcome.resumed += 1 }
        }
        return outcome
    }
}

extension Bench {
    /// Runs the reconnect scenario for TLS 1.3 and 1.2, with and without session reuse.
    static func runReconnects(_ client: AsyncCurlClient, settings: Settings, round: Int, into results: inout Results) async throws {
        for (version, maximum) in [("TLS 1.3", nil), ("TLS 1.2", TLSVersion.tls1_2)] as [(String, TLSVersion?)] {
            for reuses in [false, true] {
                let outcome = try await Task.detached {
                    try await client.tlsReconnects(count: settings.reconnectCount, reusesSessions: reuses, maximumVersion: maximum)
                }.value
                let kind = reuses ? "resumed" : "full"
                let connect = ReconnectOutcome.median(outcome.connect)
                let handshake = ReconnectOutcome.median(outcome.handshake)
                results.add("\(version) reconnect \(kind) connect µs", client.name, connect)
                results.add("\(version) reconnect \(kind) handshake µs", client.name, handshake)
                log("round \(round) tls-reconnect \(version) \(kind): median connect \(format(connect)) µs, handshake \(format(handshake)) µs, \(outcome.resumed) of \(settings.reconnectCount) resumed")
                if reuses != (outcome.resumed > 0) {
                    results.notes.append("tls-reconnect \(version) \(kind) round \(round): \(outcome.resumed) of \(settings.reconnectCount) resumed")
                }
            }
        }
    }

    /// The resumed ÷ full ratios of the reconnect scenario's medians, for the notes.
    static func reconnectNotes(_ results: Results, client: String) -> [String] {
        var notes: [String] = []
        for version in ["TLS 1.3", "TLS 1.2"] {
            for measure in ["connect", "handshake"] {
                guard let resumed = results.median("\(version) reconnect resumed \(measure) µs", client),
                      let full = results.median("\(version) reconnect full \(measure) µs", client), full > 0 else { continue }
                notes.append("tls-reconnect \(version) \(measure): resumed ÷ full = \(format(resumed / full)) (\(format(resumed)) µs vs \(format(full)) µs, medians)")
            }
        }
        return notes
    }
}
