/// The WebSocket tables: medians with ratios, the issue's target (AsyncCurlWebSocket at least as
/// fast as the fastest peer), and every round's value.
struct WebSocketReport {
    let settings: Settings
    let clients: [String]
    let results: Results

    static let subject = "AsyncCurlWebSocket"

    enum Better { case higher, lower }

    /// Table rows, in order; `better` marks the rows held to the target.
    static let rows: [(name: String, label: String, better: Better?)] = [
        ("ws echo trips/s", "64 B text echo: round trips/s", .higher),
        ("ws echo p50 µs", "64 B text echo: p50 µs", .lower),
        ("ws echo p99 µs", "64 B text echo: p99 µs", .lower),
        ("ws echo CPU µs/trip", "64 B text echo: process CPU µs/trip", nil),
        ("ws echo deflate trips/s", "64 B text echo, deflate: round trips/s", .higher),
        ("ws echo deflate p50 µs", "64 B text echo, deflate: p50 µs", .lower),
        ("ws echo deflate p99 µs", "64 B text echo, deflate: p99 µs", .lower),
        ("ws echo deflate CPU µs/trip", "64 B text echo, deflate: process CPU µs/trip", nil),
        ("ws 1 MiB MiB/s", "1 MiB binary echo: MiB/s", .higher),
        ("ws 1 MiB CPU s/GiB", "1 MiB binary echo: process CPU s/GiB", nil),
        ("ws 1 MiB deflate MiB/s", "1 MiB binary echo, deflate: MiB/s", .higher),
        ("ws 1 MiB deflate CPU s/GiB", "1 MiB binary echo, deflate: process CPU s/GiB", nil),
    ]

    func render() -> String {
        guard Self.rows.contains(where: { results.samples[$0.name] != nil }) else { return "" }
        var out: [String] = []
        let others = clients.filter { $0 != Self.subject }
        // The peers: other libraries, not AsyncCurlWebSocket's own variant.
        let peers = others.filter { !$0.hasPrefix(Self.subject) }
        out.append("")
        out.append("### WebSocket: medians of \(settings.rounds) interleaved rounds")
        out.append("")
        out.append("Echo server: Hummingbird 2 with hummingbird-websocket, in the bench process on 127.0.0.1, on an event loop thread of its own; permessage-deflate accepted when offered. 64 B text echo: \(settings.webSocketEchoCount) round trips, one message at a time, after \(settings.webSocketEchoWarmup) untimed. 1 MiB binary echo: \(settings.webSocketBulkMessages) messages of 1 MiB, one at a time, after 2 untimed; MiB/s = MiB echoed ÷ the summed round-trip times (each MiB crosses twice). Payloads are JSON-ish text (records with varying numbers), compressible; with deflate every message is compressed both ways (no size threshold). Process CPU includes the in-process server. websocket-kit has no permessage-deflate (n/a).")
        out.append("")
        var headerCells = ["Scenario / metric"] + clients
        headerCells += others.map { "\(Self.subject) ÷ \($0)" }
        out.append("| " + headerCells.joined(separator: " | ") + " |")
        out.append("|" + headerCells.enumerated().map { $0.offset == 0 ? " --- " : " ---: " }.joined(separator: "|") + "|")
        for (row, label, _) in Self.rows where results.samples[row] != nil {
            var cells = [label]
            cells += clients.map { results.median(row, $0).map(format) ?? "n/a" }
            cells += others.map { other in ratio(row, other).map { format($0) + "×" } ?? "n/a" }
            out.append("| " + cells.joined(separator: " | ") + " |")
        }

        if clients.contains(Self.subject), !peers.isEmpty {
            out.append("")
            out.append("### WebSocket target (\(Self.subject) at least as fast as the fastest peer)")
            out.append("")
            out.append("Rounds won: the rounds in which \(Self.subject) did at least as well as every peer in that same round (rounds interleave, so a round's clients share its load).")
            out.append("")
            out.append("| Metric | Fastest peer | Its median | \(Self.subject) | Ratio | Met | Rounds won |")
            out.append("| --- | --- | ---: | ---: | ---: | --- | ---: |")
            for (row, label, better) in Self.rows where results.samples[row] != nil {
                guard let better, let mine = results.median(row, Self.subject) else { continue }
                let medians = peers.compactMap { peer in results.median(row, peer).map { (peer, $0) } }
                guard let best = medians.min(by: { better == .higher ? $0.1 > $1.1 : $0.1 < $1.1 }) else { continue }
                let met = better == .higher ? mine >= best.1 : mine <= best.1
                let won = roundsWon(row, peers: peers, better: better).map { "\($0.won) of \($0.rounds)" } ?? "n/a"
                out.append("| \(label) | \(best.0) | \(format(best.1)) | \(format(mine)) | \(format(mine / best.1))× | \(met ? "yes" : "**no**") | \(won) |")
            }
        }

        out.append("")
        out.append("### WebSocket: every round (in run order)")
        out.append("")
        out.append("| Scenario / metric | Client | Values |")
        out.append("| --- | --- | --- |")
        for (row, label, _) in Self.rows {
            for client in clients {
                guard let values = results.samples[row]?[client] else { continue }
                out.append("| \(label) | \(client) | \(values.map(format).joined(separator: ", ")) |")
            }
        }
        return out.joined(separator: "\n")
    }

    /// Round by round against the best peer of that round; `nil` when a client missed a round
    /// (a failure), which would misalign the rounds.
    private func roundsWon(_ row: String, peers: [String], better: Better) -> (won: Int, rounds: Int)? {
        guard let mine = results.samples[row]?[Self.subject] else { return nil }
        let theirs = peers.compactMap { results.samples[row]?[$0] }
        guard !theirs.isEmpty, theirs.allSatisfy({ $0.count == mine.count }) else { return nil }
        let won = mine.indices.filter { round in
            theirs.allSatisfy { better == .higher ? mine[round] >= $0[round] : mine[round] <= $0[round] }
        }.count
        return (won, mine.count)
    }

    private func ratio(_ row: String, _ other: String) -> Double? {
        guard let mine = results.median(row, Self.subject), let theirs = results.median(row, other), theirs != 0 else {
            return nil
        }
        return mine / theirs
    }
}
