/// The table of the TLS scale scenarios: medians per client, AsyncCurl ÷ SwiftNIO, the
/// round-robin's largest ÷ smallest connection count, and every round's value.
struct ScaleReport {
    let settings: Settings
    let clients: [String]
    let results: Results

    static let subject = "AsyncCurl"

    /// (key in `Results`, label), in order; only the rows with samples are printed.
    var rows: [(name: String, label: String)] {
        var rows: [(String, String)] = [
            ("tls-fanout connect all s", "tls-fanout: connect all, s"),
            ("tls-fanout RSS KiB/conn", "tls-fanout: RSS KiB per open connection"),
            ("tls-fanout total s", "tls-fanout: total, s"),
            ("tls-fanout CPU µs/conn", "tls-fanout: client CPU µs per connection (connect, exchange, close)"),
            ("tls-fanout server CPU µs/conn", "tls-fanout: server CPU µs per connection"),
        ]
        for n in settings.roundRobinConnections {
            rows.append(("tls-rr \(n) p50 µs", "tls-roundrobin, \(n) open: p50 µs"))
            rows.append(("tls-rr \(n) p99 µs", "tls-roundrobin, \(n) open: p99 µs"))
            rows.append(("tls-rr \(n) CPU µs/trip", "tls-roundrobin, \(n) open: CPU µs per round trip"))
        }
        for variant in TLSParallelBench.Variant.allCases {
            rows.append(("\(variant.rowKey) MiB/s", "tls-parallel, \(variant.rawValue): MiB/s (sum)"))
            rows.append(("\(variant.rowKey) CPU s/GiB", "tls-parallel, \(variant.rawValue): client CPU s/GiB"))
            rows.append(("\(variant.rowKey) client CPU %", "tls-parallel, \(variant.rawValue): client CPU % of a core"))
            rows.append(("\(variant.rowKey) server CPU %", "tls-parallel, \(variant.rawValue): server CPU % of a core"))
        }
        return rows
    }

    func render() -> String {
        var out: [String] = []
        let present = rows.filter { results.samples[$0.name] != nil }
        guard !present.isEmpty else { return "" }
        let others = clients.filter { $0 != Self.subject }
        out.append("")
        out.append("### TLS scale (issue 17): medians of \(settings.rounds) interleaved rounds")
        out.append("")
        out.append("Sizes: tls-fanout \(settings.tlsFanOutConnections) TLS connections × 1 KiB each way; tls-roundrobin \(settings.roundRobinCount) timed 64 B round trips after \(settings.roundRobinWarmup) untimed, over \(settings.roundRobinConnections.map(String.init).joined(separator: " / ")) open connections; tls-parallel \(settings.tlsParallelBytes >> 20) MiB per stream. TLS 1.3, ECDSA P-256 echo server (tls-fanout, tls-roundrobin), RSA-2048 streaming server (tls-parallel).")
        out.append("")
        let headerCells = ["Scenario / metric"] + clients + others.map { "\(Self.subject) ÷ \($0)" }
        out.append("| " + headerCells.joined(separator: " | ") + " |")
        out.append("|" + headerCells.enumerated().map { $0.offset == 0 ? " --- " : " ---: " }.joined(separator: "|") + "|")
        for (row, label) in present {
            var cells = [label] + clients.map { results.median(row, $0).map(format) ?? "n/a" }
            cells += others.map { other in ratio(row, Self.subject, row, other).map { format($0) + "×" } ?? "n/a" }
            out.append("| " + cells.joined(separator: " | ") + " |")
        }
        // The point of tls-roundrobin: a round trip costs the same with many connections open.
        if let few = settings.roundRobinConnections.min(), let many = settings.roundRobinConnections.max(), few != many,
           results.samples["tls-rr \(many) p50 µs"] != nil {
            for metric in ["p50 µs", "p99 µs", "CPU µs/trip"] {
                let cells = ["tls-roundrobin \(metric): \(many) open ÷ \(few) open"]
                    + clients.map { client in ratio("tls-rr \(many) \(metric)", client, "tls-rr \(few) \(metric)", client).map { format($0) + "×" } ?? "n/a" }
                    + others.map { _ in "" }
                out.append("| " + cells.joined(separator: " | ") + " |")
            }
        }
        let alone = "\(TLSParallelBench.Variant.alone.rowKey) MiB/s"
        for variant in [TLSParallelBench.Variant.oneEngine, .group] {
            guard let value = ratio("\(variant.rowKey) MiB/s", Self.subject, alone, Self.subject) else { continue }
            let cells = ["tls-parallel, \(variant.rawValue) ÷ 1 stream alone: MiB/s"]
                + clients.map { $0 == Self.subject ? format(value) + "×" : "" } + others.map { _ in "" }
            out.append("| " + cells.joined(separator: " | ") + " |")
        }
        out.append("")
        out.append("| Scenario / metric | Client | Values (in run order) |")
        out.append("| --- | --- | --- |")
        for (row, label) in present {
            for client in clients {
                guard let values = results.samples[row]?[client] else { continue }
                out.append("| \(label) | \(client) | \(values.map(format).joined(separator: ", ")) |")
            }
        }
        return out.joined(separator: "\n")
    }

    private func ratio(_ row: String, _ client: String, _ otherRow: String, _ other: String) -> Double? {
        guard let mine = results.median(row, client), let theirs = results.median(otherRow, other), theirs != 0 else { return nil }
        return mine / theirs
    }
}
