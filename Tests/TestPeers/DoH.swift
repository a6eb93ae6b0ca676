import Foundation

/// A DNS-over-HTTPS responder (RFC 8484) written with Python's standard library: it serves
/// `application/dns-message` over HTTPS, by POST and by GET with `?dns=<base64url>`, on a port of
/// 127.0.0.1 that it picks and prints.
///
/// It answers A and AAAA questions for the names it is given (`records`) and NXDOMAIN for every
/// other name, and prints `QUERY <name> <A|AAAA>` for every question, so a test can prove a
/// name was resolved through it (``queries``). It speaks HTTP/1.1 with keep-alive, as a real
/// responder would, so libcurl may keep its connection to it cached.
final class DoHPeer: Sendable {
    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// `https://127.0.0.1:<port>/dns-query`.
    var url: String { "https://127.0.0.1:\(port)/dns-query" }

    /// Serves with `identity` (the test certificates' `server` is for 127.0.0.1), answering
    /// `records`: name -> addresses, IPv4 or IPv6, such as `["svc.example.test": ["127.0.0.1"]]`.
    init(_ identity: TestCertificates.Identity, records: [String: [String]]) async throws {
        let names = records.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.joined(separator: ","))" }
        let (daemon, directory) = try Daemon.python("doh", script: Self.script,
                                                    arguments: [identity.certificate, identity.key] + names)
        self.daemon = daemon
        port = try await daemon.waitForPrintedPort()
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    /// The questions answered so far, as `"<name> <type>"` (`"svc.example.test A"`).
    var queries: [String] {
        lines(startingWith: "QUERY ")
    }

    /// The HTTP requests so far, as `"POST /dns-query application/dns-message"` or `"GET /dns-query"`.
    var requests: [String] {
        lines(startingWith: "POST ").map { "POST " + $0 } + lines(startingWith: "GET ").map { "GET " + $0 }
    }

    /// TCP connections accepted so far (each starts a TLS handshake).
    var connectionCount: Int {
        lines(startingWith: "CONNECTION 127.0.0.1").count
    }

    /// TLS handshakes that failed, with OpenSSL's reason (`"… tlsv1 alert unknown ca …"`).
    var failedHandshakes: [String] {
        lines(startingWith: "HANDSHAKE FAILED ")
    }

    /// Complete lines of the responder's output that start with `prefix`, without it.
    private func lines(startingWith prefix: String) -> [String] {
        let text = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    private static let script = #"""
import base64, http.server, socket, ssl, struct, sys, threading

certificate, key = sys.argv[1], sys.argv[2]
records = {}
for argument in sys.argv[3:]:
    name, _, addresses = argument.partition("=")
    records[name.lower().rstrip(".")] = addresses.split(",")

def parse_question(message):
    count = struct.unpack("!H", message[4:6])[0]
    if len(message) < 12 or count != 1:
        raise ValueError("expected one question")
    labels, offset = [], 12
    while True:
        length = message[offset]
        offset += 1
        if length == 0:
            break
        if length > 63:
            raise ValueError("compressed or bad label")
        labels.append(message[offset:offset + length].decode("ascii"))
        offset += length
    qtype, qclass = struct.unpack("!HH", message[offset:offset + 4])
    return ".".join(labels).lower(), qtype, offset + 4

def answer(message):
    name, qtype, end = parse_question(message)
    kind = {1: "A", 28: "AAAA"}.get(qtype, str(qtype))
    print(f"QUERY {name} {kind}", flush=True)
    family = {1: socket.AF_INET, 28: socket.AF_INET6}.get(qtype)
    known = name in records
    rdatas = []
    if known and family is not None:
        for address in records[name]:
            try:
                rdatas.append(socket.inet_pton(family, address))
            except OSError:
                pass
    flags = 0x8180 if known else 0x8183  # response, recursion desired and available; rcode 3 = NXDOMAIN
    header = message[0:2] + struct.pack("!HHHHH", flags, 1, len(rdatas), 0, 0)
    body = header + message[12:end]
    for rdata in rdatas:
        body += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
    return body

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        # The handshake runs here, in the connection's thread, not in accept: a client that
        # never finishes it cannot stop the server accepting others.
        self.request.settimeout(10)
        try:
            self.request.do_handshake()
        except OSError as error:
            print(f"HANDSHAKE FAILED {error}", flush=True)
            raise
        super().setup()

    def reply(self, message):
        try:
            body = answer(message)
        except (ValueError, IndexError, struct.error, UnicodeDecodeError) as error:
            print(f"BAD {error}", flush=True)
            self.send_error(400)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/dns-message")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        message = self.rfile.read(length)
        print(f"POST {self.path} {self.headers.get('Content-Type')}", flush=True)
        self.reply(message)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        parameters = dict(part.partition("=")[::2] for part in query.split("&") if part)
        encoded = parameters.get("dns", "")
        print(f"GET {path}", flush=True)
        try:
            message = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            self.send_error(400)
            return
        self.reply(message)

    def log_message(self, format, *arguments):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        print(f"CONNECTION ENDED {sys.exc_info()[1]!r}", flush=True)

    def get_request(self):
        connection, address = super().get_request()
        print(f"CONNECTION {address[0]}", flush=True)
        return connection, address

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(certificate, key)
context.set_alpn_protocols(["http/1.1"])
server = Server(("127.0.0.1", 0), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
"""#
}
