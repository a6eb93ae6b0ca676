import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// Revocation lists, curves, OCSP stapling, and the HTTPS proxy's TLS variants (libcurl 7.88.1
/// has `CURLOPT_PROXY_CRLFILE`, `PROXY_CAINFO_BLOB`, `PROXY_SSLCERT_BLOB`, `PROXY_SSLKEY_BLOB`,
/// `PROXY_SSLCERTTYPE`, `PROXY_SSLKEYTYPE`, but no proxy variant of `SSL_EC_CURVES` or
/// `SSL_VERIFYSTATUS`: its url.c never copies those into the proxy's TLS configuration).
extension AsyncCurlTests.TLSDetailTests {
    // MARK: Revocation lists

    @Test(.requires(.openssl, .stunnel))
    func crlFileRejectsTheRevokedCertificate() async throws {
        let certificates = try TestCertificates.shared()
        let forms = try TestCertificateForms.shared()
        let tls = try await TLSEcho { .init($0.server) }
        let multi = CurlMulti()
        var options = peerOptions()
        options.tls.caFile = certificates.caFile

        options.tls.crlFile = forms.crlRevokingNothing
        try await connectAndEcho(multi, to: tls.url, options: options)

        options.tls.crlFile = forms.crlRevokingServer
        let revoked = await expectCurlError { _ = try await multi.connect(to: tls.url, options: options) }
        #expect(revoked?.code == .peerFailedVerification, "\(String(describing: revoked))")
        #expect(revoked?.message.contains("certificate revoked") == true, "\(String(describing: revoked))")

        options.tls.crlFile = "/nonexistent/revocations.pem"
        let missing = await expectCurlError { _ = try await multi.connect(to: tls.url, options: options) }
        #expect(missing?.code == .sslCRLBadFile, "\(String(describing: missing))")
        #expect(missing?.message.contains("error loading CRL file") == true, "\(String(describing: missing))")
        #expect(await multi.diagnostics == .idle)
    }

    // MARK: Curves

    @Test(.requires(.openssl, .stunnel))
    func curvesAgainstAP256OnlyServer() async throws {
        let certificates = try TestCertificates.shared()
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        var configuration = StunnelPeer.Configuration(certificates.server)
        configuration.serviceOptions = ["curves = P-256"]
        let tls = try await StunnelPeer(configuration, forwardingTo: echo.port)
        let multi = CurlMulti()
        var options = peerOptions()
        options.tls.caFile = certificates.caFile

        options.tls.curves = "P-256"
        try await connectAndEcho(multi, to: tls.url, options: options)
        options.tls.curves = "X25519:P-256"
        try await connectAndEcho(multi, to: tls.url, options: options)

        // No curve in common: the server ends the handshake.
        options.tls.curves = "P-384"
        let none = await expectCurlError { _ = try await multi.connect(to: tls.url, options: options) }
        #expect(none?.code == .sslConnectError, "\(String(describing: none))")
        #expect(none?.message.contains("handshake failure") == true, "\(String(describing: none))")

        // A name OpenSSL does not know: refused before any byte is sent.
        options.tls.curves = "no-such-curve"
        let unknown = await expectCurlError { _ = try await multi.connect(to: tls.url, options: options) }
        #expect(unknown?.code == .sslCipher, "\(String(describing: unknown))")
        #expect(unknown?.message.contains("failed setting curves list: 'no-such-curve'") == true, "\(String(describing: unknown))")
        #expect(await multi.diagnostics == .idle)
    }

    // MARK: OCSP stapling

    /// `verifyStatus` demands a stapled response: a server that staples none fails with 91.
    @Test(.requires(.openssl))
    func verifyStatusFailsWithoutAStapledResponse() async throws {
        let certificates = try TestCertificates.shared()
        let server = try await OpenSSLServer(certificates.server, chain: certificates.caFile)
        let multi = CurlMulti()
        var options = peerOptions()
        options.tls.caFile = certificates.caFile
        // Without verifyStatus the same server is fine.
        try await reversedEcho(multi, server, options)

        options.tls.verifyStatus = true
        let error = await expectCurlError { _ = try await multi.connect(to: server.url, options: options) }
        #expect(error?.code == .sslInvalidCertificateStatus, "\(String(describing: error))")
        #expect(error?.message.contains("No OCSP response received") == true, "\(String(describing: error))")
        #expect(await multi.diagnostics == .idle)
    }

    /// A stapled "good" response is accepted, each time (a resumed handshake would carry no
    /// response, so verifyStatus connections do not resume); a "revoked" one is refused.
    @Test(.requires(.openssl))
    func verifyStatusChecksTheStapledResponse() async throws {
        let certificates = try TestCertificates.shared()
        let forms = try TestCertificateForms.shared()
        let good = try await OpenSSLServer(certificates.server, chain: certificates.caFile, ocspResponse: forms.ocspGood)
        let revoked = try await OpenSSLServer(certificates.server, chain: certificates.caFile, ocspResponse: forms.ocspRevoked)
        let multi = CurlMulti()
        var options = peerOptions()
        options.tls.caFile = certificates.caFile
        options.tls.verifyStatus = true
        for round in 0..<3 {
            let trace = TraceRecorder()
            options.trace = trace.handler
            let info = try await reversedEcho(multi, good, options)
            #expect(trace.contains("SSL certificate status: good"), "round \(round):\n\(trace.text)")
            #expect(info.tlsSessionResumed == false, "round \(round): \(info)")
        }
        options.trace = nil
        let error = await expectCurlError { _ = try await multi.connect(to: revoked.url, options: options) }
        #expect(error?.code == .sslInvalidCertificateStatus, "\(String(describing: error))")
        #expect(error?.message.contains("SSL certificate revocation reason: keyCompromise") == true, "\(String(describing: error))")
        #expect(await multi.diagnostics == CurlMulti.Diagnostics(), "no TLS session cache kept for verifyStatus connections")
    }

