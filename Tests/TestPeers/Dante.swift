import Glibc

/// Dante's danted as a SOCKS4 (and SOCKS5, no authentication) server on a free port of
/// 127.0.0.1, allowed to reach only 127.0.0.0/8.
///
/// - It forks helper processes; `Daemon` stops the whole process group.
/// - Run as root, danted insists on `user.privileged` / `user.unprivileged`; otherwise it runs as
///   the current user and those lines must be left out.
/// - danted 1.4.2 (Debian 12) does not implement SOCKS4a: it takes the request's 0.0.0.x address
///   literally and never reads the host name ("0.0.0.1: no rules matched"). `Socks4aPeer` serves
///   SOCKS4a instead.
final class DantePeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `127.0.0.1:<port>`, to put after `socks4://`.
    var address: String { "127.0.0.1:\(port)" }

    init() async throws {
        let executable = try PeerProgram.danted.executable()
        let directory = try TemporaryDirectory("danted")
        (daemon, port) = try await Daemon.launch { port in
            var lines = [
                "logoutput: stderr",
                "internal: 127.0.0.1 port = \(port)",
                "external: 127.0.0.1",
                "clientmethod: none",
                "socksmethod: none",
            ]
            if geteuid() == 0 {
                lines += ["user.privileged: root", "user.unprivileged: nobody"]
            }
            lines += [
                "client pass {",
                "  from: 127.0.0.0/8 to: 0.0.0.0/0",
                "  log: error",
                "}",
                "socks pass {",
                "  from: 127.0.0.0/8 to: 127.0.0.0/8",
                "  command: connect",
                "  protocol: tcp",
                "  log: connect error",
                "}",
            ]
            let config = try directory.write("danted-\(port).conf", lines.joined(separator: "\n") + "\n")
            return try Daemon(name: "danted", executable: executable,
                              arguments: ["-f", config, "-p", directory.file("danted-\(port).pid"), "-N", "1"],
                              logPath: directory.file("danted-\(port).log"))
        }
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }
}
