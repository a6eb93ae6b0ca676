import AsyncCurl
import BenchC
import NIOCore
import NIOPosix

/// Where the loopback server listens, and the CA file that verifies its TLS certificate.
struct ServerEndpoints: Sendable {
    let plainPort: Int
    let fanOutPort: Int
    let tlsPort: Int
    let caFile: String
    /// The epoll TLS echo listener of the TLS scale scenarios, and its ECDSA certificate.
    let tlsEchoPort: Int
    let echoCAFile: String
}

struct FanOutResult: Sendable {
    var connectSeconds: Double
    var totalSeconds: Double
    /// Resident memory while every connection is open and idle.
    var rssOpenBytes: Int
    /// Heap in use (`mallinfo2`) at the same moment.
    var heapOpenBytes: Int
}

/// The fan-out's readings around a client's own connects and exchanges: the time until `open`
/// returns every connection open, resident memory and heap while all are, then every
/// `exchange` at once (each closes its connection) until the last is done.
func measureFanOut<Connection: Sendable>(
    open: () async throws -> [Connection],
    exchange: @escaping @Sendable (Connection) async throws -> Void
) async throws -> FanOutResult {
    let start = bench_now_ns()
    let connections = try await open()
    let connected = bench_now_ns()
    let rss = bench_rss_bytes()
    let heap = bench_heap_bytes()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for connection in connections {
            group.addTask { try await exchange(connection) }
        }
        try await group.waitForAll()
    }
    let end = bench_now_ns()
    return FanOutResult(connectSeconds: Double(connected - start) / 1e9,
                        totalSeconds: Double(end - start) / 1e9, rssOpenBytes: rss, heapOpenBytes: heap)
}

/// A fan-out exchange over AsyncCurl: `message` out, as many bytes back, close.
func echoAndClose(_ connection: AsyncConnection, _ message: [UInt8]) async throws {
    try await connection.send(message)
    _ = try await connection.receive(exactly: message.count)
    await connection.close()
}

/// A fan-out exchange over SwiftNIO: `message` out, as many bytes back, close.
func echoAndClose(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ message: ByteBuffer) async throws {
    let size = message.readableBytes
    try await channel.executeThenClose { inbound, outbound in
        try await outbound.write(message)
        var received = 0
        for try await buffer in inbound {
            received += buffer.readableBytes
            if received >= size { break }
        }
        guard received >= size else { throw BenchFailure("end of stream") }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One way of talking to the server. Every scenario opens its own connection(s) and closes them.
protocol BenchClient: Sendable {
    var name: String { get }
    var supportsTLS: Bool { get }
    /// `total` bytes client → server in 64 KiB writes, then the server's 8-byte acknowledgement.
    func bulkSend(total: Int) async throws
    /// `total` bytes server → client, read 64 KiB at most at a time.
    func bulkReceive(total: Int) async throws
    /// `count` timed round trips of `size` bytes after `warmup` untimed ones; RTTs in ns.
    func pingPong(warmup: Int, count: Int, size: Int) async throws -> [UInt64]
    /// `connections` concurrent connections; each sends `size` bytes and reads them back.
    func fanOut(connections: Int, size: Int) async throws -> FanOutResult
    /// `total` bytes server → client over TLS.
    func tlsReceive(total: Int) async throws
}

let chunkSize = Int(BENCH_CHUNK)

/// A family of scenarios that `--scenarios` selects by a scenario's own name or the family's.
protocol ScenarioFamily: RawRepresentable<String>, CaseIterable {
    static var group: String { get }
}

extension ScenarioFamily {
    static func selected(by names: Set<String>) -> [Self] {
        allCases.filter { names.contains(group) || names.contains($0.rawValue) }
    }
}

func header(_ mode: Int, message: Int = 0, total: Int = 0) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: Int(BENCH_HEADER_SIZE))
    bench_make_header(&bytes, UInt32(mode), UInt32(message), UInt64(total))
    return bytes
}

/// Asks the bench server for `total` bytes (`BENCH_MODE_SOURCE`) and reads them all.
func receiveFromSource(_ connection: AsyncConnection, total: Int) async throws {
    try await connection.send(header(BENCH_MODE_SOURCE, total: total))
    var received = 0
    while received < total {
        guard let chunk = try await connection.receive(maxLength: chunkSize) else {
            throw BenchFailure("end of stream after \(received) bytes")
        }
        received += chunk.count
    }
}

// MARK: - AsyncCurl

struct AsyncCurlClient: BenchClient {
    let supportsTLS = true
    let multi: CurlMulti
    let server: ServerEndpoints
    /// Runs every scenario's tasks on the engine's readiness thread (`CurlMulti.taskExecutor`)
    /// instead of Swift's global pool.
    var onEngineExecutor = false

    /// A name of its own, for a variant of the engine (the fan-out's "handle kept").
    var label: String?

