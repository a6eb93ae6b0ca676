import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    /// The CA certificates are parsed once per engine, not once per connection: without a CA
    /// directory libcurl's CA store cache applies (``TLSOptions/caFile``). libcurl traces
    /// " CAfile: …" and " CApath: …" only when it parses the CA certificates for a connection.
    @Suite struct TLSCAStoreTests {
        /// Connects twice on one engine with `options`; returns each connection's trace.
        static func twoConnections(_ tls: TLSEcho, _ options: ConnectionOptions) async throws -> [String] {
            let multi = CurlMulti()
            var traces: [String] = []
            for _ in 0..<2 {
                let trace = TraceRecorder()
                var traced = options
                traced.trace = trace.handler
                try await connectAndEcho(multi, to: tls.url, options: traced)
                traces.append(trace.text)
            }
            #expect(await multi.diagnostics == .idle)
            return traces
        }

        @Test(.requires(.openssl, .stunnel))
        func aCAFileIsParsedOnceAndSharedByTheNextConnections() async throws {
            let tls = try await TLSEcho()
            var options = tls.options()
            options.reusesTLSSessions = false
            let traces = try await Self.twoConnections(tls, options)
            #expect(traces[0].contains("CApath: none"), "no CA directory:\n\(traces[0])")
            #expect(traces[0].contains("CAfile: \(options.tls.caFile ?? "?")"), "\(traces[0])")
            #expect(!traces[1].contains("CAfile:"), "the second connection parsed the CA file again:\n\(traces[1])")
            #expect(traces[1].contains("SSL connection using"), "\(traces[1])")
        }

        /// With a CA directory every connection parses the CA certificates again (libcurl
        /// 7.88.1 caches only a CA file), and the directory is searched.
        @Test(.requires(.openssl, .stunnel))
        func aCADirectoryIsSearchedByEveryConnection() async throws {
            let certificates = try TestCertificates.shared()
            let tls = try await TLSEcho()
            var options = tls.options()
            options.reusesTLSSessions = false
            options.tls.caDirectory = certificates.caDirectory
            options.tls.caFile = certificates.proxyCAFile
            let traces = try await Self.twoConnections(tls, options)
            for trace in traces {
                #expect(trace.contains("CApath: \(certificates.caDirectory)"), "\(trace)")
            }
        }

        /// The system bundle alone, as by default: no default CA directory on top (Debian's
        /// libcurl has `/etc/ssl/certs`), and a peer signed by another CA still fails.
        @Test(.requires(.openssl, .stunnel))
        func theDefaultUsesTheSystemBundleWithoutTheDirectory() async throws {
            let tls = try await TLSEcho()
            let trace = TraceRecorder()
            let error = await expectCurlError {
                _ = try await CurlMulti().connect(to: tls.url, options: peerOptions(trace: trace))
            }
            #expect(error?.code == .peerFailedVerification || error?.code == .sslCACertificateBadFile, "\(String(describing: error))")
            if error?.code == .peerFailedVerification {
                #expect(trace.contains("CApath: none"), "\(trace.text)")
            }
        }
    }
}