    // MARK: The HTTPS proxy's variants

    /// The proxy's CA and client identity from memory, to a proxy that requires a client
    /// certificate; the peer's TLS settings stay separate.
    @Test(.requires(.openssl, .stunnel, .tinyproxy))
    func httpsProxyWithCAAndClientCertificateFromMemory() async throws {
        let certificates = try TestCertificates.shared()
        let forms = try TestCertificateForms.shared()
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let proxy = try await HTTPSProxyPeer(.init(certificates.proxy, clientCAFile: certificates.caFile))
        let multi = CurlMulti()
        var options = peerOptions()
        options.proxy = proxy.url
        options.proxyTLS.caFile = certificates.caFile  // did not sign the proxy: the bytes must win
        options.proxyTLS.caCertificates = try fileBytes(certificates.proxyCAFile)
        options.proxyTLS.clientCertificate = try fileBytes(certificates.client.certificate)
        options.proxyTLS.clientKey = try fileBytes(certificates.client.key)
        let info = try await connectAndEcho(multi, to: echo.url, options: options)
        #expect(info.remotePort == proxy.stunnel.port, "through the proxy: \(info)")

        // PKCS#12 from memory, to the proxy.
        options.proxyTLS.clientKey = nil
        options.proxyTLS.clientCertificate = try fileBytes(forms.clientPKCS12)
        options.proxyTLS.clientCertificateFormat = .pkcs12
        options.proxyTLS.clientKeyPassword = forms.pkcs12Password
        try await connectAndEcho(multi, to: echo.url, options: options)

        // Without a client certificate the proxy refuses (TLS 1.3: at connect, or at the
        // first receive, as TLSTests.missingClientCertificateTLS13 explains; TLS 1.2 here).
        options.proxyTLS.clientCertificate = nil
        options.proxyTLS.maximumVersion = .tls1_2
        let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
        #expect(error?.code == .sslConnectError || error?.code == .sslClientCertificate, "\(String(describing: error))")
        #expect(await multi.diagnostics == .idle)
    }

    @Test(.requires(.openssl, .stunnel, .tinyproxy))
    func httpsProxyCRLFile() async throws {
        let certificates = try TestCertificates.shared()
        let forms = try TestCertificateForms.shared()
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
        let multi = CurlMulti()
        var options = peerOptions()
        options.proxy = proxy.url
        options.proxyTLS.caFile = certificates.proxyCAFile
        options.proxyTLS.crlFile = forms.crlRevokingNothingFromProxyCA
        // The peer's CRL (revoking the server, which is not involved) is not the proxy's.
        options.tls.crlFile = forms.crlRevokingServer
        try await connectAndEcho(multi, to: echo.url, options: options)

        options.proxyTLS.crlFile = forms.crlRevokingProxy
        let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
        #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
        #expect(error?.message.contains("certificate revoked") == true, "\(String(describing: error))")
        #expect(await multi.diagnostics == .idle)
    }

    /// libcurl 7.88.1 has no proxy variant of curves and OCSP stapling: asking for either is a
    /// typed error before anything is set up.
    @Test func proxyCurvesAndVerifyStatusAreNotBuiltIn() async throws {
        let multi = CurlMulti()
        var options = peerOptions()
        options.proxy = "https://localhost:9"
        options.proxyTLS.curves = "P-256"
        let curves = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:9", options: options) }
        #expect(curves?.code == .notBuiltIn, "\(String(describing: curves))")
        #expect(curves?.message.contains("proxyTLS.curves") == true, "\(String(describing: curves))")
        options.proxyTLS.curves = nil
        options.proxyTLS.verifyStatus = true
        let status = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:9", options: options) }
        #expect(status?.code == .notBuiltIn, "\(String(describing: status))")
        #expect(status?.message.contains("proxyTLS.verifyStatus") == true, "\(String(describing: status))")
        #expect(await multi.diagnostics == CurlMulti.Diagnostics())
    }
}

/// A line sent to `openssl s_server -rev` comes back reversed.
@discardableResult
private func reversedEcho(_ multi: CurlMulti, _ server: OpenSSLServer, _ options: ConnectionOptions) async throws -> ConnectionInfo {
    try await multi.withConnection(to: server.url, options: options) { connection in
        try await connection.send("stapled\n")
        let reply = try await connection.receive(exactly: 8)
        #expect(reply == Array("delpats\n".utf8))
        return connection.info
    }
}
