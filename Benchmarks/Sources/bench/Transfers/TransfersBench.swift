import AsyncCurl
import BenchC
import Foundation

/// The transfer scenarios: libcurl's own requests through `CurlMulti.execute` against the
/// alternatives, all against one nginx. `--scenarios transfers` selects all four.
enum TransferScenario: String, ScenarioFamily, Sendable {
    case gets = "tr-gets"
    case h2 = "tr-h2"
    case download = "tr-download"
    case upload = "tr-upload"

    static let group = "transfers"
}

enum TransferClientName: String, CaseIterable {
    case asyncCurl = "asynccurl", asyncCurl256K = "asynccurl-256k", asyncCurlFile = "asynccurl-file"
    case ahc, urlSession = "urlsession", curlCLI = "curl"
}

/// The transfer part of a bench run: nginx, the clients, the round loop.
struct TransfersBench {
    let server: TransferServer
    let clients: [any TransferBenchClient]
    let scenarios: [TransferScenario]
    let settings: Settings
    let targets: TransferTargets
    let ahc: AHCTransferClient?

    static func start(settings: Settings, multi: CurlMulti, certificateDirectory: String) async throws -> TransfersBench {
        let server = try TransferServer(certificate: "\(certificateDirectory)/cert.pem", key: "\(certificateDirectory)/key.pem",
                                        bigFileBytes: settings.transferBytes)
        let caFile = "\(certificateDirectory)/cert.pem"
        var clients: [any TransferBenchClient] = []
        var ahc: AHCTransferClient?
        for name in TransferClientName.allCases where settings.transferClients.contains(name.rawValue) {
            switch name {
            case .asyncCurl: clients.append(AsyncCurlTransferClient(multi: multi, variant: .defaults))
            case .asyncCurl256K: clients.append(AsyncCurlTransferClient(multi: multi, variant: .receiveBuffer256K))
            case .asyncCurlFile: clients.append(AsyncCurlTransferClient(multi: multi, variant: .fileUpload))
            case .ahc:
                let client = try AHCTransferClient(caFile: caFile)
                ahc = client
                clients.append(client)
            case .urlSession: clients.append(URLSessionTransferClient())
            case .curlCLI:
                guard let curl = ["/usr/bin/curl", "/usr/local/bin/curl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                    throw BenchFailure("the curl command line is not installed")
                }
                clients.append(CurlCLITransferClient(executable: curl, workDirectory: server.directory))
            }
        }
        let targets = TransferTargets(helloURL: server.url("/hello.txt"), helloTLSURL: server.url("/hello.txt", tls: true),
                                      bigURL: server.url("/big/file"), bigFilePath: server.bigFilePath,
                                      bigBytes: settings.transferBytes, uploadURLPrefix: server.url("/upload/"), caFile: caFile)
        log("bench: transfers: nginx pid \(server.pid) in \(server.directory), ports http \(server.httpPort) https \(server.httpsPort)")
        return TransfersBench(server: server, clients: clients, scenarios: TransferScenario.selected(by: settings.scenarios),
                              settings: settings, targets: targets, ahc: ahc)
    }

    /// One round: every scenario for every client, in a fixed order.
    func runRound(_ round: Int, into results: inout Results) async {
        for scenario in scenarios {
            for client in clients where client.scenarios.contains(scenario) {
                do {
                    try await run(scenario, client, round: round, into: &results)
                } catch {
                    log("round \(round) \(scenario.rawValue) \(client.name): FAILED: \(error)")
                    results.notes.append("\(scenario.rawValue) \(client.name) round \(round) failed: \(error)")
                }
            }
        }
    }

