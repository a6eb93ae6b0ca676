import AsyncCurl
import LoopbackServer
import Testing

extension AsyncCurlTests {
    @Suite struct TLSSessionTests {
        @Test(.requires(.openssl, .stunnel), arguments: ["TLSv1.2", "TLSv1.3"])
        func experiment(version: String) async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let tls = try await StunnelPeer(.init(certificates.server, minimumVersion: version, maximumVersion: version), forwardingTo: echo.port)
            let multi = CurlMulti()
            for round in 0..<3 {
                let trace = TraceRecorder()
                var options = peerOptions(trace: trace)
                options.tls.caFile = certificates.caFile
                if round == 0 {
                    let c = try await multi.connect(to: tls.url, options: options)
                    await c.close()
                } else {
                    try await connectAndEcho(multi, to: tls.url, options: options)
                }
                print("ROUND \(version) \(round) reusing=\(trace.contains("SSL re-using session ID")) diag=\(await multi.diagnostics)")
            }
            _ = await eventually(within: .milliseconds(300)) { false }
            print("LOG \(version):", tls.daemon.logTail(maxCharacters: 100000).split(separator: "\n").suffix(30).joined(separator: "\n"))
        }
    }
}
