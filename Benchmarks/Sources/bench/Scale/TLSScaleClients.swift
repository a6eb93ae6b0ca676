import AsyncCurl
import BenchC

/// The clients of `tls-fanout` and `tls-roundrobin` (`--scale-clients`).
enum ScaleClientName: String, CaseIterable {
    case asyncCurl = "asynccurl", asyncCurlGroup = "asynccurl-group", nio
}

/// What `tls-roundrobin` measured: the timed round trips and the client's CPU time over them.
struct RoundRobinOutcome: Sendable {
    /// Nanoseconds per timed round trip, in order.
    var rtts: [UInt64]
    /// `getrusage` user + system of the whole process over the timed round trips only (the
    /// connects and the warm-up are left out).
    var cpuSeconds: Double
}

/// A client of the TLS echo listener (`ServerEndpoints.tlsEchoPort`, which echoes whatever it
/// reads, with no header).
protocol TLSScaleClient: Sendable {
    var name: String { get }
    /// `connections` concurrent TLS connections opened at once and held idle, then each sends
    /// `size` bytes, reads them back and closes.
    func tlsFanOut(connections: Int, size: Int) async throws -> FanOutResult
    /// `connections` TLS connections open, then `warmup` + `count` round trips of `size` bytes,
    /// each on the next connection in turn (0, 1, … connections − 1, 0, …).
    func tlsRoundRobin(connections: Int, warmup: Int, count: Int, size: Int) async throws -> RoundRobinOutcome
}

// MARK: - AsyncCurl

/// `CurlMulti.shared.connect(to: "tls://127.0.0.1:port")` with the bench CA, as the `tls`
/// scenario does; TLS connections keep libcurl's easy handle (and its OpenSSL objects). The
/// "group" variant connects through a `CurlMultiGroup` of 2 engines instead (every other
/// connection on each).
struct AsyncCurlTLSScaleClient: TLSScaleClient {
    enum Engines: Sendable {
        case one(CurlMulti)
        case group(CurlMultiGroup)
    }

    let engines: Engines
    let server: ServerEndpoints

    var name: String {
        switch engines {
        case .one: "AsyncCurl"
        case .group(let group): "AsyncCurl, group of \(group.engines.count)"
        }
    }

    private var url: String { "tls://127.0.0.1:\(server.tlsEchoPort)" }

    private var options: ConnectionOptions {
        var options = ConnectionOptions()
        options.tls.caFile = server.echoCAFile
        return options
    }

    private func openAll(_ count: Int) async throws -> [AsyncConnection] {
        let engines = engines
        let url = url
        let options = options
        return try await withThrowingTaskGroup(of: AsyncConnection.self) { group in
            for _ in 0..<count {
                group.addTask {
                    switch engines {
                    case .one(let multi): try await multi.connect(to: url, options: options)
                    case .group(let engines): try await engines.connect(to: url, options: options)
                    }
                }
            }
            var open: [AsyncConnection] = []
            open.reserveCapacity(count)
            do {
                for try await connection in group { open.append(connection) }
            } catch {
                for connection in open { await connection.close() }
                throw error
            }
            return open
        }
    }

    func tlsFanOut(connections: Int, size: Int) async throws -> FanOutResult {
        let message = [UInt8](repeating: 0x66, count: size)
        return try await measureFanOut(open: { try await openAll(connections) },
                                       exchange: { try await echoAndClose($0, message) })
    }

    func tlsRoundRobin(connections: Int, warmup: Int, count: Int, size: Int) async throws -> RoundRobinOutcome {
        let open = try await openAll(connections)
        let message = [UInt8](repeating: 0x70, count: size)
        var rtts = [UInt64](repeating: 0, count: count)
        var cpu0 = 0.0
        do {
            for i in 0..<(warmup + count) {
                if i == warmup { cpu0 = bench_cpu_seconds() }
                let connection = open[i % connections]
                let start = bench_now_ns()
                try await connection.send(message)
                _ = try await connection.receive(exactly: size)
                if i >= warmup { rtts[i - warmup] = bench_now_ns() - start }
            }
        } catch {
            for connection in open { await connection.close() }
            throw error
        }
        let cpu = bench_cpu_seconds() - cpu0
        for connection in open { await connection.close() }
        return RoundRobinOutcome(rtts: rtts, cpuSeconds: cpu)
    }
}
