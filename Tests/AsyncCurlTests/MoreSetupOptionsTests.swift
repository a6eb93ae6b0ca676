import AsyncCurl
import Foundation
import LoopbackServer
import Testing
@testable import TestPeers

/// The rest of libcurl 7.88.1's connection set-up options, each against a real peer: the TLS
/// issuer check, partial chains, BEAST, TLS-SRP (here), and TCP Fast Open, address shuffling,
/// SOCKS5 authentication methods and Kerberos service names (MoreSetupOptionsTests+Proxy.swift).
extension AsyncCurlTests {
    @Suite struct MoreSetupOptionsTests {
        // MARK: Issuer certificate

        /// The server's certificate is from the test CA: that CA as the issuer passes, from a file
        /// and from memory. The proxy's certificate, from the second CA, verifies against that CA
        /// but fails the issuer check for the test CA: CURLE_SSL_ISSUER_ERROR (83).
        @Test(.requires(.openssl, .stunnel))
        func issuerCertificateMustHaveIssuedThePeersCertificate() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let server = try await StunnelPeer(.init(certificates.server), forwardingTo: echo.port)
            let other = try await StunnelPeer(.init(certificates.proxy), forwardingTo: echo.port)
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.tls.caFile = certificates.caFile
            options.tls.issuerCertificateFile = certificates.caFile
            try await connectAndEcho(multi, to: server.url, options: options)
            #expect(trace.contains("SSL certificate issuer check ok"), "\(trace.text)")

            options.tls.issuerCertificateFile = nil
            options.tls.issuerCertificate = try bytes(of: certificates.caFile)
            try await connectAndEcho(multi, to: server.url, options: options)

            // A chain that verifies, from the wrong issuer.
            options.tls.caFile = certificates.proxyCAFile
            for issuer in [IssuerSource.file(certificates.caFile), .bytes(try bytes(of: certificates.caFile))] {
                issuer.apply(to: &options.tls)
                let error = await expectCurlError { _ = try await multi.connect(to: other.url, options: options) }
                #expect(error?.code == .sslIssuerError, "\(String(describing: error))")
                #expect(error?.code.rawValue == 83)
                #expect(error?.message.contains("issuer check failed") == true, "\(String(describing: error))")
            }
            // The right issuer for that peer.
            options.tls.issuerCertificate = try bytes(of: certificates.proxyCAFile)
            try await connectAndEcho(multi, to: other.url, options: options)
            #expect(await multi.diagnostics == .idle)
        }

        /// The issuer check looks at the peer's own certificate only: its direct issuer (the
        /// intermediate CA) passes, the root above it fails.
        @Test(.requires(.openssl, .stunnel))
        func issuerCertificateIsTheDirectIssuer() async throws {
            let certificates = try TestCertificates.shared()
            let server = try await TLSEcho { .init($0.intermediateLeaf) }
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.caFile = certificates.intermediateCAFile
            options.tls.issuerCertificateFile = certificates.intermediateCAFile
            try await connectAndEcho(multi, to: server.url, options: options)
            options.tls.issuerCertificateFile = certificates.caFile
            let error = await expectCurlError { _ = try await multi.connect(to: server.url, options: options) }
            #expect(error?.code == .sslIssuerError, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// An HTTPS proxy's certificate checked with `proxyTLS` (CURLOPT_PROXY_ISSUERCERT).
        @Test(.requires(.tinyproxy, .stunnel, .openssl))
        func proxyIssuerCertificate() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.proxyCAFile
            options.proxyTLS.issuerCertificateFile = certificates.proxyCAFile
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyConnectStatus == 200)

