import AsyncCurl
import HTTPTypes
import Foundation
import LoopbackServer
import Testing
@testable import TestPeers

/// DNS-over-HTTPS against ``DoHPeer``, a real RFC 8484 responder on 127.0.0.1 that knows only
/// `svc.example.test`, which no other resolver can answer: a connection that reaches the
/// `svc.example.test` peer was resolved by the responder, which also logs every question.
extension AsyncCurlTests.ResolveTests {
    /// The responder, with the test CA's `server` certificate (for 127.0.0.1) unless told otherwise.
    static func responder(_ identity: TestCertificates.Identity? = nil) async throws -> DoHPeer {
        let certificates = try TestCertificates.shared()
        return try await DoHPeer(identity ?? certificates.server, records: [name: ["127.0.0.1"]])
    }

    @Test(.requires(.stunnel, .openssl, .python3))
    func dohResolvesThroughTheResponder() async throws {
        let peer = try await Self.servicePeer()
        defer { peer.stop() }
        let doh = try await Self.responder()
        let trace = TraceRecorder()
        var options = peer.options(trace: trace)
        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        let multi = CurlMulti()
        let info = try await connectAndEcho(multi, to: peer.url, options: options)
        #expect(info.usesTLS && info.remoteAddress == "127.0.0.1", "\(info)")
        // libcurl asks for A and, since ::1 works here, AAAA, each by POST.
        #expect(Set(doh.queries) == ["\(Self.name) A", "\(Self.name) AAAA"], "the responder saw: \(doh.queries)")
        #expect(doh.requests.allSatisfy { $0 == "POST /dns-query application/dns-message" }, "\(doh.requests)")
        #expect(trace.contains("DoH A: 127.0.0.1"), "\(trace.text)")

        // A second connect within the DNS cache's time asks nobody.
        try await connectAndEcho(multi, to: peer.url, options: options)
        #expect(doh.queries.count == 2, "\(doh.queries)")
        #expect(await multi.diagnostics == .idle)
    }

