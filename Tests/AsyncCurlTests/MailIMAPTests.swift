@testable import AsyncCurl
import Testing
@testable import TestPeers

/// The IMAP set-up against the real Dovecot (see DovecotPeer): implicit TLS, STARTTLS, the SASL
/// mechanisms and IMAP's LOGIN command, a refused login, a server without STARTTLS, a proxy, and
/// the application's own commands after the hand-over.
extension AsyncCurlTests {
    @Suite(.requires(.dovecot, .dovecotPOP3, .openssl), .dovecotServers)
    struct MailIMAPTests {
        /// `a1 SELECT INBOX` sees the one message, `a2 LOGOUT` ends the session: the connection
        /// is the application's, right after libcurl's login.
        static func selectAndLogOut(_ connection: AsyncConnection) async throws {
            let select = try await MailPeer.imap(connection, "a1", "SELECT INBOX")
            #expect(select.contains("* 1 EXISTS"), "\(select)")
            #expect(select.last?.hasPrefix("a1 OK") == true, "\(select)")
            let logout = try await MailPeer.imap(connection, "a2", "LOGOUT")
            #expect(logout.first?.hasPrefix("* BYE") == true && logout.last?.hasPrefix("a2 OK") == true, "\(logout)")
            #expect(try await connection.receive(timeout: .seconds(10)) == nil, "the server closes after LOGOUT")
        }

        static func cramMD5Logins(_ dovecot: DovecotPeer) -> Int {
            dovecot.log.split(separator: "\n").filter { $0.contains("Login: user=<alice>, method=CRAM-MD5") }.count
        }

