/// An HTTP/1.1 server with Digest authentication (RFC 7616, `qop=auth`), written with Python's
/// http.server (ThreadingHTTPServer, keep-alive), on a port of 127.0.0.1 it binds itself and
/// prints.
///
/// - `GET /digest` (algorithm MD5) and `GET /digest-sha256` (algorithm SHA-256): 200 ``body``
///   with valid credentials for ``user`` and ``password`` in ``realm``, answering a nonce it
///   issued; otherwise 401 with a new challenge
///   (`WWW-Authenticate: Digest realm=…, qop="auth", algorithm=…, nonce=…, opaque=…`) and the
///   body `unauthorized\n`. Anything else: 404.
/// - What it saw, one line each on its standard output (the daemon's log):
///   `DIGEST <user> <path> accepted|refused` for every request that carried Digest credentials.
final class DigestHTTPServer: Sendable {
    static let user = "alice"
    static let password = "digest-secret"
    static let realm = "asynccurl-digest"
    static let body = Array("digest ok\n".utf8)

    let port: Int
    let daemon: Daemon
    private let directory: TemporaryDirectory

    init() async throws {
        (daemon, directory) = try Daemon.python("digest-server", script: Self.script,
                                                arguments: [Self.user, Self.password, Self.realm])
        port = try await daemon.waitForPrintedPort()
    }

    deinit {
        daemon.stop()
    }

    /// `http://127.0.0.1:<port><path>`.
    func url(_ path: String = "/digest") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The `DIGEST …` lines so far, without `DIGEST `: `"alice /digest accepted"`.
    var logins: [String] {
        let text = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .filter { $0.hasPrefix("DIGEST ") }.map { String($0.dropFirst("DIGEST ".count)) }
    }

    private static let script = #"""
import hashlib, hmac, http.server, os, re, secrets, sys, threading

USER, PASSWORD, REALM = sys.argv[1:4]
ALGORITHMS = {"/digest": ("MD5", "md5"), "/digest-sha256": ("SHA-256", "sha256")}
OPAQUE = secrets.token_hex(8)
issued, lock = set(), threading.Lock()
PARAMETER = re.compile(r'\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')

def say(line):
    os.write(1, (line + "\n").encode())

def parse(text):
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in PARAMETER.finditer(text)}

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path not in ALGORITHMS:
            return self.reply(404, b"not found\n")
        algorithm, name = ALGORITHMS[self.path]
        header = self.headers.get("Authorization", "")
        if header[:7].lower() == "digest ":
            p = parse(header[7:])
            h = lambda text: hashlib.new(name, text.encode()).hexdigest()
            with lock:
                known = p.get("nonce") in issued
            expected = h(":".join([h(f"{USER}:{REALM}:{PASSWORD}"), p.get("nonce", ""), p.get("nc", ""),
                                   p.get("cnonce", ""), "auth", h(f"GET:{self.path}")]))
            accepted = (known and p.get("username") == USER and p.get("realm") == REALM and p.get("uri") == self.path
                        and p.get("qop") == "auth" and p.get("algorithm", "MD5").upper() == algorithm
                        and hmac.compare_digest(p.get("response", "").lower(), expected))
            say(f"DIGEST {p.get('username')} {self.path} {'accepted' if accepted else 'refused'}")
            if accepted:
                return self.reply(200, b"digest ok\n")
        nonce = secrets.token_hex(16)
        with lock:
            issued.add(nonce)
        challenge = f'Digest realm="{REALM}", qop="auth", algorithm={algorithm}, nonce="{nonce}", opaque="{OPAQUE}"'
        self.reply(401, b"unauthorized\n", [("WWW-Authenticate", challenge)])

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        say("log: " + format % args)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
say(f"PORT {server.server_address[1]}")
server.serve_forever()
"""#
}
