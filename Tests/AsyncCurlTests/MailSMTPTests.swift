import AsyncCurl
import Testing
@testable import TestPeers

/// SMTP against a real server, aiosmtpd (see ``SMTPServer``): libcurl's set-up (greeting, EHLO,
/// STARTTLS, EHLO, AUTH) with implicit TLS and STARTTLS, each mechanism aiosmtpd has here
/// (PLAIN, LOGIN, CRAM-MD5), the failures a real server produces, and a message sent after the
/// hand-over that the server then stored byte for byte, directly and through a SOCKS5h proxy.
extension AsyncCurlTests {
    @Suite struct MailSMTPTests {
        /// The message of the round trips, with a line that starts with a dot and a line that is
        /// only a dot: both must be dot-stuffed on the wire and arrive as they were.
        static let message = "From: alice@example.com\r\nTo: bob@example.org\r\nSubject: round trip\r\n\r\n"
            + "first line\r\n.starts with a dot\r\n.\r\n..two dots\r\nlast line\r\n"

        static func login(mechanism: String? = nil, password: String = SMTPServer.password) throws -> ConnectionOptions {
            var options = peerOptions()
            options.username = SMTPServer.user
            options.password = password
            options.loginOptions = mechanism.map { "AUTH=\($0)" }
            options.tls.caFile = try TestCertificates.shared().caFile
            return options
        }

        /// smtps://: TLS from the first byte, then greeting, EHLO and AUTH with the strongest
        /// mechanism offered, CRAM-MD5 (libcurl's order); a message sent after the hand-over.
        @Test(.requires(.aiosmtpd, .openssl))
        func implicitTLSLogsInAndDelivers() async throws {
            let server = try await SMTPServer(tls: .implicit)
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: server.url, options: try Self.login()) { connection async throws in
                try await Self.send(Self.message, to: ["bob@example.org"], through: connection)
                return connection.info
            }
            #expect(info.usesTLS && !info.upgradedToTLS && info.tlsVersion != nil, "\(info)")
            #expect(info.serverResponses.first == "220 mail.test Python SMTP 1.4.3", "\(info.serverResponses)")
            #expect(info.serverResponses.contains("250-AUTH CRAM-MD5 LOGIN PLAIN"), "\(info.serverResponses)")
            #expect(!info.serverResponses.contains("250-STARTTLS"))
            #expect(info.serverResponses.last == "235 2.7.0 Authentication successful")
            #expect(server.logins == ["CRAM-MD5 alice accepted"])
            try await Self.expectDelivered(Self.message, to: ["bob@example.org"], by: server)
            #expect(await multi.diagnostics == .idle)
        }

