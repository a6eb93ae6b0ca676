import AsyncCurl
import HTTPTypes
import Foundation
import Testing
@testable import TestPeers

/// Connections over Unix domain sockets, to real peers: redis-server on a socket file (by a
/// `unix://` URL and by `unixSocketPath`), nginx serving HTTPS on one (TLS verified against the
/// URL's host), and an echo server in Linux's abstract namespace.
extension AsyncCurlTests {
    @Suite struct UnixSocketTests {
        /// Sends `PING` and expects redis's `+PONG`.
        static func ping(_ connection: AsyncConnection) async throws {
            try await connection.send("PING\r\n")
            let reply = try await connection.receive(through: Array("\r\n".utf8), timeout: .seconds(10))
            #expect(reply.map { String(decoding: $0, as: UTF8.self) } == "+PONG\r\n")
        }

        @Test(.requires(.redis))
        func redisByUnixURL() async throws {
            let redis = try await RedisPeer()
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: redis.url, options: peerOptions()) { connection in
                try await Self.ping(connection)
                return connection.info
            }
            #expect(info.unixSocketPath == redis.socketPath, "\(info)")
            #expect(!info.usesTLS)
            #expect(await multi.diagnostics == .idle)
        }

        /// `unixSocketPath` with a `tcp://` URL: the socket is used, the URL's host and port are not.
        @Test(.requires(.redis))
        func unixSocketPathWithATCPURL() async throws {
            let redis = try await RedisPeer()
            let multi = CurlMulti()
            var options = peerOptions()
            options.unixSocketPath = redis.socketPath
            // Nobody listens on 127.0.0.1:1; the connection never goes there.
            let info = try await multi.withConnection(to: "tcp://127.0.0.1:1", options: options) { connection in
                try await Self.ping(connection)
                return connection.info
            }
            #expect(info.unixSocketPath == redis.socketPath, "\(info)")

            // The same path in the URL and the options is fine; two different ones are not.
            let agreed = try await multi.connect(to: redis.url, options: options)
            try await Self.ping(agreed)
            await agreed.close()
            options.unixSocketPath = redis.socketPath + ".other"
            let conflict = await expectCurlError { _ = try await multi.connect(to: redis.url, options: options) }
            #expect(conflict?.message.contains("unixSocketPath") == true, "\(String(describing: conflict))")
            #expect(await multi.diagnostics == .idle)
        }

