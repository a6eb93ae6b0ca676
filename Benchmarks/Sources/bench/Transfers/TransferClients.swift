import AsyncCurl
import AsyncHTTPClient
import BenchC
import HTTPTypes
import NIOCore
import NIOPosix
import NIOSSL

/// Where a transfer client sends its requests (the bench's nginx).
struct TransferTargets: Sendable {
    /// `http://…/hello.txt`: the sequential GETs (HTTP/1.1, one keep-alive connection).
    let helloURL: String
    /// `https://…/hello.txt`: the concurrent GETs (TLS 1.3, HTTP/2 by ALPN).
    let helloTLSURL: String
    /// `http://…/big/file`: the download.
    let bigURL: String
    /// The same file on disk (tmpfs): what the file-based uploads send.
    let bigFilePath: String
    let bigBytes: Int
    /// `http://…/upload/`: the WebDAV `PUT` prefix.
    let uploadURLPrefix: String
    /// The bench certificate, its own CA.
    let caFile: String
}

/// One HTTP client library. Each scenario's function does one run and checks what came back
/// (status, byte counts); the bench times it and reads the process's CPU time around it.
protocol TransferBenchClient: Sendable {
    var name: String { get }
    var scenarios: Set<TransferScenario> { get }
    /// `count` GETs of `helloURL`, one after another, on one keep-alive connection; each
    /// request's time in ns (request made to body read).
    func sequentialGets(_ targets: TransferTargets, count: Int) async throws -> [UInt64]
    /// `count` GETs of `helloTLSURL` at once (HTTP/2, one connection), all bodies read.
    func concurrentGets(_ targets: TransferTargets, count: Int) async throws
    /// GET `bigURL`, every byte read; returns the byte count.
    func download(_ targets: TransferTargets) async throws -> Int
    /// PUT `bigBytes` to `uploadURLPrefix + name`; returns the status code.
    func upload(_ targets: TransferTargets, name: String) async throws -> Int
}

extension TransferBenchClient {
    /// Run before the timed batches: whatever warms the client (its connection pool above all).
    func concurrentGetsWarmup(_ targets: TransferTargets, count: Int) async throws {
        try await concurrentGets(targets, count: count)
    }
}

/// The same chunk `count` times: an upload body made without copying.
struct RepeatedChunks<Chunk: Sendable>: AsyncSequence, Sendable {
    let chunk: Chunk
    let count: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let chunk: Chunk
        var remaining: Int
        mutating func next() async -> Chunk? {
            guard remaining > 0 else { return nil }
            remaining -= 1
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunk: chunk, remaining: count) }
}

let uploadChunkSize = 256 << 10

func checkStatus(_ status: Int, _ what: String, expected: Set<Int> = [200]) throws {
    guard expected.contains(status) else { throw BenchFailure("\(what): status \(status)") }
}

// MARK: - AsyncCurl

struct AsyncCurlTransferClient: TransferBenchClient {
    enum Variant: Sendable { case defaults, receiveBuffer256K, fileUpload }
    let multi: CurlMulti
    let variant: Variant

    var name: String {
        switch variant {
        case .defaults: "AsyncCurl"
        case .receiveBuffer256K: "AsyncCurl, 256 KiB receive buffer"
        case .fileUpload: "AsyncCurl, .file upload"
        }
    }

    var scenarios: Set<TransferScenario> {
        switch variant {
        case .defaults: Set(TransferScenario.allCases)
        case .receiveBuffer256K: [.download]
        case .fileUpload: [.upload]
        }
    }

    private func options(_ targets: TransferTargets) -> TransferOptions {
        var options = TransferOptions()
        options.connection.tls.caFile = targets.caFile
        if variant == .receiveBuffer256K { options.receiveBufferSize = 256 << 10 }
        return options
    }

