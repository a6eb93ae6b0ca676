import Foundation
import Glibc

/// redis-server listening only on a Unix domain socket (`port 0` turns TCP off), with no
/// persistence, in the foreground, everything in a temporary directory.
final class RedisPeer: Sendable {
    let daemon: Daemon
    /// The socket's path (mode 700, as `unixsocketperm 700` makes it).
    let socketPath: String
    private let directory: TemporaryDirectory

    /// `unix://<socketPath>`.
    var url: String { "unix://\(socketPath)" }

    init() async throws {
        let executable = try PeerProgram.redis.executable()
        let directory = try TemporaryDirectory("redis")
        socketPath = directory.file("redis.sock")
        let config = try directory.write("redis.conf", """
            port 0
            unixsocket \(socketPath)
            unixsocketperm 700
            save ""
            appendonly no
            daemonize no
            dir \(directory.path)
            logfile ""

            """)
        daemon = try Daemon(name: "redis-server", executable: executable, arguments: [config],
                            logPath: directory.file("redis.log"))
        self.directory = directory
        try await daemon.waitUntilListening(onUnixSocket: socketPath)
    }

    deinit {
        daemon.stop()
    }
}

extension Daemon {
    /// Waits until something accepts connections on the Unix domain socket at `path`. Throws
    /// `PeerError.exited` at once if the daemon dies meanwhile and `PeerError.notReady` after
    /// `timeout`.
    func waitUntilListening(onUnixSocket path: String, timeout: Duration = .seconds(10)) async throws {
        try await poll("did not listen on \(path)", timeout: timeout) {
            unixSocketAcceptsConnections(path) ? () : nil
        }
    }
}

/// Whether a connect to the Unix domain socket at `path` succeeds right now; a path starting
/// with a NUL byte is a name in the abstract namespace.
func unixSocketAcceptsConnections(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard bytes.count < capacity else { return false }
    withUnsafeMutableBytes(of: &address.sun_path) { pathBytes in
        pathBytes.copyBytes(from: bytes)
    }
    // For an abstract name the length counts exactly its bytes; for a file, its path and NUL.
    let length = MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(length)) == 0
        }
    }
}
