import Foundation

extension PeerProgram {
    /// The Python `h2` library (Debian's python3-h2), a sans-I/O HTTP/2 implementation, for a
    /// server that misbehaves at the frame level.
    static let pythonH2 = PeerProgram("python3", package: "python3-h2", probe: ["-c", "import h2.connection"])
}

/// A cleartext HTTP/2 server (prior knowledge, `h2c`) on 127.0.0.1 that answers every request
/// with a 200 head announcing `Content-Length: <declared>`, then `sent` body bytes (each
/// `i % 251`), then, by `ending`:
/// - `.reset`: `RST_STREAM` with `INTERNAL_ERROR` (the stream is reset mid-body);
/// - `.endStream`: an empty `DATA` frame with `END_STREAM` (a body shorter than its length,
///   ended cleanly at the frame level);
/// - `.goAway`: `GOAWAY` with `INTERNAL_ERROR` and the connection closed.
final class HTTP2ResetPeer: Sendable {
    enum Ending: String, Sendable {
        case reset, endStream = "end-stream", goAway = "goaway"
    }

    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    var url: String { "http://127.0.0.1:\(port)/" }

    init(declared: Int, sent: Int, ending: Ending) async throws {
        let (daemon, directory) = try Daemon.python("h2-reset-peer", script: Self.script,
                                                    arguments: ["\(declared)", "\(sent)", ending.rawValue],
                                                    interpreter: .pythonH2)
        self.daemon = daemon
        port = try await daemon.waitForPrintedPort()
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    private static let script = #"""
import socket, sys, threading
import h2.config, h2.connection, h2.events, h2.errors

declared, sent, ending = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = bytes(i % 251 for i in range(sent))

def handle(sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    stream = event.stream_id
                    conn.send_headers(stream, [(":status", "200"), ("content-length", str(declared)),
                                               ("content-type", "application/octet-stream")])
                    offset = 0
                    while offset < len(body):
                        size = min(16384, len(body) - offset, conn.local_flow_control_window(stream))
                        if size <= 0:
                            break
                        conn.send_data(stream, body[offset:offset + size])
                        offset += size
                    sock.sendall(conn.data_to_send())
                    if ending == "reset":
                        conn.reset_stream(stream, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
                    elif ending == "end-stream":
                        conn.end_stream(stream)
                    else:
                        conn.close_connection(error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
                        sock.sendall(conn.data_to_send())
                        return
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except OSError:
        pass
    finally:
        sock.close()

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(f"PORT {listener.getsockname()[1]}", flush=True)
while True:
    client, _ = listener.accept()
    threading.Thread(target=handle, args=(client,), daemon=True).start()
"""#
}
