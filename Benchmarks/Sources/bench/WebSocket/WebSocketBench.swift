import AsyncCurl
import BenchC
import NIOPosix

/// The WebSocket scenarios: echoes through Hummingbird's server in this process. `--scenarios
/// websocket` selects all four; each can be named on its own.
enum WebSocketScenario: String, ScenarioFamily, Sendable {
    case echo = "ws-echo"
    case echoDeflate = "ws-echo-deflate"
    case bulk = "ws-bulk"
    case bulkDeflate = "ws-bulk-deflate"

    static let group = "websocket"

    var compressed: Bool { self == .echoDeflate || self == .bulkDeflate }
    var isBulk: Bool { self == .bulk || self == .bulkDeflate }

    /// The prefix of its rows in ``Results``.
    var row: String {
        switch self {
        case .echo: "ws echo"
        case .echoDeflate: "ws echo deflate"
        case .bulk: "ws 1 MiB"
        case .bulkDeflate: "ws 1 MiB deflate"
        }
    }
}

enum WebSocketClientName: String, CaseIterable {
    case asyncCurl = "asynccurl", asyncCurlExecutor = "asynccurl-executor", hummingbird, websocketKit = "websocket-kit"
}

/// JSON-ish text: records with varying numbers, so that deflate has work to do and something to
/// find (1 MiB deflates to 165 KiB, 6.2:1, at zlib's level 6), cut to `count` bytes. The 64-byte
/// message, sent again and again, deflates to 9 bytes with the window kept between messages.
func jsonishBytes(count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count + 200)
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    var id = 0
    let sensors = ["boiler", "pump", "valve", "fan", "chiller", "meter"]
    while bytes.count < count {
        // xorshift64: deterministic values that differ from record to record.
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let sensor = sensors[Int(state % UInt64(sensors.count))]
        let reading = Int((state >> 20) % 100_000)
        let record = #"{"id":\#(id),"sensor":"\#(sensor)-\#(state % 64)","value":\#(reading / 100).\#(reading % 100),"ok":\#(state & 1 == 0)},"#
        bytes.append(contentsOf: record.utf8)
        id += 1
    }
    return Array(bytes.prefix(count))
}

/// The WebSocket part of a bench run: the server, the clients and the payloads.
struct WebSocketBench {
    let server: WebSocketEchoServer
    let clients: [any WebSocketBenchClient]
    let scenarios: [WebSocketScenario]
    let settings: Settings
    let echoPayload: WebSocketPayload
    let bulkPayload: WebSocketPayload

    static func start(settings: Settings, multi: CurlMulti) async throws -> WebSocketBench {
        let server = try await WebSocketEchoServer.start()
        var clients: [any WebSocketBenchClient] = []
        for name in WebSocketClientName.allCases where settings.webSocketClients.contains(name.rawValue) {
            switch name {
            case .asyncCurl: clients.append(AsyncCurlWebSocketClient(multi: multi))
            case .asyncCurlExecutor: clients.append(AsyncCurlWebSocketClient(multi: multi, onEngineExecutor: true))
            case .hummingbird: clients.append(HummingbirdWebSocketClient(group: MultiThreadedEventLoopGroup.singleton))
            case .websocketKit: clients.append(WebSocketKitClient(group: MultiThreadedEventLoopGroup.singleton))
            }
        }
        return WebSocketBench(server: server, clients: clients, scenarios: WebSocketScenario.selected(by: settings.scenarios),
                              settings: settings,
                              echoPayload: WebSocketPayload(isText: true, bytes: jsonishBytes(count: settings.webSocketEchoSize)),
                              bulkPayload: WebSocketPayload(isText: false, bytes: jsonishBytes(count: 1 << 20)))
    }

    /// One round: every scenario for every client, in a fixed order.
    func runRound(_ round: Int, into results: inout Results) async {
        for scenario in scenarios {
            for client in clients {
                guard !scenario.compressed || client.supportsCompression else { continue }
                do {
                    try await run(scenario, client, round: round, into: &results)
                } catch {
                    log("round \(round) \(scenario.rawValue) \(client.name): FAILED: \(error)")
                    results.notes.append("\(scenario.rawValue) \(client.name) round \(round) failed: \(error)")
                }
            }
        }
    }

    private func run(_ scenario: WebSocketScenario, _ client: any WebSocketBenchClient, round: Int,
                     into results: inout Results) async throws {
        let payload = scenario.isBulk ? bulkPayload : echoPayload
        let count = scenario.isBulk ? settings.webSocketBulkMessages : settings.webSocketEchoCount
        let warmup = scenario.isBulk ? 2 : settings.webSocketEchoWarmup
        let url = server.url
        bench_trace_marker()
        defer { bench_trace_marker() }
        let cpu0 = bench_cpu_seconds()
        let rtts = try await Task.detached {
            try await client.echo(url: url, compressed: scenario.compressed, payload: payload, warmup: warmup, count: count)
        }.value
        let cpu = bench_cpu_seconds() - cpu0
        guard server.lastConnectionOfferedDeflate == scenario.compressed else {
            throw BenchFailure("the connection was \(scenario.compressed ? "not " : "")compressed")
        }
        let timedSeconds = Double(rtts.reduce(0, +)) / 1e9
        let messages = Double(warmup + count)
        let prefix = "round \(round) \(scenario.rawValue) \(client.name)"
        if scenario.isBulk {
            let mib = Double(count * payload.count) / Double(1 << 20)
            let cpuPerGiB = cpu / (messages * Double(payload.count) / Double(1 << 30))
            results.add("\(scenario.row) MiB/s", client.name, mib / timedSeconds)
            results.add("\(scenario.row) CPU s/GiB", client.name, cpuPerGiB)
            log("\(prefix): \(format(mib / timedSeconds)) MiB/s echoed, process CPU \(format(cpuPerGiB)) s/GiB")
        } else {
            let sorted = rtts.sorted()
            let p50 = Double(sorted[sorted.count / 2]) / 1000
            let p99 = Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1000
            let cpuPerTrip = cpu / messages * 1e6
            results.add("\(scenario.row) trips/s", client.name, Double(count) / timedSeconds)
            results.add("\(scenario.row) p50 µs", client.name, p50)
            results.add("\(scenario.row) p99 µs", client.name, p99)
            results.add("\(scenario.row) CPU µs/trip", client.name, cpuPerTrip)
            log("\(prefix): \(format(Double(count) / timedSeconds)) round trips/s, p50 \(format(p50)) µs, p99 \(format(p99)) µs, process CPU \(format(cpuPerTrip)) µs/trip")
        }
    }

    func stop() async {
        await server.stop()
    }
}