        /// TLS over a Unix socket: the certificate is verified for the URL's host, as over TCP.
        @Test(.requires(.nginx, .openssl))
        func tlsOverAUnixSocketVerifiesTheURLsHost() async throws {
            let certificates = try TestCertificates.shared()
            let nginx = try await NginxPeer(certificates.server)
            let multi = CurlMulti()
            var options = peerOptions()
            options.unixSocketPath = nginx.socketPath
            options.tls.caFile = certificates.caFile
            let (info, response) = try await multi.withConnection(to: "tls://localhost:443", options: options) { connection in
                try await connection.send("GET /unix HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                var response: [UInt8] = []
                while let chunk = try await connection.receive(timeout: .seconds(10)) {
                    response += chunk
                }
                return (connection.info, String(decoding: response, as: UTF8.self))
            }
            #expect(info.usesTLS && info.unixSocketPath == nginx.socketPath, "\(info)")
            #expect(info.tlsVersion != nil, "\(info)")
            #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(response)")
            #expect(response.hasSuffix("\r\n\r\n" + NginxPeer.body), "\(response)")
            #expect(await eventually { nginx.accessLog.contains("GET /unix HTTP/1.1\" 200") }, "\(nginx.accessLog)")

            // The certificate is for localhost, not for this name.
            let wrongName = await expectCurlError { _ = try await multi.connect(to: "tls://svc.example.test:443", options: options) }
            #expect(wrongName?.code == .peerFailedVerification, "\(String(describing: wrongName))")
            // And without the CA the chain does not verify.
            options.tls.caFile = certificates.proxyCAFile
            let unknownCA = await expectCurlError { _ = try await multi.connect(to: "tls://localhost:443", options: options) }
            #expect(unknownCA?.code == .peerFailedVerification, "\(String(describing: unknownCA))")
            #expect(await multi.diagnostics == .idle)
        }

        /// An HTTP hand-over works over the socket too: libcurl sends the request itself.
        @Test(.requires(.nginx, .openssl))
        func httpsHandOverOverAUnixSocket() async throws {
            let certificates = try TestCertificates.shared()
            let nginx = try await NginxPeer(certificates.server)
            let multi = CurlMulti()
            var options = peerOptions()
            options.unixSocketPath = nginx.socketPath
            options.tls.caFile = certificates.caFile
            let handOver = try await multi.connect(to: "https://localhost/handover", after: .handOver(), options: options)
            #expect(handOver.response.status == .ok)
            #expect(handOver.body == Array(NginxPeer.body.utf8))
            #expect(handOver.connection.info.unixSocketPath == nginx.socketPath)
            // The connection stays usable: a second, raw request on it.
            try await handOver.connection.send("GET /again HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let head = try await handOver.connection.receive(through: Array("\r\n".utf8), timeout: .seconds(10))
            #expect(head.map { String(decoding: $0, as: UTF8.self) } == "HTTP/1.1 200 OK\r\n")
            await handOver.connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.python3))
        func abstractNamespaceSocket() async throws {
            let echo = try await AbstractSocketEchoPeer()
            let multi = CurlMulti()
            var options = peerOptions()
            options.abstractUnixSocket = echo.name
            let info = try await connectAndEcho(multi, to: "tcp://localhost:1", options: options)
            #expect(info.unixSocketPath == "@\(echo.name)", "\(info)")
            #expect(await eventually { echo.acceptedCount == 1 })

            // No such name: nobody accepts there.
            options.abstractUnixSocket = echo.name + "-absent"
            let missing = await expectCurlError { _ = try await multi.connect(to: "tcp://localhost:1", options: options) }
            #expect(missing?.code == .couldNotConnect, "\(String(describing: missing))")
            #expect(missing?.message.contains("abstractUnixSocket '@\(echo.name)-absent'") == true, "\(String(describing: missing))")
            #expect(await multi.diagnostics == .idle)
        }

        @Test func missingSocketFileNamesThePath() async throws {
            let directory = try TemporaryDirectory("unix-missing")
            let path = directory.file("absent.sock")
            let multi = CurlMulti()
            let byURL = await expectCurlError { _ = try await multi.connect(to: "unix://\(path)", options: peerOptions()) }
            #expect(byURL?.code == .couldNotConnect, "\(String(describing: byURL))")
            #expect(byURL?.message.contains("unixSocketPath '\(path)': no such file or directory") == true, "\(String(describing: byURL))")
            print("UnixSocketTests: missing socket: \(byURL.map(String.init(describing:)) ?? "no error")")

            var options = peerOptions()
            options.unixSocketPath = path
            let byOption = await expectCurlError { _ = try await multi.connect(to: "tcp://localhost:6379", options: options) }
            #expect(byOption?.code == .couldNotConnect, "\(String(describing: byOption))")
            #expect(byOption?.message.contains(path) == true && byOption?.message.contains("no such file") == true, "\(String(describing: byOption))")

            // A file that is not a socket.
            let plainFile = try directory.write("plain.txt", "not a socket\n")
            let notSocket = await expectCurlError { _ = try await multi.connect(to: "unix://\(plainFile)", options: peerOptions()) }
            #expect(notSocket?.code == .couldNotConnect, "\(String(describing: notSocket))")
            #expect(notSocket?.message.contains("it is not a socket") == true, "\(String(describing: notSocket))")
            #expect(await multi.diagnostics == .idle)
        }

        @Test func malformedUnixURLsFailBeforeAnyIO() async throws {
            let multi = CurlMulti()
            for url in ["unix://relative", "unix://relative/path.sock", "unix://", "unix:///" + String(repeating: "a", count: 120)] {
                let error = await expectCurlError { _ = try await multi.connect(to: url) }
                #expect(error?.code == .urlMalformat || error?.code == .badFunctionArgument, "\(url): \(String(describing: error))")
                if url.hasPrefix("unix://relative") {
                    #expect(error?.code == .urlMalformat, "\(url): \(String(describing: error))")
                }
            }
            var options = peerOptions()
            options.unixSocketPath = ""
            let empty = await expectCurlError { _ = try await multi.connect(to: "tcp://localhost:1", options: options) }
            #expect(empty?.message.contains("unixSocketPath") == true, "\(String(describing: empty))")
            #expect(await multi.diagnostics == .idle)
        }
    }
}
