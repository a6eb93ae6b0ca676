import Foundation
import Glibc
import Testing

extension PeerProgram {
    /// Dovecot 2.3, the IMAP server (and the master that runs every Dovecot protocol).
    static let dovecot = PeerProgram("dovecot", package: "dovecot-imapd")
    /// Dovecot's POP3 server: no executable of its own on PATH (its binaries live in
    /// /usr/lib/dovecot), so the probe checks that they are there.
    static let dovecotPOP3 = PeerProgram("test", package: "dovecot-pop3d", probe: ["-x", DovecotPeer.pop3Login])
}

/// The real Debian Dovecot as an IMAP and POP3 server on 127.0.0.1, for the mail set-up's tests
/// (MailIMAPTests, MailPOP3Tests).
///
/// It runs in the foreground (`dovecot -F -c <config>`), with everything in a temporary
/// directory of its own, and it starts in well under 0.1 s. The configuration, and why:
///
/// - `listen = 127.0.0.1` and every `inet_listener` on 127.0.0.1 with a port picked free just
///   before: nothing else is ever bound. The services that would listen elsewhere by default
///   (doveadm, submission, lmtp) are not in `protocols`. Should another process take a port in
///   between, Dovecot exits and the start is retried with new ports.
/// - `base_dir`, `state_dir` and `instance_name` are the directory's and a name of its own, so
///   two instances (and a system Dovecot) never share sockets, a pid file or the instance list.
/// - Run as root, Dovecot needs `default_internal_user` (`dovecot`, for anvil and stats) and
///   `default_login_user` (`dovenull`, for the imap-login and pop3-login processes, chrooted into
///   base_dir/login); both users come with the package. The mail processes run as `nobody`
///   (the static userdb's uid and gid 65534, above the default `first_valid_uid`), so the
///   directory is made traversable (0755) and the maildir is handed to `nobody`: mkdtemp makes
///   0700 directories, which only root could enter. The certificate and key are read by the
///   config process, as root.
/// - `passdb { driver = passwd-file }` holds `alice` with her password in the `PLAIN` scheme: a
///   challenge-response mechanism (CRAM-MD5, DIGEST-MD5, APOP) needs the password itself on the
///   server's side, and PLAIN is the one scheme all three can use.
/// - `auth_mechanisms = plain login cram-md5 digest-md5 apop`: APOP adds the timestamp to the
///   POP3 greeting; the others are offered as `AUTH=…` (IMAP) and in `CAPA`'s `SASL` line (POP3).
/// - `auth_failure_delay = 0`: Dovecot answers a wrong password after 2 s by default, which
///   would make a failure test slow without proving anything more (it still answers on its
///   next 0.5 s tick). Its auth penalty cannot be turned off, though: after a failed login, the
///   next login from 127.0.0.1 waits 2 to 4 s. A test of a wrong password therefore starts a
///   Dovecot of its own (0.1 s) instead of using the suite's.
/// - `log_path = /dev/stderr`, which Dovecot writes through its inherited stderr: one log, the
///   Daemon's, quoted in every start-up error. `login_log_format_elements` adds the client's port
///   (`rport=`) to each login line, so that a test finds the line of its own connection
///   (``loginLine(fromPort:)``), and `auth_verbose` logs why a login failed.
/// - `ssl = yes` with the test CA's server certificate (for localhost and 127.0.0.1) offers
///   STARTTLS and STLS on the plain ports and serves imaps and pop3s; with `tls: nil`, `ssl = no`
///   makes a server without STARTTLS and without the TLS ports.
/// - `disable_plaintext_auth = no`: the server without TLS must accept passwords in plain text
///   (Dovecot would anyway from 127.0.0.1, which it counts as secure).
///
/// One message, ``message``, is in the INBOX (a file in maildir/new) from the start.
final class DovecotPeer: Sendable {
    let daemon: Daemon
    /// IMAP, with STARTTLS when the server has TLS.
    let imapPort: Int
    /// POP3, with STLS when the server has TLS.
    let pop3Port: Int
    /// IMAP and POP3 over TLS from the first byte; `nil` without TLS.
    let imapsPort: Int?
    let pop3sPort: Int?
    private let directory: TemporaryDirectory

