import AsyncCurl
import BenchC

/// `tls-parallel` (AsyncCurl only): TLS server → client streams from the thread-per-connection
/// TLS server, (a) two at once on one engine, (b) two at once on a `CurlMultiGroup` of 2
/// engines (one stream each), (c) one alone. Every TLS `curl_easy_recv` of an engine runs under
/// that engine's one libcurl lock, so (a) decrypts one record at a time however many cores
/// there are; (b) shows what a second engine gives back.
struct TLSParallelBench: Sendable {
    enum Variant: String, CaseIterable, Sendable {
        case oneEngine = "2 streams, 1 engine"
        case group = "2 streams, group of 2"
        case alone = "1 stream alone"

        var streams: Int { self == .alone ? 1 : 2 }
        var rowKey: String { "tls-par \(rawValue)" }
    }

    static let client = "AsyncCurl"

    let server: ServerEndpoints
    /// Engines of their own, made once, so that `CurlMulti.shared` (the other scenarios') is
    /// never the one measured.
    let single = CurlMulti()
    let group = CurlMultiGroup(engineCount: 2)

    private var options: ConnectionOptions {
        var options = ConnectionOptions()
        options.tls.caFile = server.caFile
        return options
    }

    struct Outcome: Sendable {
        var mibPerSecond: Double
        var cpuPerGiB: Double
        /// CPU time ÷ wall time, in % of one core: the client process and the server process.
        var clientCPUPercent: Double
        var serverCPUPercent: Double
    }

    /// Runs one variant: aggregate MiB/s, client CPU seconds per GiB, both processes' CPU use.
    func run(_ variant: Variant, bytesPerStream: Int, serverPID: Int32) async throws -> Outcome {
        let url = "tls://127.0.0.1:\(server.tlsPort)"
        let options = options
        // Connect first (the handshakes are not what is measured), then start every stream at once.
        var connections: [AsyncConnection] = []
        for _ in 0..<variant.streams {
            connections.append(try await variant == .group ? group.connect(to: url, options: options)
                                                           : single.connect(to: url, options: options))
        }
        if variant == .group, connections[0].multi === connections[1].multi {
            for connection in connections { await connection.close() }
            throw BenchFailure("the group put both streams on one engine")
        }
        let cpu0 = bench_cpu_seconds()
        let serverCPU0 = bench_process_cpu_seconds(serverPID)
        let start = bench_now_ns()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for connection in connections {
                tasks.addTask { try await receiveFromSource(connection, total: bytesPerStream) }
            }
            try await tasks.waitForAll()
        }
        let seconds = Double(bench_now_ns() - start) / 1e9
        let cpu = bench_cpu_seconds() - cpu0
        let serverCPU = bench_process_cpu_seconds(serverPID) - serverCPU0
        for connection in connections { await connection.close() }
        let bytes = Double(bytesPerStream * variant.streams)
        return Outcome(mibPerSecond: bytes / Double(1 << 20) / seconds, cpuPerGiB: cpu / (bytes / Double(1 << 30)),
                       clientCPUPercent: 100 * cpu / seconds, serverCPUPercent: 100 * serverCPU / seconds)
    }

    func stop() async {
        await single.shutdown()
        await group.shutdown()
    }
}
