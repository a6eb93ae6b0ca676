import Foundation
import Testing

/// Debian's Python, which has python3-aiosmtpd (a `python3` first on `PATH` may be another).
private let debianPython = "/usr/bin/python3"

/// Whether Debian's Python has aiosmtpd and openssl is there (in CI the tests always run, and
/// fail without them). Checked once, when the suite is about to run.
private let aiosmtpdCanRun: Bool = TestEnvironment.isCI
    || (TestEnvironment.canTry("openssl") && (try? runToCompletion(debianPython, ["-c", "import aiosmtpd"], timeout: .seconds(20))) != nil)

extension ExamplesTests {
    /// `sendmail` against aiosmtpd (Debian's python3-aiosmtpd), which requires STARTTLS before
    /// anything else and a login before MAIL FROM, and prints each message it stores.
    @Suite(.enabled(if: aiosmtpdCanRun, "needs /usr/bin/python3 with aiosmtpd and openssl (Debian packages python3-aiosmtpd and openssl)"))
    struct SendmailTests {
        /// Lines that must survive: ones that start with ".", one that is only ".", LF and CRLF
        /// endings, UTF-8, an empty line, and no line break at the very end.
        static let body = "Hello Bob,\n.starts with a dot\n.\n..two dots\r\nGrüße, ünïcode\n\nlast line, no newline"
        /// What the server must store after the header: the same lines, each ending in CRLF.
        static let storedBody = "Hello Bob,\r\n.starts with a dot\r\n.\r\n..two dots\r\nGrüße, ünïcode\r\n\r\nlast line, no newline\r\n"

        @Test func sendsTheMessageIntactOverSTARTTLSWithALogin() throws {
            try withAiosmtpd { server in
                let sendmail = try ChildProcess(try TestEnvironment.example("sendmail"), [
                    "--from", "alice@example.com", "--to", "bob@example.org", "--to", "carol@example.net",
                    "--subject", "Round trip", "--user", "alice", "--password-file", server.passwordFile(),
                    "--cacert", server.caFile, server.url,
                ], withInput: true)
                defer { sendmail.stop() }
                sendmail.writeInputAndClose(Array(Self.body.utf8))
                let status = try sendmail.waitForExit(timeout: .seconds(60))
                #expect(status == 0, "stderr: \(sendmail.standardErrorText)")
                #expect(sendmail.standardErrorText.isEmpty, "stderr: \(sendmail.standardErrorText)")

                #expect(try server.waitForPrinted("AUTH ") == ["PLAIN accepted"])
                let delivered = try server.waitForPrinted("DELIVERED ")
                try #require(delivered.count == 1, "aiosmtpd printed: \(server.process.standardOutputText)")
                let fields = delivered[0].split(separator: " ")
                #expect(fields.count == 3)
                #expect(fields.first == "alice@example.com")
                #expect(fields.dropFirst().first == "bob@example.org,carol@example.net")
                let stored = String(decoding: Data(base64Encoded: String(fields.last ?? "")) ?? Data(), as: UTF8.self)
                let parts = stored.split(separator: "\r\n\r\n", maxSplits: 1)
                try #require(parts.count == 2, "stored: \(stored)")
                #expect(parts[1] == Self.storedBody, "stored: \(stored)")
                let header = parts[0].components(separatedBy: "\r\n")
                #expect(header.prefix(4) == ["From: alice@example.com", "To: bob@example.org,", "    carol@example.net", "Subject: Round trip"], "\(header)")
                #expect(header.contains { $0.hasPrefix("Date: ") } && header.contains { $0.hasPrefix("Message-ID: <") && $0.hasSuffix("@example.com>") })
                #expect(header.contains("Content-Type: text/plain; charset=utf-8"))
            }
        }