        /// A server that takes nothing but STARTTLS before TLS (`require_starttls`) and offers
        /// AUTH only after it: libcurl upgrades, says EHLO again and logs in on the TLS layer.
        @Test(.requires(.aiosmtpd, .openssl))
        func requiredStartTLSUpgradesBeforeTheLogin() async throws {
            let server = try await SMTPServer(tls: .startTLS, requireStartTLS: true)
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: server.url, options: try Self.login()) { connection async throws in
                let dialogue = SMTPDialogue(connection)
                try await dialogue.command("NOOP", expecting: 250)
                try await dialogue.command("QUIT", expecting: 221)
                return connection.info
            }
            #expect(info.upgradedToTLS && info.usesTLS && info.tlsVersion != nil, "\(info)")
            let lines = info.serverResponses
            #expect(lines.first == "220 mail.test Python SMTP 1.4.3", "\(lines)")
            let upgrade = try #require(lines.firstIndex(of: "220 Ready to start TLS"), "\(lines)")
            // Before the upgrade: STARTTLS, and no AUTH (auth_require_tls). After: AUTH, no STARTTLS.
            #expect(lines[..<upgrade].contains("250-STARTTLS"), "\(lines)")
            #expect(!lines[..<upgrade].contains { $0.hasPrefix("250-AUTH") }, "\(lines)")
            #expect(lines[upgrade...].contains("250-AUTH CRAM-MD5 LOGIN PLAIN"), "\(lines)")
            #expect(!lines[upgrade...].contains("250-STARTTLS"), "\(lines)")
            #expect(lines.last == "235 2.7.0 Authentication successful", "\(lines)")
            #expect(server.logins == ["CRAM-MD5 alice accepted"])
            #expect(await multi.diagnostics == .idle)
        }

        /// `loginOptions` picks the mechanism, and the server saw exactly that one. The login
        /// counts: aiosmtpd takes MAIL FROM only from a logged-in client.
        @Test(.requires(.aiosmtpd, .openssl), arguments: ["PLAIN", "LOGIN", "CRAM-MD5"])
        func eachMechanismLogsIn(mechanism: String) async throws {
            let server = try await SMTPServer(tls: .startTLS)
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url, options: try Self.login(mechanism: mechanism)) { connection async throws in
                #expect(connection.info.upgradedToTLS)
                let dialogue = SMTPDialogue(connection)
                try await dialogue.command("MAIL FROM:<alice@example.com>", expecting: 250)
                try await dialogue.command("RSET", expecting: 250)
                try await dialogue.command("QUIT", expecting: 221)
            }
            #expect(server.logins == ["\(mechanism) alice accepted"])
            #expect(await multi.diagnostics == .idle)
        }

        /// A wrong password is `loginDenied` with aiosmtpd's 535 in the message, whether the
        /// password crossed (PLAIN) or only its HMAC did (CRAM-MD5).
        @Test(.requires(.aiosmtpd, .openssl), arguments: ["PLAIN", "CRAM-MD5"])
        func wrongPasswordIsLoginDenied(mechanism: String) async throws {
            let server = try await SMTPServer(tls: .startTLS)
            let multi = CurlMulti()
            let options = try Self.login(mechanism: mechanism, password: "not the secret")
            let error = await expectCurlError {
                try await multi.withConnection(to: server.url, options: options) { _ async throws in }
            }
            #expect(error?.code == .loginDenied)
            #expect(error?.message.contains("535 5.7.8 Authentication credentials invalid") == true, "\(String(describing: error))")
            // The server prints its verdict before it answers.
            #expect(server.logins == ["\(mechanism) alice refused"])
            #expect(await multi.diagnostics == .idle)
        }

        /// A server without STARTTLS: under the default `.required` the connect fails before the
        /// login (the server never sees AUTH); `.ifAvailable` logs in in plain text, where the
        /// server allows that (auth_require_tls off).
        @Test(.requires(.aiosmtpd, .openssl))
        func noStartTLSFailsUnlessIfAvailable() async throws {
            let server = try await SMTPServer(tls: .none, authRequiresTLS: false)
            let multi = CurlMulti()
            var options = try Self.login()
            #expect(options.tlsUpgrade == .required)
            let error = await expectCurlError {
                try await multi.withConnection(to: server.url, options: options) { _ async throws in }
            }
            #expect(error?.code == .useSSLFailed)
            #expect(error?.message.contains("does not offer STARTTLS") == true, "\(String(describing: error))")
            #expect(server.logins.isEmpty)

            options.tlsUpgrade = .ifAvailable
            let info = try await multi.withConnection(to: server.url, options: options) { connection async throws in
                try await Self.send(Self.message, to: ["bob@example.org"], through: connection)
                return connection.info
            }
            #expect(!info.upgradedToTLS && !info.usesTLS, "\(info)")
            #expect(server.logins == ["CRAM-MD5 alice accepted"])
            try await Self.expectDelivered(Self.message, to: ["bob@example.org"], by: server)
            #expect(await multi.diagnostics == .idle)
        }

        /// aiosmtpd offers AUTH only over TLS (auth_require_tls). Staying in plain text with
        /// `.none` and a user name set, the EHLO answer has no AUTH: the connect fails with
        /// `loginDenied` instead of handing over a session that is not logged in, and no
        /// password crosses.
        @Test(.requires(.aiosmtpd, .openssl))
        func noAuthWithoutTLSIsALoginFailure() async throws {
            let server = try await SMTPServer(tls: .startTLS)
            var options = try Self.login()
            options.tlsUpgrade = .none
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: server.url, options: options) { _ async throws in }
            }
            #expect(error?.code == .loginDenied)
            #expect(error?.message.contains("offers no AUTH") == true, "\(String(describing: error))")
            #expect(server.logins.isEmpty)
            #expect(await multi.diagnostics == .idle)
        }

        /// After STARTTLS and PLAIN: MAIL FROM, two RCPT TO, DATA with dot-stuffing, QUIT; the
        /// server stored the message exactly, for both recipients.
        @Test(.requires(.aiosmtpd, .openssl))
        func startTLSRoundTripDeliversTheMessageIntact() async throws {
            let server = try await SMTPServer(tls: .startTLS)
            let multi = CurlMulti()
            let recipients = ["bob@example.org", "carol@example.net"]
            try await multi.withConnection(to: server.url, options: try Self.login(mechanism: "PLAIN")) { connection async throws in
                try await Self.send(Self.message, to: recipients, through: connection)
            }
            try await Self.expectDelivered(Self.message, to: recipients, by: server)
            #expect(server.logins == ["PLAIN alice accepted"])
            #expect(await multi.diagnostics == .idle)
        }

        /// The same through microsocks as a SOCKS5h proxy: the proxy connects, libcurl runs
        /// STARTTLS and the login inside the tunnel, and the certificate is checked for the URL's
        /// host (127.0.0.1: microsocks connects to the first address a name resolves to, which
        /// could be ::1, where aiosmtpd does not listen).
        @Test(.requires(.aiosmtpd, .openssl, .microsocks))
        func throughASOCKS5hProxy() async throws {
            let server = try await SMTPServer(tls: .startTLS)
            let proxy = try await MicrosocksPeer()
            var options = try Self.login()
            options.proxy = "socks5h://\(proxy.address)"
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: server.url, options: options) { connection async throws in
                try await Self.send(Self.message, to: ["bob@example.org"], through: connection)
                return connection.info
            }
            #expect(info.remotePort == proxy.port, "the socket goes to the proxy: \(info)")
            #expect(info.upgradedToTLS, "\(info)")
            #expect(server.logins == ["CRAM-MD5 alice accepted"])
            try await Self.expectDelivered(Self.message, to: ["bob@example.org"], by: server)
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: Helpers

        /// Sends `message` (CRLF line endings) from alice to `recipients` and quits, checking
        /// every reply.
        static func send(_ message: String, to recipients: [String], through connection: AsyncConnection) async throws {
            let dialogue = SMTPDialogue(connection)
            try await dialogue.command("MAIL FROM:<alice@example.com>", expecting: 250)
            for recipient in recipients {
                try await dialogue.command("RCPT TO:<\(recipient)>", expecting: 250)
            }
            try await dialogue.command("DATA", expecting: 354)
            // RFC 5321 4.5.2: a line that starts with "." gets another one in front.
            let stuffed = message.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
                .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
            try await connection.send(stuffed + "\r\n.\r\n")
            let accepted = try await dialogue.reply(expecting: 250)
            #expect(accepted == ["250 2.0.0 Message accepted for delivery"])
            try await dialogue.command("QUIT", expecting: 221)
        }

        static func expectDelivered(_ message: String, to recipients: [String], by server: SMTPServer,
                                    sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let delivered = try await server.waitForDeliveries(1)
            #expect(delivered.count == 1, sourceLocation: sourceLocation)
            #expect(delivered.first?.from == "alice@example.com", sourceLocation: sourceLocation)
            #expect(delivered.first?.recipients == recipients, sourceLocation: sourceLocation)
            #expect(delivered.first?.text == message, "\(delivered)", sourceLocation: sourceLocation)
        }
    }
}

