@testable import AsyncCurl
import Foundation
import HTTPTypes
import Testing
@testable import TestPeers

/// Request bodies against nginx: bytes, a file and a stream (with and without a length), over
/// HTTP/1.1 and HTTP/2; nginx keeps what it received, which must equal what was sent.
extension AsyncCurlTests {
    @Suite struct TransferUploadTests {
        static let size = 3 << 20

        /// HTTP/1.1 on the plain port, HTTP/2 over TLS on the HTTPS port.
        static let versions: [(NginxHTTPServer.Scheme, HTTPVersionChoice, String)] = [
            (.http, .http1_1, "HTTP/1.1"), (.https, .http2, "HTTP/2.0"),
        ]

        @Test(.requires(.nginx, .openssl), arguments: [0, 1])
        func putBytesFileAndStreamsArriveIntact(versionIndex: Int) async throws {
            let (scheme, version, serverProtocol) = Self.versions[versionIndex]
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            let options = nginxOptions(server, version)
            let payload = NginxHTTPServer.bytes(count: Self.size)
            let directory = try TemporaryDirectory("upload-source")
            let path = directory.file("payload.bin")
            try Data(payload).write(to: URL(fileURLWithPath: path))

            let bodies: [(String, RequestBody)] = [
                ("bytes", .bytes(payload)),
                ("file", .file(path)),
                ("stream-length", .stream(CountingChunks(total: Self.size, chunkSize: 50_000, source: payload), length: Self.size)),
                ("stream-chunked", .stream(CountingChunks(total: Self.size, chunkSize: 50_000, source: payload))),
            ]
            for (name, body) in bodies {
                let response = try await multi.execute(server.url("/upload/\(name)", scheme: scheme), method: .put,
                                                       body: body, options: options)
                #expect(response.status.code == 201, "\(name)")
                _ = try await response.body.collect(upTo: 1 << 16)
                let facts = try await response.body.facts()
                if name == "stream-chunked" && scheme == .http {
                    // libcurl 7.88.1 counts the chunked framing as uploaded bytes.
                    #expect(facts.bytesUploaded >= Int64(Self.size) && facts.bytesUploaded < Int64(Self.size + Self.size / 100), "\(name)")
                } else {
                    #expect(facts.bytesUploaded == Int64(Self.size), "\(name)")
                }
                #expect(server.uploadedFile(named: name) == payload, "\(name): the uploaded bytes differ")
            }
            let log = try await server.waitForAccessLog(bodies.count)
            #expect(log.allSatisfy { $0.serverProtocol == serverProtocol && $0.method == "PUT" })
            // A stream of unknown length goes chunked on HTTP/1.1; HTTP/2 frames need no chunking.
            let expectedEncodings: [String?] = scheme == .http ? [nil, nil, nil, "chunked"] : [nil, nil, nil, nil]
            #expect(log.map(\.transferEncoding) == expectedEncodings)
            #expect(log.prefix(3).allSatisfy { $0.contentLength == Self.size })
            try await expectTransfersReleased(multi)
        }

        @Test(.requires(.nginx, .openssl), arguments: [0, 1])
        func postToEchoLengthAnswersTheLength(versionIndex: Int) async throws {
            let (scheme, version, _) = Self.versions[versionIndex]
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            let options = nginxOptions(server, version)
            let payload = NginxHTTPServer.bytes(count: 1_234_567)
            let cases: [(RequestBody?, Int)] = [
                (.bytes(payload), payload.count),
                (.text("hello"), 5),
                (.stream(CountingChunks(total: 1_234_567, chunkSize: 10_000, source: payload)), 1_234_567),
                (.bytes([]), 0),
                (nil, 0),
            ]
            for (index, (body, length)) in cases.enumerated() {
                let response = try await multi.execute(server.url("/echo-length", scheme: scheme), method: .post,
                                                       body: body, options: options)
                #expect(response.status == .ok)
                let answer = try await response.body.collect(upTo: 100)
                #expect(String(decoding: answer, as: UTF8.self) == "\(length)\n", "case \(index)")
            }
            let log = try await server.waitForAccessLog(cases.count)
            #expect(server.requestBody(of: log[0]) == payload)
            #expect(server.requestBody(of: log[2]) == payload)
            try await expectTransfersReleased(multi)
        }

        /// A stream whose sequence throws fails the transfer with `abortedByCallback`, and a
        /// stream shorter than its declared length does not hang.
        @Test(.requires(.nginx, .openssl))
        func failingAndShortStreamsFail() async throws {
            struct Broken: Error {}
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            let options = nginxOptions(server, .http1_1)
            let throwing = AsyncThrowingStream<[UInt8], any Error> { continuation in
                continuation.yield([UInt8](repeating: 1, count: 1000))
                continuation.finish(throwing: Broken())
            }
            let (result, elapsed) = await measured {
                let response = try await multi.execute(server.url("/echo-length"), method: .post,
                                                       body: .stream(throwing, length: 5000), options: options)
                return try await response.body.collect(upTo: 100)
            }
            #expect(outcome(result) == "CurlError.abortedByCallback", "\(result)")
            #expect(elapsed < .seconds(5))

            let short = AsyncStream<[UInt8]> { continuation in
                continuation.yield([UInt8](repeating: 1, count: 1000))
                continuation.finish()
            }
            let (shortResult, shortElapsed) = await measured {
                let response = try await multi.execute(server.url("/echo-length"), method: .post,
                                                       body: .stream(short, length: 5000), options: options)
                return try await response.body.collect(upTo: 100)
            }
            // libcurl 7.88.1 itself would leave nginx waiting for the missing bytes (60 s).
            #expect(outcome(shortResult) == "CurlError.abortedByCallback", "\(shortResult)")
            #expect(shortElapsed < .seconds(5), "\(outcome(shortResult)) after \(shortElapsed)")
            if case .failure(let error as CurlError) = shortResult {
                #expect(error.message.contains("ended after 1000 of its 5000 bytes"), "\(error.message)")
            }

            let long = AsyncStream<[UInt8]> { continuation in
                continuation.yield([UInt8](repeating: 1, count: 4000))
                continuation.yield([UInt8](repeating: 2, count: 4000))
                continuation.finish()
            }
            let (longResult, longElapsed) = await measured {
                let response = try await multi.execute(server.url("/echo-length"), method: .post,
                                                       body: .stream(long, length: 5000), options: options)
                return try await response.body.collect(upTo: 100)
            }
            #expect(outcome(longResult) == "CurlError.abortedByCallback", "\(longResult)")
            #expect(longElapsed < .seconds(5))
            try await expectTransfersReleased(multi)
            let after = try await multi.execute(server.url("/hello.txt"), options: options)
            #expect(try await after.body.collect(upTo: 100) == NginxHTTPServer.helloText)
        }
    }
}