    private func run(_ scenario: TransferScenario, _ client: any TransferBenchClient, round: Int,
                     into results: inout Results) async throws {
        let name = client.name
        let prefix = "round \(round) \(scenario.rawValue) \(name)"
        let targets = targets
        let settings = settings
        bench_trace_marker()
        defer { bench_trace_marker() }
        switch scenario {
        case .gets:
            let count = settings.transferGets
            let (seconds, cpu, times) = try await measure {
                try await client.sequentialGets(targets, count: count)
            }
            let sorted = times.sorted()
            let p50 = Double(sorted[sorted.count / 2]) / 1000
            let p99 = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1000
            results.add("tr gets req/s", name, Double(count) / seconds)
            results.add("tr gets p50 µs", name, p50)
            results.add("tr gets p99 µs", name, p99)
            results.add("tr gets CPU µs/req", name, cpu / Double(count) * 1e6)
            log("\(prefix): \(format(Double(count) / seconds)) req/s, p50 \(format(p50)) µs, p99 \(format(p99)) µs, CPU \(format(cpu / Double(count) * 1e6)) µs/request")
        case .h2:
            let count = settings.transferConcurrent
            try await Task.detached { try await client.concurrentGetsWarmup(targets, count: count) }.value
            var batches: [Double] = []
            var cpuTotal = 0.0
            let logStart = server.tlsConnections(fromLine: 0).lines
            for _ in 0..<settings.transferBatches {
                let (seconds, cpu, _) = try await measure { try await client.concurrentGets(targets, count: count) }
                batches.append(seconds * 1000)
                cpuTotal += cpu
            }
            let seen = server.tlsConnections(fromLine: logStart)
            let sorted = batches.sorted()
            let median = sorted[sorted.count / 2]
            results.add("tr h2 batch ms", name, median)
            results.add("tr h2 req/s", name, Double(count) / (median / 1000))
            results.add("tr h2 CPU µs/req", name, cpuTotal / Double(count * batches.count) * 1e6)
            results.add("tr h2 connections", name, Double(seen.connections.count))
            let protocols = seen.protocols.sorted().joined(separator: ",")
            if round == 1 {
                results.notes.append("tr-h2 \(name): \(seen.connections.count) TLS connection(s) for \(settings.transferBatches) timed batches of \(count), protocol(s) \(protocols)")
            }
            log("\(prefix): median batch \(format(median)) ms (min \(format(sorted[0])), max \(format(sorted[sorted.count - 1]))), CPU \(format(cpuTotal / Double(count * batches.count) * 1e6)) µs/request, \(seen.connections.count) connection(s), \(protocols)")
        case .download, .upload:
            let serverCPU0 = bench_process_cpu_seconds(server.pid)
            let events0 = RusageEvents.now()
            let upload = scenario == .upload
            let fileName = "up-\(round)-\(UInt32.random(in: 0...UInt32.max))"
            let (seconds, cpu, outcome) = try await measure {
                if upload { return try await client.upload(targets, name: fileName) }
                return try await client.download(targets)
            }
            let serverCPU = bench_process_cpu_seconds(server.pid) - serverCPU0
            let bytes = settings.transferBytes
            if upload {
                try checkStatus(outcome, "upload", expected: [201, 204])
                let stored = server.takeUpload(named: fileName)
                guard stored == Int64(bytes) else { throw BenchFailure("nginx stored \(stored) of \(bytes) bytes") }
            } else {
                guard outcome == bytes else { throw BenchFailure("downloaded \(outcome) of \(bytes) bytes") }
            }
            let row = upload ? "tr up" : "tr down"
            let mib = Double(bytes) / Double(1 << 20)
            let gib = Double(bytes) / Double(1 << 30)
            results.add("\(row) MiB/s", name, mib / seconds)
            results.add("\(row) CPU s/GiB", name, cpu / gib)
            results.add("\(row) server CPU %", name, 100 * serverCPU / seconds)
            let events = RusageEvents.now() - events0
            log("\(prefix): \(format(mib / seconds)) MiB/s, client CPU \(format(cpu / gib)) s/GiB, nginx CPU \(format(100 * serverCPU / seconds))%, \(format(seconds)) s; per GiB: \(format(Double(events.minorFaults) / gib)) page faults, \(format(Double(events.voluntarySwitches) / gib)) voluntary + \(format(Double(events.involuntarySwitches) / gib)) involuntary context switches")
        }
    }

    /// Wall time and CPU (this process plus any child it waited for) of `work`, run off the
    /// main actor.
    private func measure<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> (Double, Double, T) {
        let cpu0 = bench_cpu_seconds() + childrenCPUSeconds()
        let start = bench_now_ns()
        let value = try await Task.detached { try await work() }.value
        let seconds = Double(bench_now_ns() - start) / 1e9
        let cpu = bench_cpu_seconds() + childrenCPUSeconds() - cpu0
        return (seconds, cpu, value)
    }

    /// Page faults and context switches of this process and its waited-for children (curl).
    struct RusageEvents {
        var minorFaults = 0, voluntarySwitches = 0, involuntarySwitches = 0

        static func now() -> RusageEvents {
            var events = RusageEvents()
            for who in [RUSAGE_SELF, RUSAGE_CHILDREN] {
                var usage = rusage()
                getrusage(who.rawValue, &usage)
                events.minorFaults += usage.ru_minflt
                events.voluntarySwitches += usage.ru_nvcsw
                events.involuntarySwitches += usage.ru_nivcsw
            }
            return events
        }

        static func - (a: RusageEvents, b: RusageEvents) -> RusageEvents {
            RusageEvents(minorFaults: a.minorFaults - b.minorFaults, voluntarySwitches: a.voluntarySwitches - b.voluntarySwitches,
                         involuntarySwitches: a.involuntarySwitches - b.involuntarySwitches)
        }
    }

    func stop() async {
        log("bench: transfers: stopping")
        await ahc?.shutdown()
        log("bench: transfers: AsyncHTTPClient shut down")
        server.stop()
        log("bench: transfers: nginx stopped")
    }
}
