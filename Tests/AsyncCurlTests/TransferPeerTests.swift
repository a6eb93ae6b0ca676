import Foundation
import Testing
@testable import TestPeers

extension PeerProgram {
    /// The curl command-line tool: an independent client proving that the transfer peers work.
    static let curl = PeerProgram("curl", package: "curl")
}

/// The transfer tests' peers (NginxHTTPServer, FTPServer, DigestHTTPServer), each checked with the
/// curl command-line tool, so that a failing transfer test points at the library, not its peer.
extension AsyncCurlTests {
    @Suite struct TransferPeerTests {
        /// What one curl run fetched.
        struct Fetched {
            let status: Int
            /// curl's `%{http_version}`: `1.1`, `2`, or `0` for FTP.
            let version: String
            let redirects: Int
            /// Bytes received on the wire (compressed ones, with `--compressed`).
            let sizeDownloaded: Int
            /// Where a redirect not followed points (`%{redirect_url}`).
            let redirectURL: String
            let body: [UInt8]
            /// The response headers as received (`-D`), every response's when it followed redirects.
            let headers: String

            var text: String { String(decoding: body, as: UTF8.self) }
        }

        /// Runs curl (silent, 30 s at most) on `url` with `extra` arguments, the body going to a
        /// file. Throws if curl fails, which includes an FTP error, but not an HTTP error status.
        static func fetch(_ url: String, _ extra: [String] = []) throws -> Fetched {
            let directory = try TemporaryDirectory("curl")
            let printed = try runCommand(try PeerProgram.curl.executable(), [
                "-s", "--max-time", "30", "-o", directory.file("body"), "-D", directory.file("headers"),
                "-w", "%{http_code} %{http_version} %{num_redirects} %{size_download} %{redirect_url}",
            ] + extra + [url])
            let fields = printed.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5, let status = Int(fields[0]), let redirects = Int(fields[2]), let size = Int(fields[3]) else {
                throw PeerError.commandFailed("curl printed '\(printed)'", output: printed)
            }
            return Fetched(status: status, version: fields[1], redirects: redirects, sizeDownloaded: size, redirectURL: fields[4],
                           body: FileManager.default.contents(atPath: directory.file("body")).map(Array.init) ?? [],
                           headers: (try? String(contentsOfFile: directory.file("headers"), encoding: .utf8)) ?? "")
        }

