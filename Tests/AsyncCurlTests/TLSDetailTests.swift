import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// The finer TLS options against real peers: client identities from memory, in DER and in
/// PKCS#12; CA certificates from memory; bytes that are no certificate. Revocation lists,
/// curves, OCSP stapling and the HTTPS proxy's variants are in TLSDetailTests+Revocation.swift.
/// Certificates are made for the run (TestCertificates, TestCertificateForms).
extension AsyncCurlTests {
    @Suite struct TLSDetailTests {
        // MARK: Client identities

        /// PEM certificate and key as bytes, to a server that requires a client certificate.
        @Test(.requires(.openssl, .stunnel))
        func clientCertificateAndKeyFromMemory() async throws {
            let certificates = try TestCertificates.shared()
            let server = try await TLSEcho { .init($0.server, clientCAFile: $0.caFile) }
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            options.tls.clientCertificate = try fileBytes(certificates.client.certificate)
            options.tls.clientKey = try fileBytes(certificates.client.key)
            let multi = CurlMulti()
            try await connectAndEcho(multi, to: server.url, options: options)
            // And the encrypted key, as bytes, with its password.
            options.tls.clientKey = try fileBytes(certificates.clientEncryptedKey)
            options.tls.clientKeyPassword = certificates.clientKeyPassword
            try await connectAndEcho(multi, to: server.url, options: options)
            #expect(await multi.diagnostics == .idle)
        }

