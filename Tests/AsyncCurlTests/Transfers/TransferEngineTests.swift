@testable import AsyncCurl
import HTTPTypes
import Testing
@testable import TestPeers

/// Engine-wide transfer settings against nginx: connection limits, TLS session reuse across
/// transfers, and a group that keeps one server's transfers on one engine.
@Suite struct TransferEngineTests {
    private func httpsOptions(_ nginx: NginxHTTPServer) -> TransferOptions {
        var options = TransferOptions()
        options.connection.tls.caFile = nginx.caFile
        return options
    }

    @Test(.requires(.nginx, .openssl))
    func aPerHostLimitOfOneSerialisesConcurrentTransfersOnOneConnection() async throws {
        let nginx = try await NginxHTTPServer()
        let multi = CurlMulti()
        try await multi.setTransferLimits(TransferLimits(maxConnectionsPerHost: 1))
        var settings = TransferOptions()
        settings.httpVersion = .http1_1
        let options = settings
        let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await multi.execute(nginx.url("/hello.txt"), options: options).body.collect(upTo: 1 << 10)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies.count == 8 && bodies.allSatisfy { $0 == NginxHTTPServer.helloText })
        let log = try await nginx.waitForAccessLog(8)
        #expect(Set(log.map(\.connection)).count == 1, "one connection at a time, reused: \(log.map(\.connection))")
        #expect(await multi.diagnostics.isIdle)
    }

    @Test(.requires(.nginx, .openssl))
    func limitsMustBePositive() async throws {
        let multi = CurlMulti()
        await #expect(throws: CurlError.self) {
            try await multi.setTransferLimits(TransferLimits(maxConnectionsPerHost: 0))
        }
    }

    @Test(.requires(.nginx, .openssl))
    func aNewConnectionResumesTheTLSSessionOfAnEarlierTransfer() async throws {
        let nginx = try await NginxHTTPServer()
        let multi = CurlMulti()
        var options = httpsOptions(nginx)
        options.httpVersion = .http1_1
        let lines = PthreadLocked<[String]>([])
        options.connection.trace = { event in lines.withLock { $0.append(event.text) } }
        _ = try await multi.execute(nginx.url("/hello.txt", scheme: .https), options: options).body.collect(upTo: 1 << 10)
        #expect(!lines.withLock { $0 }.contains { $0.contains("re-using session ID") })
        // A second connection while the first is busy: a new handshake, from the shared cache.
        let busy = try await multi.execute(nginx.url("/bytes/16m", scheme: .https), options: options)
        let second = try await multi.execute(nginx.url("/hello.txt", scheme: .https), options: options)
        _ = try await second.body.collect(upTo: 1 << 10)
        #expect(try await second.body.facts().connectionsMade == 1)
        #expect(lines.withLock { $0 }.contains { $0.contains("re-using session ID") }, "the new connection resumed a session")
        _ = try await busy.body.collect(upTo: 16 << 20)
        #expect(await multi.diagnostics.isIdle)
    }

    @Test(.requires(.nginx, .openssl))
    func aGroupSendsOneServersTransfersToOneEngine() async throws {
        let nginx = try await NginxHTTPServer()
        let group = CurlMultiGroup(engineCount: 4)
        let url = nginx.url("/hello.txt")
        let engine = group.engine(forServer: CurlMultiGroup.server(of: url))
        #expect(CurlMultiGroup.server(of: url) == "http://127.0.0.1:\(nginx.httpPort)")
        var options = TransferOptions()
        options.httpVersion = .http1_1
        for _ in 0..<5 {
            _ = try await group.execute(url, options: options).body.collect(upTo: 1 << 10)
        }
        let log = try await nginx.waitForAccessLog(5)
        #expect(Set(log.map(\.connection)).count == 1, "all five reused one connection of one engine")
        #expect(group.engine(forServer: CurlMultiGroup.server(of: url)) === engine)
        await group.shutdown()
    }
}
