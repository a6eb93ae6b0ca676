/// microsocks, a SOCKS5 server (no authentication, or username/password with `-u`/`-P`), on a
/// free port of 127.0.0.1. It resolves host names itself, so it also serves `socks5h://`.
final class MicrosocksPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `127.0.0.1:<port>`, to put after `socks5://` or `socks5h://`.
    var address: String { "127.0.0.1:\(port)" }

    init(username: String? = nil, password: String? = nil) async throws {
        let executable = try PeerProgram.microsocks.executable()
        let directory = try TemporaryDirectory("microsocks")
        (daemon, port) = try await Daemon.launch { port in
            var arguments = ["-i", "127.0.0.1", "-p", "\(port)"]
            if let username, let password { arguments += ["-u", username, "-P", password] }
            return try Daemon(name: "microsocks", executable: executable, arguments: arguments,
                              logPath: directory.file("microsocks-\(port).log"))
        }
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }
}
