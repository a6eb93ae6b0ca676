import Dispatch
import Foundation
import Testing
// The shared peers (nginx, tinyproxy). This module's own helpers of the same names
// (TemporaryDirectory, DeadlineExceeded, …) shadow TestPeers' in this file.
@testable import TestPeers

extension ExamplesTests {
    /// `fetch` against nginx (``NginxHTTPServer``: HTTP/1.1, HTTPS with HTTP/2, WebDAV PUT) and
    /// tinyproxy. Standard error is a pipe here, so fetch draws no progress line: whatever it
    /// writes there is `-v` output or an error.
    @Suite(.requires(.nginx, .openssl))
    struct FetchTests {
        @Test func getsToStandardOutput() async throws {
            let server = try await NginxHTTPServer()
            let result = try await fetch([server.url("/hello.txt")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == NginxHTTPServer.helloText)
            #expect(result.stderr.isEmpty)
            let log = try await server.waitForAccessLog(1)
            #expect(log.first?.serverProtocol == "HTTP/1.1", "without --http2, HTTP/1.1")
        }

        @Test func writesSixteenMebibytesToAFileByteExactAndToDevNull() async throws {
            let server = try await NginxHTTPServer()
            let directory = try TemporaryDirectory("fetch-output")
            defer { directory.remove() }
            let file = directory.file("16m")
            let result = try await fetch(["-o", file, server.url("/bytes/16m")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout.isEmpty)
            let written = FileManager.default.contents(atPath: file).map(Array.init) ?? []
            #expect(firstDifference(written, NginxHTTPServer.bytes(count: 16 << 20)) == nil)

            let discarded = try await fetch(["-o", "/dev/null", server.url("/bytes/1m")])
            #expect(discarded.status == 0, "stderr: \(discarded.stderr)")
            #expect(discarded.stdout.isEmpty)
            #expect(try await server.waitForAccessLog(2).last?.bodyBytesSent == 1 << 20)
        }

        @Test func http2OverTLSWithTheTestCAAndVerbose() async throws {
            let server = try await NginxHTTPServer()
            let result = try await fetch(["--http2", "--cacert", server.caFile, "-v", server.url("/hello.txt", scheme: .https)])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == NginxHTTPServer.helloText)
            #expect(result.stderr.hasPrefix("< 200 \n") || result.stderr.hasPrefix("< 200 OK\n"), "stderr: \(result.stderr)")
            #expect(result.stderr.contains("< content-length: \(NginxHTTPServer.helloText.count)\n"), "stderr: \(result.stderr)")
            #expect(result.stderr.contains("* HTTP/2, \(NginxHTTPServer.helloText.count) bytes"), "stderr: \(result.stderr)")
            #expect(try await server.waitForAccessLog(1).first?.serverProtocol == "HTTP/2.0")

            // --http2 on an http:// URL: prior knowledge, which nginx's h2c port speaks.
            let cleartext = try await fetch(["--http2", "-v", server.url("/hello.txt", scheme: .h2c)])
            #expect(cleartext.status == 0, "stderr: \(cleartext.stderr)")
            #expect(cleartext.stdout == NginxHTTPServer.helloText)
            #expect(cleartext.stderr.contains("* HTTP/2,"), "stderr: \(cleartext.stderr)")
        }

        @Test func verifiesCertificatesByDefault() async throws {
            let server = try await NginxHTTPServer()
            let url = server.url("/hello.txt", scheme: .https)
            let refused = try await fetch([url])
            // CURLE_PEER_FAILED_VERIFICATION, as curl exits.
            #expect(refused.status == 60, "stderr: \(refused.stderr)")
            #expect(refused.stdout.isEmpty)
            #expect(refused.stderr.hasPrefix("fetch: CurlError.peerFailedVerification"), "stderr: \(refused.stderr)")

            let insecure = try await fetch(["-k", url])
            #expect(insecure.status == 0, "stderr: \(insecure.stderr)")
            #expect(insecure.stdout == NginxHTTPServer.helloText)
        }

        @Test func putsAFilesBytesUnchanged() async throws {
            let server = try await NginxHTTPServer()
            let directory = try TemporaryDirectory("fetch-upload")
            defer { directory.remove() }
            // CR, LF, CRLF, NUL, a leading "@" and bytes that are no UTF-8, then 200 KB more.
            let content = Array("@first\r\nsecond\nthird\r\0\0\u{1}".utf8) + [0xFF, 0xFE, 0x80, 0x0D, 0x0A]
                + seededBytes(count: 200_000, seed: 7)
            try directory.write("binary.dat", content)
            let result = try await fetch(["-X", "PUT", "-d", "@\(directory.file("binary.dat"))", server.url("/upload/binary.dat")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(firstDifference(server.uploadedFile(named: "binary.dat") ?? [], content) == nil)
            let log = try await server.waitForAccessLog(1)
            #expect(log.first?.method == "PUT")
            #expect(log.first?.status == 201)

            // -d TEXT posts the text.
            let posted = try await fetch(["-d", "hello", server.url("/echo-length")])
            #expect(posted.status == 0, "stderr: \(posted.stderr)")
            #expect(String(decoding: posted.stdout, as: UTF8.self) == "5\n")
            #expect(try await server.waitForAccessLog(2).last?.method == "POST")
        }

        @Test func sendsHeaderFields() async throws {
            let server = try await NginxHTTPServer()
            let result = try await fetch(["-H", "X-Test: 1", "-H", "Cookie: session=abc", server.url("/cookie/check")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == NginxHTTPServer.cookieOKBody)
            #expect(try await server.waitForAccessLog(1).first?.cookie == "session=abc")
            let bad = try await fetch(["-H", "no colon here", server.url("/hello.txt")])
            #expect(bad.status == 2)
        }

        @Test func sendsCredentials() async throws {
            let server = try await NginxHTTPServer()
            let result = try await fetch(["-u", "\(NginxHTTPServer.basicUser):\(NginxHTTPServer.basicPassword)", server.url("/basic/")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == NginxHTTPServer.basicBody)
            let wrong = try await fetch(["--fail", "-u", "\(NginxHTTPServer.basicUser):wrong", server.url("/basic/")])
            #expect(wrong.status == 22)
        }

        @Test func followsRedirectsWithLocationOnly() async throws {
            let server = try await NginxHTTPServer()
            let followed = try await fetch(["-L", server.url("/redirect2")])
            #expect(followed.status == 0, "stderr: \(followed.stderr)")
            #expect(followed.stdout == NginxHTTPServer.helloText)
            let notFollowed = try await fetch(["-v", server.url("/redirect")])
            #expect(notFollowed.status == 0)
            #expect(notFollowed.stdout != NginxHTTPServer.helloText)
            #expect(notFollowed.stderr.hasPrefix("< 302 "), "stderr: \(notFollowed.stderr)")
        }

        @Test func errorStatusesWriteTheBodyUnlessFail() async throws {
            let server = try await NginxHTTPServer()
            let plain = try await fetch([server.url("/status/404")])
            #expect(plain.status == 0, "stderr: \(plain.stderr)")
            #expect(plain.stdout == NginxHTTPServer.notFoundBody)
            let failed = try await fetch(["--fail", server.url("/status/404")])
            #expect(failed.status == 22)
            #expect(failed.stdout.isEmpty)
            #expect(failed.stderr.contains("404"), "stderr: \(failed.stderr)")
        }

        @Test(.requires(.tinyproxy))
        func goesThroughAProxy() async throws {
            let server = try await NginxHTTPServer()
            let proxy = try await TinyproxyPeer()
            let result = try await fetch(["--proxy", proxy.url, server.url("/hello.txt")])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == NginxHTTPServer.helloText)
            #expect(proxy.requests.contains("GET \(server.url("/hello.txt")) HTTP/1.1"), "\(proxy.requests)")
        }

        @Test func aRefusedConnectionExitsSevenWithTheError() async throws {
            let port = try RefusingPort()
            defer { port.close() }
            let result = try await fetch(["--max-time", "10", "http://127.0.0.1:\(port.port)/"])
            #expect(result.status == 7, "stderr: \(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.hasPrefix("fetch: CurlError.couldNotConnect"), "stderr: \(result.stderr)")
        }

        @Test func helpAndBadArguments() async throws {
            let help = try await fetch(["--help"])
            #expect(help.status == 0)
            for option in ["-o", "--proxy", "--cacert", "--http2", "-X", "-H", "-d", "-L", "-k", "-u", "-v", "--max-time", "--fail"] {
                #expect(String(decoding: help.stdout, as: UTF8.self).contains(option), "--help mentions \(option)")
            }
            let unknown = try await fetch(["--frobnicate", "http://127.0.0.1:1/"])
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("unknown option '--frobnicate'"))
            let noURL = try await fetch(["-v"])
            #expect(noURL.status == 2)
        }

        // MARK: Helpers

        struct Result {
            let status: Int32
            let stdout: [UInt8]
            let stderr: String
        }

        /// Runs fetch with `arguments` to its end (30 s at most).
        private func fetch(_ arguments: [String]) async throws -> Result {
            let process = try ChildProcess(try TestEnvironment.example("fetch"), arguments)
            defer { process.stop() }
            let status = try await offPool { try process.waitForExit(timeout: .seconds(30)) }
            return Result(status: status, stdout: process.standardOutput, stderr: process.standardErrorText)
        }

        /// Runs one of ChildProcess's blocking waits on a Dispatch thread, so that it does not
        /// hold one of the cooperative pool's few threads.
        private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Swift.Result(catching: body)) }
            }
        }
    }
}