        @Test func aWrongPasswordExitsOneWithTheServersWords() throws {
            try withAiosmtpd { server in
                let sendmail = try ChildProcess(try TestEnvironment.example("sendmail"), [
                    "--from", "alice@example.com", "--to", "bob@example.org", "--user", "alice",
                    "--password-file", server.passwordFile("not the secret"), "--cacert", server.caFile, server.url,
                ], withInput: true)
                defer { sendmail.stop() }
                sendmail.writeInputAndClose(Array("never delivered\n".utf8))
                let status = try sendmail.waitForExit(timeout: .seconds(60))
                #expect(status == 1)
                #expect(sendmail.standardErrorText.contains("535 5.7.8 Authentication credentials invalid"), "stderr: \(sendmail.standardErrorText)")
                #expect(try server.waitForPrinted("AUTH ") == ["PLAIN refused"])
                #expect(server.printed("DELIVERED ").isEmpty)
            }
        }

        @Test func badArgumentsExitTwo() throws {
            let sendmail = try ChildProcess(try TestEnvironment.example("sendmail"), ["--from", "alice@example.com", "smtp://127.0.0.1:9"])
            defer { sendmail.stop() }
            #expect(try sendmail.waitForExit(timeout: .seconds(30)) == 2)
            #expect(sendmail.standardErrorText.contains("missing --to"), "stderr: \(sendmail.standardErrorText)")
        }

        // MARK: The server

        struct Server {
            let process: ChildProcess
            let directory: TemporaryDirectory
            let url: String
            var caFile: String { directory.file("ca.pem") }

            /// A file holding `password` and a newline, for --password-file.
            func passwordFile(_ password: String = "secret") throws -> String {
                try directory.write("password-\(password.utf8.count)", password + "\n")
                return directory.file("password-\(password.utf8.count)")
            }

            /// The rest of each line aiosmtpd printed that starts with `prefix`.
            func printed(_ prefix: String) -> [String] {
                process.standardOutputText.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
            }

            /// Waits until `count` lines that start with `prefix` have come through the pipe from
            /// aiosmtpd (it prints them before it answers the client, but the pipe's reader
            /// thread may not have read them yet when sendmail exits); returns them.
            func waitForPrinted(_ prefix: String, count: Int = 1, timeout: Duration = .seconds(10)) throws -> [String] {
                let done = try process.waitForOutput("\(count) '\(prefix)' lines from aiosmtpd", timeout: timeout) { output in
                    String(decoding: output, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix(prefix) }.count >= count
                }
                guard done else {
                    throw DeadlineExceeded(what: "\(count) '\(prefix)' lines from aiosmtpd before it exited; it printed: \(process.standardOutputText)")
                }
                return printed(prefix)
            }
        }

        /// Starts aiosmtpd's Controller on 127.0.0.1 with STARTTLS required, AUTH (PLAIN, LOGIN)
        /// accepting alice/secret only after it, and mail only after a login; runs `body`; stops it.
        /// The server prints `AUTH <mechanism> accepted|refused` and
        /// `DELIVERED <from> <to,…> <base64 of the stored message>`.
        private func withAiosmtpd(_ body: (Server) throws -> Void) throws {
            let openssl = try TestEnvironment.daemon("openssl", package: "openssl")
            let directory = try TemporaryDirectory("asynccurl-aiosmtpd")
            defer { directory.remove() }
            try makeTestCertificates(openssl, in: directory)
            try directory.write("server.py", Self.script)
            let (process, port) = try startDaemon { port in
                try ChildProcess(debianPython, [directory.file("server.py"), "\(port)", directory.file("server.pem"), directory.file("server.key")])
            }
            defer { process.stop() }
            try body(Server(process: process, directory: directory, url: "smtp://127.0.0.1:\(port)"))
        }

        private static let script = #"""
import base64, ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, certificate, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        content = base64.b64encode(envelope.original_content).decode()
        print("DELIVERED", envelope.mail_from, ",".join(envelope.rcpt_tos), content, flush=True)
        return "250 2.0.0 Message accepted for delivery"

def authenticator(server, session, envelope, mechanism, auth_data):
    accepted = (auth_data.login, auth_data.password) == (b"alice", b"secret")
    print("AUTH", mechanism, "accepted" if accepted else "refused", flush=True)
    return AuthResult(success=accepted, handled=False)

context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(certificate, key)
Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="mail.test", tls_context=context,
           require_starttls=True, authenticator=authenticator, auth_required=True).start()
threading.Event().wait()
"""#
    }
}