    static let user = "alice"
    static let password = "secret"
    /// The one message in the INBOX, with CRLF line endings (as POP3 and IMAP send it).
    static let message = "From: bob@example.org\r\nTo: alice@example.org\r\nSubject: hello\r\n\r\nHi Alice.\r\n"
    static let pop3Login = "/usr/lib/dovecot/pop3-login"

    /// `imap://127.0.0.1:<imapPort>` and the others; `localhost` is in the certificate as well.
    var imapURL: String { "imap://127.0.0.1:\(imapPort)" }
    var pop3URL: String { "pop3://127.0.0.1:\(pop3Port)" }
    var imapsURL: String? { imapsPort.map { "imaps://127.0.0.1:\($0)" } }
    var pop3sURL: String? { pop3sPort.map { "pop3s://127.0.0.1:\($0)" } }

    /// Starts Dovecot serving IMAP and POP3, with `tls` as its certificate (STARTTLS, imaps,
    /// pop3s), or without TLS at all for `nil`. Returns once every port accepts connections.
    init(tls: TestCertificates.Identity?) async throws {
        let executable = try PeerProgram.dovecot.executable()
        guard access(Self.pop3Login, X_OK) == 0 else {
            throw PeerError.missing("\(Self.pop3Login) is not installed: apt-get install -y \(PeerProgram.dovecotPOP3.debianPackage)")
        }
        guard getuid() == 0 else {
            throw PeerError.launchFailed("DovecotPeer runs Dovecot as root (it switches to the dovecot, dovenull and nobody users)")
        }
        let directory = try TemporaryDirectory(tls == nil ? "dovecot-plain" : "dovecot-tls")
        try Self.prepare(directory)
        let (daemon, ports) = try await Daemon.startListening(portCount: tls == nil ? 2 : 4) { attempt, ports in
            let config = try directory.write("dovecot-\(attempt).conf", Self.config(in: directory, tls: tls, ports: ports))
            return try Daemon(name: "dovecot", executable: executable, arguments: ["-F", "-c", config],
                              logPath: directory.file("dovecot-\(attempt).log"))
        }
        self.daemon = daemon
        imapPort = ports[0]
        pop3Port = ports[1]
        imapsPort = tls == nil ? nil : ports[2]
        pop3sPort = tls == nil ? nil : ports[3]
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    /// Stops Dovecot (its master and, through the process group, every process it started).
    func stop() {
        daemon.stop()
    }

    /// Everything Dovecot logged so far.
    var log: String {
        (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
    }

    /// Dovecot's last line about the connection from 127.0.0.1:`port` that contains `fragment`
    /// (`imap-login: Info: Login: user=<alice>, method=CRAM-MD5, rip=127.0.0.1, rport=<port>, …`),
    /// once it is in the log; `nil` if none appears within 5 s.
    func loginLine(fromPort port: Int?, containing fragment: String = "") async -> String? {
        guard let port else { return nil }
        var found: String?
        _ = await eventually {
            // (Foundation's contains("") is false.)
            found = log.split(separator: "\n").last { line in
                line.contains(" rport=\(port),") && (fragment.isEmpty || line.contains(fragment))
            }.map(String.init)
            return found != nil
        }
        return found
    }

    /// The directories and files every configuration uses: passwd file, maildir with the message.
    private static func prepare(_ directory: TemporaryDirectory) throws {
        guard chmod(directory.path, 0o755) == 0 else {
            throw PeerError.launchFailed("chmod \(directory.path): \(String(cString: strerror(errno)))")
        }
        try directory.write("passwd", "\(user):{PLAIN}\(password)\n")
        let maildir = directory.file("mail/Maildir")
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: "\(maildir)/\(sub)", withIntermediateDirectories: true)
        }
        try message.write(toFile: "\(maildir)/new/1700000000.M1P1.asynccurl", atomically: false, encoding: .utf8)
        for path in [directory.file("mail"), maildir, "\(maildir)/new", "\(maildir)/cur", "\(maildir)/tmp",
                     "\(maildir)/new/1700000000.M1P1.asynccurl"] {
            guard chown(path, 65534, 65534) == 0 else {
                throw PeerError.launchFailed("chown \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The configuration: see the type's documentation. `ports` are imap, pop3 and, with `tls`,
    /// imaps and pop3s.
    private static func config(in directory: TemporaryDirectory, tls: TestCertificates.Identity?, ports: [Int]) -> String {
        let d = directory.path
        func listener(_ name: String, _ port: Int, tls: Bool) -> String {
            """
              inet_listener \(name) {
                address = 127.0.0.1
                port = \(port)
                ssl = \(tls ? "yes" : "no")
              }
            """
        }
        let sslLines = tls.map { "ssl = yes\nssl_cert = <\($0.certificate)\nssl_key = <\($0.key)" } ?? "ssl = no"
        let tlsListeners = tls == nil ? ("", "") : (listener("imaps", ports[2], tls: true), listener("pop3s", ports[3], tls: true))
        return """
            instance_name = asynccurl-\(URL(fileURLWithPath: d).lastPathComponent)
            base_dir = \(d)/run
            state_dir = \(d)/state
            listen = 127.0.0.1
            protocols = imap pop3
            default_internal_user = dovecot
            default_login_user = dovenull
            log_path = /dev/stderr
            info_log_path = /dev/stderr
            auth_verbose = yes
            login_log_format_elements = user=<%u> method=%m rip=%r rport=%{rport} lip=%l lport=%{lport} %c session=<%{session}>
            auth_mechanisms = plain login cram-md5 digest-md5 apop
            auth_failure_delay = 0
            disable_plaintext_auth = no
            \(sslLines)
            mail_location = maildir:\(d)/mail/Maildir
            passdb {
              driver = passwd-file
              args = \(d)/passwd
            }
            userdb {
              driver = static
              args = uid=65534 gid=65534 home=\(d)/mail
            }
            service imap-login {
            \(listener("imap", ports[0], tls: false))
            \(tlsListeners.0)
            }
            service pop3-login {
            \(listener("pop3", ports[1], tls: false))
            \(tlsListeners.1)
            }

            """
    }
}

/// Both Dovecot servers a mail suite needs: ``tls`` with STARTTLS, imaps and pop3s, and ``plain``
/// without any TLS (for `tlsUpgrade` `.required` against a server without STARTTLS).
struct DovecotServers: Sendable {
    let tls: DovecotPeer
    let plain: DovecotPeer

    /// The servers of the running suite (see ``DovecotSuiteScope``).
    @TaskLocal static var current: DovecotServers?

    /// The running suite's servers, or a failure saying the suite lacks `.dovecotServers`.
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> DovecotServers {
        try #require(current, "the suite needs the .dovecotServers trait", sourceLocation: sourceLocation)
    }
}

/// Starts the two Dovecot servers once for a whole suite (both at once, about 0.1 s) and stops
/// them when its last test is done; its tests find them in ``DovecotServers/current``.
struct DovecotSuiteScope: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let identity = try TestCertificates.shared().server
        async let tls = DovecotPeer(tls: identity)
        async let plain = DovecotPeer(tls: nil)
        let servers = try await DovecotServers(tls: tls, plain: plain)
        defer {
            servers.tls.stop()
            servers.plain.stop()
        }
        try await DovecotServers.$current.withValue(servers) {
            try await function()
        }
    }
}

extension Trait where Self == DovecotSuiteScope {
    /// Real Dovecot servers for the suite: see ``DovecotServers``.
    static var dovecotServers: Self { Self() }
}
