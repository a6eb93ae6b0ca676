/// The tables `make bench` prints: medians with ratios, the targets, and every round's value.
struct Report {
    let settings: Settings
    let clients: [String]
    let results: Results
    let elapsedSeconds: Double
    let machine: String
    let loadBefore: String
    let loadAfter: String

    static let subject = "AsyncCurl"
    /// Also held to the targets, in a table of its own, when it ran.
    static let executorSubject = "AsyncCurl on its executor"

    /// Table rows, in order.
    static let rows: [(name: String, label: String)] = [
        ("bulk c→s MiB/s", "bulk c→s: throughput MiB/s"),
        ("bulk c→s CPU s/GiB", "bulk c→s: client CPU s/GiB"),
        ("bulk c→s server CPU %", "bulk c→s: server CPU % of a core"),
        ("bulk s→c MiB/s", "bulk s→c: throughput MiB/s"),
        ("bulk s→c CPU s/GiB", "bulk s→c: client CPU s/GiB"),
        ("bulk s→c server CPU %", "bulk s→c: server CPU % of a core"),
        ("ping-pong p50 µs", "ping-pong: p50 RTT µs"),
        ("ping-pong p99 µs", "ping-pong: p99 RTT µs"),
        ("ping-pong CPU µs/trip", "ping-pong: client CPU µs per round trip"),
        ("fan-out connect all s", "fan-out: connect all, s"),
        ("fan-out total s", "fan-out: total, s"),
        ("fan-out RSS KiB/conn", "fan-out: RSS KiB per open connection"),
        ("fan-out heap KiB/conn", "fan-out: heap in use KiB per open connection"),
        ("TLS s→c MiB/s", "TLS s→c: throughput MiB/s"),
        ("TLS s→c CPU s/GiB", "TLS s→c: client CPU s/GiB"),
        ("TLS s→c server CPU %", "TLS s→c: server CPU % of a core"),
        ("TLS 1.3 reconnect full connect µs", "TLS 1.3 reconnect, full handshake: connect µs"),
        ("TLS 1.3 reconnect resumed connect µs", "TLS 1.3 reconnect, resumed: connect µs"),
        ("TLS 1.3 reconnect full handshake µs", "TLS 1.3 reconnect, full handshake: TLS µs"),
        ("TLS 1.3 reconnect resumed handshake µs", "TLS 1.3 reconnect, resumed: TLS µs"),
        ("TLS 1.2 reconnect full connect µs", "TLS 1.2 reconnect, full handshake: connect µs"),
        ("TLS 1.2 reconnect resumed connect µs", "TLS 1.2 reconnect, resumed: connect µs"),
        ("TLS 1.2 reconnect full handshake µs", "TLS 1.2 reconnect, full handshake: TLS µs"),
        ("TLS 1.2 reconnect resumed handshake µs", "TLS 1.2 reconnect, resumed: TLS µs"),
    ]

    enum Goal { case atLeast(Double), atMost(Double) }

    /// The issue's targets: AsyncCurl ÷ another client (or, with `nil`, AsyncCurl's own figure).
    static let targets: [(row: String, other: String?, goal: Goal)] = [
        ("bulk c→s MiB/s", "libcurl C", .atLeast(0.9)),
        ("bulk c→s MiB/s", "POSIX blocking", .atLeast(0.9)),
        ("bulk c→s MiB/s", "SwiftNIO", .atLeast(2)),
        ("bulk s→c MiB/s", "libcurl C", .atLeast(0.9)),
        ("bulk s→c MiB/s", "POSIX blocking", .atLeast(0.9)),
        ("bulk s→c MiB/s", "SwiftNIO", .atLeast(2)),
        ("bulk c→s CPU s/GiB", "SwiftNIO", .atMost(1)),
        ("bulk s→c CPU s/GiB", "SwiftNIO", .atMost(1)),
        ("ping-pong p50 µs", "SwiftNIO", .atMost(1)),
        ("fan-out connect all s", "SwiftNIO", .atMost(1)),
        ("fan-out RSS KiB/conn", nil, .atMost(32)),
    ]

    func ratio(_ row: String, _ other: String, subject: String = Report.subject) -> Double? {
        guard let mine = results.median(row, subject), let theirs = results.median(row, other), theirs != 0 else {
            return nil
        }
        return mine / theirs
    }