    var name: String { label ?? (onEngineExecutor ? "AsyncCurl on its executor" : "AsyncCurl") }
    /// `nil`: no preference, the global concurrent executor.
    private var executor: (any TaskExecutor)? { onEngineExecutor ? multi.taskExecutor : nil }

    var plainURL: String { "tcp://127.0.0.1:\(server.plainPort)" }

    func bulkSend(total: Int) async throws {
        try await withTaskExecutorPreference(executor) { try await bulkSendHere(total: total) }
    }

    private func bulkSendHere(total: Int) async throws {
        let connection = try await multi.connect(to: plainURL)
        try await connection.send(header(BENCH_MODE_SINK, total: total))
        let chunk = [UInt8](repeating: 0x61, count: chunkSize)
        var left = total
        while left > 0 {
            let n = min(left, chunkSize)
            try await connection.send(n == chunkSize ? chunk : Array(chunk[..<n]))
            left -= n
        }
        let ack = try await connection.receive(exactly: 8)
        await connection.close()
        let acknowledged = ack.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        guard acknowledged == UInt64(total) else { throw BenchFailure("server acknowledged \(acknowledged) bytes") }
    }

    func bulkReceive(total: Int) async throws {
        try await receive(url: plainURL, options: ConnectionOptions(), total: total)
    }

    func tlsReceive(total: Int) async throws {
        var options = ConnectionOptions()
        options.tls.caFile = server.caFile
        try await receive(url: "tls://127.0.0.1:\(server.tlsPort)", options: options, total: total)
    }

    private func receive(url: String, options: ConnectionOptions, total: Int) async throws {
        try await withTaskExecutorPreference(executor) { try await receiveHere(url: url, options: options, total: total) }
    }

    private func receiveHere(url: String, options: ConnectionOptions, total: Int) async throws {
        let connection = try await multi.connect(to: url, options: options)
        try await receiveFromSource(connection, total: total)
        await connection.close()
    }

    func pingPong(warmup: Int, count: Int, size: Int) async throws -> [UInt64] {
        try await withTaskExecutorPreference(executor) { try await pingPongHere(warmup: warmup, count: count, size: size) }
    }

    private func pingPongHere(warmup: Int, count: Int, size: Int) async throws -> [UInt64] {
        let connection = try await multi.connect(to: plainURL)
        try await connection.send(header(BENCH_MODE_ECHO, message: size))
        let message = [UInt8](repeating: 0x70, count: size)
        var rtts = [UInt64](repeating: 0, count: count)
        for i in 0..<(warmup + count) {
            let start = bench_now_ns()
            try await connection.send(message)
            _ = try await connection.receive(exactly: size)
            if i >= warmup { rtts[i - warmup] = bench_now_ns() - start }
        }
        await connection.close()
        return rtts
    }

    func fanOut(connections: Int, size: Int) async throws -> FanOutResult {
        // Child tasks inherit the preference.
        try await withTaskExecutorPreference(executor) { try await fanOutHere(connections: connections, size: size) }
    }

    private func fanOutHere(connections: Int, size: Int) async throws -> FanOutResult {
        let url = "tcp://127.0.0.1:\(server.fanOutPort)"
        let multi = self.multi
        let message = [UInt8](repeating: 0x66, count: size)
        return try await measureFanOut(open: {
            try await withThrowingTaskGroup(of: AsyncConnection.self) { group in
                for _ in 0..<connections {
                    group.addTask { try await multi.connect(to: url) }
                }
                var open: [AsyncConnection] = []
                open.reserveCapacity(connections)
                for try await connection in group { open.append(connection) }
                return open
            }
        }, exchange: { try await echoAndClose($0, message) })
    }
}

// MARK: - SwiftNIO: NIOAsyncChannel over ClientBootstrap

struct NIOClient: BenchClient {
    let name = "SwiftNIO"
    let supportsTLS = false
    let group: MultiThreadedEventLoopGroup
    let server: ServerEndpoints

