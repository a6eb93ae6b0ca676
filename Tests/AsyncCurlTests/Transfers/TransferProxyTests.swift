import AsyncCurl
import Testing
@testable import TestPeers

/// Transfers through real proxies to a real nginx: tinyproxy forwarding plain HTTP, squid with
/// Digest proxy authentication (forwarding, and tunnelling HTTPS), microsocks as a SOCKS5 proxy
/// that resolves names (`socks5h`), and an HTTPS proxy (stunnel in front of tinyproxy). Each
/// proves the right bytes arrive and that the proxy saw the request.
extension AsyncCurlTests {
    @Suite struct TransferProxyTests {
        static let oneMiB = NginxHTTPServer.bytes(count: 1 << 20)

        @Test(.requires(.nginx, .openssl, .tinyproxy))
        func forwardedAndTunnelledThroughTinyproxy() async throws {
            let server = try await NginxHTTPServer()
            let proxy = try await TinyproxyPeer()
            var options = ResponseSide.options(caFile: server.caFile)
            options.connection.proxy = proxy.url
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: ResponseSide.options()) { multi in
                let forwarded = try await ResponseSide.get(multi, server.url("/bytes/1m"), options: options)
                #expect(forwarded.status == 200)
                #expect(forwarded.body == Self.oneMiB)
                #expect(forwarded.facts.remotePort == proxy.port, "\(forwarded.facts)")

                let tunnelled = try await ResponseSide.get(multi, server.url("/bytes/1m", scheme: .https), options: options)
                #expect(tunnelled.status == 200)
                #expect(tunnelled.body == Self.oneMiB)
                #expect(tunnelled.facts.httpVersion == "2")

                var tunnelPlain = options
                tunnelPlain.proxyTunnel = true
                let plainTunnel = try await ResponseSide.get(multi, server.url("/hello.txt?tunnel"), options: tunnelPlain)
                #expect(plainTunnel.body == NginxHTTPServer.helloText)
            }
            #expect(await eventually {
                proxy.requests.contains("GET http://127.0.0.1:\(server.httpPort)/bytes/1m HTTP/1.1")
                    && proxy.requests.contains("CONNECT 127.0.0.1:\(server.httpsPort) HTTP/1.1")
                    && proxy.requests.contains("CONNECT 127.0.0.1:\(server.httpPort) HTTP/1.1")
            }, "tinyproxy saw: \(proxy.requests)")
        }

        /// squid demands proxy authentication and offers Digest: `.digest` answers at once, `.any`
        /// after squid's 407 (which is not the response). Plain HTTP is forwarded by squid;
        /// HTTPS goes through a CONNECT tunnel.
        @Test(.requires(.nginx, .openssl, .squid))
        func throughSquidWithDigestProxyAuthentication() async throws {
            let server = try await NginxHTTPServer()
            let squid = try await SquidPeer(schemes: [.digest])
            let before = server.accessLog.count
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: ResponseSide.options()) { multi in
                for methods in [AuthMethods.digest, .any] {
                    var options = ResponseSide.options(caFile: server.caFile)
                    options.connection.proxy = squid.url
                    options.connection.proxyUsername = squid.user
                    options.connection.proxyPassword = squid.password
                    options.connection.proxyAuthMethods = methods
                    for scheme in [NginxHTTPServer.Scheme.https, .http] {
                        let fetched = try await ResponseSide.get(multi, server.url("/bytes/1m?\(methods)", scheme: scheme), options: options)
                        #expect(fetched.status == 200, "\(methods) \(scheme): \(fetched.text.prefix(300))")
                        #expect(fetched.body == Self.oneMiB, "\(methods) \(scheme)")
                        #expect(fetched.facts.remotePort == squid.port)
                    }
                }
                // Wrong proxy password, plain HTTP: squid's 407 is the response.
                var wrong = ResponseSide.options()
                wrong.connection.proxy = squid.url
                wrong.connection.proxyUsername = squid.user
                wrong.connection.proxyPassword = "wrong"
                let refused = try await ResponseSide.get(multi, server.url("/hello.txt?wrong"), options: wrong)
                #expect(refused.status == 407)
                #expect(refused.head.headerFields[.proxyAuthenticate]?.hasPrefix("Digest") == true, "\(refused.head)")
            }
            let log = try await server.waitForAccessLog(before + 5).dropFirst(before + 1)
            #expect(log.map(\.status) == [200, 200, 200, 200], "\(log)")
            #expect(!log.contains { $0.uri.hasSuffix("?wrong") })
            // squid logs a tunnel when it closes: the engine's release closed them.
            #expect(await eventually { !squid.tunnels(for: squid.user).isEmpty }, "\(squid.accessLog)")
            #expect(squid.accessLog.contains { $0.method == "GET" && $0.result.hasSuffix("/200") && $0.user == squid.user },
                    "\(squid.accessLog)")
        }

        /// microsocks resolves the host name itself (`socks5h`).
        @Test(.requires(.nginx, .openssl, .microsocks))
        func throughMicrosocksResolvingOnTheProxy() async throws {
            let server = try await NginxHTTPServer()
            let socks = try await MicrosocksPeer()
            var options = ResponseSide.options(caFile: server.caFile)
            options.connection.proxy = "socks5h://\(socks.address)"
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: ResponseSide.options()) { multi in
                for scheme in [NginxHTTPServer.Scheme.http, .https] {
                    let fetched = try await ResponseSide.get(multi, server.url("/bytes/1m", scheme: scheme), options: options)
                    #expect(fetched.status == 200)
                    #expect(fetched.body == Self.oneMiB, "\(scheme)")
                    #expect(fetched.facts.remotePort == socks.port, "\(fetched.facts)")
                }
            }
        }

        /// TLS to the proxy (its certificate from a second CA), CONNECT, then TLS to nginx inside it.
        @Test(.requires(.nginx, .openssl, .tinyproxy, .stunnel))
        func throughAnHTTPSProxy() async throws {
            let server = try await NginxHTTPServer()
            let certificates = try TestCertificates.shared()
            let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
            var options = ResponseSide.options(caFile: server.caFile)
            options.connection.proxy = proxy.url
            options.connection.proxyTLS.caFile = certificates.proxyCAFile
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: ResponseSide.options()) { multi in
                for scheme in [NginxHTTPServer.Scheme.https, .http] {
                    let fetched = try await ResponseSide.get(multi, server.url("/bytes/1m", scheme: scheme), options: options)
                    #expect(fetched.status == 200, "\(scheme)")
                    #expect(fetched.body == Self.oneMiB, "\(scheme)")
                    #expect(fetched.facts.remotePort == proxy.port, "\(fetched.facts)")
                }
                // The proxy's CA is not the origin's: with only the origin's, the proxy fails.
                var wrongCA = options
                wrongCA.connection.proxyTLS.caFile = server.caFile
                let error = await expectCurlError { _ = try await ResponseSide.get(multi, server.url("/hello.txt", scheme: .https), options: wrongCA) }
                #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
            }
            #expect(await eventually {
                proxy.tinyproxy.requests.contains("CONNECT 127.0.0.1:\(server.httpsPort) HTTP/1.1")
                    && proxy.tinyproxy.requests.contains("GET http://127.0.0.1:\(server.httpPort)/bytes/1m HTTP/1.1")
            }, "tinyproxy saw: \(proxy.tinyproxy.requests)")
        }
    }
}
