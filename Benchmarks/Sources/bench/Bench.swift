@_spi(Benchmarks) import AsyncCurl
import BenchC
import CBenchCurl
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// What to run; every size can be lowered from the command line for quick or profiling runs.
struct Settings {
    var rounds = 5
    var bulkBytes = 1 << 30
    var pingPongCount = 100_000
    var pingPongWarmup = 1_000
    var pingPongSize = 64
    var fanOutConnections = 10_000
    var fanOutSize = 1024
    var tlsBytes = 256 << 20
    var reconnectCount = 500
    var webSocketEchoCount = 20_000
    var webSocketEchoWarmup = 1_000
    var webSocketEchoSize = 64
    var webSocketBulkMessages = 64
    var transferGets = 10_000
    var transferConcurrent = 100
    var transferBatches = 20
    var transferBytes = 1 << 30
    var transferClients: Set<String> = Set(TransferClientName.allCases.map(\.rawValue))
    var tlsFanOutConnections = 2_000
    var roundRobinConnections = [10, 1_000]
    var roundRobinCount = 20_000
    var roundRobinWarmup = 1_000
    var tlsParallelBytes = 128 << 20
    var scaleClients: Set<String> = Set(ScaleClientName.allCases.map(\.rawValue))
    var scenarios: Set<String> = Set(Scenario.allCases.map(\.rawValue) + [WebSocketScenario.group, TransferScenario.group,
                                                                          ScaleScenario.group])
    var clients: Set<String> = ["asynccurl", "asynccurl-executor", "posix", "nio", "curlc"]
    var webSocketClients: Set<String> = Set(WebSocketClientName.allCases.map(\.rawValue))

    static let usage = """
        usage: bench [--rounds N] [--bulk-mib N] [--pingpong N] [--fanout N] [--tls-mib N] [--reconnects N]
                     [--ws-echo N] [--ws-messages N]
                     [--tr-gets N] [--tr-batches N] [--tr-mib N] [--quick]
                     [--tls-fanout N] [--rr-connections N,N...] [--rr-trips N] [--rr-warmup N] [--tls-parallel-mib N]
                     [--scenarios bulk-up,bulk-down,pingpong,fanout,tls,tls-reconnect,websocket,transfers,tls-scale]
                     [--clients asynccurl,asynccurl-executor,asynccurl-kept,posix,nio,curlc]
                     [--ws-clients asynccurl,asynccurl-executor,hummingbird,websocket-kit]
          websocket = ws-echo,ws-echo-deflate,ws-bulk,ws-bulk-deflate (each can be named alone)
          transfers = tr-gets,tr-h2,tr-download,tr-upload (each can be named alone)
                     [--tr-clients asynccurl,asynccurl-256k,asynccurl-file,ahc,urlsession,curl]
          --quick: transfers at 1,000 GETs, 5 batches, 128 MiB (a smoke run)
          tls-scale = tls-fanout,tls-roundrobin,tls-parallel (each can be named alone; issue 17)
                     [--scale-clients asynccurl,asynccurl-group,nio]  (tls-parallel is AsyncCurl's alone)
          --tls-fanout N: concurrent TLS connections held open (2000)
          --rr-connections: the open connections of tls-roundrobin, one run each (10,1000);
          --rr-trips/--rr-warmup: its timed and untimed 64 B round trips (20000, 1000)
          --tls-parallel-mib N: each stream of tls-parallel (128)
        """

