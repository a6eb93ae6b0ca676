import AsyncCurl
import HTTPTypes
import Testing
@testable import TestPeers

/// Connection reuse, as nginx's access log sees it: sequential HTTP/1.1 requests on one engine
/// share one kept-alive connection, and 100 concurrent HTTP/2 requests share one connection
/// (libcurl waits for the first connection to know it multiplexes: `CURLOPT_PIPEWAIT`).
extension AsyncCurlTests {
    @Suite struct TransferHTTP2Tests {
        @Test(.requires(.nginx, .openssl))
        func sequentialRequestsReuseOneConnection() async throws {
            let server = try await NginxHTTPServer()
            let https = ResponseSide.options(caFile: server.caFile)
            for (scheme, version) in [(NginxHTTPServer.Scheme.http, HTTPVersionChoice.http2), (.https, .http2), (.h2c, .http2PriorKnowledge)] {
                // libcurl 7.88.x cannot reuse a prior-knowledge connection: one each (curl#10634).
                let reuses = scheme != .h2c || Self.reusesPriorKnowledgeConnections
                let options = ResponseSide.options(version, caFile: server.caFile)
                let before = server.accessLog.count
                try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: https) { multi in
                    for index in 0..<20 {
                        let fetched = try await ResponseSide.get(multi, server.url("/hello.txt?n=\(index)", scheme: scheme), options: options)
                        #expect(fetched.body == NginxHTTPServer.helloText)
                        #expect(fetched.facts.connectionsMade == (index == 0 || !reuses ? 1 : 0), "\(scheme) request \(index): \(fetched.facts)")
                    }
                }
                let log = try await server.waitForAccessLog(before + 21).suffix(20)
                #expect(log.map(\.uri) == (0..<20).map { "/hello.txt?n=\($0)" })
                #expect(Set(log.map(\.connection)).count == (reuses ? 1 : 20), "\(scheme): \(log.map(\.connection))")
                #expect(log.map(\.connectionRequests) == (reuses ? Array(1...20) : Array(repeating: 1, count: 20)), "\(scheme)")
                #expect(log.allSatisfy { $0.serverProtocol == (scheme == .http ? "HTTP/1.1" : "HTTP/2.0") })
            }
        }

        /// Whether the loaded libcurl can reuse an HTTP/2 prior-knowledge connection (not 7.88.x).
        static var reusesPriorKnowledgeConnections: Bool {
            let parts = CurlMulti.libcurlVersion.split(separator: ".").compactMap { Int($0) }
            return parts.count == 3 && (parts[0] >= 8 || parts[0] == 7 && parts[1] < 88)
        }

        /// 100 GETs started at once: over HTTPS (ALPN h2) and over h2c, all 100 streams on one
        /// connection; over HTTP/1.1 they would need many. (h2c with libcurl 7.88.x: 100
        /// connections, each transfer succeeding.)
        @Test(.requires(.nginx, .openssl))
        func oneHundredConcurrentRequestsShareOneHTTP2Connection() async throws {
            let server = try await NginxHTTPServer()
            let https = ResponseSide.options(caFile: server.caFile)
            for (scheme, version) in [(NginxHTTPServer.Scheme.https, HTTPVersionChoice.http2), (.h2c, .http2PriorKnowledge)] {
                let before = server.accessLog.count
                let reuses = scheme != .h2c || Self.reusesPriorKnowledgeConnections
                let options = ResponseSide.options(version, caFile: server.caFile)
                try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: https) { multi in
                    let made = try await withThrowingTaskGroup(of: (Int, ResponseSide.Fetched).self) { group in
                        for index in 0..<100 {
                            group.addTask {
                                (index, try await ResponseSide.get(multi, server.url("/hello.txt?stream=\(index)", scheme: scheme), options: options))
                            }
                        }
                        var made = 0
                        for try await (index, fetched) in group {
                            #expect(fetched.status == 200, "stream \(index)")
                            #expect(fetched.body == NginxHTTPServer.helloText, "stream \(index)")
                            #expect(fetched.facts.httpVersion == "2", "stream \(index)")
                            made += fetched.facts.connectionsMade
                        }
                        return made
                    }
                    #expect(made == (reuses ? 1 : 100), "\(scheme): \(made) connections made")
                }
                let log = try await server.waitForAccessLog(before + 101).suffix(100)
                #expect(Set(log.map(\.uri)) == Set((0..<100).map { "/hello.txt?stream=\($0)" }))
                #expect(Set(log.map(\.connection)).count == (reuses ? 1 : 100), "\(scheme): connections \(Set(log.map(\.connection)))")
                #expect(log.map(\.connectionRequests).max() == (reuses ? 100 : 1))
                #expect(log.allSatisfy { $0.serverProtocol == "HTTP/2.0" && $0.status == 200 })
            }
        }

        /// Large bodies on concurrent streams of one connection arrive whole and unmixed, each
        /// consumer reading at its own pace (back-pressure per stream).
        @Test(.requires(.nginx, .openssl))
        func concurrentLargeBodiesOnOneConnectionStayApart() async throws {
            let server = try await NginxHTTPServer()
            let expected = NginxHTTPServer.bytes(count: 16 << 20)
            var small = ResponseSide.options(caFile: server.caFile)
            small.responseBufferSize = 256 << 10
            let options = small
            let before = server.accessLog.count
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: options) { multi in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, path) in ["/bytes/16m", "/bytes/1m", "/bytes/16m", "/bytes/1m"].enumerated() {
                        group.addTask {
                            let size = path.hasSuffix("16m") ? 16 << 20 : 1 << 20
                            let fetched = try await ResponseSide.get(multi, server.url("\(path)?i=\(index)", scheme: .https), options: options)
                            #expect(fetched.body.count == size, "\(index)")
                            #expect(fetched.body == Array(expected.prefix(size)), "\(index)")
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let log = try await server.waitForAccessLog(before + 5).suffix(4)
            #expect(Set(log.map(\.connection)).count == 1, "\(log.map(\.connection))")
        }
    }
}
