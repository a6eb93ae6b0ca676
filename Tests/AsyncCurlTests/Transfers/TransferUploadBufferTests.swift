import Foundation
import HTTPTypes
import Testing
@testable import AsyncCurl
@testable import TestPeers

/// `requestBufferSize` also sets libcurl's upload buffer (`CURLOPT_UPLOAD_BUFFERSIZE`): request
/// bodies of every kind arrive intact whatever its size, below, at and above libcurl's range.
extension AsyncCurlTests {
    @Suite struct TransferUploadBufferTests {
        static let sizes = [1 << 10, 16 << 10, 256 << 10, 4 << 20]

        @Test(.requires(.nginx, .openssl), arguments: sizes)
        func bodiesArriveIntactWithAnyUploadBuffer(requestBufferSize: Int) async throws {
            let server = try await NginxHTTPServer()
            let multi = CurlMulti()
            var options = TransferOptions()
            options.requestBufferSize = requestBufferSize
            // Not a multiple of any buffer size, so the last piece is a short one.
            let payload = NginxHTTPServer.bytes(count: 3 << 20 | 12_345)

            // Bytes in memory.
            let bytes = try await multi.execute(server.url("/upload/bytes-\(requestBufferSize)"), method: .put,
                                                body: .bytes(payload), options: options)
            #expect(bytes.status.code == 201)
            _ = try await bytes.body.collect(upTo: 1 << 20)
            #expect(server.uploadedFile(named: "bytes-\(requestBufferSize)") == payload)

            // A file.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString)").path
            try Data(payload).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            let fromFile = try await multi.execute(server.url("/upload/file-\(requestBufferSize)"), method: .put,
                                                   body: .file(file), options: options)
            #expect(fromFile.status.code == 201)
            _ = try await fromFile.body.collect(upTo: 1 << 20)
            #expect(server.uploadedFile(named: "file-\(requestBufferSize)") == payload)

            // A stream of uneven chunks without a length: chunked encoding.
            let chunks = stride(from: 0, to: payload.count, by: 100_003).map {
                Array(payload[$0..<min($0 + 100_003, payload.count)])
            }
            let stream = AsyncStream<[UInt8]> { continuation in
                for chunk in chunks { continuation.yield(chunk) }
                continuation.finish()
            }
            let streamed = try await multi.execute(server.url("/upload/stream-\(requestBufferSize)"), method: .put,
                                                   body: .stream(stream), options: options)
            #expect(streamed.status.code == 201)
            _ = try await streamed.body.collect(upTo: 1 << 20)
            #expect(server.uploadedFile(named: "stream-\(requestBufferSize)") == payload)
        }
    }
}