    init(arguments: [String]) {
        var iterator = arguments.makeIterator()
        func value(_ flag: String) -> String {
            guard let value = iterator.next() else { fail("\(flag) needs a value\n\(Self.usage)") }
            return value
        }
        func number(_ flag: String) -> Int {
            guard let number = Int(value(flag)), number > 0 else { fail("\(flag) needs a positive number") }
            return number
        }
        while let argument = iterator.next() {
            switch argument {
            case "--rounds": rounds = number(argument)
            case "--bulk-mib": bulkBytes = number(argument) << 20
            case "--pingpong": pingPongCount = number(argument)
            case "--fanout": fanOutConnections = number(argument)
            case "--tls-mib": tlsBytes = number(argument) << 20
            case "--reconnects": reconnectCount = number(argument)
            case "--ws-echo": webSocketEchoCount = number(argument)
            case "--ws-messages": webSocketBulkMessages = number(argument)
            case "--tr-gets": transferGets = number(argument)
            case "--tr-batches": transferBatches = number(argument)
            case "--tr-mib": transferBytes = number(argument) << 20
            case "--tls-fanout": tlsFanOutConnections = number(argument)
            case "--rr-connections":
                roundRobinConnections = value(argument).split(separator: ",").map { Int($0) ?? 0 }
                if roundRobinConnections.contains(where: { $0 <= 0 }) { fail("--rr-connections needs positive numbers") }
            case "--rr-trips": roundRobinCount = number(argument)
            case "--rr-warmup": roundRobinWarmup = number(argument)
            case "--tls-parallel-mib": tlsParallelBytes = number(argument) << 20
            case "--scale-clients": scaleClients = Set(value(argument).split(separator: ",").map(String.init))
            case "--tr-clients": transferClients = Set(value(argument).split(separator: ",").map(String.init))
            case "--quick":
                transferGets = 1_000
                transferBatches = 5
                transferBytes = 128 << 20
            case "--ws-clients": webSocketClients = Set(value(argument).split(separator: ",").map(String.init))
            case "--scenarios": scenarios = Set(value(argument).split(separator: ",").map(String.init))
            case "--clients": clients = Set(value(argument).split(separator: ",").map(String.init))
            case "-h", "--help": print(Self.usage); exit(0)
            default: fail("unknown argument \(argument)\n\(Self.usage)")
            }
        }
        let knownScenarios = Set(Scenario.allCases.map(\.rawValue) + WebSocketScenario.allCases.map(\.rawValue) + [WebSocketScenario.group]
                                  + TransferScenario.allCases.map(\.rawValue) + [TransferScenario.group]
                                  + ScaleScenario.allCases.map(\.rawValue) + [ScaleScenario.group])
        if let unknown = scenarios.subtracting(knownScenarios).first { fail("unknown scenario \(unknown)\n\(Self.usage)") }
        let knownClients = Set(WebSocketClientName.allCases.map(\.rawValue))
        if let unknown = webSocketClients.subtracting(knownClients).first { fail("unknown --ws-clients name \(unknown)\n\(Self.usage)") }
        let knownTransferClients = Set(TransferClientName.allCases.map(\.rawValue))
        if let unknown = transferClients.subtracting(knownTransferClients).first { fail("unknown --tr-clients name \(unknown)\n\(Self.usage)") }
        if let unknown = scaleClients.subtracting(ScaleClientName.allCases.map(\.rawValue)).first { fail("unknown --scale-clients name \(unknown)\n\(Self.usage)") }
    }
}

func fail(_ message: String) -> Never {
    bench_log("bench: \(message)")
    exit(1)
}

func log(_ message: String) {
    bench_log(message)
}

enum Scenario: String, CaseIterable {
    case bulkUp = "bulk-up", bulkDown = "bulk-down", pingPong = "pingpong", fanOut = "fanout", tls
    case tlsReconnect = "tls-reconnect"
}

/// The measured samples: one value per round for each (row, client).
struct Results {
    var samples: [String: [String: [Double]]] = [:]
    var notes: [String] = []

    mutating func add(_ row: String, _ client: String, _ value: Double) {
        samples[row, default: [:]][client, default: []].append(value)
    }