/// One side of an SMTP conversation after the hand-over: sends commands and reads whole replies,
/// every line of a multi-line one (`250-…` up to `250 …`), each within a deadline.
struct SMTPDialogue {
    let connection: AsyncConnection

    init(_ connection: AsyncConnection) {
        self.connection = connection
    }

    /// A reply whose code was not the one expected, or that was no SMTP reply.
    struct UnexpectedReply: Error, CustomStringConvertible {
        let expected: Int
        let lines: [String]
        var description: String { "expected an SMTP \(expected) reply, got \(lines)" }
    }

    /// Sends `line` and CRLF, and returns the reply's lines if its code is `code`.
    @discardableResult
    func command(_ line: String, expecting code: Int) async throws -> [String] {
        try await connection.send(line + "\r\n", timeout: .seconds(10))
        return try await reply(expecting: code)
    }

    /// Reads one reply: lines `<code>-text` until the last, `<code> text`.
    @discardableResult
    func reply(expecting code: Int) async throws -> [String] {
        var lines: [String] = []
        while true {
            guard let raw = try await connection.receive(through: [13, 10], maxLength: 4096, timeout: .seconds(10)) else {
                throw UnexpectedReply(expected: code, lines: lines + ["(end of stream)"])
            }
            let line = String(decoding: raw.dropLast(2), as: UTF8.self)
            lines.append(line)
            let bytes = Array(line.utf8)
            guard bytes.count >= 3, Int(String(decoding: bytes[0..<3], as: UTF8.self)) == code,
                  bytes.count == 3 || bytes[3] == 0x20 || bytes[3] == 0x2d else {
                throw UnexpectedReply(expected: code, lines: lines)
            }
            if bytes.count == 3 || bytes[3] == 0x20 { return lines }
        }
    }
}
