/// `openssl s_server` as a TLS peer, for what stunnel cannot do: staple an OCSP response from
/// a file (`-status_file`). It serves one connection at a time, any number in turn, and writes
/// each line it receives back reversed (`-rev`).
final class OpenSSLServer: Sendable {
    /// The TLS port on 127.0.0.1.
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `tls://localhost:<port>` (the certificates are for `localhost`).
    var url: String { "tls://localhost:\(port)" }

    /// Starts the server with `identity`, sending `chain` (PEM) after its certificate, and
    /// stapling `ocspResponse` (a DER OCSP response file) when the client asks for one.
    init(_ identity: TestCertificates.Identity, chain: String? = nil, ocspResponse: String? = nil) async throws {
        let executable = try PeerProgram.openssl.executable()
        let directory = try TemporaryDirectory("s_server")
        (daemon, port) = try await Daemon.launch { port in
            var arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", identity.certificate,
                             "-key", identity.key, "-rev", "-quiet"]
            if let chain { arguments += ["-cert_chain", chain] }
            if let ocspResponse { arguments += ["-status_file", ocspResponse] }
            return try Daemon(name: "openssl s_server", executable: executable, arguments: arguments,
                              logPath: directory.file("s_server-\(port).log"))
        }
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }
}