    func median(_ row: String, _ client: String) -> Double? {
        guard let values = samples[row]?[client], !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

@main
struct Bench {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--server", arguments.count == 3 {
            exit(bench_server_main(arguments[1], arguments[2]))
        }
        let settings = Settings(arguments: arguments)
        bench_ignore_sigpipe()
        let fileLimit = bench_raise_nofile()
        if settings.scenarios.contains(Scenario.fanOut.rawValue), fileLimit < settings.fanOutConnections + 100 {
            fail("fan-out needs \(settings.fanOutConnections + 100) file descriptors; the limit is \(fileLimit) (ulimit -n)")
        }

        var directory = [CChar](repeating: 0, count: 256)
        guard bench_make_certificate(&directory, directory.count) == 0 else {
            fail("could not make a certificate with the openssl CLI")
        }
        let certificateDirectory = directory.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { bench_remove_certificate(certificateDirectory) }
        var server = bench_server()
        let executable = CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : nil
        guard bench_server_spawn(executable, "\(certificateDirectory)/cert.pem", "\(certificateDirectory)/key.pem", &server) == 0 else {
            fail("could not start the loopback server")
        }
        defer { withUnsafePointer(to: server) { bench_server_stop($0) } }
        let endpoints = ServerEndpoints(plainPort: Int(server.plain_port), fanOutPort: Int(server.fanout_port),
                                        tlsPort: Int(server.tls_port), caFile: "\(certificateDirectory)/cert.pem",
                                        tlsEchoPort: Int(server.tls_echo_port), echoCAFile: "\(certificateDirectory)/ec-cert.pem")

        // The shared engine, as most programs use it.
        let multi = CurlMulti.shared
        var clients: [any BenchClient] = []
        if settings.clients.contains("asynccurl") { clients.append(AsyncCurlClient(multi: multi, server: endpoints)) }
        if settings.clients.contains("asynccurl-executor") {
            clients.append(AsyncCurlClient(multi: multi, server: endpoints, onEngineExecutor: true))
        }
        if settings.clients.contains("asynccurl-kept") {
            // An engine that keeps libcurl's easy handle of an open plain connection, as before
            // a55db43: the fan-out compares its connect time and RSS with the default's.
            clients.append(AsyncCurlClient(multi: CurlMulti(releasingLibcurlHandles: false), server: endpoints,
                                           label: "AsyncCurl, handle kept"))
        }
        if settings.clients.contains("posix") { clients.append(POSIXClient(server: endpoints)) }
        if settings.clients.contains("nio") {
            clients.append(NIOClient(group: MultiThreadedEventLoopGroup.singleton, server: endpoints))
        }
        if settings.clients.contains("curlc") { clients.append(CurlCClient(server: endpoints)) }

        var webSocket: WebSocketBench?
        if !WebSocketScenario.selected(by: settings.scenarios).isEmpty {
            do {
                webSocket = try await WebSocketBench.start(settings: settings, multi: multi)
            } catch {
                fail("could not start the WebSocket server: \(error)")
            }
        }

        var transfers: TransfersBench?
        if !TransferScenario.selected(by: settings.scenarios).isEmpty {
            do {
                transfers = try await TransfersBench.start(settings: settings, multi: multi,
                                                           certificateDirectory: certificateDirectory)
            } catch {
                fail("could not start the transfer scenarios: \(error)")
            }
        }

        var scale: ScaleBench?
        if !ScaleScenario.selected(by: settings.scenarios).isEmpty {
            do {
                scale = try ScaleBench(settings: settings, server: endpoints, serverPID: server.pid)
            } catch {
                fail("could not set up the TLS scale scenarios: \(error)")
            }
        }

        let started = bench_now_ns()
        let loadBefore = Machine.loadAverage
        log("bench: \(Machine.summary); load \(loadBefore)")
        log("bench: server pid \(server.pid), ports plain \(server.plain_port) fan-out \(server.fanout_port) tls \(server.tls_port) tls echo \(server.tls_echo_port)")
        var results = Results()
        for round in 1...settings.rounds {
            for scenario in Scenario.allCases where settings.scenarios.contains(scenario.rawValue) {
                for client in clients {
                    do {
                        try await run(scenario, client, settings: settings, serverPID: server.pid,
                                      round: round, into: &results)
                    } catch {
                        log("round \(round) \(scenario.rawValue) \(client.name): FAILED: \(error)")
                        results.notes.append("\(scenario.rawValue) \(client.name) round \(round) failed: \(error)")
                    }
                }
            }
            await webSocket?.runRound(round, into: &results)
            await transfers?.runRound(round, into: &results)
            await scale?.runRound(round, into: &results)
        }
        await webSocket?.stop()
        await transfers?.stop()
        await scale?.stop()
        results.notes += reconnectNotes(results, client: Report.subject)
        let elapsed = Double(bench_now_ns() - started) / 1e9
        let report = Report(settings: settings, clients: clients.map(\.name), results: results,
                            elapsedSeconds: elapsed, machine: Machine.summary, loadBefore: loadBefore,
                            loadAfter: Machine.loadAverage)
        print(report.render())
        if let webSocket {
            print(WebSocketReport(settings: settings, clients: webSocket.clients.map(\.name), results: results).render())
        }
        if let transfers {
            print(TransfersReport(settings: settings, clients: transfers.clients.map(\.name), results: results).render())
        }
        if let scale {
            print(ScaleReport(settings: settings, clients: scale.clientNames, results: results).render())
        }
    }

