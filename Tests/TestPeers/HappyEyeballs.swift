import Foundation

/// A port where IPv6 hangs and IPv4 answers, for happy eyeballs: on [::1] a listener whose
/// accept queue is full (it never accepts, and filler connections occupy its one slot, so the
/// kernel drops further SYNs, as ``BlackholeListener`` does on 127.0.0.1), and on 127.0.0.1
/// the same port number, an echo server. Written with Python's standard library.
final class HappyEyeballsPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    init() async throws {
        let (daemon, directory) = try Daemon.python("happy-eyeballs", script: Self.script)
        self.daemon = daemon
        port = try await daemon.waitForPrintedPort()
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    private static let script = #"""
import socket, threading

for _ in range(50):
    echo = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    echo.bind(("127.0.0.1", 0))
    port = echo.getsockname()[1]
    hole = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    hole.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        hole.bind(("::1", port))
        break
    except OSError:
        echo.close()
        hole.close()
else:
    raise SystemExit("no port free on both addresses")
echo.listen(16)
hole.listen(0)
# The first filler completes its handshake and fills the queue; the others stay in SYN_SENT.
fillers = [socket.create_connection(("::1", port), timeout=5)]
for _ in range(3):
    filler = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    filler.setblocking(False)
    filler.connect_ex(("::1", port))
    fillers.append(filler)
print(f"PORT {port}", flush=True)

def serve(connection):
    with connection:
        while data := connection.recv(65536):
            connection.sendall(data)

while True:
    connection, _ = echo.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"""#
}