        /// DER certificate and key, from files and from memory.
        @Test(.requires(.openssl, .stunnel))
        func derClientCertificate() async throws {
            let certificates = try TestCertificates.shared()
            let forms = try TestCertificateForms.shared()
            let server = try await TLSEcho { .init($0.server, clientCAFile: $0.caFile) }
            let multi = CurlMulti()
            var files = peerOptions()
            files.tls.caFile = certificates.caFile
            files.tls.clientCertificateFile = forms.clientCertificateDER
            files.tls.clientCertificateFormat = .der
            files.tls.clientKeyFile = forms.clientKeyDER
            files.tls.clientKeyFormat = .der
            try await connectAndEcho(multi, to: server.url, options: files)

            var bytes = peerOptions()
            bytes.tls.caFile = certificates.caFile
            bytes.tls.clientCertificate = try fileBytes(forms.clientCertificateDER)
            bytes.tls.clientCertificateFormat = .der
            bytes.tls.clientKey = try fileBytes(forms.clientKeyDER)
            bytes.tls.clientKeyFormat = .der
            try await connectAndEcho(multi, to: server.url, options: bytes)

            // DER bytes declared as PEM cannot be read.
            bytes.tls.clientCertificateFormat = .pem
            let error = await expectCurlError { _ = try await multi.connect(to: server.url, options: bytes) }
            #expect(error?.code == .sslCertificateProblem, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// A PKCS#12 bundle holds certificate and key; `clientKeyPassword` is its password.
        @Test(.requires(.openssl, .stunnel))
        func pkcs12ClientCertificate() async throws {
            let certificates = try TestCertificates.shared()
            let forms = try TestCertificateForms.shared()
            let server = try await TLSEcho { .init($0.server, clientCAFile: $0.caFile) }
            let multi = CurlMulti()
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            options.tls.clientCertificateFormat = .pkcs12

            options.tls.clientCertificateFile = forms.clientPKCS12
            options.tls.clientKeyPassword = forms.pkcs12Password
            try await connectAndEcho(multi, to: server.url, options: options)

            options.tls.clientCertificateFile = nil
            options.tls.clientCertificate = try fileBytes(forms.clientPKCS12)
            try await connectAndEcho(multi, to: server.url, options: options)

            // No password: the bundle made with the empty one.
            options.tls.clientKeyPassword = nil
            options.tls.clientCertificate = try fileBytes(forms.clientPKCS12WithoutPassword)
            try await connectAndEcho(multi, to: server.url, options: options)
            options.tls.clientCertificate = nil
            options.tls.clientCertificateFile = forms.clientPKCS12WithoutPassword
            try await connectAndEcho(multi, to: server.url, options: options)

            // The wrong password.
            options.tls.clientCertificateFile = forms.clientPKCS12
            options.tls.clientKeyPassword = "wrong"
            let error = await expectCurlError { _ = try await multi.connect(to: server.url, options: options) }
            #expect(error?.code == .sslCertificateProblem, "\(String(describing: error))")
            #expect(error?.message.contains("PKCS12") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: CA certificates from memory

        @Test(.requires(.openssl, .stunnel))
        func caCertificatesFromMemory() async throws {
            let certificates = try TestCertificates.shared()
            let tls = try await TLSEcho { .init($0.server) }
            let multi = CurlMulti()
            var options = peerOptions()
            // Nothing else may make it verify: a CA file that does not hold the test CA.
            options.tls.caFile = certificates.proxyCAFile
            options.tls.caCertificates = try fileBytes(certificates.caFile)
            try await connectAndEcho(multi, to: tls.url, options: options)

            // Several certificates in the bytes: the one that signed the server may be any.
            options.tls.caCertificates = try fileBytes(certificates.proxyCAFile) + fileBytes(certificates.caFile)
            try await connectAndEcho(multi, to: tls.url, options: options)

            // The bytes replace the file: only the proxy CA, which did not sign the server.
            options.tls.caFile = certificates.caFile
            options.tls.caCertificates = try fileBytes(certificates.proxyCAFile)
            let error = await expectCurlError { _ = try await multi.connect(to: tls.url, options: options) }
            #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: Bytes that are no certificate

        @Test(.requires(.openssl, .stunnel))
        func garbageBytesAreTypedErrors() async throws {
            let certificates = try TestCertificates.shared()
            let server = try await TLSEcho { .init($0.server, clientCAFile: $0.caFile) }
            let garbage = Array("this is not a certificate".utf8)
            let multi = CurlMulti()
            func attempt(_ change: (inout TLSOptions) -> Void) async -> CurlError? {
                var options = peerOptions()
                options.tls.caFile = certificates.caFile
                options.tls.clientCertificateFile = certificates.client.certificate
                options.tls.clientKeyFile = certificates.client.key
                change(&options.tls)
                return await expectCurlError { _ = try await multi.connect(to: server.url, options: options) }
            }

            // libcurl 7.88.1's messages, as measured.
            let ca = await attempt { $0.caCertificates = garbage }
            #expect(ca?.code == .sslCACertificateBadFile, "\(String(describing: ca))")
            #expect(ca?.message.contains("error importing CA certificate blob") == true, "\(String(describing: ca))")
            let certificate = await attempt { $0.clientCertificate = garbage }
            #expect(certificate?.code == .sslCertificateProblem, "\(String(describing: certificate))")
            #expect(certificate?.message.contains("could not load PEM client certificate from CURLOPT_SSLCERT_BLOB") == true,
                    "\(String(describing: certificate))")
            let key = await attempt {
                $0.clientKeyFile = nil
                $0.clientKey = garbage
            }
            #expect(key?.code == .sslCertificateProblem, "\(String(describing: key))")
            #expect(key?.message.contains("unable to set private key") == true, "\(String(describing: key))")
            let der = await attempt {
                $0.clientCertificate = garbage
                $0.clientCertificateFormat = .der
            }
            #expect(der?.code == .sslCertificateProblem, "\(String(describing: der))")
            #expect(der?.message.contains("could not load ASN1 client certificate") == true, "\(String(describing: der))")
            let pkcs12 = await attempt {
                $0.clientCertificate = garbage
                $0.clientCertificateFormat = .pkcs12
            }
            #expect(pkcs12?.code == .sslCertificateProblem, "\(String(describing: pkcs12))")
            #expect(pkcs12?.message.contains("error reading PKCS12 file '(memory blob)'") == true, "\(String(describing: pkcs12))")
            // No bytes at all is refused before anything is set up.
            let empty = await attempt { $0.caCertificates = [] }
            #expect(empty?.code == .badFunctionArgument, "\(String(describing: empty))")
            #expect(empty?.message.contains("tls.caCertificates") == true, "\(String(describing: empty))")
            #expect(await multi.diagnostics == .idle)
        }
    }
}
