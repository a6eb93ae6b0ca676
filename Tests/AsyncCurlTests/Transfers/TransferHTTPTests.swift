import AsyncCurl
import Foundation
import HTTPTypes
import Testing
@testable import TestPeers

/// GETs against a real nginx: HTTP/1.1, HTTPS with HTTP/2 (ALPN), cleartext HTTP/2 with prior
/// knowledge, HTTP/1.1 forced over TLS; bodies compared byte for byte with what nginx serves,
/// also written to a file; the facts (sizes, addresses, timings); progress; and gzip bodies
/// decoded or not. Every test runs in `ResponseSide.checkingLeaks`: no transfer, socket or
/// descriptor is left behind.
extension AsyncCurlTests {
    @Suite struct TransferHTTPTests {
        @Test(.requires(.nginx, .openssl))
        func getOverEachHTTPVersionWithItsFacts() async throws {
            let server = try await NginxHTTPServer()
            let https = ResponseSide.options(caFile: server.caFile)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: https) { multi in
                let cases: [(url: String, version: HTTPVersionChoice, expected: String, port: Int, tls: Bool)] = [
                    (server.url("/hello.txt"), .http2, "1.1", server.httpPort, false),
                    (server.url("/hello.txt", scheme: .https), .http2, "2", server.httpsPort, true),
                    (server.url("/hello.txt", scheme: .h2c), .http2PriorKnowledge, "2", server.h2cPort, false),
                    (server.url("/hello.txt", scheme: .https, host: "localhost"), .http1_1, "1.1", server.httpsPort, true),
                ]
                for (url, version, expected, port, tls) in cases {
                    let fetched = try await ResponseSide.get(multi, url, options: ResponseSide.options(version, caFile: server.caFile))
                    #expect(fetched.status == 200, "\(url)")
                    #expect(fetched.body == NginxHTTPServer.helloText, "\(url)")
                    #expect(fetched.head.headerFields[.contentType] == "text/plain", "\(url)")
                    let facts = fetched.facts
                    #expect(facts.httpVersion == expected, "\(url): \(facts)")
                    #expect(facts.responseCode == 200)
                    #expect(facts.effectiveURL == url)
                    #expect(facts.redirectCount == 0)
                    #expect(facts.connectionsMade == 1, "a new engine, a new connection: \(facts)")
                    #expect(facts.bytesDownloaded == Int64(NginxHTTPServer.helloText.count))
                    #expect(facts.bytesUploaded == 0)
                    #expect(facts.contentLength == Int64(NginxHTTPServer.helloText.count))
                    #expect(facts.headerBytes > 100, "\(facts)")
                    #expect(facts.requestBytes > 20, "\(facts)")
                    #expect(facts.remoteAddress == "127.0.0.1" && facts.remotePort == port, "\(facts)")
                    #expect(facts.localAddress == "127.0.0.1" && (facts.localPort ?? 0) > 0, "\(facts)")
                    ResponseSide.expectMonotonicTimings(facts, tls: tls)
                }
            }
            let log = try await server.waitForAccessLog(5).dropFirst()  // the warm-up's first
            #expect(log.map(\.serverProtocol) == ["HTTP/1.1", "HTTP/2.0", "HTTP/2.0", "HTTP/1.1"])
            #expect(log.map(\.serverPort) == [server.httpPort, server.httpsPort, server.h2cPort, server.httpsPort])
            #expect(log.map { $0.tlsProtocol != nil } == [false, true, false, true])
        }

