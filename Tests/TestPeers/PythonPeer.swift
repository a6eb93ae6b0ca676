/// Small servers written with Python's standard library, for what no packaged daemon does.
///
/// - `tlsBurst`: a TLS server (Python's ssl module) that writes `records` separate records of
///   `size` bytes each as fast as it can, then sends close_notify. Each `sendall` on an SSL
///   socket is one `SSL_write`, so one TLS record: the client's TLS library then holds decrypted
///   bytes the socket no longer signals, which is exactly what a receive loop must not wait on.
///   Record `r`'s byte `i` is `(r * size + i) % 251`.
/// - `dualStackEcho`: an echo server on the same port of both 127.0.0.1 and ::1 (when ::1
///   exists). A SOCKS5h proxy resolving `localhost` may pick either address: microsocks connects
///   to the first one getaddrinfo returns, ::1 on hosts whose /etc/hosts lists it.
///
/// - `alpnEcho`: a TLS echo server that would choose HTTP/2 by ALPN (`h2`, then `http/1.1`)
///   and prints `ALPN <protocol it selected, or None>` for every connection.
///
/// The server picks its port and prints it, so there is no window in which another process
/// could take it.
final class PythonPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    static func tlsBurst(_ identity: TestCertificates.Identity, records: Int, size: Int) async throws -> PythonPeer {
        try await PythonPeer(arguments: ["tls-burst", identity.certificate, identity.key, "\(records)", "\(size)"])
    }

    static func alpnEcho(_ identity: TestCertificates.Identity) async throws -> PythonPeer {
        try await PythonPeer(arguments: ["alpn-echo", identity.certificate, identity.key])
    }

    static func dualStackEcho() async throws -> PythonPeer {
        try await PythonPeer(arguments: ["echo"])
    }

    private init(arguments: [String]) async throws {
        let (daemon, directory) = try Daemon.python("python-peer-\(arguments[0])", script: Self.script, arguments: arguments)
        self.daemon = daemon
        port = try await daemon.waitForPrintedPort()
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    private static let script = #"""
import selectors, socket, ssl, sys, threading

def listen(addresses):
    """Listens on the same free port on every address; None for an address family that is absent."""
    for _ in range(50):
        first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        first.bind(("127.0.0.1", 0))
        first.listen(64)
        port = first.getsockname()[1]
        listeners = [first]
        try:
            for address in addresses:
                extra = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                extra.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    extra.bind((address, port))
                except OSError as error:
                    extra.close()
                    if error.errno == 98:  # EADDRINUSE: try another port
                        raise
                    print(f"not listening on {address}: {error}", file=sys.stderr, flush=True)
                    continue
                extra.listen(64)
                listeners.append(extra)
            return port, listeners
        except OSError:
            for listener in listeners:
                listener.close()
    raise SystemExit("no port free on every address")

def serve(listeners, handle):
    selector = selectors.DefaultSelector()
    for listener in listeners:
        selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            connection, _ = key.fileobj.accept()
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

def echo(connection):
    with connection:
        while data := connection.recv(65536):
            connection.sendall(data)

def burst(context, records, size):
    def handle(connection):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.settimeout(30)
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                for record in range(records):
                    tls.sendall(bytes((record * size + offset) % 251 for offset in range(size)))
                print(f"sent {records} records", file=sys.stderr, flush=True)
                tls.unwrap()
        except (OSError, ValueError) as error:
            print(f"burst connection: {error!r}", file=sys.stderr, flush=True)
    return handle

def alpn_echo(context):
    def handle(connection):
        connection.settimeout(30)
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                print(f"ALPN {tls.selected_alpn_protocol()}", flush=True)
                while data := tls.recv(65536):
                    tls.sendall(data)
        except (OSError, ValueError) as error:
            print(f"alpn connection: {error!r}", file=sys.stderr, flush=True)
    return handle

mode = sys.argv[1]
if mode == "echo":
    port, listeners = listen(["::1"])
    handler = echo
elif mode == "tls-burst":
    certificate, key, records, size = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    port, listeners = listen([])
    handler = burst(context, records, size)
elif mode == "alpn-echo":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    context.set_alpn_protocols(["h2", "http/1.1"])
    port, listeners = listen([])
    handler = alpn_echo(context)
else:
    raise SystemExit(f"unknown mode {mode}")
print(f"PORT {port}", flush=True)
serve(listeners, handler)
"""#
}
