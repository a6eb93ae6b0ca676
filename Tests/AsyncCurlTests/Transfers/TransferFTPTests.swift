@testable import AsyncCurl
import Foundation
import Testing
@testable import TestPeers

/// FTP through the transfer API against pyftpdlib (``FTPServer``): downloads, uploads of every
/// body kind, the errors a login or a path can give, and explicit FTPS (`AUTH TLS`), which a
/// transfer asks for with ``ConnectionOptions/tlsUpgrade``. After each test the engine holds
/// nothing: no transfer record, no connection, no continuation.
///
/// The response head of an FTP transfer: libcurl has no status line for FTP, so the head is
/// built from `CURLINFO_RESPONSE_CODE` when the first body byte arrives (a download: the
/// preliminary reply to `RETR`, 125 or 150, a 1xx status) or at the end (an upload, no body:
/// the final 226), without header fields. ``TransferFacts/responseCode`` is the last reply (226).
extension AsyncCurlTests {
    @Suite struct TransferFTPTests {
        static let maxBody = 2 << 20

        static func credentials() -> TransferOptions {
            var options = TransferOptions()
            options.credentials = Credentials(username: FTPServer.user, password: FTPServer.password)
            // A stalled transfer fails the test rather than hanging it.
            options.timeout = .seconds(30)
            return options
        }

        @Test(.requires(.pyftpdlib))
        func downloadsWithCredentialsFromOptionsAndFromTheURL() async throws {
            let server = try await FTPServer()
            let multi = CurlMulti()
            let response = try await multi.execute(server.url(), options: Self.credentials())
            // pyftpdlib's preliminary reply to RETR: 125 with the passive data connection open.
            #expect(response.status.code == 125, "the reply to RETR, when the first byte came")
            #expect(response.status.kind == .informational)
            #expect(response.headerFields.isEmpty)
            #expect(try await response.body.collect(upTo: Self.maxBody) == FTPServer.fileBytes)
            let facts = try await response.body.facts()
            #expect(facts.responseCode == 226)
            #expect(facts.bytesDownloaded == Int64(FTPServer.fileBytes.count))

            let inURL = try await multi.execute(server.url(withCredentials: true))
            #expect(try await inURL.body.collect(upTo: Self.maxBody) == FTPServer.fileBytes)
            try await Self.expectIdle(multi)
        }

        @Test(.requires(.pyftpdlib))
        func uploadsBytesAFileAndAStreamOfUnknownLength() async throws {
            let server = try await FTPServer()
            let multi = CurlMulti()
            let content = NginxHTTPServer.bytes(count: 300_000)
            let files = try TemporaryDirectory("ftp-upload")
            let path = files.file("upload.bin")
            try Data(content).write(to: URL(fileURLWithPath: path))
            let stream = AsyncStream<[UInt8]> { continuation in
                var offset = 0
                while offset < content.count {
                    // Uneven chunks, none a multiple of libcurl's buffer.
                    let end = min(content.count, offset + 12_345)
                    continuation.yield(Array(content[offset..<end]))
                    offset = end
                }
                continuation.finish()
            }
            let bodies: [(name: String, body: RequestBody)] = [
                ("bytes.bin", .bytes(content)), ("file.bin-copy", .file(path)), ("stream.bin", .stream(stream, length: nil)),
            ]
            for (name, body) in bodies {
                let response = try await multi.execute(server.url("/\(name)"), body: body, options: Self.credentials())
                #expect(response.status.code == 226, "\(name): no body, so the head comes at the end with the last reply")
                #expect(try await response.body.collect(upTo: 1).isEmpty)
                let facts = try await response.body.facts()
                #expect(facts.bytesUploaded == Int64(content.count), "\(name)")
                let stored = try await server.waitForUpload("/\(name)")
                #expect(stored == content, "\(name): \(stored.count) bytes stored")
                #expect(server.uploadedFile(named: name) == content)
            }
            try await Self.expectIdle(multi)
        }