            options.proxyTLS.issuerCertificateFile = certificates.caFile
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.code == .sslIssuerError, "\(String(describing: error))")
            // The peer's issuer setting is separate: the proxy passes, and a plain peer has no TLS.
            options.proxyTLS.issuerCertificateFile = nil
            options.tls.issuerCertificateFile = certificates.caFile
            try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(await multi.diagnostics == .idle)
        }

        /// Bad issuer settings fail before any connection, naming the property.
        @Test func badIssuerCertificateIsRefusedBeforeConnecting() async throws {
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.issuerCertificateFile = "/nonexistent/issuer.pem"
            var error = await expectCurlError { _ = try await multi.connect(to: "tls://127.0.0.1:1", options: options) }
            #expect(error?.code == .sslIssuerError)
            #expect(error?.message.contains("tls.issuerCertificateFile") == true, "\(String(describing: error))")

            options.tls.issuerCertificateFile = nil
            options.proxyTLS.issuerCertificate = Array("not a certificate".utf8)
            error = await expectCurlError { _ = try await multi.connect(to: "tls://127.0.0.1:1", options: options) }
            #expect(error?.code == .sslIssuerError)
            #expect(error?.message.contains("proxyTLS.issuerCertificate: not a PEM certificate") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: Partial chains, BEAST

        /// Only the intermediate CA is trusted: libcurl's default partial-chain verification
        /// accepts its leaf; `acceptsPartialChain = false` (CURLSSLOPT_NO_PARTIALCHAIN) demands
        /// the root and fails (CURLE_PEER_FAILED_VERIFICATION, 60), and passes again once the
        /// CA file holds the root as well.
        @Test(.requires(.openssl, .stunnel))
        func partialChainWithOnlyTheIntermediateTrusted() async throws {
            let certificates = try TestCertificates.shared()
            // stunnel sends the leaf alone; the intermediate is in the client's CA file.
            let server = try await TLSEcho { .init($0.intermediateLeaf) }
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.caFile = certificates.intermediateCAFile
            #expect(options.tls.acceptsPartialChain)
            try await connectAndEcho(multi, to: server.url, options: options)

            options.tls.acceptsPartialChain = false
            let error = await expectCurlError { _ = try await multi.connect(to: server.url, options: options) }
            #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
            #expect(error?.message.contains("unable to get issuer certificate") == true, "\(String(describing: error))")

            let directory = try TemporaryDirectory("partial-chain")
            let both = try directory.write("chain.pem", try String(contentsOfFile: certificates.intermediateCAFile, encoding: .utf8)
                                           + (try String(contentsOfFile: certificates.caFile, encoding: .utf8)))
            options.tls.caFile = both
            try await connectAndEcho(multi, to: server.url, options: options)
            #expect(await multi.diagnostics == .idle)
        }

        /// The same for an HTTPS proxy (CURLOPT_PROXY_SSL_OPTIONS), separate from the peer's.
        @Test(.requires(.tinyproxy, .stunnel, .openssl))
        func proxyPartialChain() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await HTTPSProxyPeer(.init(certificates.intermediateLeaf))
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.intermediateCAFile
            options.tls.acceptsPartialChain = false
            try await connectAndEcho(multi, to: echo.url, options: options)
            options.proxyTLS.acceptsPartialChain = false
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// `allowsBEAST` (CURLSSLOPT_ALLOW_BEAST) is accepted by libcurl and a connection works
        /// with it, for the peer and the proxy. This proves no more than that: the workaround it
        /// turns off only acts on TLS 1.0 CBC records, and Debian 12's OpenSSL refuses TLS 1.0 at
        /// its default security level, so no peer here can show a difference.
        @Test(.requires(.openssl, .stunnel))
        func allowsBEASTIsAccepted() async throws {
            let certificates = try TestCertificates.shared()
            let server = try await TLSEcho { .init($0.server, maximumVersion: "TLSv1.2") }
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            options.tls.allowsBEAST = true
            options.tls.acceptsPartialChain = false
            options.proxyTLS.allowsBEAST = true
            let info = try await connectAndEcho(multi, to: server.url, options: options)
            #expect(info.tlsVersion == "TLSv1.2", "\(info)")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: TLS-SRP

        /// TLS-SRP against gnutls-serv: the right password gives an SRP cipher suite on TLS 1.2;
        /// a wrong one fails the handshake (the server's bad_record_mac alert: CURLE_SSL_CONNECT_ERROR,
        /// 35), as does a user the server does not know. The server has no certificate: with
        /// `verifyPeer` on, libcurl fails after the handshake (CURLE_PEER_FAILED_VERIFICATION).
        @Test(.requires(.gnutlsServ, .srptool))
        func tlsSRPWithTheRightAndWrongPassword() async throws {
            let srp = try await GnuTLSSRPPeer(username: "alice", password: "correct horse")
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.tls.srpUsername = "alice"
            options.tls.srpPassword = "correct horse"
            options.tls.verifyPeer = false
            options.tls.verifyHost = false
            let info = try await connectAndEcho(multi, to: srp.url, options: options)
            #expect(info.tlsVersion == "TLSv1.2", "\(info)")
            #expect(info.tlsCipher?.hasPrefix("SRP-") == true, "\(info)")
            #expect(trace.contains("Using TLS-SRP username: alice"), "\(trace.text)")

            options.trace = nil
            options.tls.srpPassword = "wrong horse"
            var error = await expectCurlError { _ = try await multi.connect(to: srp.url, options: options) }
            #expect(error?.code == .sslConnectError, "\(String(describing: error))")

            options.tls.srpUsername = "mallory"
            error = await expectCurlError { _ = try await multi.connect(to: srp.url, options: options) }
            #expect(error?.code == .sslConnectError, "\(String(describing: error))")

            options.tls.srpUsername = "alice"
            options.tls.srpPassword = "correct horse"
            options.tls.verifyPeer = true
            error = await expectCurlError { _ = try await multi.connect(to: srp.url, options: options) }
            #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
            #expect(error?.message.contains("couldn't get peer certificate") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// libcurl 7.88.1 with TLS-SRP credentials still offers TLS 1.3 (no SRP there), and a
        /// server with a certificate would be accepted without any SRP; AsyncCurl caps the
        /// connection at TLS 1.2, so a server that does not speak SRP fails the handshake.
        @Test(.requires(.openssl, .stunnel))
        func tlsSRPNeverFallsBackToCertificateTLS() async throws {
            let server = try await TLSEcho { .init($0.server) }
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.verifyPeer = false
            options.tls.verifyHost = false
            let plain = try await connectAndEcho(multi, to: server.url, options: options)
            #expect(plain.tlsVersion == "TLSv1.3", "the server speaks TLS 1.3: \(plain)")
            options.tls.srpUsername = "alice"
            options.tls.srpPassword = "correct horse"
            let error = await expectCurlError { _ = try await multi.connect(to: server.url, options: options) }
            #expect(error?.code == .sslConnectError, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// TLS-SRP to an HTTPS proxy (`proxyTLS`): the echo server stands in for the proxy, so
        /// the TLS-SRP handshake with it succeeds and the CONNECT that follows gets its own
        /// request echoed back, not a `200`. A wrong password fails at the handshake instead.
        @Test(.requires(.gnutlsServ, .srptool))
        func tlsSRPToAnHTTPSProxy() async throws {
            let srp = try await GnuTLSSRPPeer(username: "proxyuser", password: "proxy secret")
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.proxy = "https://127.0.0.1:\(srp.port)"
            options.proxyTLS.srpUsername = "proxyuser"
            options.proxyTLS.srpPassword = "proxy secret"
            options.proxyTLS.verifyPeer = false
            options.proxyTLS.verifyHost = false
            let error = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:9", options: options) }
            // The echoed request is no HTTP status line: "CONNECT tunnel failed, response 0".
            #expect(error?.code == .recvError, "\(String(describing: error))")
            #expect(error?.message.contains("CONNECT tunnel failed") == true, "\(String(describing: error))")
            #expect(trace.contains("SSL connection using TLSv1.2 / SRP-"), "\(trace.text)")
            #expect(trace.contains("CONNECT 127.0.0.1:9 HTTP/1.1"), "\(trace.text)")

            options.proxyTLS.srpPassword = "wrong"
            options.trace = nil
            let wrong = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:9", options: options) }
            #expect(wrong?.code == .sslConnectError, "\(String(describing: wrong))")
            #expect(await multi.diagnostics == .idle)
        }

        /// Incomplete or impossible TLS-SRP settings fail before any connection.
        @Test func badSRPSettingsAreRefusedBeforeConnecting() async throws {
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.srpUsername = "alice"
            var error = await expectCurlError { _ = try await multi.connect(to: "tls://127.0.0.1:1", options: options) }
            #expect(error?.code == .badFunctionArgument)
            #expect(error?.message.contains("tls.srpUsername: set without tls.srpPassword") == true, "\(String(describing: error))")

            options.tls.srpPassword = "pw"
            options.tls.minimumVersion = .tls1_3
            error = await expectCurlError { _ = try await multi.connect(to: "tls://127.0.0.1:1", options: options) }
            #expect(error?.code == .badFunctionArgument)
            #expect(error?.message.contains("TLS 1.2 and older only") == true, "\(String(describing: error))")
            options.tls.minimumVersion = nil
            options.tls.maximumVersion = .tls1_3
            error = await expectCurlError { _ = try await multi.connect(to: "tls://127.0.0.1:1", options: options) }
            #expect(error?.message.contains("tls.maximumVersion is TLS 1.3") == true, "\(String(describing: error))")

            options.tls = TLSOptions()
            options.proxyTLS.srpPassword = "pw"
            error = await expectCurlError { _ = try await multi.connect(to: "tls://127.0.0.1:1", options: options) }
            #expect(error?.message.contains("proxyTLS.srpPassword: set without proxyTLS.srpUsername") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }
    }
}

/// Where an issuer certificate comes from, to run one check with both properties.
private enum IssuerSource {
    case file(String)
    case bytes([UInt8])

    func apply(to tls: inout TLSOptions) {
        switch self {
        case .file(let path):
            tls.issuerCertificate = nil
            tls.issuerCertificateFile = path
        case .bytes(let bytes):
            tls.issuerCertificateFile = nil
            tls.issuerCertificate = bytes
        }
    }
}

/// The bytes of a file.
private func bytes(of path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}
