import AsyncCurl
import AsyncCurlWebSocket
import Testing
@testable import TestPeers

/// `ws://` and `wss://` through every kind of proxy libcurl speaks, with authentication, each
/// against the real Python `websockets` server behind a real proxy: compressed messages echo
/// through the tunnel, and the connection's facts show it went through the proxy.
extension AsyncCurlWebSocketTests {
    @Suite(.requires(.pythonWebsockets)) struct WebSocketProxyTests {
        /// Opens a compressed WebSocket, echoes two messages, closes, and returns the connection's facts.
        static func echoThrough(_ url: String, options: ConnectionOptions) async throws -> ConnectionInfo {
            var configuration = WebSocketConfiguration()
            configuration.compression = .permessageDeflate
            let multi = CurlMulti()
            let socket = try await multi.webSocket(to: url, options: options, configuration: configuration)
            #expect(socket.extensions.first?.hasPrefix("permessage-deflate") == true)
            let sent: [WebSocket.Message] = [.text(String(repeating: "through the proxy ", count: 2000)), .binary(Array(0...255))]
            for message in sent { try await socket.send(message) }
            let received = try await withDeadline(.seconds(20), "the echoes") {
                var received: [WebSocket.Message] = []
                for try await message in socket.messages {
                    received.append(message)
                    if received.count == sent.count { break }
                }
                return received
            }
            #expect(received == sent)
            try await socket.close()
            #expect(socket.closeCode == .normalClosure)
            #expect(await multi.diagnostics.isIdle)
            return socket.connectionInfo
        }

        static var testCAOptions: ConnectionOptions {
            get throws {
                var options = ConnectionOptions()
                options.connectTimeout = .seconds(20)
                options.tls.caFile = try TestCertificates.shared().caFile
                return options
            }
        }

        @Test(.requires(.tinyproxy))
        func httpConnectProxyWithBasicAuthentication() async throws {
            let server = try await WebSocketsServer()
            let proxy = try await TinyproxyPeer(basicAuth: (user: "ws", password: "tunnel-secret"))
            var options = try Self.testCAOptions
            options.proxy = proxy.url
            options.proxyUsername = "ws"
            options.proxyPassword = "tunnel-secret"
            let info = try await Self.echoThrough(server.url(), options: options)
            #expect(info.remotePort == proxy.port)
            #expect(info.proxyConnectStatus == 200)
            // The wrong password is the proxy's refusal, not a WebSocket error.
            options.proxyPassword = "wrong"
            await #expect(throws: CurlError.self) { _ = try await CurlMulti().webSocket(to: server.url(), options: options) }
        }

        @Test(.requires(.squid))
        func wssThroughSquidWithDigest() async throws {
            let server = try await WebSocketsServer(tls: true)
            let squid = try await SquidPeer(schemes: [.digest])
            var options = try Self.testCAOptions
            options.proxy = squid.url
            options.proxyUsername = squid.user
            options.proxyPassword = squid.password
            let info = try await Self.echoThrough(server.url(secure: true, host: "localhost"), options: options)
            #expect(info.remotePort == squid.port)
            #expect(info.proxyAuthMethod == .digest)
            #expect(info.usesTLS)
        }

        @Test(.requires(.tinyproxy, .stunnel))
        func wssThroughAnHTTPSProxy() async throws {
            let server = try await WebSocketsServer(tls: true)
            let certificates = try TestCertificates.shared()
            let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
            var options = try Self.testCAOptions
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.proxyCAFile
            let info = try await Self.echoThrough(server.url(secure: true, host: "localhost"), options: options)
            #expect(info.remotePort == proxy.port)
            #expect(info.usesTLS)
        }

        @Test(.requires(.perlSocks))
        func throughSOCKS4a() async throws {
            let server = try await WebSocketsServer()
            let socks = try await Socks4aPeer()
            var options = try Self.testCAOptions
            options.proxy = "socks4a://\(socks.address)"
            let info = try await Self.echoThrough(server.url(host: "localhost"), options: options)
            #expect(info.remotePort == socks.port)
        }

        @Test(.requires(.microsocks))
        func wssThroughSOCKS5hWithAuthentication() async throws {
            let server = try await WebSocketsServer(tls: true)
            let socks = try await MicrosocksPeer(username: "sockuser", password: "sock-secret")
            var options = try Self.testCAOptions
            options.proxy = "socks5h://\(socks.address)"
            options.proxyUsername = "sockuser"
            options.proxyPassword = "sock-secret"
            let info = try await Self.echoThrough(server.url(secure: true, host: "localhost"), options: options)
            #expect(info.remotePort == socks.port)
            #expect(info.usesTLS)
        }
    }
}
