@testable import AsyncCurl
import Testing
@testable import TestPeers

/// The POP3 set-up against the real Dovecot (see DovecotPeer): implicit TLS, STLS, SASL PLAIN
/// and CRAM-MD5, APOP, a refused login, a server without STLS, and the application's own
/// commands after the hand-over.
///
/// Not here: `USER`/`PASS`. libcurl 7.88.1 sends them only with `AUTH=*` to a server that offers
/// neither a SASL mechanism nor APOP, and Dovecot always offers both.
extension AsyncCurlTests {
    @Suite(.requires(.dovecot, .dovecotPOP3, .openssl), .dovecotServers)
    struct MailPOP3Tests {
        /// `STAT` counts the one message, `RETR 1` returns it, `QUIT` ends the session: the
        /// connection is the application's, right after libcurl's login.
        static func statRetrieveAndQuit(_ connection: AsyncConnection) async throws {
            let stat = try await MailPeer.pop3(connection, "STAT")
            #expect(stat.status == "+OK 1 \(DovecotPeer.message.utf8.count)", "\(stat)")
            let retrieved = try await MailPeer.pop3(connection, "RETR 1", multiLine: true)
            #expect(retrieved.status.hasPrefix("+OK"), "\(retrieved)")
            #expect(retrieved.lines.map { $0 + "\r\n" }.joined() == DovecotPeer.message, "\(retrieved.lines)")
            let quit = try await MailPeer.pop3(connection, "QUIT")
            #expect(quit.status.hasPrefix("+OK"), "\(quit)")
            #expect(try await connection.receive(timeout: .seconds(10)) == nil, "the server closes after QUIT")
        }

        /// pop3s://: TLS from the first byte with the test CA, then the greeting, CAPA and the
        /// login.
        @Test func implicitTLS() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let url = try #require(dovecot.pop3sURL)
            let info = try await multi.withConnection(to: url, options: MailPeer.login(loginOptions: "AUTH=PLAIN")) { connection async throws in
                try await Self.statRetrieveAndQuit(connection)
                return connection.info
            }
            #expect(info.usesTLS && !info.upgradedToTLS)
            #expect(info.serverResponses.first?.hasPrefix("+OK Dovecot") == true, "\(info.serverResponses)")
            #expect(!info.serverResponses.contains("STLS"), "no STLS over TLS: \(info.serverResponses)")
            #expect(info.serverResponses.last?.hasPrefix("+OK Logged in") == true, "\(info.serverResponses)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("pop3-login: Info: Login: user=<alice>, method=PLAIN") == true && login?.contains(" TLS") == true,
                    "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// pop3:// with `tlsUpgrade` `.required` (the default): STLS on the plain port, the
        /// certificate verified with the test CA, then the login over TLS. `serverResponses`
        /// holds the greeting, both CAPA lists and the answer to STLS.
        @Test func stlsRequired() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.pop3URL, options: MailPeer.login(loginOptions: "AUTH=PLAIN")) { connection async throws in
                try await Self.statRetrieveAndQuit(connection)
                return connection.info
            }
            #expect(info.upgradedToTLS && info.usesTLS)
            let lines = info.serverResponses
            #expect(lines.first?.hasPrefix("+OK Dovecot") == true, "\(lines)")
            #expect(lines.filter { $0.hasPrefix("SASL ") }.count == 2, "CAPA before and after the upgrade: \(lines)")
            #expect(lines.filter { $0 == "STLS" }.count == 1, "STLS offered before the upgrade only: \(lines)")
            #expect(lines.contains { $0.hasPrefix("+OK Begin TLS negotiation") }, "\(lines)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("method=PLAIN") == true && login?.contains(" TLS") == true, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// CRAM-MD5 over SASL (`AUTH CRAM-MD5`): Dovecot logs the mechanism.
        @Test func cramMD5() async throws {
            let dovecot = try DovecotServers.require().tls
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.pop3URL, options: MailPeer.login(loginOptions: "AUTH=CRAM-MD5")) { connection async throws in
                try await Self.statRetrieveAndQuit(connection)
                return connection.info
            }
            #expect(info.serverResponses.contains { $0.hasPrefix("+ ") && $0.count > 10 }, "the challenge: \(info.serverResponses)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("Login: user=<alice>, method=CRAM-MD5") == true, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// `AUTH=+APOP`: POP3's own challenge-response, with the timestamp of Dovecot's greeting.
        @Test func apop() async throws {
            let dovecot = try DovecotServers.require().tls
            let trace = TraceRecorder()
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: dovecot.pop3URL, options: MailPeer.login(loginOptions: "AUTH=+APOP", trace: trace)) { connection async throws in
                try await Self.statRetrieveAndQuit(connection)
                return connection.info
            }
            #expect(info.serverResponses.first?.contains("<") == true, "the greeting's timestamp: \(info.serverResponses)")
            #expect(trace.contains("APOP alice "), "\(trace.text)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("Login: user=<alice>, method=APOP") == true, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }

        /// A wrong password: `loginDenied`, with Dovecot's own answer in the message.
        @Test func wrongPasswordIsLoginDenied() async throws {
            try await expectDovecotRefusesWrongPassword(url: \.pop3URL, serverWords: "-ERR [AUTH] Authentication failed.")
        }

        /// A server without STLS: `.required` fails with `useSSLFailed` before the login;
        /// `.ifAvailable` logs in without TLS.
        @Test func serverWithoutSTLS() async throws {
            let dovecot = try DovecotServers.require().plain
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: dovecot.pop3URL, options: MailPeer.login(loginOptions: "AUTH=PLAIN")) { _ async throws in }
            }
            #expect(error?.code == .useSSLFailed)
            #expect(error?.message.contains("does not offer STLS") == true, "\(String(describing: error))")
            #expect(!dovecot.log.contains("pop3-login: Info: Login:"), "no login without TLS: \(dovecot.log)")

            let info = try await multi.withConnection(to: dovecot.pop3URL, options: MailPeer.login(loginOptions: "AUTH=PLAIN", tlsUpgrade: .ifAvailable)) { connection async throws in
                try await Self.statRetrieveAndQuit(connection)
                return connection.info
            }
            #expect(!info.upgradedToTLS && !info.usesTLS)
            #expect(!info.serverResponses.contains("STLS"), "\(info.serverResponses)")
            let login = await dovecot.loginLine(fromPort: info.localPort)
            #expect(login?.contains("method=PLAIN") == true && login?.contains(" TLS") == false, "\(login ?? dovecot.log)")
            #expect(await multi.diagnostics == .idle)
        }
    }
}