    func render() -> String {
        var out: [String] = []
        let others = clients.filter { $0 != Self.subject }
        out.append("")
        out.append("Machine: \(machine). Load average (1, 5, 15 min) before: \(loadBefore); after: \(loadAfter).")
        out.append("")
        // Only the WebSocket scenarios ran: their tables follow (WebSocketReport).
        guard Self.rows.contains(where: { results.samples[$0.name] != nil }) else {
            out.append("\(settings.rounds) interleaved rounds, \(format(elapsedSeconds)) s of measuring.")
            renderNotes(into: &out)
            return out.joined(separator: "\n")
        }
        out.append("### Medians of \(settings.rounds) interleaved rounds (\(format(elapsedSeconds)) s of measuring)")
        out.append("")
        out.append("Sizes: bulk \(bytes(settings.bulkBytes)) each way in 64 KiB writes/reads; ping-pong \(settings.pingPongCount) round trips of \(settings.pingPongSize) B after \(settings.pingPongWarmup) untimed; fan-out \(settings.fanOutConnections) connections × \(settings.fanOutSize) B each way; TLS \(bytes(settings.tlsBytes)) server→client; TLS reconnect \(settings.reconnectCount) connect-receive-close cycles per round and kind (TLS µs = tlsEstablished − connected, per-round medians). TLS \"POSIX blocking\" is blocking OpenSSL on a blocking socket.")
        out.append("")
        var headerCells = ["Scenario / metric"] + clients
        headerCells += others.map { "\(Self.subject) ÷ \($0)" }
        out.append("| " + headerCells.joined(separator: " | ") + " |")
        out.append("|" + headerCells.enumerated().map { $0.offset == 0 ? " --- " : " ---: " }.joined(separator: "|") + "|")
        for (row, label) in Self.rows where results.samples[row] != nil {
            var cells = [label]
            cells += clients.map { results.median(row, $0).map(format) ?? "n/a" }
            cells += others.map { other in ratio(row, other).map { format($0) + "×" } ?? "n/a" }
            out.append("| " + cells.joined(separator: " | ") + " |")
        }

        for subject in [Self.subject, Self.executorSubject] where clients.contains(subject) {
            renderTargets(for: subject, into: &out)
        }

        out.append("")
        out.append("### Every round (in run order)")
        out.append("")
        out.append("| Scenario / metric | Client | Values |")
        out.append("| --- | --- | --- |")
        for (row, label) in Self.rows {
            for client in clients {
                guard let values = results.samples[row]?[client] else { continue }
                out.append("| \(label) | \(client) | \(values.map(format).joined(separator: ", ")) |")
            }
        }
        renderNotes(into: &out)
        return out.joined(separator: "\n")
    }

    private func renderNotes(into out: inout [String]) {
        guard !results.notes.isEmpty else { return }
        out.append("")
        out.append("Notes:")
        for note in results.notes { out.append("- \(note)") }
    }

    /// The issue's targets for `subject`, against the other clients except AsyncCurl's variants.
    private func renderTargets(for subject: String, into out: inout [String]) {
        out.append("")
        out.append("### Targets (\(subject) ÷ the other client's median)")
        out.append("")
        out.append("| Metric | Against | Target | Measured | Met |")
        out.append("| --- | --- | ---: | ---: | --- |")
        for target in Self.targets where results.samples[target.row] != nil {
            let measured: Double?
            let against: String
            if let other = target.other {
                guard clients.contains(other) else { continue }
                measured = ratio(target.row, other, subject: subject)
                against = other
            } else {
                measured = results.median(target.row, subject)
                against = "absolute"
            }
            let unit = target.other == nil ? "" : "×"
            let (goalText, met): (String, Bool?) = switch target.goal {
            case .atLeast(let bound): ("≥ \(format(bound))\(unit)", measured.map { $0 >= bound })
            case .atMost(let bound): ("≤ \(format(bound))\(unit)", measured.map { $0 <= bound })
            }
            let label = Self.rows.first { $0.name == target.row }?.label ?? target.row
            out.append("| \(label) | \(against) | \(goalText) | \(measured.map { format($0) + unit } ?? "n/a") | \(met.map { $0 ? "yes" : "**no**" } ?? "n/a") |")
        }
    }

    private func bytes(_ count: Int) -> String {
        count >= 1 << 30 && count % (1 << 30) == 0 ? "\(count >> 30) GiB" : "\(count >> 20) MiB"
    }
}
