import Foundation

/// nginx serving HTTPS on a Unix domain socket (`listen unix:PATH ssl`), answering every
/// request with ``body``.
///
/// It runs as one process in the foreground (`master_process off`, so no workers run as
/// `nobody` and the socket and files stay the test's), with every path inside a temporary
/// directory: stopping that one process leaves nothing behind.
final class NginxPeer: Sendable {
    let daemon: Daemon
    /// The socket nginx listens on.
    let socketPath: String
    private let directory: TemporaryDirectory

    /// What every request gets, with status 200.
    static let body = "hello over a unix socket\n"

    init(_ identity: TestCertificates.Identity) async throws {
        let executable = try PeerProgram.nginx.executable()
        let directory = try TemporaryDirectory("nginx")
        let d = directory.path
        socketPath = directory.file("tls.sock")
        let config = try directory.write("nginx.conf", """
            master_process off;
            worker_processes 1;
            pid \(d)/nginx.pid;
            error_log \(d)/error.log info;
            events { worker_connections 64; }
            http {
                access_log \(d)/access.log;
                client_body_temp_path \(d)/client_body;
                proxy_temp_path \(d)/proxy;
                fastcgi_temp_path \(d)/fastcgi;
                uwsgi_temp_path \(d)/uwsgi;
                scgi_temp_path \(d)/scgi;
                server {
                    listen unix:\(socketPath) ssl;
                    ssl_certificate \(identity.certificate);
                    ssl_certificate_key \(identity.key);
                    location / {
                        default_type text/plain;
                        return 200 "\(Self.body.replacingOccurrences(of: "\n", with: "\\n"))";
                    }
                }
            }

            """)
        daemon = try Daemon(name: "nginx", executable: executable,
                            arguments: ["-p", d, "-c", config, "-e", directory.file("error.log"), "-g", "daemon off;"],
                            logPath: directory.file("nginx.out"))
        self.directory = directory
        try await daemon.waitUntilListening(onUnixSocket: socketPath)
    }

    deinit {
        daemon.stop()
    }

    /// nginx's access log: one line per request it answered.
    var accessLog: String {
        (try? String(contentsOfFile: directory.file("access.log"), encoding: .utf8)) ?? ""
    }
}