        /// imaps://: TLS from the first byte with the test CA, then the greeting, CAPABILITY and
        /// the login; the TLS was never an upgrade.
        @Test func implicitTLS() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let url = try #require(dovecot.imapsURL)
            let info = try await multi.withConnection(to: url, options: MailPeer.login(loginOptions: "AUTH=PLAIN")) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            #expect(info.usesTLS && !info.upgradedToTLS)
            #expect(info.tlsVersion != nil)
            #expect(info.serverResponses.first?.hasPrefix("* OK [CAPABILITY IMAP4rev1") == true, "\(info.serverResponses)")
            #expect(!info.serverResponses.contains { $0.contains("STARTTLS") }, "no STARTTLS over TLS: \(info.serverResponses)")
            #expect(info.serverResponses.last?.contains("OK") == true && info.serverResponses.last?.contains("Logged in") == true,
                    "\(info.serverResponses)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("Login: user=<alice>, method=PLAIN") == true && login?.contains(" TLS") == true,
                    "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// imap:// with `tlsUpgrade` `.required` (the default): STARTTLS on the plain port, the
        /// certificate verified with the test CA, then the login over TLS. `serverResponses`
        /// holds the greeting, both capability lists and the answer to STARTTLS.
        @Test func startTLSRequired() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.imapURL, options: MailPeer.login(loginOptions: "AUTH=PLAIN")) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            #expect(info.upgradedToTLS && info.usesTLS)
            #expect(info.timings.tlsEstablished != nil)
            let lines = info.serverResponses
            #expect(lines.first?.hasPrefix("* OK [CAPABILITY") == true && lines.first?.contains("STARTTLS") == true, "\(lines)")
            // Before and after the upgrade (Dovecot adds a third, untagged, with the login's answer).
            let capabilities = lines.filter { $0.hasPrefix("* CAPABILITY") && $0.contains("AUTH=") }
            #expect(capabilities.count == 2, "before and after the upgrade: \(lines)")
            #expect(capabilities.first?.contains("STARTTLS") == true && capabilities.last?.contains("STARTTLS") == false, "\(lines)")
            #expect(lines.contains { $0.contains("OK Begin TLS negotiation now") }, "\(lines)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("method=PLAIN") == true && login?.contains(" TLS") == true, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// CRAM-MD5: a challenge-response, so the password never crosses the connection. The
        /// server's challenge (`+ <base64>`) is among the lines, and Dovecot logs the mechanism.
        @Test func cramMD5() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.imapURL, options: MailPeer.login(loginOptions: "AUTH=CRAM-MD5")) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            #expect(info.serverResponses.contains { $0.hasPrefix("+ ") && $0.count > 10 }, "the challenge: \(info.serverResponses)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("Login: user=<alice>, method=CRAM-MD5") == true, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// Any mechanism (no `loginOptions`): libcurl 7.88.1 prefers DIGEST-MD5, which Dovecot
        /// offers, but cannot read Dovecot's challenge (`algorithm="md5-sess"`: libcurl expects
        /// the value unquoted), cancels it with `*` and falls back to CRAM-MD5, one round trip
        /// later. The login succeeds all the same.
        @Test func anyMechanismEndsWithCRAMMD5() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.imapURL, options: MailPeer.login()) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            let login = await dovecot.loginLine(fromPort: info.localPort)
            if Self.libcurlCancelsDovecotsDigestMD5 {
                #expect(info.serverResponses.contains { $0.contains("BAD Authentication aborted by client") }, "\(info.serverResponses)")
                #expect(login?.contains("method=CRAM-MD5") == true, "\(login ?? dovecot.log)")
            } else {
                #expect(login?.contains("method=DIGEST-MD5") == true || login?.contains("method=CRAM-MD5") == true, "\(login ?? dovecot.log)")
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// libcurl 7 reads DIGEST-MD5's `algorithm` only unquoted (Debian's 7.88.1 does); later
        /// versions parse quoted values too, and the tests accept either outcome there.
        static var libcurlCancelsDovecotsDigestMD5: Bool { LoadedCurl.versionNumber < 0x08_00_00 }

        /// `AUTH=DIGEST-MD5` alone: libcurl 7.88.1 cancels the exchange it cannot answer, and
        /// the connect fails with `loginDenied`; the message says that libcurl, not the server,
        /// gave up (the server's last line, "BAD Authentication aborted by client", is only its
        /// answer to libcurl's `*`).
        @Test func digestMD5IsCancelledByLibcurl() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            guard Self.libcurlCancelsDovecotsDigestMD5 else { return }
            let error = await expectCurlError {
                try await multi.withConnection(to: dovecot.imapURL, options: MailPeer.login(loginOptions: "AUTH=DIGEST-MD5")) { _ async throws in }
            }
            #expect(error?.code == .loginDenied, "\(String(describing: error))")
            #expect(error?.message.contains("cancelled the login") == true && error?.message.contains("allow another mechanism") == true,
                    "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// `AUTH=+LOGIN`: IMAP's own LOGIN command instead of SASL, which libcurl has since
        /// 8.2.0. With an older libcurl (Debian's 7.88.1) the connect fails before any I/O with
        /// `badFunctionArgument` saying so; libcurl itself would fail it with "URL using
        /// bad/illegal format".
        @Test func loginCommand() async throws {
            let dovecot = try DovecotServers.require().tls
            let trace = TraceRecorder()
            let multi = CurlMulti()
            let options = try MailPeer.login(loginOptions: "AUTH=+LOGIN", trace: trace)
            guard LoadedCurl.versionNumber >= 0x08_02_00 else {
                let error = await expectCurlError {
                    try await multi.withConnection(to: dovecot.imapURL, options: options) { _ async throws in }
                }
                #expect(error?.code == .badFunctionArgument, "\(String(describing: error))")
                #expect(error?.message.contains("AUTH=+LOGIN") == true && error?.message.contains("8.2.0") == true,
                        "\(String(describing: error))")
                #expect(trace.text.isEmpty, "no I/O: \(trace.text)")
                #expect(await multi.diagnostics == .idle)
                return
            }
            let info = try await multi.withConnection(to: dovecot.imapURL, options: options) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            #expect(trace.contains("LOGIN alice"), "\(trace.text)")
            #expect(!trace.contains("AUTHENTICATE"), "\(trace.text)")
            #expect(info.serverResponses.last?.contains("Logged in") == true, "\(info.serverResponses)")
            #expect(await dovecot.loginLine(fromPort: info.localPort, containing: "Login: user=<alice>") != nil, "\(dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// A wrong password: `loginDenied`, with Dovecot's own answer in the message.
        @Test func wrongPasswordIsLoginDenied() async throws {
            try await expectDovecotRefusesWrongPassword(url: \.imapURL, serverWords: "NO [AUTHENTICATIONFAILED] Authentication failed.")
        }

        /// A server without STARTTLS: `.required` fails with `useSSLFailed` before the login;
        /// `.ifAvailable` logs in without TLS.
        @Test func serverWithoutStartTLS() async throws {
            let dovecot = try DovecotServers.require().plain
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: dovecot.imapURL, options: MailPeer.login(loginOptions: "AUTH=PLAIN")) { _ async throws in }
            }
            #expect(error?.code == .useSSLFailed)
            #expect(error?.message.contains("does not offer STARTTLS") == true, "\(String(describing: error))")
            #expect(!dovecot.log.contains("Login: user=<alice>"), "no login without TLS: \(dovecot.log)")

            let info = try await multi.withConnection(to: dovecot.imapURL, options: MailPeer.login(loginOptions: "AUTH=PLAIN", tlsUpgrade: .ifAvailable)) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            #expect(!info.upgradedToTLS && !info.usesTLS)
            #expect(!info.serverResponses.contains { $0.contains("STARTTLS") }, "\(info.serverResponses)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("method=PLAIN") == true && login?.contains(" TLS") == false, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// STARTTLS through a SOCKS5 proxy that resolves the name (`socks5h://`): the upgrade and
        /// the certificate check are end to end, through the tunnel.
        @Test(.requires(.microsocks))
        func startTLSThroughSocks5h() async throws {
            let dovecot = try DovecotServers.require().tls
            let socks = try await MicrosocksPeer()
            var options = try MailPeer.login(loginOptions: "AUTH=CRAM-MD5")
            options.proxy = "socks5h://\(socks.address)"
            let loginsBefore = Self.cramMD5Logins(dovecot)
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.imapURL, options: options) { connection async throws in
                try await Self.selectAndLogOut(connection)
                return connection.info
            }
            #expect(info.upgradedToTLS && info.usesTLS)
            #expect(info.remotePort == socks.port)
            // Dovecot's login line names the proxy's port, not ours: count the CRAM-MD5 logins.
            #expect(await eventually { Self.cramMD5Logins(dovecot) > loginsBefore }, "\(dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }
    }
}