    /// Runs one scenario for one client, off the main actor, and records its figures.
    static func run(_ scenario: Scenario, _ client: any BenchClient, settings: Settings, serverPID: Int32,
                    round: Int, into results: inout Results) async throws {
        let name = client.name
        bench_trace_marker()
        defer { bench_trace_marker() }
        let prefix = "round \(round) \(scenario.rawValue) \(name)"
        switch scenario {
        case .tlsReconnect:
            // AsyncCurl's own option; the other clients have no session cache to compare.
            guard let client = client as? AsyncCurlClient, !client.onEngineExecutor else { return }
            try await runReconnects(client, settings: settings, round: round, into: &results)
        case .bulkUp, .bulkDown, .tls:
            if scenario == .tls, !client.supportsTLS { return }
            let bytes = scenario == .tls ? settings.tlsBytes : settings.bulkBytes
            let row = scenario == .bulkUp ? "bulk c→s" : scenario == .bulkDown ? "bulk s→c" : "TLS s→c"
            let serverCPU0 = bench_process_cpu_seconds(serverPID)
            let cpu0 = bench_cpu_seconds()
            let start = bench_now_ns()
            try await Task.detached {
                switch scenario {
                case .bulkUp: try await client.bulkSend(total: bytes)
                case .bulkDown: try await client.bulkReceive(total: bytes)
                default: try await client.tlsReceive(total: bytes)
                }
            }.value
            let seconds = Double(bench_now_ns() - start) / 1e9
            let cpu = bench_cpu_seconds() - cpu0
            let serverCPU = bench_process_cpu_seconds(serverPID) - serverCPU0
            let mib = Double(bytes) / Double(1 << 20)
            let gib = Double(bytes) / Double(1 << 30)
            results.add("\(row) MiB/s", name, mib / seconds)
            results.add("\(row) CPU s/GiB", name, cpu / gib)
            results.add("\(row) server CPU %", name, 100 * serverCPU / seconds)
            log("\(prefix): \(format(mib / seconds)) MiB/s, \(format(cpu / gib)) CPU s/GiB, client CPU \(format(100 * cpu / seconds))%, server CPU \(format(100 * serverCPU / seconds))%, \(format(seconds)) s")
        case .pingPong:
            let cpu0 = bench_cpu_seconds()
            let start = bench_now_ns()
            let rtts = try await Task.detached {
                try await client.pingPong(warmup: settings.pingPongWarmup, count: settings.pingPongCount,
                                          size: settings.pingPongSize)
            }.value.sorted()
            let seconds = Double(bench_now_ns() - start) / 1e9
            let cpu = bench_cpu_seconds() - cpu0
            let p50 = Double(rtts[rtts.count / 2]) / 1000
            let p99 = Double(rtts[min(rtts.count - 1, rtts.count * 99 / 100)]) / 1000
            let cpuPerTrip = cpu / Double(settings.pingPongCount + settings.pingPongWarmup) * 1e6
            results.add("ping-pong p50 µs", name, p50)
            results.add("ping-pong p99 µs", name, p99)
            results.add("ping-pong CPU µs/trip", name, cpuPerTrip)
            log("\(prefix): p50 \(format(p50)) µs, p99 \(format(p99)) µs, CPU \(format(cpuPerTrip)) µs/round trip, \(format(seconds)) s")
        case .fanOut:
            bench_malloc_trim()
            let rssBefore = bench_rss_bytes()
            let heapBefore = bench_heap_bytes()
            let overflows0 = bench_listen_overflows()
            let outcome = try await Task.detached {
                try await client.fanOut(connections: settings.fanOutConnections, size: settings.fanOutSize)
            }.value
            let overflows = bench_listen_overflows() - overflows0
            let perConnection = Double(outcome.rssOpenBytes - rssBefore) / Double(settings.fanOutConnections) / 1024
            results.add("fan-out connect all s", name, outcome.connectSeconds)
            results.add("fan-out total s", name, outcome.totalSeconds)
            results.add("fan-out RSS KiB/conn", name, perConnection)
            let heapPerConnection = Double(outcome.heapOpenBytes - heapBefore) / Double(settings.fanOutConnections) / 1024
            results.add("fan-out heap KiB/conn", name, heapPerConnection)
            if overflows > 0 {
                results.notes.append("fan-out \(name) round \(round): \(overflows) listen-queue overflows at the server (those handshakes were completed by a retransmission)")
            }
            log("\(prefix): connect all \(format(outcome.connectSeconds)) s, total \(format(outcome.totalSeconds)) s, RSS \(format(perConnection)) KiB/connection, heap \(format(heapPerConnection)) KiB/connection, listen overflows \(overflows)")
        }
    }
}

func format(_ value: Double) -> String {
    if value.isNaN || value.isInfinite { return "—" }
    let magnitude = abs(value)
    let decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3
    var text = String(Int((value * pow(10, Double(decimals))).rounded()))
    if decimals > 0 {
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        while text.count <= decimals { text = "0" + text }
        text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals))
        if negative { text = "-" + text }
    }
    return text
}

enum Machine {
    static var summary: String {
        let cpu = firstLine(of: "/proc/cpuinfo", prefix: "model name").map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters() } ?? $0 } ?? "?"
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs (\(cpu)), Linux \(kernel), \(String(cString: curl_version()).split(separator: " ").prefix(2).joined(separator: " "))"
    }

    static var loadAverage: String {
        firstLine(of: "/proc/loadavg", prefix: "").map { $0.split(separator: " ").prefix(3).joined(separator: " ") } ?? "?"
    }

    static func firstLine(of path: String, prefix: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingCharacters()
            if text.hasPrefix(prefix) { return text }
        }
        return nil
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
