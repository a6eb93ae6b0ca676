/// The Python `websockets` server (Debian's python3-websockets, 10.4 here): an independent,
/// widely used RFC 6455 and RFC 7692 implementation, on 127.0.0.1 (and ::1 where the host has
/// it) with a port it picks and prints. Over TLS with the test CA's server certificate when `tls` is set.
///
/// Paths:
/// - `/echo`: sends every message back as it came (text as text, binary as binary).
/// - `/headers`: first sends a JSON text message with the request's path and headers and the
///   negotiated sub-protocol, then echoes.
/// - `/close/<code>`: closes at once with `<code>` and the reason `server says bye`.
/// - `/burst/<n>/<size>`: sends `n` binary messages of `size` bytes (byte `i` is `i % 251`), then
///   echoes.
/// - `/ping`: sends a ping with payload `are you there`, waits for the pong, sends the text
///   `pong received`, then echoes.
///
/// The server offers the sub-protocols `chat` and `superchat`, and answers permessage-deflate
/// offers unless started with `compression: false`. `maxSize` is its own message limit.
final class WebSocketsServer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    init(tls: Bool = false, compression: Bool = true, serverMaxWindowBits: Int? = nil) async throws {
        var arguments: [String] = []
        if tls {
            let certificates = try TestCertificates.shared()
            arguments += ["--tls", certificates.server.certificate, certificates.server.key]
        }
        if !compression { arguments.append("--no-compression") }
        if let serverMaxWindowBits { arguments += ["--server-max-window-bits", "\(serverMaxWindowBits)"] }
        (daemon, directory) = try Daemon.python("websockets-server", script: Self.script, arguments: arguments)
        port = try await daemon.waitForPrintedPort()
    }

    deinit {
        daemon.stop()
    }

    func url(_ path: String = "/echo", secure: Bool = false, host: String = "127.0.0.1") -> String {
        "\(secure ? "wss" : "ws")://\(host):\(port)\(path)"
    }

    private static let script = #"""
import asyncio, json, socket, ssl, sys
import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

args = sys.argv[1:]
context = None
compression = True
server_bits = None
while args:
    if args[0] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args[1], args[2])
        args = args[3:]
    elif args[0] == "--no-compression":
        compression = False
        args = args[1:]
    elif args[0] == "--server-max-window-bits":
        server_bits = int(args[1])
        args = args[2:]
    else:
        raise SystemExit("unknown argument " + args[0])

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def handler(ws, path):
    if path.startswith("/headers"):
        await ws.send(json.dumps({"path": path, "headers": [[k, v] for k, v in ws.request_headers.raw_items()],
                                  "subprotocol": ws.subprotocol}))
        await echo(ws)
    elif path.startswith("/close/"):
        await ws.close(code=int(path.split("/")[2]), reason="server says bye")
    elif path.startswith("/burst/"):
        _, _, n, size = path.split("/")
        payload = bytes(i % 251 for i in range(int(size)))
        for _ in range(int(n)):
            await ws.send(payload)
        await echo(ws)
    elif path == "/ping":
        waiter = await ws.ping(b"are you there")
        await asyncio.wait_for(waiter, 60)
        await ws.send("pong received")
        await echo(ws)
    else:
        await echo(ws)

def listeners():
    """127.0.0.1 on a free port, and ::1 on the same port where the host has it: a SOCKS proxy
    that resolves localhost itself may pick either."""
    first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    first.bind(("127.0.0.1", 0))
    port = first.getsockname()[1]
    sockets = [first]
    try:
        extra = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        extra.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        extra.bind(("::1", port))
        sockets.append(extra)
    except OSError:
        pass
    return port, sockets

async def main():
    extensions = None
    if compression:
        extensions = [ServerPerMessageDeflateFactory(server_max_window_bits=server_bits)]
    port, sockets = listeners()
    for listener in sockets:
        await websockets.serve(handler, sock=listener, ssl=context, subprotocols=["chat", "superchat"],
                               extensions=extensions, compression=None, max_size=64 * 1024 * 1024,
                               ping_interval=None)
    print("PORT", port, flush=True)
    await asyncio.Future()

asyncio.run(main())
"""#
}
