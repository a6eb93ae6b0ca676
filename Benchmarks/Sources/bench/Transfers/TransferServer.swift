import BenchC
import Foundation

/// Debian's nginx as the origin of the transfer scenarios, started by the bench in a temporary
/// directory on `/dev/shm` (tmpfs: the 1 GiB file and the uploads never touch a disk) on three
/// ephemeral ports of 127.0.0.1: HTTP/1.1, HTTPS (TLS 1.3, ALPN `h2` and `http/1.1`, the bench's
/// throwaway certificate) and cleartext HTTP/2 (unused by the scenarios, kept for profiling).
/// One process in the foreground (`master_process off`, one worker), as in the tests'
/// `NginxHTTPServer`, so stopping it leaves nothing behind.
///
/// Paths: `/hello.txt` (17 bytes), `/big/file` (``bigFileBytes`` of zeros, a sparse file, no gzip:
/// nginx's `gzip` is off), `/upload/<name>` (WebDAV `PUT`: nginx reads every byte into a temp
/// file on the same tmpfs, renames it into place and only then answers 201/204; the bench checks
/// the file's size and deletes it).
///
/// `@unchecked Sendable`: every stored property is a `let` set in `init`; the one non-`Sendable`
/// value, the nginx `Process`, is configured and started in `init` only, and afterwards only
/// read (`processIdentifier`, `isRunning`) or stopped once by `stop()` from the bench's one
/// driving task.
final class TransferServer: @unchecked Sendable {
    let directory: String
    let httpPort: Int
    let httpsPort: Int
    let process: Process
    let bigFileBytes: Int
    var pid: Int32 { process.processIdentifier }
    var bigFilePath: String { "\(directory)/root/big/file" }
    var accessLogPath: String { "\(directory)/tls-access.log" }

    static let helloText = "hello from nginx\n"

    init(certificate: String, key: String, bigFileBytes: Int) throws {
        self.bigFileBytes = bigFileBytes
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let directory = "\(base)/asynccurl-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let files = FileManager.default
        for sub in ["root/big", "uploads", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            try files.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        try Data(Self.helloText.utf8).write(to: URL(fileURLWithPath: "\(directory)/root/hello.txt"))
        // A sparse file of zeros: instant to make, and nginx's sendfile reads it from tmpfs.
        guard files.createFile(atPath: "\(directory)/root/big/file", contents: nil),
              truncate("\(directory)/root/big/file", off_t(bigFileBytes)) == 0 else {
            throw BenchFailure("could not make the \(bigFileBytes)-byte file")
        }
        guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { files.isExecutableFile(atPath: $0) }) else {
            throw BenchFailure("nginx is not installed (apt-get install nginx-light)")
        }
        var lastError: Error = BenchFailure("nginx did not start")
        for attempt in 1...3 {
            let ports = try (0..<3).map { _ in try freeLoopbackPort() }
            let config = "\(directory)/nginx-\(attempt).conf"
            try Data(Self.config(directory: directory, certificate: certificate, key: key, ports: ports).utf8)
                .write(to: URL(fileURLWithPath: config))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: nginx)
            process.arguments = ["-p", directory, "-c", config, "-e", "\(directory)/error.log", "-g", "daemon off;"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if Self.waitUntilListening(ports, process: process) {
                self.directory = directory
                self.process = process
                httpPort = ports[0]
                httpsPort = ports[1]
                return
            }
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            lastError = BenchFailure("nginx did not listen on \(ports) (attempt \(attempt)); see \(directory)/error.log")
        }
        throw lastError
    }

    /// SIGKILL (nginx inherits the signal mask of the thread that spawned it, a Swift
    /// concurrency thread that blocks SIGTERM; with `master_process off` it has no children and
    /// its temporary files go with the directory), then reaps it, for 5 s at most.
    func stop() {
        let pid = process.processIdentifier
        kill(pid, SIGKILL)
        let deadline = bench_now_ns() + 5_000_000_000
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0, bench_now_ns() < deadline {
            usleep(10_000)  // polling for the exit, bounded by the deadline
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func url(_ path: String, tls: Bool = false) -> String {
        tls ? "https://127.0.0.1:\(httpsPort)\(path)" : "http://127.0.0.1:\(httpPort)\(path)"
    }

    /// The size of an uploaded file (then deleted), or -1 if there is none.
    func takeUpload(named name: String) -> Int64 {
        let path = "\(directory)/uploads/\(name)"
        var info = stat()
        guard stat(path, &info) == 0 else { return -1 }
        unlink(path)
        return Int64(info.st_size)
    }

    /// The number of distinct TLS-port connections among the access log's lines from `fromLine`
    /// on, and the number of lines there now. nginx writes a line once the answer is sent.
    func tlsConnections(fromLine: Int) -> (connections: Set<String>, protocols: Set<String>, lines: Int) {
        let text = (try? String(contentsOfFile: accessLogPath, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n")
        var connections = Set<String>()
        var protocols = Set<String>()
        for line in lines.dropFirst(fromLine) {
            let fields = line.split(separator: " ")
            guard fields.count >= 2 else { continue }
            connections.insert(String(fields[0]))
            protocols.insert(String(fields[1]))
        }
        return (connections, protocols, lines.count)
    }

    private static func waitUntilListening(_ ports: [Int], process: Process) -> Bool {
        let deadline = bench_now_ns() + 10_000_000_000
        for port in ports {
            while !canConnect(port) {
                guard process.isRunning, bench_now_ns() < deadline else { return false }
                usleep(20_000)  // polling a port that nginx opens: bounded by the deadline
            }
        }
        return true
    }

    private static func config(directory d: String, certificate: String, key: String, ports: [Int]) -> String {
        """
        master_process off;
        worker_processes 1;
        pid \(d)/nginx.pid;
        error_log \(d)/error.log warn;
        events { worker_connections 1024; }
        http {
            access_log off;
            log_format conn '$connection $server_protocol $status';
            client_body_temp_path \(d)/client_body;
            proxy_temp_path \(d)/proxy;
            fastcgi_temp_path \(d)/fastcgi;
            uwsgi_temp_path \(d)/uwsgi;
            scgi_temp_path \(d)/scgi;
            types { text/plain txt; }
            default_type application/octet-stream;
            sendfile on;
            tcp_nopush on;
            gzip off;
            client_max_body_size 0;
            client_body_buffer_size 1m;
            keepalive_requests 1000000;
            keepalive_timeout 120s;
            http2_max_concurrent_streams 128;
            server {
                listen 127.0.0.1:\(ports[0]);
                root \(d)/root;
                location /upload/ {
                    alias \(d)/uploads/;
                    dav_methods PUT;
                }
            }
            server {
                listen 127.0.0.1:\(ports[1]) ssl http2;
                ssl_certificate \(certificate);
                ssl_certificate_key \(key);
                ssl_protocols TLSv1.3;
                access_log \(d)/tls-access.log conn;
                root \(d)/root;
            }
            server {
                listen 127.0.0.1:\(ports[2]) http2;
                root \(d)/root;
            }
        }

        """
    }
}

/// A port that was free a moment ago: bound to 127.0.0.1:0, read back, closed.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw BenchFailure("could not bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
}

private func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