    /// The DoH server's certificate is verified with the connection's CA settings (libcurl's
    /// DoH requests copy `CURLOPT_CAINFO`, `CAINFO_BLOB` and `CAPATH`), so the responder's
    /// certificate from the proxy CA fails; `verifyPeer: false` skips that check only.
    @Test(.requires(.stunnel, .openssl, .python3))
    func dohServerCertificateIsVerified() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try await Self.servicePeer()
        defer { peer.stop() }
        let doh = try await Self.responder(certificates.proxy)
        let multi = CurlMulti()
        var options = peer.options()
        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        let error = await expectCurlError { _ = try await multi.connect(to: peer.url, options: options) }
        #expect(error?.code == .couldNotResolveHost, "\(String(describing: error))")
        #expect(error?.message.contains("dnsOverHTTPS '\(doh.url)'") == true, "\(String(describing: error))")
        print("ResolveTests: DoH server from an unknown CA: \(error.map(String.init(describing:)) ?? "no error")")
        #expect(await eventually { doh.failedHandshakes.contains { $0.contains("unknown ca") } }, "\(doh.daemon.logTail())")
        #expect(doh.queries.isEmpty, "nothing was asked over an unverified connection")

        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url, verifyPeer: false)
        let info = try await connectAndEcho(multi, to: peer.url, options: options)
        #expect(info.remoteAddress == "127.0.0.1")
        #expect(doh.queries.contains("\(Self.name) A"))
        // The peer itself is still verified: verifyPeer applies to the DoH server only.
        options.tls.caFile = certificates.proxyCAFile
        let peerUnverified = await expectCurlError { _ = try await multi.connect(to: peer.url, options: options) }
        #expect(peerUnverified?.code == .peerFailedVerification, "\(String(describing: peerUnverified))")
        #expect(await multi.diagnostics == .idle)
    }

    /// `verifyHost` checks the DoH URL's host against the certificate (one for `wrong.example`
    /// here); switching it off keeps the chain check.
    @Test(.requires(.stunnel, .openssl, .python3))
    func dohServerNameIsVerified() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try await Self.servicePeer()
        defer { peer.stop() }
        let doh = try await Self.responder(certificates.wrongHost)
        let multi = CurlMulti()
        var options = peer.options()
        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        let error = await expectCurlError { _ = try await multi.connect(to: peer.url, options: options) }
        #expect(error?.code == .couldNotResolveHost, "\(String(describing: error))")

        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url, verifyHost: false)
        let info = try await connectAndEcho(multi, to: peer.url, options: options)
        #expect(info.remoteAddress == "127.0.0.1")
        #expect(await multi.diagnostics == .idle)
    }

    /// The CA given as bytes, or as a hashed directory, reaches the DoH request too.
    @Test(.requires(.stunnel, .openssl, .python3))
    func dohUsesTheConnectionsCAInEveryForm() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try await Self.servicePeer()
        defer { peer.stop() }
        let doh = try await Self.responder()
        let multi = CurlMulti()
        var inMemory = peerOptions()
        inMemory.tls.caCertificates = Array(try Data(contentsOf: URL(fileURLWithPath: certificates.caFile)))
        inMemory.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        inMemory.dnsCacheTimeout = .zero
        try await connectAndEcho(multi, to: peer.url, options: inMemory)
        var directory = peerOptions()
        directory.tls.caDirectory = certificates.caDirectory
        directory.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        directory.dnsCacheTimeout = .zero
        try await connectAndEcho(multi, to: peer.url, options: directory)
        #expect(doh.queries.filter { $0 == "\(Self.name) A" }.count == 2, "\(doh.queries)")
        #expect(await multi.diagnostics == .idle)
    }

    /// libcurl keeps its DoH requests' HTTPS connections in the connection cache of the
    /// connection that needed them (they copy its `CURLOPT_SHARE`): while another connection
    /// keeps that cache alive they stay open, unwatched, and are reused by the next lookups;
    /// when the cache's last connection closes, they close with it. `dnsCacheTimeout = .zero`
    /// makes every connect ask again.
    @Test(.requires(.stunnel, .openssl, .python3))
    func dohConnectionsCloseWithTheirConnectionCache() async throws {
        let peer = try await Self.servicePeer()
        defer { peer.stop() }
        let doh = try await Self.responder()
        let other = try LoopbackServer(mode: .echo)
        defer { other.stop() }
        var options = peer.options()
        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        options.dnsCacheTimeout = .zero
        let multi = CurlMulti()
        // Warm up: the engine's own descriptors, and the process's one /dev/null for DoH.
        try await connectAndEcho(multi, to: peer.url, options: options)
        try await waitUntil("the warm-up to close") { peer.echo.openClients == 0 }
        let baseline = openFileDescriptorCount()
        let connectionsBefore = doh.connectionCount

        // A plain connection gives its easy handle, and so its place in the cache, back once
        // open; one with DNS-over-HTTPS set keeps it (its IP literal asks the DoH server nothing).
        var keeperOptions = ConnectionOptions()
        keeperOptions.dnsOverHTTPS = options.dnsOverHTTPS
        let keeper = try await multi.connect(to: other.url, options: keeperOptions)
        try await waitUntil("the echo server to accept") { other.openClients == 1 }
        for _ in 0..<3 {
            try await connectAndEcho(multi, to: peer.url, options: options)
        }
        try await waitUntil("stunnel's connections to the echo server to close") { peer.echo.openClients == 0 }
        let held = openFileDescriptorCount() - baseline
        // The keeper and its accepted socket, plus the cached DoH connections (one per A/AAAA).
        #expect(held == 2 + 2, "descriptors over the baseline while the cache lives: \(held)")
        #expect(await multi.diagnostics.watchedSockets == 1, "cached DoH connections are not watched")
        #expect(doh.queries.count >= 8, "every connect asked again: \(doh.queries)")
        #expect(doh.connectionCount - connectionsBefore == 2, "the three lookups reused two DoH connections")

        await keeper.close()
        try await waitUntil("every descriptor to be back to the baseline") { openFileDescriptorCount() <= baseline }
        #expect(await multi.diagnostics == .idle)
    }

    /// With a proxy, DoH resolves the proxy's name; the peer's name goes to the proxy as it is.
    @Test(.requires(.tinyproxy, .openssl, .python3))
    func dohResolvesTheProxysName() async throws {
        let certificates = try TestCertificates.shared()
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let proxy = try await TinyproxyPeer()
        let doh = try await DoHPeer(certificates.server, records: ["proxy.example.test": ["127.0.0.1"]])
        var options = peerOptions()
        options.tls.caFile = certificates.caFile
        options.proxy = "http://proxy.example.test:\(proxy.port)"
        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        let multi = CurlMulti()
        let info = try await connectAndEcho(multi, to: "tcp://localhost:\(echo.port)", options: options)
        #expect(info.proxyConnectStatus == 200)
        #expect(doh.queries.contains("proxy.example.test A"), "\(doh.queries)")
        #expect(!doh.queries.contains { $0.hasPrefix("localhost") }, "\(doh.queries)")
        #expect(await eventually { proxy.requests.contains("CONNECT localhost:\(echo.port) HTTP/1.1") }, "\(proxy.requests)")
        #expect(await multi.diagnostics == .idle)
    }

    @Test(.requires(.openssl, .python3))
    func dohUnknownNameIsCouldNotResolveHost() async throws {
        let doh = try await Self.responder()
        let multi = CurlMulti()
        var options = peerOptions()
        options.tls.caFile = try TestCertificates.shared().caFile
        options.dnsOverHTTPS = DNSOverHTTPS(url: doh.url)
        let error = await expectCurlError { _ = try await multi.connect(to: "tcp://nowhere.example.test:80", options: options) }
        #expect(error?.code == .couldNotResolveHost, "\(String(describing: error))")
        #expect(error?.message.contains("dnsOverHTTPS") == true, "\(String(describing: error))")
        #expect(doh.queries.contains("nowhere.example.test A"), "\(doh.queries)")
        #expect(await multi.diagnostics == .idle)
    }

    /// libcurl's DoH always POSTs; the responder also answers RFC 8484's GET form
    /// (`?dns=<base64url>`), checked here with an HTTP hand-over.
    @Test(.requires(.openssl, .python3))
    func responderAnswersTheGETFormToo() async throws {
        let doh = try await Self.responder()
        var query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in Self.name.split(separator: ".") {
            query.append(UInt8(label.utf8.count))
            query += Array(label.utf8)
        }
        query += [0, 0, 1, 0, 1]  // end of name, type A, class IN
        let encoded = Data(query).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        var options = peerOptions()
        options.tls.caFile = try TestCertificates.shared().caFile
        let multi = CurlMulti()
        let handOver = try await multi.connect(to: "\(doh.url)?dns=\(encoded)", after: .handOver(), options: options)
        await handOver.connection.close()
        let answer = handOver.body
        #expect(handOver.response.status == .ok)
        #expect(handOver.response.headerFields[.contentType] == "application/dns-message")
        #expect(Array(answer.prefix(8)) == [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1], "id, NOERROR, one question, one answer: \(answer)")
        #expect(Array(answer.suffix(4)) == [127, 0, 0, 1], "\(answer)")
        #expect(doh.requests.contains("GET /dns-query"), "\(doh.requests)")
        #expect(await multi.diagnostics == .idle)
    }

    /// Checked before any I/O: neither the "DoH server" nor the peer sees a connection.
    @Test func dohURLMustBeHTTPS() async throws {
        let plain = try LoopbackServer(mode: .echo)
        let target = try LoopbackServer(mode: .echo)
        defer {
            plain.stop()
            target.stop()
        }
        let multi = CurlMulti()
        for url in ["http://127.0.0.1:\(plain.port)/dns-query", "127.0.0.1:\(plain.port)", "https://"] {
            var options = peerOptions()
            options.dnsOverHTTPS = DNSOverHTTPS(url: url)
            let error = await expectCurlError { _ = try await multi.connect(to: target.url, options: options) }
            #expect(error?.code == .urlMalformat, "\(url): \(String(describing: error))")
            #expect(error?.message.contains("dnsOverHTTPS") == true, "\(String(describing: error))")
        }
        #expect(plain.acceptedCount == 0 && target.acceptedCount == 0)
        #expect(await multi.diagnostics == .idle)
    }
}
