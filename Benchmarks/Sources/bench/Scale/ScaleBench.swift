import AsyncCurl
import BenchC
import NIOPosix

/// The TLS scale scenarios of issue 17: many TLS connections at once (`tls-fanout`), the cost of
/// a round trip with many open (`tls-roundrobin`), and two TLS streams on one engine or two
/// (`tls-parallel`). `--scenarios tls-scale` selects all three.
enum ScaleScenario: String, ScenarioFamily, Sendable {
    case fanOut = "tls-fanout"
    case roundRobin = "tls-roundrobin"
    case parallel = "tls-parallel"

    static let group = "tls-scale"
}

/// The TLS scale part of a bench run: its clients and the round loop.
struct ScaleBench {
    let settings: Settings
    let scenarios: [ScaleScenario]
    let clients: [any TLSScaleClient]
    let parallel: TLSParallelBench?
    let serverPID: Int32

    init(settings: Settings, server: ServerEndpoints, serverPID: Int32) throws {
        self.settings = settings
        self.serverPID = serverPID
        scenarios = ScaleScenario.selected(by: settings.scenarios)
        let needed = max(settings.tlsFanOutConnections, settings.roundRobinConnections.max() ?? 0) + 100
        if scenarios.contains(where: { $0 != .parallel }), bench_raise_nofile() < needed {
            throw BenchFailure("the TLS scale scenarios need \(needed) file descriptors (ulimit -n)")
        }
        var clients: [any TLSScaleClient] = []
        for name in ScaleClientName.allCases where settings.scaleClients.contains(name.rawValue) {
            switch name {
            case .asyncCurl: clients.append(AsyncCurlTLSScaleClient(engines: .one(CurlMulti.shared), server: server))
            case .asyncCurlGroup:
                clients.append(AsyncCurlTLSScaleClient(engines: .group(CurlMultiGroup(engineCount: 2)), server: server))
            case .nio: clients.append(try NIOTLSScaleClient(group: MultiThreadedEventLoopGroup.singleton, server: server))
            }
        }
        self.clients = clients
        parallel = scenarios.contains(.parallel) ? TLSParallelBench(server: server) : nil
    }

    var clientNames: [String] {
        var names = clients.map(\.name)
        if parallel != nil, !names.contains(TLSParallelBench.client) { names.insert(TLSParallelBench.client, at: 0) }
        return names
    }

    /// One round: every scenario for every client, in a fixed order.
    func runRound(_ round: Int, into results: inout Results) async {
        for scenario in scenarios {
            if scenario == .parallel, let parallel {
                for variant in TLSParallelBench.Variant.allCases {
                    await attempt("round \(round) \(scenario.rawValue) \(variant.rawValue)", into: &results) { results in
                        let (bytes, pid) = (settings.tlsParallelBytes, serverPID)
                        let outcome = try await Task.detached {
                            try await parallel.run(variant, bytesPerStream: bytes, serverPID: pid)
                        }.value
                        results.add("\(variant.rowKey) MiB/s", TLSParallelBench.client, outcome.mibPerSecond)
                        results.add("\(variant.rowKey) CPU s/GiB", TLSParallelBench.client, outcome.cpuPerGiB)
                        results.add("\(variant.rowKey) client CPU %", TLSParallelBench.client, outcome.clientCPUPercent)
                        results.add("\(variant.rowKey) server CPU %", TLSParallelBench.client, outcome.serverCPUPercent)
                        return "\(format(outcome.mibPerSecond)) MiB/s aggregate, \(format(outcome.cpuPerGiB)) CPU s/GiB, client CPU \(format(outcome.clientCPUPercent))%, server CPU \(format(outcome.serverCPUPercent))%"
                    }
                }
                continue
            }
            for client in clients {
                switch scenario {
                case .fanOut:
                    await attempt("round \(round) \(scenario.rawValue) \(client.name)", into: &results) { results in
                        try await fanOut(client, into: &results)
                    }
                case .roundRobin:
                    for connections in settings.roundRobinConnections {
                        await attempt("round \(round) \(scenario.rawValue) N=\(connections) \(client.name)", into: &results) { results in
                            try await roundRobin(client, connections: connections, into: &results)
                        }
                    }
                case .parallel: break
                }
            }
        }
    }

    func stop() async {
        await parallel?.stop()
    }

    private func attempt(_ prefix: String, into results: inout Results,
                         _ body: (inout Results) async throws -> String) async {
        bench_trace_marker()
        defer { bench_trace_marker() }
        do {
            let line = try await body(&results)
            log("\(prefix): \(line)")
        } catch {
            log("\(prefix): FAILED: \(error)")
            results.notes.append("\(prefix) failed: \(error)")
        }
    }

    private func fanOut(_ client: any TLSScaleClient, into results: inout Results) async throws -> String {
        let connections = settings.tlsFanOutConnections
        bench_malloc_trim()
        let rssBefore = bench_rss_bytes()
        let cpu0 = bench_cpu_seconds()
        let serverCPU0 = bench_process_cpu_seconds(serverPID)
        let outcome = try await Task.detached { try await client.tlsFanOut(connections: connections, size: 1024) }.value
        let cpu = (bench_cpu_seconds() - cpu0) / Double(connections) * 1e6
        let serverCPU = (bench_process_cpu_seconds(serverPID) - serverCPU0) / Double(connections) * 1e6
        let perConnection = Double(outcome.rssOpenBytes - rssBefore) / Double(connections) / 1024
        results.add("tls-fanout connect all s", client.name, outcome.connectSeconds)
        results.add("tls-fanout total s", client.name, outcome.totalSeconds)
        results.add("tls-fanout RSS KiB/conn", client.name, perConnection)
        results.add("tls-fanout CPU µs/conn", client.name, cpu)
        results.add("tls-fanout server CPU µs/conn", client.name, serverCPU)
        return "connect all \(format(outcome.connectSeconds)) s, total \(format(outcome.totalSeconds)) s, RSS \(format(perConnection)) KiB/connection, client CPU \(format(cpu)) µs/connection, server CPU \(format(serverCPU)) µs/connection"
    }

    private func roundRobin(_ client: any TLSScaleClient, connections: Int, into results: inout Results) async throws -> String {
        let (warmup, count) = (settings.roundRobinWarmup, settings.roundRobinCount)
        let outcome = try await Task.detached {
            try await client.tlsRoundRobin(connections: connections, warmup: warmup, count: count, size: 64)
        }.value
        let rtts = outcome.rtts.sorted()
        let p50 = Double(rtts[rtts.count / 2]) / 1000
        let p99 = Double(rtts[min(rtts.count - 1, rtts.count * 99 / 100)]) / 1000
        let cpu = outcome.cpuSeconds / Double(count) * 1e6
        results.add("tls-rr \(connections) p50 µs", client.name, p50)
        results.add("tls-rr \(connections) p99 µs", client.name, p99)
        results.add("tls-rr \(connections) CPU µs/trip", client.name, cpu)
        return "p50 \(format(p50)) µs, p99 \(format(p99)) µs, CPU \(format(cpu)) µs/round trip"
    }
}
