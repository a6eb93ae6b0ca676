import Foundation

/// An echo server on a Unix domain socket in Linux's abstract namespace (a name with no file),
/// written with Python's standard library: LoopbackServer speaks TCP only.
///
/// It picks a random name, prints it, and prints `ACCEPTED` for every connection it accepts.
final class AbstractSocketEchoPeer: Sendable {
    let daemon: Daemon
    /// The name without the leading NUL byte, as `abstractUnixSocket` takes it.
    let name: String
    private let directory: TemporaryDirectory

    init() async throws {
        let name = "asynccurl-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let (daemon, directory) = try Daemon.python("abstract-echo", script: Self.script, arguments: [name])
        self.daemon = daemon
        self.name = name
        self.directory = directory
        _ = try await daemon.waitForLine(startingWith: "LISTENING ")
    }

    deinit {
        daemon.stop()
    }

    /// Connections accepted so far.
    var acceptedCount: Int {
        let text = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0 == "ACCEPTED" }.count
    }

    private static let script = #"""
import socket, sys, threading

listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\0" + sys.argv[1])
listener.listen(16)
print(f"LISTENING {sys.argv[1]}", flush=True)

def echo(connection):
    with connection:
        while data := connection.recv(65536):
            connection.sendall(data)

while True:
    connection, _ = listener.accept()
    print("ACCEPTED", flush=True)
    threading.Thread(target=echo, args=(connection,), daemon=True).start()
"""#
}
