import Foundation

/// aiosmtpd (Debian's python3-aiosmtpd, 1.4.3 here), the real SMTP server library: its
/// `Controller` and `SMTP` classes on a free port of 127.0.0.1, in a Python process of its own.
///
/// - TLS: none, `STARTTLS` (optionally required before anything else: `require_starttls`), or
///   implicit TLS from the first byte for `smtps://` (the Controller's `ssl_context`), all with
///   the test CA's `server` identity (localhost and 127.0.0.1).
/// - AUTH: PLAIN and LOGIN (aiosmtpd's own, checked by an `authenticator`) and CRAM-MD5 (RFC 2195,
///   a handler's `auth_CRAM__MD5` method on top of aiosmtpd's `challenge_auth`), accepting only
///   alice/secret. `authRequiresTLS` is aiosmtpd's `auth_require_tls`: AUTH is offered and taken
///   only after STARTTLS. aiosmtpd 1.4.3 counts only STARTTLS as TLS there, not implicit TLS, so
///   the implicit variant always offers AUTH. Mail is taken only after a login (`auth_required`).
/// - What it saw, one line each on its standard output (the daemon's log):
///   `AUTH <mechanism> <user> accepted|refused`, and
///   `DELIVERED <from> <to>[,<to>…] <base64 of the message as stored>` for each message: the
///   bytes between `DATA` and the final `.`, dot-stuffing undone, CRLF line endings as sent.
///
/// The server binds its port itself (port 0) and prints it, so no other process can take it.
final class SMTPServer: Sendable {
    enum TLS: String, Sendable {
        /// Plain text only: no STARTTLS offered.
        case none
        /// STARTTLS offered.
        case startTLS = "starttls"
        /// TLS from the first byte (`smtps://`).
        case implicit
    }

    /// The user name and password the server accepts.
    static let user = "alice"
    static let password = "secret"

    let port: Int
    let tls: TLS
    let daemon: Daemon
    private let directory: TemporaryDirectory

    /// One message as the server stored it.
    struct Delivery: Sendable, Equatable {
        let from: String
        let recipients: [String]
        let content: [UInt8]

        var text: String { String(decoding: content, as: UTF8.self) }
    }

    init(tls: TLS = .startTLS, requireStartTLS: Bool = false, authRequiresTLS: Bool = true) async throws {
        let identity = try TestCertificates.shared().server
        var arguments = [tls.rawValue, identity.certificate, identity.key]
        if requireStartTLS { arguments.append("--require-starttls") }
        if !authRequiresTLS { arguments.append("--auth-without-tls") }
        let (daemon, directory) = try Daemon.python("aiosmtpd-\(tls.rawValue)", script: Self.script,
                                                    arguments: arguments, interpreter: .aiosmtpd)
        self.daemon = daemon
        self.directory = directory
        self.tls = tls
        port = try await daemon.waitForPrintedPort()
    }

    deinit {
        daemon.stop()
    }

    /// `smtps://127.0.0.1:<port>` for implicit TLS, `smtp://127.0.0.1:<port>` otherwise.
    var url: String { "\(tls == .implicit ? "smtps" : "smtp")://127.0.0.1:\(port)" }

    /// The `AUTH …` lines so far, without `AUTH `: `"CRAM-MD5 alice accepted"`.
    var logins: [String] { printedLines("AUTH ") }

