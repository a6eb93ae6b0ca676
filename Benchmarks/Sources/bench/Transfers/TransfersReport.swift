/// The transfer tables: medians with ratios, the issue's targets (AsyncCurl faster than
/// AsyncHTTPClient and URLSession everywhere; within 10% of the curl CLI on downloads), and
/// every round's value.
struct TransfersReport {
    let settings: Settings
    let clients: [String]
    let results: Results

    static let subject = "AsyncCurl"

    enum Better { case higher, lower }

    static var rows: [(name: String, label: String, better: Better?)] {
        [
            ("tr gets req/s", "sequential GETs: requests/s", .higher),
            ("tr gets p50 µs", "sequential GETs: p50 µs", .lower),
            ("tr gets p99 µs", "sequential GETs: p99 µs", .lower),
            ("tr gets CPU µs/req", "sequential GETs: client CPU µs/request", nil),
            ("tr h2 batch ms", "100 concurrent h2 GETs: batch ms", .lower),
            ("tr h2 req/s", "100 concurrent h2 GETs: requests/s", .higher),
            ("tr h2 CPU µs/req", "100 concurrent h2 GETs: client CPU µs/request", nil),
            ("tr h2 connections", "100 concurrent h2 GETs: TLS connections used", nil),
            ("tr down MiB/s", "download: MiB/s", .higher),
            ("tr down CPU s/GiB", "download: client CPU s/GiB", .lower),
            ("tr down server CPU %", "download: nginx CPU %", nil),
            ("tr up MiB/s", "upload: MiB/s", .higher),
            ("tr up CPU s/GiB", "upload: client CPU s/GiB", .lower),
            ("tr up server CPU %", "upload: nginx CPU %", nil),
        ]
    }

    func render() -> String {
        guard Self.rows.contains(where: { results.samples[$0.name] != nil }) else { return "" }
        var out: [String] = []
        let others = clients.filter { $0 != Self.subject && !$0.hasPrefix(Self.subject) }
        out.append("")
        out.append("### Transfers: medians of \(settings.rounds) interleaved rounds")
        out.append("")
        out.append("nginx 1.22 (one worker, files on tmpfs), 127.0.0.1. Sequential GETs: \(settings.transferGets) × /hello.txt (17 B) over HTTP/1.1, one keep-alive connection. Concurrent: \(settings.transferConcurrent) GETs of /hello.txt at once over HTTPS + HTTP/2, one warm-up batch then \(settings.transferBatches) timed batches, median batch. Download: GET of \(settings.transferBytes >> 20) MiB of zeros (no gzip). Upload: WebDAV PUT of \(settings.transferBytes >> 20) MiB, nginx reads it to a tmpfs file (size checked). CPU: the bench process's, plus the curl child's (RUSAGE_CHILDREN).")
        out.append("")
        let header = ["Scenario / metric"] + clients + others.map { "\(Self.subject) ÷ \($0)" }
        out.append("| " + header.joined(separator: " | ") + " |")
        out.append("|" + header.enumerated().map { $0.offset == 0 ? " --- " : " ---: " }.joined(separator: "|") + "|")
        for (row, label, _) in Self.rows where results.samples[row] != nil {
            var cells = [label]
            cells += clients.map { results.median(row, $0).map(format) ?? "n/a" }
            cells += others.map { other in ratio(row, other).map { format($0) + "×" } ?? "n/a" }
            out.append("| " + cells.joined(separator: " | ") + " |")
        }

        out.append("")
        out.append("### Transfer targets")
        out.append("")
        out.append("| Metric | Against | Their median | \(Self.subject) (best variant) | Ratio | Target | Met |")
        out.append("| --- | --- | ---: | ---: | ---: | --- | --- |")
        for (row, label, better) in Self.rows where results.samples[row] != nil {
            guard let better, let mine = best(row, better: better) else { continue }
            for other in others {
                guard let theirs = results.median(row, other) else { continue }
                let isCurl = other == "curl CLI"
                // curl CLI: only the downloads are held to a target (within 10%).
                if isCurl, !row.hasPrefix("tr down") { continue }
                let slack = isCurl ? 0.10 : 0
                let met = better == .higher ? mine.value >= theirs * (1 - slack) : mine.value <= theirs * (1 + slack)
                let target = isCurl ? "within 10%" : "better"
                out.append("| \(label) | \(other) | \(format(theirs)) | \(format(mine.value)) (\(mine.client)) | \(format(mine.value / theirs))× | \(target) | \(met ? "yes" : "**no**") |")
            }
        }

        out.append("")
        out.append("### Transfers: every round (in run order)")
        out.append("")
        out.append("| Scenario / metric | Client | Values |")
        out.append("| --- | --- | --- |")
        for (row, label, _) in Self.rows {
            for client in clients {
                guard let values = results.samples[row]?[client] else { continue }
                out.append("| \(label) | \(client) | \(values.map(format).joined(separator: ", ")) |")
            }
        }
        let notes = results.notes.filter { $0.hasPrefix("tr-") }
        if !notes.isEmpty {
            out.append("")
            out += notes.map { "- \($0)" }
        }
        return out.joined(separator: "\n")
    }

    /// The best median among AsyncCurl and its variants.
    private func best(_ row: String, better: Better) -> (client: String, value: Double)? {
        let mine = clients.filter { $0.hasPrefix(Self.subject) }.compactMap { c in results.median(row, c).map { (c, $0) } }
        return mine.min { better == .higher ? $0.1 > $1.1 : $0.1 < $1.1 }.map { (client: $0.0, value: $0.1) }
    }

    private func ratio(_ row: String, _ other: String) -> Double? {
        guard let mine = results.median(row, Self.subject), let theirs = results.median(row, other), theirs != 0 else {
            return nil
        }
        return mine / theirs
    }
}
