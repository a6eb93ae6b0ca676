import AsyncCurl
import LoopbackServer

/// What most TLS tests start with: the run's test certificates, an in-process echo server, and
/// stunnel in front of it with the configuration the test asks for (by default the `server`
/// identity, for `localhost` and 127.0.0.1). The echo server and stunnel stop when it is released.
final class TLSEcho: Sendable {
    let certificates: TestCertificates
    let echo: LoopbackServer
    let stunnel: StunnelPeer
    private let host: String

    /// `configuration` makes stunnel's configuration from the certificates; `host` is the name
    /// in ``url`` (the one the certificate must be for).
    init(host: String = "localhost",
         _ configuration: (TestCertificates) -> StunnelPeer.Configuration = { .init($0.server) }) async throws {
        let certificates = try TestCertificates.shared()
        let echo = try LoopbackServer(mode: .echo)
        stunnel = try await StunnelPeer(configuration(certificates), forwardingTo: echo.port)
        self.certificates = certificates
        self.echo = echo
        self.host = host
    }

    /// stunnel's TLS port on 127.0.0.1.
    var port: Int { stunnel.port }

    /// `tls://<host>:<port>`.
    var url: String { "tls://\(host):\(port)" }

    /// `peerOptions(trace:)` that verify against the test CA.
    func options(trace: TraceRecorder? = nil) -> ConnectionOptions {
        var options = peerOptions(trace: trace)
        options.tls.caFile = certificates.caFile
        return options
    }

    /// Stops the echo server now (stunnel stops when this is released).
    func stop() {
        echo.stop()
    }
}
