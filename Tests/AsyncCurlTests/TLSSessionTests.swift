import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// TLS session resumption across the connections of one engine: libcurl caches sessions in the
/// engine's connection caches (`CURL_LOCK_DATA_SSL_SESSION`), and the engine keeps the last one
/// that held TLS sessions after its connections closed. Each resumption is seen from both ends:
/// OpenSSL's `SSL_session_reused` on the client (`ConnectionInfo.tlsSessionResumed`) and
/// stunnel's log ("previous session reused") on the server.
extension AsyncCurlTests {
    @Suite struct TLSSessionTests {
        /// connect, close, connect again: the first handshake is full, the later ones resume.
        @Test(.requires(.openssl, .stunnel), arguments: ["TLSv1.2", "TLSv1.3"])
        func reconnectResumesTheSession(version: String) async throws {
            let tls = try await TLSEcho { sessionPeer($0, version: version) }
            let options = tls.options()
            let multi = CurlMulti()

            let first = try await connectAndEcho(multi, to: tls.url, options: options)
            #expect(first.tlsVersion == version)
            #expect(first.tlsSessionResumed == false, "\(first)")
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(retainedConnectionCaches: 1),
                    "the emptied connection cache is kept for its TLS session")
            for round in 1...2 {
                let again = try await connectAndEcho(multi, to: tls.url, options: options)
                #expect(again.tlsVersion == version)
                #expect(again.tlsSessionResumed == true, "round \(round): \(again)")
            }
            #expect(await eventually { tls.stunnel.resumedSessions == 2 }, "stunnel resumed 2 sessions:\n\(tls.stunnel.daemon.logTail())")
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(retainedConnectionCaches: 1))
        }

        /// TLS 1.3 tickets arrive after the handshake, and OpenSSL only takes them in when it
        /// reads. The server sends them before any data of its own, so once a connection has
        /// received something, its ticket is stored and the next connect resumes. (A connection
        /// closed without receiving relies on the two reads libcurl and AsyncCurl make anyway:
        /// the one when AsyncCurl attaches a connection and the one before libcurl's
        /// close_notify in `ossl_close`; when measured, the ticket had arrived by then in 6 of
        /// 15 runs, so such a connection usually leaves no session to resume.)
        @Test(.requires(.openssl, .stunnel))
        func tls13TicketIsStoredOnceSomethingWasReceived() async throws {
            let certificates = try TestCertificates.shared()
            let greeting = Array("+OK greeting\r\n".utf8)
            let server = try LoopbackServer(mode: .source(greeting))
            defer { server.stop() }
            let tls = try await StunnelPeer(sessionPeer(certificates, version: "TLSv1.3"), forwardingTo: server.port)
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            let multi = CurlMulti()
            for round in 0..<3 {
                let connection = try await multi.connect(to: tls.url, options: options)
                #expect(connection.info.tlsSessionResumed == (round > 0), "round \(round): \(connection.info)")
                let received = try await connection.receive(exactly: greeting.count)
                #expect(received == greeting)
                await connection.close()
            }
            #expect(await eventually { tls.resumedSessions == 2 }, "stunnel resumed 2 sessions:\n\(tls.daemon.logTail())")
            #expect(await multi.diagnostics == .idle)
        }

        /// Concurrent connections in one connection cache share its sessions too. (The first
        /// echoes before the second connects: a TLS 1.2 server caches a session when its own side
        /// of the handshake is done, which can be after the client's; stunnel then declines a
        /// session offered a moment too early, 2 times in 8 when measured.)
        @Test(.requires(.openssl, .stunnel))
        func openConnectionsShareTheSession() async throws {
            let tls = try await TLSEcho { sessionPeer($0, version: "TLSv1.2") }
            let options = tls.options()
            let multi = CurlMulti()
            let first = try await multi.connect(to: tls.url, options: options)
            try await expectEcho(first)
            let second = try await multi.connect(to: tls.url, options: options)
            #expect(first.info.tlsSessionResumed == false)
            #expect(second.info.tlsSessionResumed == true, "\(second.info)")
            try await expectEcho(second)
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(open: 2, watchedSockets: 2, connectionCaches: 1))
            await first.close()
            await second.close()
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(retainedConnectionCaches: 1))
        }

        /// `reusesTLSSessions = false`: every handshake is full, and nothing is kept.
        @Test(.requires(.openssl, .stunnel))
        func sessionReuseCanBeTurnedOff() async throws {
            let tls = try await TLSEcho { sessionPeer($0, version: "TLSv1.3") }
            var options = tls.options()
            options.reusesTLSSessions = false
            let multi = CurlMulti()
            for _ in 0..<2 {
                let info = try await connectAndEcho(multi, to: tls.url, options: options)
                #expect(info.tlsSessionResumed == false, "\(info)")
            }
            #expect(tls.stunnel.resumedSessions == 0)
            #expect(await multi.diagnostics == CurlMulti.Diagnostics(), "no cache kept")
        }

        /// libcurl resumes only with the same TLS configuration: another CA source (bytes
        /// instead of the file) is a full handshake, then resumes itself.
        @Test(.requires(.openssl, .stunnel))
        func otherTLSOptionsDoNotResume() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let tls = try await StunnelPeer(sessionPeer(certificates, version: "TLSv1.3"), forwardingTo: echo.port)
            var byFile = peerOptions()
            byFile.tls.caFile = certificates.caFile
            var byBytes = peerOptions()
            byBytes.tls.caCertificates = try fileBytes(certificates.caFile)
            let multi = CurlMulti()
            #expect(try await connectAndEcho(multi, to: tls.url, options: byFile).tlsSessionResumed == false)
            #expect(try await connectAndEcho(multi, to: tls.url, options: byBytes).tlsSessionResumed == false)
            #expect(try await connectAndEcho(multi, to: tls.url, options: byBytes).tlsSessionResumed == true)
            #expect(try await connectAndEcho(multi, to: tls.url, options: byFile).tlsSessionResumed == true)
            #expect(await multi.diagnostics == .idle)
        }

        /// A plain connection that takes the kept cache in between keeps it (and its sessions)
        /// when it closes.
        @Test(.requires(.openssl, .stunnel))
        func plainConnectionInBetweenKeepsTheSessions() async throws {
            let tls = try await TLSEcho { sessionPeer($0, version: "TLSv1.3") }
            let options = tls.options()
            let multi = CurlMulti()
            #expect(try await connectAndEcho(multi, to: tls.url, options: options).tlsSessionResumed == false)
            try await connectAndEcho(multi, to: tls.echo.url, options: peerOptions())
            #expect(await multi.diagnostics.retainedConnectionCaches == 1)
            #expect(try await connectAndEcho(multi, to: tls.url, options: options).tlsSessionResumed == true)
            #expect(await multi.diagnostics == .idle)
        }

        /// Plain TCP leaves no cache behind: all counts zero, not only `isIdle`.
        @Test func plainConnectionsKeepNoCache() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let multi = CurlMulti()
            try await connectAndEcho(multi, to: echo.url, options: peerOptions())
            #expect(await multi.diagnostics == CurlMulti.Diagnostics())
        }

        /// `shutdown()` frees the kept cache.
        @Test(.requires(.openssl, .stunnel))
        func shutdownFreesTheKeptCache() async throws {
            let tls = try await TLSEcho()
            let options = tls.options()
            let multi = CurlMulti()
            try await connectAndEcho(multi, to: tls.url, options: options)
            #expect(await multi.diagnostics.retainedConnectionCaches == 1)
            await multi.shutdown()
            #expect(await multi.diagnostics == CurlMulti.Diagnostics())
        }

        /// The HTTPS proxy's TLS session is resumed too (one switch, `reusesTLSSessions`,
        /// covers both), and so is the peer's inside the tunnel.
        @Test(.requires(.openssl, .stunnel, .tinyproxy))
        func httpsProxySessionIsResumed() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let origin = try await StunnelPeer(sessionPeer(certificates, version: "TLSv1.3"), forwardingTo: echo.port)
            var proxyConfiguration = StunnelPeer.Configuration(certificates.proxy)
            proxyConfiguration.debugLevel = 6
            let proxy = try await HTTPSProxyPeer(proxyConfiguration)
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.proxyCAFile
            let multi = CurlMulti()
            #expect(try await connectAndEcho(multi, to: origin.url, options: options).tlsSessionResumed == false)
            #expect(try await connectAndEcho(multi, to: origin.url, options: options).tlsSessionResumed == true)
            #expect(await eventually { proxy.stunnel.resumedSessions == 1 }, "the proxy resumed:\n\(proxy.stunnel.daemon.logTail())")
            #expect(await eventually { origin.resumedSessions == 1 }, "the origin resumed:\n\(origin.daemon.logTail())")
            #expect(await multi.diagnostics == .idle)
        }
    }
}

/// A stunnel configuration of one TLS version that logs each resumed session.
private func sessionPeer(_ certificates: TestCertificates, version: String) -> StunnelPeer.Configuration {
    var configuration = StunnelPeer.Configuration(certificates.server, minimumVersion: version, maximumVersion: version)
    configuration.debugLevel = 6
    return configuration
}
