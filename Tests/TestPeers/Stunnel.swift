/// stunnel4 as a TLS server in front of a plain TCP port: TLS echo servers (in front of
/// `LoopbackServer(mode: .echo)`) and the HTTPS proxy (in front of tinyproxy).
///
/// stunnel rather than `openssl s_server`: it serves any number of connections, forwards bytes
/// both ways, and its TLS versions and client-certificate demands are plain configuration.
final class StunnelPeer: Sendable {
    /// What the TLS side offers and demands.
    struct Configuration: Sendable {
        var certificate: String
        var key: String
        /// `sslVersionMin` / `sslVersionMax`: `"TLSv1.2"`, `"TLSv1.3"`, or `nil` for OpenSSL's range.
        var minimumVersion: String?
        var maximumVersion: String?
        /// If set, a client certificate from this CA is required (`requireCert`, `verifyChain`).
        var clientCAFile: String?
        /// More lines for the service section, such as `"curves = P-256"`.
        var serviceOptions: [String] = []
        /// stunnel's log level: 5 (notice) by default; 6 (info) also logs "previous session
        /// reused" for each resumed TLS session.
        var debugLevel = 5

        init(certificate: String, key: String, minimumVersion: String? = nil, maximumVersion: String? = nil, clientCAFile: String? = nil) {
            self.certificate = certificate
            self.key = key
            self.minimumVersion = minimumVersion
            self.maximumVersion = maximumVersion
            self.clientCAFile = clientCAFile
        }

        init(_ identity: TestCertificates.Identity, minimumVersion: String? = nil, maximumVersion: String? = nil, clientCAFile: String? = nil) {
            self.init(certificate: identity.certificate, key: identity.key, minimumVersion: minimumVersion,
                      maximumVersion: maximumVersion, clientCAFile: clientCAFile)
        }
    }

    /// The TLS port on 127.0.0.1.
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `tls://localhost:<port>` (the certificates are for `localhost`).
    var url: String { "tls://localhost:\(port)" }

    /// Starts stunnel accepting TLS on a free port and forwarding to 127.0.0.1:`targetPort`;
    /// returns once it accepts connections.
    init(_ configuration: Configuration, forwardingTo targetPort: Int) async throws {
        let executable = try PeerProgram.stunnel.executable()
        let directory = try TemporaryDirectory("stunnel")
        (daemon, port) = try await Daemon.launch { port in
            var lines = [
                "foreground = yes",
                "pid =",                  // no pid file
                "debug = \(configuration.debugLevel)",
                "[tls]",
                "accept = 127.0.0.1:\(port)",
                "connect = 127.0.0.1:\(targetPort)",
                "cert = \(configuration.certificate)",
                "key = \(configuration.key)",
            ]
            if let minimum = configuration.minimumVersion { lines.append("sslVersionMin = \(minimum)") }
            if let maximum = configuration.maximumVersion { lines.append("sslVersionMax = \(maximum)") }
            if let clientCA = configuration.clientCAFile {
                lines += ["CAfile = \(clientCA)", "requireCert = yes", "verifyChain = yes"]
            }
            lines += configuration.serviceOptions
            let config = try directory.write("stunnel-\(port).conf", lines.joined(separator: "\n") + "\n")
            return try Daemon(name: "stunnel", executable: executable, arguments: [config], logPath: directory.file("stunnel-\(port).log"))
        }
        self.directory = directory
    }

    /// How many TLS sessions stunnel has resumed so far (needs `debugLevel` 6).
    var resumedSessions: Int {
        daemon.logTail(maxCharacters: 1 << 20).split(separator: "\n").filter { $0.contains("previous session reused") }.count
    }

    deinit {
        daemon.stop()
    }
}