    private func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        return try await ClientBootstrap(group: group)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    func bulkSend(total: Int) async throws {
        let channel = try await connect(port: server.plainPort)
        let acknowledged = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: header(BENCH_MODE_SINK, total: total)))
            let chunk = ByteBuffer(repeating: 0x61, count: chunkSize)
            var left = total
            while left > 0 {
                let n = min(left, chunkSize)
                try await outbound.write(n == chunkSize ? chunk : chunk.getSlice(at: 0, length: n)!)
                left -= n
            }
            var ack = ByteBuffer()
            for try await buffer in inbound {
                var buffer = buffer
                ack.writeBuffer(&buffer)
                if ack.readableBytes >= 8 { break }
            }
            return ack.readInteger(endianness: .little, as: UInt64.self)
        }
        guard acknowledged == UInt64(total) else { throw BenchFailure("server acknowledged \(String(describing: acknowledged))") }
    }

    func bulkReceive(total: Int) async throws {
        let channel = try await connect(port: server.plainPort)
        let received = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: header(BENCH_MODE_SOURCE, total: total)))
            var received = 0
            for try await buffer in inbound {
                received += buffer.readableBytes
                if received >= total { break }
            }
            return received
        }
        guard received == total else { throw BenchFailure("received \(received) of \(total) bytes") }
    }

    func tlsReceive(total: Int) async throws {
        throw BenchFailure("not measured")
    }

    func pingPong(warmup: Int, count: Int, size: Int) async throws -> [UInt64] {
        let channel = try await connect(port: server.plainPort)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: header(BENCH_MODE_ECHO, message: size)))
            let message = ByteBuffer(repeating: 0x70, count: size)
            var iterator = inbound.makeAsyncIterator()
            var rtts = [UInt64](repeating: 0, count: count)
            for i in 0..<(warmup + count) {
                let start = bench_now_ns()
                try await outbound.write(message)
                var received = 0
                while received < size {
                    guard let buffer = try await iterator.next() else { throw BenchFailure("end of stream") }
                    received += buffer.readableBytes
                }
                if i >= warmup { rtts[i - warmup] = bench_now_ns() - start }
            }
            return rtts
        }
    }

    func fanOut(connections: Int, size: Int) async throws -> FanOutResult {
        let port = server.fanOutPort
        let message = ByteBuffer(repeating: 0x66, count: size)
        return try await measureFanOut(open: {
            try await withThrowingTaskGroup(of: NIOAsyncChannel<ByteBuffer, ByteBuffer>.self) { group in
                for _ in 0..<connections {
                    group.addTask { try await connect(port: port) }
                }
                var open: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
                open.reserveCapacity(connections)
                for try await channel in group { open.append(channel) }
                return open
            }
        }, exchange: { try await echoAndClose($0, message) })
    }
}

// MARK: - C clients (each runs on a pthread of its own; the calling task waits for it)

private func check(_ result: Int32, _ what: String) throws {
    guard result == 0 else { throw BenchFailure("\(what) failed (\(result))") }
}

private func fanOutResult(_ result: bench_fanout_result) throws -> FanOutResult {
    guard result.failures == 0 else { throw BenchFailure("\(result.failures) connections failed") }
    return FanOutResult(connectSeconds: Double(result.connect_ns) / 1e9,
                        totalSeconds: Double(result.total_ns) / 1e9, rssOpenBytes: result.rss_open_bytes,
                        heapOpenBytes: result.heap_open_bytes)
}

struct POSIXClient: BenchClient {
    let name = "POSIX blocking"
    let supportsTLS = true  // blocking OpenSSL on a blocking socket
    let server: ServerEndpoints

    func bulkSend(total: Int) async throws {
        try check(posix_bulk_send(Int32(server.plainPort), UInt64(total)), "posix_bulk_send")
    }

    func bulkReceive(total: Int) async throws {
        try check(posix_bulk_recv(Int32(server.plainPort), UInt64(total)), "posix_bulk_recv")
    }

    func tlsReceive(total: Int) async throws {
        try check(openssl_tls_recv(Int32(server.tlsPort), server.caFile, UInt64(total)), "openssl_tls_recv")
    }

    func pingPong(warmup: Int, count: Int, size: Int) async throws -> [UInt64] {
        var rtts = [UInt64](repeating: 0, count: count)
        try check(posix_pingpong(Int32(server.plainPort), Int32(warmup), Int32(count), UInt32(size), &rtts), "posix_pingpong")
        return rtts
    }

    func fanOut(connections: Int, size: Int) async throws -> FanOutResult {
        var result = bench_fanout_result()
        try check(posix_fanout(Int32(server.fanOutPort), Int32(connections), UInt32(size), &result), "posix_fanout")
        return try fanOutResult(result)
    }
}

struct CurlCClient: BenchClient {
    let name = "libcurl C"
    let supportsTLS = true
    let server: ServerEndpoints

    func bulkSend(total: Int) async throws {
        try check(curlc_bulk_send(Int32(server.plainPort), UInt64(total)), "curlc_bulk_send")
    }

    func bulkReceive(total: Int) async throws {
        try check(curlc_bulk_recv(Int32(server.plainPort), UInt64(total)), "curlc_bulk_recv")
    }

    func tlsReceive(total: Int) async throws {
        try check(curlc_tls_recv(Int32(server.tlsPort), server.caFile, UInt64(total)), "curlc_tls_recv")
    }

    func pingPong(warmup: Int, count: Int, size: Int) async throws -> [UInt64] {
        var rtts = [UInt64](repeating: 0, count: count)
        try check(curlc_pingpong(Int32(server.plainPort), Int32(warmup), Int32(count), UInt32(size), &rtts), "curlc_pingpong")
        return rtts
    }

    func fanOut(connections: Int, size: Int) async throws -> FanOutResult {
        var result = bench_fanout_result()
        try check(curlc_fanout(Int32(server.fanOutPort), Int32(connections), UInt32(size), &result), "curlc_fanout")
        return try fanOutResult(result)
    }
}