    /// The messages delivered so far, in order.
    var deliveries: [Delivery] {
        printedLines("DELIVERED ").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, let content = Data(base64Encoded: String(fields[2])) else { return nil }
            return Delivery(from: String(fields[0]), recipients: fields[1].split(separator: ",").map(String.init),
                            content: Array(content))
        }
    }

    /// Waits until the server has printed `count` deliveries (it prints each before it answers
    /// the final `.` with 250, so after that answer this returns at once) and returns them.
    func waitForDeliveries(_ count: Int = 1, timeout: Duration = .seconds(10)) async throws -> [Delivery] {
        try await daemon.poll("delivered no \(count) messages", timeout: timeout) {
            let delivered = deliveries
            return delivered.count >= count ? delivered : nil
        }
    }

    /// The rest of each complete line of the daemon's output that starts with `prefix`.
    private func printedLines(_ prefix: String) -> [String] {
        let text = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            .filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    private static let script = #"""
import base64, hmac, logging, os, secrets, socket, ssl, sys, threading, time, warnings
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

USERS = {"alice": "secret"}
mode, certificate, key = sys.argv[1], sys.argv[2], sys.argv[3]
flags = set(sys.argv[4:])

def say(line):
    """One line, in one write: the test reads these lines while the server's thread logs."""
    os.write(1, (line + "\n").encode())

class LineHandler(logging.Handler):
    def emit(self, record):
        say("log: " + self.format(record))

logging.basicConfig(level=logging.INFO, handlers=[LineHandler()], format="%(name)s %(levelname)s %(message)s")
# auth_required without auth_require_tls warns; that combination is what the test asks for.
warnings.simplefilter("ignore")

class Handler:
    async def handle_DATA(self, server, session, envelope):
        content = base64.b64encode(envelope.original_content).decode()
        say(f"DELIVERED {envelope.mail_from} {','.join(envelope.rcpt_tos)} {content}")
        return "250 2.0.0 Message accepted for delivery"

    # aiosmtpd offers every auth_<NAME> method of the handler as a mechanism ("__" is "-").
    async def auth_CRAM__MD5(self, server, args):
        """RFC 2195: the challenge is a message id; the answer is `user hex(HMAC-MD5(password, challenge))`."""
        if len(args) != 1:
            await server.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{secrets.randbelow(10**12)}.{time.time_ns()}@mail.test>".encode()
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:  # challenge_auth already answered (aborted, or not base64)
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.decode("utf-8", "replace").rpartition(" ")
        password = USERS.get(user)
        expected = hmac.new(password.encode(), challenge, "md5").hexdigest() if password else ""
        accepted = bool(expected) and hmac.compare_digest(digest.lower(), expected)
        say(f"AUTH CRAM-MD5 {user} {'accepted' if accepted else 'refused'}")
        return AuthResult(success=accepted, handled=False, auth_data=LoginPassword(user.encode(), b""))

def authenticator(server, session, envelope, mechanism, auth_data):
    """PLAIN and LOGIN, aiosmtpd's own mechanisms, hand their user and password here."""
    user = auth_data.login.decode("utf-8", "replace")
    accepted = USERS.get(user) == auth_data.password.decode("utf-8", "replace")
    say(f"AUTH {mechanism} {user} {'accepted' if accepted else 'refused'}")
    return AuthResult(success=accepted, handled=False, auth_data=auth_data)

class LoopbackController(Controller):
    """aiosmtpd's Controller on a socket bound here to 127.0.0.1 port 0. Controller binds the
    port it is given and then connects to it to check, which port 0 cannot do."""
    def __init__(self, handler, **kwargs):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        super().__init__(handler, hostname="127.0.0.1", port=self.listener.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.listener, ssl=self.ssl_context)

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(certificate, key)
options = dict(
    server_hostname="mail.test", authenticator=authenticator, auth_required=True,
    # aiosmtpd 1.4.3 sees TLS only after STARTTLS: with implicit TLS it would never offer AUTH.
    auth_require_tls="--auth-without-tls" not in flags and mode != "implicit",
)
if mode == "starttls":
    options.update(tls_context=context, require_starttls="--require-starttls" in flags)
elif mode == "implicit":
    options.update(ssl_context=context)
elif mode != "none":
    raise SystemExit(f"unknown mode {mode}")
controller = LoopbackController(Handler(), **options)
controller.start()
say(f"PORT {controller.port}")
threading.Event().wait()
"""#
}