        /// Writes `bytes` to a file for curl to send, in `directory`.
        static func file(_ bytes: [UInt8], in directory: TemporaryDirectory, named name: String = "upload") throws -> String {
            let path = directory.file(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }

        // MARK: - nginx

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxServesHTTP1HTTP2OverTLSAndPriorKnowledgeHTTP2() async throws {
            let server = try await NginxHTTPServer()
            let plain = try Self.fetch(server.url("/hello.txt"))
            #expect(plain.status == 200)
            #expect(plain.version == "1.1")
            #expect(plain.body == NginxHTTPServer.helloText)

            let h2 = try Self.fetch(server.url("/hello.txt", scheme: .https), ["--cacert", server.caFile, "--http2"])
            #expect(h2.status == 200)
            #expect(h2.version == "2")
            #expect(h2.body == NginxHTTPServer.helloText)
            let h1OverTLS = try Self.fetch(server.url("/hello.txt", scheme: .https, host: "localhost"), ["--cacert", server.caFile, "--http1.1"])
            #expect(h1OverTLS.version == "1.1")
            #expect(h1OverTLS.body == NginxHTTPServer.helloText)

            let h2c = try Self.fetch(server.url("/hello.txt", scheme: .h2c), ["--http2-prior-knowledge"])
            #expect(h2c.status == 200)
            #expect(h2c.version == "2")
            #expect(h2c.body == NginxHTTPServer.helloText)

            // No Upgrade to h2c: the answer stays HTTP/1.1.
            let upgrade = try Self.fetch(server.url("/hello.txt"), ["--http2"])
            #expect(upgrade.version == "1.1")
            #expect(upgrade.body == NginxHTTPServer.helloText)

            let log = try await server.waitForAccessLog(4)
            #expect(log.map(\.serverProtocol).prefix(4) == ["HTTP/1.1", "HTTP/2.0", "HTTP/1.1", "HTTP/2.0"])
            #expect(log.map(\.serverPort).prefix(4) == [server.httpPort, server.httpsPort, server.httpsPort, server.h2cPort])
            #expect(log[1].tlsProtocol != nil && log[0].tlsProtocol == nil)
            #expect(log.prefix(4).allSatisfy { $0.status == 200 && $0.bodyBytesSent == NginxHTTPServer.helloText.count })
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxServesThePseudoRandomFiles() async throws {
            let started = ContinuousClock.now
            let server = try await NginxHTTPServer(largeFiles: true)
            let startup = ContinuousClock.now - started
            #expect(NginxHTTPServer.bytes(count: 100) == Array(NginxHTTPServer.bytes(count: 1 << 20).prefix(100)))
            #expect(NginxHTTPServer.bytes(count: 13).count == 13)
            #expect(NginxHTTPServer.bytes(count: 0) == [])
            for (path, size) in NginxHTTPServer.byteFiles {
                let fetched = try Self.fetch(server.url(path, scheme: .h2c), ["--http2-prior-knowledge"])
                #expect(fetched.status == 200)
                #expect(fetched.body.count == size)
                #expect(fetched.body == NginxHTTPServer.bytes(count: size), "\(path)")
            }
            let range = try Self.fetch(server.url("/bytes/1m", scheme: .https), ["--cacert", server.caFile, "-r", "1000-1999"])
            #expect(range.status == 206)
            #expect(range.body == Array(NginxHTTPServer.bytes(count: 2000).suffix(1000)))
            #expect(startup < .seconds(5), "start with 81 MiB of files took \(startup)")
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxCompressesTheTextWithGzip() async throws {
            let server = try await NginxHTTPServer()
            for (scheme, extra) in [(NginxHTTPServer.Scheme.http, []), (.https, ["--cacert", server.caFile, "--http2"])] {
                let compressed = try Self.fetch(server.url("/gzip/text.txt", scheme: scheme), ["--compressed"] + extra)
                #expect(compressed.status == 200)
                #expect(compressed.body == NginxHTTPServer.gzipText)
                #expect(compressed.sizeDownloaded < NginxHTTPServer.gzipText.count / 4)
                #expect(compressed.headers.lowercased().contains("content-encoding: gzip"))
            }
            let identity = try Self.fetch(server.url("/gzip/text.txt"))
            #expect(identity.body == NginxHTTPServer.gzipText)
            #expect(identity.sizeDownloaded == NginxHTTPServer.gzipText.count)
            let log = try await server.waitForAccessLog(3)
            #expect(log.map(\.contentEncoding) == ["gzip", "gzip", nil])
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxRedirects() async throws {
            let server = try await NginxHTTPServer()
            let followed = try Self.fetch(server.url("/redirect2"), ["-L"])
            #expect(followed.status == 200)
            #expect(followed.redirects == 2)
            #expect(followed.body == NginxHTTPServer.helloText)

            let absolute = try Self.fetch(server.url("/redirect", scheme: .h2c), ["--http2-prior-knowledge"])
            #expect(absolute.status == 302)
            #expect(absolute.redirectURL == server.url("/hello.txt", scheme: .h2c))
            let relative = try Self.fetch(server.url("/redirect2"))
            #expect(relative.status == 301)
            #expect(relative.headers.contains("Location: /redirect\r\n"))

            let loop = try Self.fetch(server.url("/loop"))
            #expect(loop.status == 302)
            #expect(loop.redirectURL == server.url("/loop"))
            #expect(throws: PeerError.self) { try Self.fetch(server.url("/loop"), ["-L", "--max-redirs", "5"]) }

            let toFTP = try Self.fetch(server.url("/to-ftp"))
            #expect(toFTP.status == 302)
            #expect(toFTP.redirectURL == "ftp://127.0.0.1:1/x")

            let downgrade = try Self.fetch(server.url("/to-http", scheme: .https), ["--cacert", server.caFile])
            #expect(downgrade.status == 302)
            #expect(downgrade.redirectURL == server.url("/hello.txt"))
            let downgraded = try Self.fetch(server.url("/to-http", scheme: .https), ["--cacert", server.caFile, "-L"])
            #expect(downgraded.body == NginxHTTPServer.helloText)
            #expect(try Self.fetch(server.url("/to-http")).status == 404)
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxDemandsBasicAuthentication() async throws {
            let server = try await NginxHTTPServer()
            let credentials = "\(NginxHTTPServer.basicUser):\(NginxHTTPServer.basicPassword)"
            let missing = try Self.fetch(server.url("/basic/"))
            #expect(missing.status == 401)
            #expect(missing.headers.contains("WWW-Authenticate: Basic realm=\"asynccurl-nginx\""))
            #expect(try Self.fetch(server.url("/basic/"), ["-u", "\(NginxHTTPServer.basicUser):wrong"]).status == 401)
            let granted = try Self.fetch(server.url("/basic/"), ["-u", credentials])
            #expect(granted.status == 200)
            #expect(granted.body == NginxHTTPServer.basicBody)
            let overH2 = try Self.fetch(server.url("/basic/", scheme: .https), ["--cacert", server.caFile, "-u", credentials])
            #expect(overH2.version == "2")
            #expect(overH2.body == NginxHTTPServer.basicBody)
            let log = try await server.waitForAccessLog(4)
            #expect(log.map(\.remoteUser) == [nil, NginxHTTPServer.basicUser, NginxHTTPServer.basicUser, NginxHTTPServer.basicUser])
            #expect(log.map(\.status) == [401, 401, 200, 200])
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxStoresUploadsAndCountsRequestBodies() async throws {
            let server = try await NginxHTTPServer()
            let files = try TemporaryDirectory("curl-upload")
            let content = NginxHTTPServer.bytes(count: 3 << 20 + 5)
            let upload = try Self.file(content, in: files)

            let put = try Self.fetch(server.url("/upload/a/b.bin"), ["-T", upload])
            #expect(put.status == 201)
            #expect(server.uploadedFile(named: "a/b.bin") == content)
            let replaced = try Self.fetch(server.url("/upload/a/b.bin", scheme: .https), ["--cacert", server.caFile, "-T", upload])
            #expect(replaced.status == 204)
            #expect(replaced.version == "2")
            let chunked = try Self.fetch(server.url("/upload/chunked.bin"), ["-T", upload, "-H", "Transfer-Encoding: chunked"])
            #expect(chunked.status == 201)
            #expect(server.uploadedFile(named: "chunked.bin") == content)
            #expect(try Self.fetch(server.url("/upload/chunked.bin")).body == content)
            #expect(server.uploadedFile(named: "absent.bin") == nil)

            let posts = [
                try Self.fetch(server.url("/echo-length"), ["--data-binary", "@\(upload)"]),
                try Self.fetch(server.url("/echo-length"), ["--data-binary", "@\(upload)", "-H", "Transfer-Encoding: chunked"]),
                try Self.fetch(server.url("/echo-length", scheme: .h2c), ["--http2-prior-knowledge", "--data-binary", "@\(upload)"]),
                try Self.fetch(server.url("/echo-length", scheme: .https), ["--cacert", server.caFile, "-X", "PUT", "--data-binary", "@\(upload)"]),
            ]
            for post in posts {
                #expect(post.status == 200)
                #expect(post.text == "\(content.count)\n")
                #expect(post.headers.lowercased().contains("x-body-file: "))
            }
            #expect(try Self.fetch(server.url("/echo-length"), ["-X", "POST"]).text == "0\n")

            let log = try await server.waitForAccessLog(9)
            let echoed = log.filter { $0.uri == "/echo-length" }
            #expect(echoed.map(\.method) == ["POST", "POST", "POST", "PUT", "POST"])
            #expect(echoed.map(\.transferEncoding) == [nil, "chunked", nil, nil, nil])
            #expect(echoed.map(\.contentLength) == [content.count, content.count, content.count, content.count, nil])
            for entry in echoed.prefix(4) {
                #expect(server.requestBody(of: entry) == content)
            }
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxAnswersStatusesHeadersAndCookies() async throws {
            let server = try await NginxHTTPServer()
            let notFound = try Self.fetch(server.url("/status/404"))
            #expect(notFound.status == 404)
            #expect(notFound.body == NginxHTTPServer.notFoundBody)
            let failed = try Self.fetch(server.url("/status/500", scheme: .h2c), ["--http2-prior-knowledge"])
            #expect(failed.status == 500)
            #expect(failed.body == NginxHTTPServer.serverErrorBody)

            let headers = try Self.fetch(server.url("/headers"))
            #expect(headers.body == NginxHTTPServer.headersBody)
            #expect(headers.headers.contains("X-Test: one\r\n"))
            #expect(headers.headers.contains("X-Test-Other: two\r\n"))
            #expect(headers.headers.contains("Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\n"))

            let files = try TemporaryDirectory("curl-cookies")
            let jar = files.file("jar")
            #expect(try Self.fetch(server.url("/cookie/set"), ["-c", jar]).headers.contains("Set-Cookie: session=abc; Path=/"))
            let checked = try Self.fetch(server.url("/cookie/check"), ["-b", jar])
            #expect(checked.status == 200)
            #expect(checked.body == NginxHTTPServer.cookieOKBody)
            let refused = try Self.fetch(server.url("/cookie/check"))
            #expect(refused.status == 403)
            #expect(refused.body == NginxHTTPServer.noCookieBody)
            let log = try await server.waitForAccessLog(6)
            #expect(log.compactMap(\.cookie) == ["session=abc"])
        }

        @Test(.requires(.nginx, .openssl, .curl))
        func nginxTakes100ConcurrentStreamsOnOneConnectionAndKeepsHTTP1ConnectionsAlive() async throws {
            let server = try await NginxHTTPServer()
            let paths = (0..<100).map { "/hello.txt?stream=\($0)" }
            try runCommand(try PeerProgram.curl.executable(), [
                "-s", "--fail", "--max-time", "30", "--cacert", server.caFile, "--http2", "--parallel", "--parallel-max", "100",
            ] + paths.flatMap { ["-o", "/dev/null", server.url($0, scheme: .https)] })
            let streams = try await server.waitForAccessLog(100)
            #expect(Set(streams.map(\.uri)) == Set(paths))
            #expect(streams.allSatisfy { $0.status == 200 && $0.serverProtocol == "HTTP/2.0" })
            #expect(Set(streams.map(\.connection)).count == 1)
            #expect(streams.map(\.connectionRequests).max() == 100)

            try runCommand(try PeerProgram.curl.executable(), [
                "-s", "--fail", "--max-time", "30", "-o", "/dev/null", server.url("/hello.txt"), "-o", "/dev/null", server.url("/bytes/1m"),
            ])
            let keptAlive = try await server.waitForAccessLog(102).suffix(2)
            #expect(keptAlive.map(\.connectionRequests) == [1, 2])
            #expect(Set(keptAlive.map(\.connection)).count == 1)
        }

        // MARK: - FTP

        @Test(.requires(.pyftpdlib, .curl))
        func ftpServerServesAndStoresFilesInPassiveAndActiveMode() async throws {
            let server = try await FTPServer()
            let extended = try Self.fetch(server.url(withCredentials: true))
            #expect(extended.body == FTPServer.fileBytes)
            let passive = try Self.fetch(server.url(), ["--disable-epsv", "-u", "\(FTPServer.user):\(FTPServer.password)"])
            #expect(passive.body == FTPServer.fileBytes)
            let active = try Self.fetch(server.url(withCredentials: true), ["--ftp-port", "127.0.0.1"])
            #expect(active.body == FTPServer.fileBytes)
            #expect(throws: PeerError.self) { try Self.fetch(server.url(), ["-u", "\(FTPServer.user):wrong"]) }
            #expect(throws: PeerError.self) { try Self.fetch(server.url("/absent.bin", withCredentials: true)) }

            let files = try TemporaryDirectory("curl-ftp")
            let content = NginxHTTPServer.bytes(count: 300_001)
            _ = try Self.fetch(server.url("/incoming/new.bin", withCredentials: true), ["-T", try Self.file(content, in: files), "--ftp-create-dirs"])
            #expect(try await server.waitForUpload("/incoming/new.bin") == content)
            #expect(server.uploadedFile(named: "incoming/new.bin") == content)
            #expect(server.receivedFiles == ["/incoming/new.bin"])
            // pyftpdlib prints SENT just after its 226, so possibly after curl has exited.
            #expect(await eventually { server.sentFiles == ["/file.bin", "/file.bin", "/file.bin"] })
        }

        @Test(.requires(.pyftpdlibTLS, .openssl, .curl))
        func ftpServerSpeaksExplicitTLS() async throws {
            let certificates = try TestCertificates.shared()
            let server = try await FTPServer(tls: .required)
            let secured = try Self.fetch(server.url(withCredentials: true), ["--ssl-reqd", "--cacert", certificates.caFile])
            #expect(secured.body == FTPServer.fileBytes)
            // Without TLS, the login is refused.
            #expect(throws: PeerError.self) { try Self.fetch(server.url(withCredentials: true)) }

            let files = try TemporaryDirectory("curl-ftps")
            let content = NginxHTTPServer.bytes(count: 70_000)
            _ = try Self.fetch(server.url("/up.bin", withCredentials: true),
                               ["--ssl-reqd", "--cacert", certificates.caFile, "-T", try Self.file(content, in: files)])
            #expect(try await server.waitForUpload("/up.bin") == content)

            let offered = try await FTPServer(tls: .explicit)
            #expect(try Self.fetch(offered.url(withCredentials: true)).body == FTPServer.fileBytes)
            #expect(try Self.fetch(offered.url(withCredentials: true), ["--ssl-reqd", "--cacert", certificates.caFile]).body == FTPServer.fileBytes)
        }

        // MARK: - Digest

        @Test(.requires(.python3, .curl))
        func digestServerChecksDigestCredentials() async throws {
            let server = try await DigestHTTPServer()
            let credentials = "\(DigestHTTPServer.user):\(DigestHTTPServer.password)"
            let challenged = try Self.fetch(server.url())
            #expect(challenged.status == 401)
            #expect(challenged.headers.contains("WWW-Authenticate: Digest realm=\"\(DigestHTTPServer.realm)\", qop=\"auth\", algorithm=MD5, nonce=\""))

            let md5 = try Self.fetch(server.url(), ["--digest", "-u", credentials])
            #expect(md5.status == 200)
            #expect(md5.body == DigestHTTPServer.body)
            let sha256 = try Self.fetch(server.url("/digest-sha256"), ["--digest", "-u", credentials])
            #expect(sha256.status == 200)
            #expect(sha256.body == DigestHTTPServer.body)
            #expect(try Self.fetch(server.url(), ["--digest", "-u", "\(DigestHTTPServer.user):wrong"]).status == 401)
            #expect(try Self.fetch(server.url(), ["--basic", "-u", credentials]).status == 401)
            #expect(server.logins == ["alice /digest accepted", "alice /digest-sha256 accepted", "alice /digest refused"])
        }
    }
}