        /// libcurl 7.88.1 under `curl_multi_socket_action` stalled an FTP transfer on a reused
        /// control connection whenever the `EPSV` reply arrived within the DO step (about one
        /// transfer in ten here): it waited in DOING_MORE for an event that never came. The
        /// engine's full pass after each action (`CurlMulti.ftpTransfers`) moves it on.
        @Test(.requires(.pyftpdlib))
        func backToBackTransfersOnAReusedControlConnectionNeverStall() async throws {
            let server = try await FTPServer()
            let multi = CurlMulti()
            var options = Self.credentials()
            options.timeout = .seconds(10)
            for round in 0..<40 {
                let response = try await multi.execute(server.url(), options: options)
                let body = try await response.body.collect(upTo: Self.maxBody)
                #expect(body == FTPServer.fileBytes, "round \(round)")
                let facts = try await response.body.facts()
                // The data connection is new each time; the control connection only the first time.
                #expect(facts.connectionsMade == (round == 0 ? 2 : 1), "round \(round)")
            }
            try await Self.expectIdle(multi)
        }

        @Test(.requires(.pyftpdlib))
        func aWrongPasswordIsLoginDeniedAndAMissingFileIsRemoteFileNotFound() async throws {
            let server = try await FTPServer()
            let multi = CurlMulti()
            var wrong = TransferOptions()
            wrong.credentials = Credentials(username: FTPServer.user, password: "not the secret")
            wrong.timeout = .seconds(30)
            await #expect { _ = try await multi.execute(server.url(), options: wrong) } throws: { error in
                (error as? CurlError)?.code == .loginDenied
            }
            // pyftpdlib answers RETR of a missing file with 550, which libcurl 8 reports as
            // CURLE_REMOTE_FILE_NOT_FOUND (not CURLE_FTP_COULDNT_RETR_FILE).
            let missing = await #expect(throws: CurlError.self) {
                _ = try await multi.execute(server.url("/no-such-file"), options: Self.credentials())
            }
            #expect(missing?.code == .remoteFileNotFound, "\(String(describing: missing))")
            try await Self.expectIdle(multi)
        }

        @Test(.requires(.pyftpdlibTLS, .openssl))
        func explicitFTPSDownloadsAndUploadsWithTheTestCA() async throws {
            let certificates = try TestCertificates.shared()
            let server = try await FTPServer(tls: .required)
            let multi = CurlMulti()
            var options = Self.credentials()
            options.connection.tls.caFile = certificates.caFile
            options.connection.tlsUpgrade = .required
            let response = try await multi.execute(server.url(), options: options)
            #expect(try await response.body.collect(upTo: Self.maxBody) == FTPServer.fileBytes)

            let content = NginxHTTPServer.bytes(count: 70_000)
            let upload = try await multi.execute(server.url("/secure.bin"), body: .bytes(content), options: options)
            #expect(try await upload.body.collect(upTo: 1).isEmpty)
            #expect(try await server.waitForUpload("/secure.bin") == content)

            // Left at its default, tlsUpgrade asks a transfer for no AUTH TLS: this server then
            // refuses the login in plain text.
            var plain = Self.credentials()
            plain.connection.tls.caFile = certificates.caFile
            plain.timeout = .seconds(30)
            let refused = await #expect(throws: CurlError.self) { _ = try await multi.execute(server.url(), options: plain) }
            #expect(refused?.code == .loginDenied, "\(String(describing: refused))")
            try await Self.expectIdle(multi)
        }

        @Test(.requires(.pyftpdlib))
        func requiredTLSAgainstAPlainServerFailsBeforeTheLogin() async throws {
            let server = try await FTPServer()
            let multi = CurlMulti()
            var options = Self.credentials()
            options.connection.tlsUpgrade = .required
            let error = await #expect(throws: CurlError.self) { _ = try await multi.execute(server.url(), options: options) }
            #expect(error?.code == .useSSLFailed, "\(String(describing: error))")
            try await Self.expectIdle(multi)
        }

        /// No transfer record left, and nothing else held for a connection.
        static func expectIdle(_ multi: CurlMulti, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await waitUntil("the engine is idle") {
                let idle = await multi.diagnostics.isIdle
                let transfers = await multi.diagnostics.transfers
                return idle && transfers == 0
            }
            #expect(await multi.diagnostics.transfers == 0, sourceLocation: sourceLocation)
            #expect(await multi.diagnostics == .idle, sourceLocation: sourceLocation)
        }
    }
}