        /// 1 MiB and 16 MiB over each HTTP version equal the bytes nginx serves; 16 MiB written
        /// to a file too, and through the body's back-pressure (a small response buffer).
        @Test(.requires(.nginx, .openssl))
        func largeBodiesArriveByteForByteAndToAFile() async throws {
            let server = try await NginxHTTPServer()
            let expected = NginxHTTPServer.bytes(count: 16 << 20)
            let files = try TemporaryDirectory("transfer-bodies")
            let https = ResponseSide.options(caFile: server.caFile)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: https) { multi in
                let urls: [(String, HTTPVersionChoice)] = [
                    (server.url("/bytes/1m"), .http2), (server.url("/bytes/16m"), .http2),
                    (server.url("/bytes/1m", scheme: .https), .http2), (server.url("/bytes/16m", scheme: .https), .http2),
                    (server.url("/bytes/16m", scheme: .h2c), .http2PriorKnowledge),
                    (server.url("/bytes/16m", scheme: .https), .http1_1),
                ]
                for (url, version) in urls {
                    let size = url.hasSuffix("16m") ? 16 << 20 : 1 << 20
                    let fetched = try await ResponseSide.get(multi, url, options: ResponseSide.options(version, caFile: server.caFile))
                    #expect(fetched.status == 200)
                    #expect(fetched.body.count == size, "\(url)")
                    #expect(fetched.body == Array(expected.prefix(size)), "\(url)")
                    #expect(fetched.facts.bytesDownloaded == Int64(size), "\(url)")
                    #expect(fetched.facts.contentLength == Int64(size), "\(url)")
                }

                var small = ResponseSide.options(caFile: server.caFile)
                small.responseBufferSize = 64 << 10
                for (index, url) in [server.url("/bytes/16m", scheme: .https), server.url("/bytes/16m")].enumerated() {
                    let path = files.file("body-\(index)")
                    let response = try await multi.execute(url, options: small)
                    #expect(response.status == .ok)
                    let written = try await response.body.write(toFile: path)
                    #expect(written == Int64(16 << 20))
                    let onDisk = FileManager.default.contents(atPath: path).map(Array.init) ?? []
                    #expect(onDisk == expected, "\(url): \(onDisk.count) bytes in the file")
                    #expect(try await response.body.facts().bytesDownloaded == Int64(16 << 20))
                }
            }
        }

        /// The progress handler sees the download grow to 16 MiB, with the total known from the
        /// Content-Length, never going backwards.
        @Test(.requires(.nginx, .openssl))
        func progressGrowsToTheFullSize() async throws {
            let server = try await NginxHTTPServer()
            let https = ResponseSide.options(caFile: server.caFile)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: https) { multi in
                for (url, version) in [(server.url("/bytes/16m"), HTTPVersionChoice.http2),
                                       (server.url("/bytes/16m", scheme: .https), .http2)] {
                    let seen = ResponseSideRecorder<TransferProgress>()
                    var options = ResponseSide.options(version, caFile: server.caFile)
                    options.progress = { seen.append($0) }
                    let fetched = try await ResponseSide.get(multi, url, options: options)
                    #expect(fetched.body.count == 16 << 20)
                    let progress = seen.all
                    #expect(progress.count >= 3, "\(url): \(progress.count) reports")
                    #expect(progress.last?.bytesDownloaded == Int64(16 << 20), "\(url): \(String(describing: progress.last))")
                    #expect(progress.last?.downloadTotal == Int64(16 << 20), "\(url): \(String(describing: progress.last))")
                    #expect(zip(progress, progress.dropFirst()).allSatisfy { $0.bytesDownloaded <= $1.bytesDownloaded }, "\(url)")
                    #expect(progress.contains { $0.bytesDownloaded > 0 && $0.bytesDownloaded < Int64(16 << 20) }, "\(url): no report in between")
                    #expect(progress.allSatisfy { $0.bytesUploaded == 0 && $0.uploadTotal == nil })
                }
            }
        }

        /// `decompresses` (the default) asks for every coding and hands out the decoded text; the
        /// facts count the compressed bytes. Without it nothing is asked for and the text comes as
        /// it is; asking for gzip oneself then gives the gzip bytes, undecoded.
        @Test(.requires(.nginx, .openssl))
        func gzipBodiesDecodedOrNot() async throws {
            let server = try await NginxHTTPServer()
            let https = ResponseSide.options(caFile: server.caFile)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt", scheme: .https), options: https) { multi in
                for scheme in [NginxHTTPServer.Scheme.http, .https] {
                    let url = server.url("/gzip/text.txt", scheme: scheme)
                    let decoded = try await ResponseSide.get(multi, url, options: https)
                    #expect(decoded.status == 200)
                    #expect(decoded.body == NginxHTTPServer.gzipText, "\(url): \(decoded.body.count) bytes")
                    #expect(decoded.head.headerFields[.contentEncoding] == "gzip")
                    // libcurl counts the body bytes it received, before decoding.
                    #expect(decoded.facts.bytesDownloaded > 0, "\(decoded.facts)")
                    #expect(decoded.facts.bytesDownloaded < Int64(NginxHTTPServer.gzipText.count / 4), "\(decoded.facts)")
                }

                var plain = https
                plain.decompresses = false
                let identity = try await ResponseSide.get(multi, server.url("/gzip/text.txt"), options: plain)
                #expect(identity.body == NginxHTTPServer.gzipText)
                #expect(identity.head.headerFields[.contentEncoding] == nil)
                #expect(identity.facts.bytesDownloaded == Int64(NginxHTTPServer.gzipText.count))

                let raw = try await ResponseSide.get(multi, server.url("/gzip/text.txt"), headerFields: [.acceptEncoding: "gzip"], options: plain)
                #expect(raw.head.headerFields[.contentEncoding] == "gzip")
                #expect(raw.body.starts(with: [0x1F, 0x8B]), "\(raw.body.prefix(4))")
                #expect(raw.body.count < NginxHTTPServer.gzipText.count / 4)
                #expect(raw.facts.bytesDownloaded == Int64(raw.body.count))
            }
            let log = try await server.waitForAccessLog(5).dropFirst()
            #expect(log.map(\.contentEncoding) == ["gzip", "gzip", nil, "gzip"])
            #expect(log.prefix(2).allSatisfy { $0.acceptEncoding?.contains("gzip") == true }, "\(log)")
            #expect(log.dropFirst(2).map(\.acceptEncoding) == [nil, "gzip"])
        }
    }
}
