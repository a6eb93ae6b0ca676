import AsyncCurl
import HTTPTypes
import LoopbackServer
import Testing
@testable import TestPeers

/// The HTTP hand-over over TLS and through a proxy, with real peers: stunnel for TLS in front of
/// a scripted HTTP/1.1 server, tinyproxy for the HTTP CONNECT tunnel.
extension AsyncCurlTests {
    @Suite struct HTTPHandOverPeerTests {
        /// Answers one request (200, "welcome"), then serves "OK <line>" for every line.
        static func sessionServer() throws -> LoopbackServer {
            try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                guard let request = peer.readRequest() else { return }
                let authorized = request.head.contains("Authorization: Bearer secret")
                peer.respond(status: authorized ? "200 OK" : "401 Unauthorized", body: Array("welcome".utf8))
                peer.serveLines()
            })
        }

        static let authorized = HTTPRequest.handOver(.get, [.authorization: "Bearer secret"])

        @Test(.requires(.openssl, .stunnel))
        func authenticateOverTLSThenSpeakALineProtocol() async throws {
            let certificates = try TestCertificates.shared()
            let origin = try Self.sessionServer()
            defer { origin.stop() }
            let tls = try await StunnelPeer(.init(certificates.server), forwardingTo: origin.port)
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            let multi = CurlMulti()
            let handOver = try await multi.connect(to: "https://localhost:\(tls.port)/session", after: Self.authorized, options: options)
            #expect(handOver.response.status == .ok)
            #expect(handOver.body == Array("welcome".utf8))
            #expect(handOver.connection.info.usesTLS)
            try await handOver.connection.send("SUBSCRIBE prices\n")
            #expect(try await handOver.connection.receive(through: [10], timeout: .seconds(10)) == Array("OK SUBSCRIBE prices\n".utf8))
            await handOver.connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.tinyproxy))
        func handOverThroughAnHTTPProxy() async throws {
            let origin = try Self.sessionServer()
            defer { origin.stop() }
            let proxy = try await TinyproxyPeer()
            var options = peerOptions()
            options.proxy = proxy.url
            let multi = CurlMulti()
            let handOver = try await multi.connect(to: "http://127.0.0.1:\(origin.port)/session", after: Self.authorized, options: options)
            // The proxy's own CONNECT reply is not part of the response.
            #expect(handOver.response.status == .ok)
            #expect(handOver.response.status.reasonPhrase == "OK")
            #expect(handOver.body == Array("welcome".utf8))
            #expect(handOver.connection.info.proxyConnectStatus == 200)
            try await handOver.connection.send("PING\n")
            #expect(try await handOver.connection.receive(through: [10], timeout: .seconds(10)) == Array("OK PING\n".utf8))
            await handOver.connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.openssl, .stunnel, .tinyproxy))
        func pipelinedRequestsOverTLSThroughAProxy() async throws {
            let certificates = try TestCertificates.shared()
            let origin = try LoopbackServer(mode: .handler { socket in
                var peer = ScriptedHTTPPeer(socket)
                while let request = peer.readRequest() {
                    peer.respond(body: Array("resource \(request.head.split(separator: " ")[1])".utf8))
                }
            })
            defer { origin.stop() }
            let tls = try await StunnelPeer(.init(certificates.server), forwardingTo: origin.port)
            let proxy = try await TinyproxyPeer()
            var options = peerOptions()
            options.proxy = proxy.url
            options.tls.caFile = certificates.caFile
            let handOver = try await CurlMulti().connect(to: "https://localhost:\(tls.port)/first", after: .handOver(), options: options)
            #expect(handOver.body == Array("resource /first".utf8))
            let connection = handOver.connection
            try await connection.send(["/x", "/yy"].map { "GET \($0) HTTP/1.1\r\nHost: localhost\r\n\r\n" }.joined())
            for path in ["/x", "/yy"] {
                let head = try #require(try await connection.receive(through: Array("\r\n\r\n".utf8), timeout: .seconds(10)))
                #expect(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK\r\n"))
                let body = "resource \(path)"
                #expect(try await connection.receive(exactly: body.utf8.count, timeout: .seconds(10)) == Array(body.utf8))
            }
            await connection.close()
        }
    }
}