    func sequentialGets(_ targets: TransferTargets, count: Int) async throws -> [UInt64] {
        let options = options(targets)
        var times = [UInt64](repeating: 0, count: count)
        for i in 0..<count {
            let start = bench_now_ns()
            let response = try await multi.execute(targets.helloURL, options: options)
            let body = try await response.body.collect(upTo: 1 << 20)
            times[i] = bench_now_ns() - start
            try checkStatus(response.status.code, "GET")
            guard body.count == 17 else { throw BenchFailure("GET: \(body.count) bytes") }
        }
        return times
    }

    func concurrentGets(_ targets: TransferTargets, count: Int) async throws {
        let options = options(targets)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let response = try await multi.execute(targets.helloTLSURL, options: options)
                    let body = try await response.body.collect(upTo: 1 << 20)
                    try checkStatus(response.status.code, "h2 GET")
                    guard body.count == 17 else { throw BenchFailure("h2 GET: \(body.count) bytes") }
                }
            }
            try await group.waitForAll()
        }
    }

    func download(_ targets: TransferTargets) async throws -> Int {
        let response = try await multi.execute(targets.bigURL, options: options(targets))
        try checkStatus(response.status.code, "download")
        var received = 0
        for try await chunk in response.body {
            received += chunk.count
        }
        return received
    }

    func upload(_ targets: TransferTargets, name: String) async throws -> Int {
        let body: RequestBody = variant == .fileUpload
            ? .file(targets.bigFilePath)
            : .stream(RepeatedChunks(chunk: [UInt8](repeating: 0, count: uploadChunkSize),
                                     count: targets.bigBytes / uploadChunkSize),
                      length: targets.bigBytes / uploadChunkSize * uploadChunkSize)
        let response = try await multi.execute(targets.uploadURLPrefix + name, method: .put, body: body,
                                               options: options(targets))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response.status.code
    }
}

// MARK: - AsyncHTTPClient

struct AHCTransferClient: TransferBenchClient {
    let client: HTTPClient
    let name = "AsyncHTTPClient"
    let scenarios = Set(TransferScenario.allCases)

    /// AsyncHTTPClient's defaults on `MultiThreadedEventLoopGroup.singleton`, trusting the bench
    /// certificate (the one change: it is self-signed).
    init(caFile: String) throws {
        var configuration = HTTPClient.Configuration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(caFile)
        configuration.tlsConfiguration = tls
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    func sequentialGets(_ targets: TransferTargets, count: Int) async throws -> [UInt64] {
        var times = [UInt64](repeating: 0, count: count)
        let request = HTTPClientRequest(url: targets.helloURL)
        for i in 0..<count {
            let start = bench_now_ns()
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            times[i] = bench_now_ns() - start
            try checkStatus(Int(response.status.code), "GET")
            guard body.readableBytes == 17 else { throw BenchFailure("GET: \(body.readableBytes) bytes") }
        }
        return times
    }

    func concurrentGets(_ targets: TransferTargets, count: Int) async throws {
        let request = HTTPClientRequest(url: targets.helloTLSURL)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let response = try await client.execute(request, timeout: .seconds(30))
                    let body = try await response.body.collect(upTo: 1 << 20)
                    try checkStatus(Int(response.status.code), "h2 GET")
                    guard body.readableBytes == 17 else { throw BenchFailure("h2 GET: \(body.readableBytes) bytes") }
                }
            }
            try await group.waitForAll()
        }
    }

    func download(_ targets: TransferTargets) async throws -> Int {
        let response = try await client.execute(HTTPClientRequest(url: targets.bigURL), timeout: .seconds(600))
        try checkStatus(Int(response.status.code), "download")
        var received = 0
        for try await buffer in response.body {
            received += buffer.readableBytes
        }
        return received
    }

    func upload(_ targets: TransferTargets, name: String) async throws -> Int {
        var request = HTTPClientRequest(url: targets.uploadURLPrefix + name)
        request.method = .PUT
        let chunks = targets.bigBytes / uploadChunkSize
        let buffer = ByteBuffer(repeating: 0, count: uploadChunkSize)
        request.body = .stream(RepeatedChunks(chunk: buffer, count: chunks), length: .known(Int64(chunks * uploadChunkSize)))
        let response = try await client.execute(request, timeout: .seconds(600))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}
