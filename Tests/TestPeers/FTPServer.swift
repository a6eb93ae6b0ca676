import Foundation

extension PeerProgram {
    /// pyftpdlib, the FTP server library, in Debian's Python (see FTPServer).
    static let pyftpdlib = PeerProgram("python3", package: "python3-pyftpdlib", probe: ["-c", "import pyftpdlib"])
    /// pyftpdlib with pyOpenSSL, which its TLS_FTPHandler (FTPS) needs.
    static let pyftpdlibTLS = PeerProgram("python3", package: "python3-pyftpdlib python3-openssl",
                                          probe: ["-c", "import pyftpdlib, OpenSSL"])
}

/// pyftpdlib (Debian's python3-pyftpdlib, 1.5.7 here), a real FTP server, on a port of 127.0.0.1
/// it binds itself (port 0) and prints, in a Python process of its own.
///
/// - One user, ``user`` with ``password``, whose home directory (``homeDirectory``, a temporary
///   directory) holds `/file.bin`, ``fileBytes``, and who may do anything there: list, download,
///   upload, append, delete, rename, make directories.
/// - Passive data connections (PASV and EPSV) listen on 127.0.0.1, on a port the kernel picks
///   (pyftpdlib binds port 0 when no `passive_ports` are set), so they can collide with nothing.
///   Active mode (PORT, EPRT) to 127.0.0.1 works as well.
/// - TLS: none, or explicit FTPS (`AUTH TLS`, then `PBSZ`/`PROT P` for the data connections)
///   with the test CA's `server` identity, offered (`.explicit`) or demanded for the control
///   and the data connections before login (`.required`: anything else gets 550/522).
/// - What it saw, one line each on its standard output (the daemon's log):
///   `RECEIVED <path>` once an upload is complete (`INCOMPLETE <path>` for an aborted one),
///   `SENT <path>` once a download is; the paths are relative to the home directory.
final class FTPServer: Sendable {
    enum TLS: String, Sendable {
        /// Plain FTP only.
        case none
        /// `AUTH TLS` offered, not demanded.
        case explicit
        /// `AUTH TLS` demanded before login, and `PROT P` before any data connection.
        case required
    }

    static let user = "alice"
    static let password = "secret"
    /// `/file.bin`'s contents: 1 MiB of NginxHTTPServer's pseudo-random `bytes(count:)`.
    static let fileBytes = NginxHTTPServer.bytes(count: 1 << 20)

    let port: Int
    let tls: TLS
    let daemon: Daemon
    /// The user's home directory, the server's `/`.
    let homeDirectory: String
    private let directory: TemporaryDirectory

    init(tls: TLS = .none) async throws {
        let identity = try TestCertificates.shared().server
        let directory = try TemporaryDirectory("ftp-\(tls.rawValue)")
        homeDirectory = directory.file("home")
        try FileManager.default.createDirectory(atPath: homeDirectory, withIntermediateDirectories: false)
        try Data(Self.fileBytes).write(to: URL(fileURLWithPath: "\(homeDirectory)/file.bin"))
        let script = try directory.write("ftp-server.py", Self.script)
        daemon = try Daemon(name: "pyftpdlib", executable: try (tls == .none ? PeerProgram.pyftpdlib : .pyftpdlibTLS).executable(),
                            arguments: [script, tls.rawValue, homeDirectory, Self.user, Self.password, identity.certificate, identity.key],
                            logPath: directory.file("ftp-server.log"))
        self.directory = directory
        self.tls = tls
        port = try await daemon.waitForPrintedPort()
    }

    deinit {
        daemon.stop()
    }

    /// `ftp://127.0.0.1:<port><path>` (explicit FTPS uses `ftp://` too), with the user and
    /// password in it when `withCredentials` is set.
    func url(_ path: String = "/file.bin", withCredentials: Bool = false) -> String {
        "ftp://\(withCredentials ? "\(Self.user):\(Self.password)@" : "")127.0.0.1:\(port)\(path)"
    }

    /// The bytes of `homeDirectory/name`, or `nil` if there is no such file. pyftpdlib closes an
    /// uploaded file before it answers `226`, so after that answer it is complete.
    func uploadedFile(named name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(homeDirectory)/\(name)").map(Array.init)
    }

    /// The paths of the complete uploads so far (`RECEIVED` lines), in order.
    var receivedFiles: [String] { printedLines("RECEIVED ") }

    /// The paths of the complete downloads so far (`SENT` lines), in order.
    var sentFiles: [String] { printedLines("SENT ") }

    /// Waits until `path` has been received in full (pyftpdlib prints that just after its
    /// `226`) and returns its bytes.
    func waitForUpload(_ path: String, timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await daemon.poll("received no \(path)", timeout: timeout) {
            receivedFiles.contains(path) ? uploadedFile(named: path) : nil
        }
    }

    /// The rest of each complete line of the daemon's output that starts with `prefix`.
    private func printedLines(_ prefix: String) -> [String] {
        let text = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    private static let script = #"""
import logging, os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

mode, home, user, password, certificate, key = sys.argv[1:7]
if mode not in ("none", "explicit", "required"):
    raise SystemExit(f"unknown mode {mode}")

def say(line):
    """One line, in one write: the test reads these lines while pyftpdlib logs."""
    os.write(1, (line + "\n").encode())

if mode == "none":
    base = FTPHandler
else:
    from pyftpdlib.handlers import TLS_FTPHandler
    base = TLS_FTPHandler

class Handler(base):
    def on_file_received(self, file):
        say(f"RECEIVED /{os.path.relpath(file, home)}")

    def on_incomplete_file_received(self, file):
        say(f"INCOMPLETE /{os.path.relpath(file, home)}")

    def on_file_sent(self, file):
        say(f"SENT /{os.path.relpath(file, home)}")

authorizer = DummyAuthorizer()
authorizer.add_user(user, password, home, perm="elradfmwMT")
Handler.authorizer = authorizer
Handler.banner = "AsyncCurl test FTP server ready."
# pyftpdlib waits 3 s before it answers a wrong password; the tests need not.
Handler.auth_failed_timeout = 0
if mode != "none":
    from pyftpdlib.handlers import TLS_DTPHandler

    class DataHandler(TLS_DTPHandler):
        """pyftpdlib 1.5.7 closes a TLS data connection whose client starts the handshake
        before RETR or STOR, as curl does, taking the ClientHello for a hang-up
        (giampaolo/pyftpdlib#604). Readable while accepting is its upstream fix (#612)."""
        def readable(self):
            return self._ssl_accepting or super().readable()

    Handler.dtp_handler = DataHandler
    Handler.certfile = certificate
    Handler.keyfile = key
    Handler.tls_control_required = Handler.tls_data_required = mode == "required"

logging.basicConfig(level=logging.INFO, format="log: %(message)s", stream=sys.stderr)
server = FTPServer(("127.0.0.1", 0), Handler)
say(f"PORT {server.address[1]}")
server.serve_forever()
"""#
}
