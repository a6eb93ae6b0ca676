/// GnuTLS's `gnutls-serv --echo` as a TLS-SRP (RFC 5054) echo server: TLS 1.2 with the SRP key
/// exchange only and no certificate, for one user whose verifier `srptool` makes.
///
/// Not `openssl s_server -srpvfile`: OpenSSL 3.0.19's s_server looks up a garbage user name
/// (it logs "User H�5� doesn't exist" and fails the handshake with "psk identity not found"),
/// with `-www`, `-rev`, with or without a certificate and `-srpuserseed`. GnuTLS serves the same
/// RFC 5054 exchange that libcurl's OpenSSL speaks.
///
/// gnutls-serv 3.7 has no option to choose its listening address: it listens on the wildcard
/// addresses (0.0.0.0 and ::) of its port. Tests connect to it on 127.0.0.1 only.
final class GnuTLSSRPPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `tls://127.0.0.1:<port>`.
    var url: String { "tls://127.0.0.1:\(port)" }

    init(username: String, password: String) async throws {
        let server = try PeerProgram.gnutlsServ.executable()
        let srptool = try PeerProgram.srptool.executable()
        let directory = try TemporaryDirectory("gnutls-srp")
        let passwordFile = directory.file("tpasswd")
        let configFile = directory.file("tpasswd.conf")
        try runCommand(srptool, ["--create-conf", configFile], timeout: .seconds(20))
        // srptool reads the password from standard input; group 3 is RFC 5054's 2048-bit one
        // (OpenSSL's client refuses the 1024-bit group 1 at Debian's security level 2).
        try runCommand("/bin/sh", ["-c", "printf '%s\\n' \"$1\" | \"$2\" --passwd \"$3\" --passwd-conf \"$4\" -u \"$5\" -i 3",
                                   "sh", password, srptool, passwordFile, configFile, username], timeout: .seconds(20))
        (daemon, port) = try await Daemon.launch { port in
            try Daemon(name: "gnutls-serv", executable: server,
                       arguments: ["--echo", "-p", "\(port)", "--srppasswd", passwordFile, "--srppasswdconf", configFile,
                                   "--crlf", "--priority", "NORMAL:-KX-ALL:+SRP:-VERS-TLS1.3"],
                       logPath: directory.file("gnutls-serv-\(port).log"))
        }
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }
}
