/// tinyproxy, a real HTTP proxy answering `CONNECT`, in the foreground (`-d`) on a free port.
///
/// - `basicAuth` makes it demand Proxy-Authorization (no credentials: 407; wrong ones: 401,
///   a tinyproxy 1.11 quirk).
/// - `connectPorts` restricts the ports `CONNECT` may reach (any other: 403); empty allows all.
final class TinyproxyPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `http://127.0.0.1:<port>`.
    var url: String { "http://127.0.0.1:\(port)" }

    init(basicAuth: (user: String, password: String)? = nil, connectPorts: [Int] = []) async throws {
        let executable = try PeerProgram.tinyproxy.executable()
        let directory = try TemporaryDirectory("tinyproxy")
        (daemon, port) = try await Daemon.launch { port in
            var lines = [
                "Port \(port)",
                "Listen 127.0.0.1",
                "Timeout 60",
                "Allow 127.0.0.1",
                "DisableViaHeader Yes",
                "LogLevel Info",
                "MaxClients 100",
            ]
            if let basicAuth { lines.append("BasicAuth \(basicAuth.user) \(basicAuth.password)") }
            lines += connectPorts.map { "ConnectPort \($0)" }
            let config = try directory.write("tinyproxy-\(port).conf", lines.joined(separator: "\n") + "\n")
            return try Daemon(name: "tinyproxy", executable: executable, arguments: ["-d", "-c", config],
                              logPath: directory.file("tinyproxy-\(port).log"))
        }
        self.directory = directory
    }

    /// The request lines tinyproxy has logged so far, such as `CONNECT 127.0.0.1:4242 HTTP/1.1`.
    var requests: [String] {
        daemon.logTail(maxCharacters: 1 << 20).split(separator: "\n").compactMap { line in
            guard let marker = line.range(of: "Request (file descriptor") else { return nil }
            guard let start = line[marker.upperBound...].range(of: "): ") else { return nil }
            return String(line[start.upperBound...])
        }
    }

    deinit {
        daemon.stop()
    }
}
