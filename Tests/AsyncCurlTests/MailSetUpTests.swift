@testable import AsyncCurl
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

/// The mail set-up's own rules, against in-test servers that say exactly what a test needs
/// (the real servers are in MailIMAPTests, MailPOP3Tests and MailSMTPTests): the hand-over
/// right after the login, the server's lines, and each way a server can fail the set-up.
extension AsyncCurlTests {
    @Suite struct MailSetUpTests {
        /// An SMTP server that answers each command by the script's first matching prefix
        /// (`EHLO`, `AUTH PLAIN …`, `NOOP`), and records what it was sent.
        final class ScriptedSMTPServer: Sendable {
            let server: LoopbackServer
            let received = Locked<[String]>([])

            init(greeting: String = "220 mail.test ESMTP ready", script: [(command: String, answer: String)]) throws {
                let received = self.received
                server = try LoopbackServer(mode: .handler { peer in
                    guard (try? peer.write(greeting + "\r\n")) != nil else { return }
                    while let line = readLine(peer) {
                        received.withLock { $0.append(line) }
                        guard let answer = script.first(where: { line.hasPrefix($0.command) })?.answer else {
                            try? peer.write("500 unexpected\r\n")
                            continue
                        }
                        guard (try? peer.write(answer)) != nil else { return }
                    }
                })
            }

            var url: String { "smtp://127.0.0.1:\(server.port)" }
        }

        static let ehlo = (command: "EHLO", answer: "250-mail.test\r\n250-SIZE 1000\r\n250 AUTH PLAIN\r\n")
        /// libcurl sends no initial response by default (`CURLOPT_SASL_IR`): `AUTH PLAIN`, then
        /// `\0alice\0secret` in base64 after the server's `334`.
        static let authPlain = (command: "AUTH PLAIN", answer: "334 \r\n")
        static let plainCredentials = (command: "AGFsaWNlAHNlY3JldA==", answer: "235 2.7.0 accepted\r\n")

        static func plainLogin() -> ConnectionOptions {
            var options = ConnectionOptions()
            options.connectTimeout = .seconds(10)
            options.tlsUpgrade = .none
            options.username = "alice"
            options.password = "secret"
            return options
        }

        /// libcurl greets, says EHLO, logs in with AUTH PLAIN and hands over: the next line the
        /// server reads is the application's, and its answer is the application's to read.
        /// `serverResponses` holds every line, in order, without line endings.
        @Test func logsInThenHandsOver() async throws {
            let smtp = try ScriptedSMTPServer(script: [Self.ehlo, Self.authPlain, Self.plainCredentials, ("NOOP", "250 2.0.0 ok\r\n")])
            defer { smtp.server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: smtp.url, options: Self.plainLogin()) { connection async throws in
                #expect(connection.info.serverResponses == [
                    "220 mail.test ESMTP ready", "250-mail.test", "250-SIZE 1000", "250 AUTH PLAIN", "334 ", "235 2.7.0 accepted",
                ])
                #expect(!connection.info.upgradedToTLS)
                #expect(!connection.info.usesTLS)
                try await connection.send("NOOP\r\n")
                #expect(try await connection.receive(exactly: 14, timeout: .seconds(10)) == Array("250 2.0.0 ok\r\n".utf8))
            }
            // Without a path in the URL, libcurl says EHLO with the machine's host name.
            var name = [CChar](repeating: 0, count: 256)
            #expect(gethostname(&name, name.count) == 0)
            let hostName = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            #expect(smtp.received.current == ["EHLO \(hostName)", "AUTH PLAIN", Self.plainCredentials.command, "NOOP"])
            #expect(await multi.diagnostics == .idle)
        }

        /// The path of an smtp:// URL is the EHLO name.
        @Test func urlPathIsTheEHLOName() async throws {
            let smtp = try ScriptedSMTPServer(script: [Self.ehlo])
            defer { smtp.server.stop() }
            var options = ConnectionOptions()
            options.tlsUpgrade = .none
            let multi = CurlMulti()
            try await multi.withConnection(to: smtp.url + "/client.example.org", options: options) { _ async throws in }
            #expect(smtp.received.current.first == "EHLO client.example.org")
        }

        /// A server whose first line is no SMTP greeting (here a web server's) fails the connect
        /// at once with `weirdServerReply` quoting it, though it keeps the connection open.
        @Test func foreignGreetingFailsAtOnce() async throws {
            let gate = PeerGate()
            let server = try LoopbackServer(mode: .handler { peer in
                try? peer.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                gate.wait()
            })
            defer {
                gate.open()
                server.stop()
            }
            let multi = CurlMulti()
            let (result, elapsed) = await measured {
                try await multi.connect(to: "smtp://127.0.0.1:\(server.port)", options: Self.plainLogin())
            }
            #expect(outcome(result) == "CurlError.weirdServerReply")
            if case .failure(let error as CurlError) = result {
                #expect(error.message.contains("does not speak SMTP") && error.message.contains("HTTP/1.1 400 Bad Request"), "\(error)")
            }
            #expect(elapsed < .seconds(5), "\(elapsed)")
            #expect(await multi.diagnostics == .idle)
        }

        /// A server that greets and then never answers EHLO: the connect timeout covers the
        /// whole login, and the error quotes the server's last line.
        @Test func silenceAfterGreetingTimesOut() async throws {
            // Answers nothing, not even the scripted server's "500".
            let gate = PeerGate()
            let silent = try LoopbackServer(mode: .handler { peer in
                try? peer.write("220 mail.test ready\r\n")
                gate.wait()
            })
            defer {
                gate.open()
                silent.stop()
            }
            var options = Self.plainLogin()
            options.connectTimeout = .milliseconds(300)
            let multi = CurlMulti()
            let (result, elapsed) = await measured {
                try await multi.connect(to: "smtp://127.0.0.1:\(silent.port)", options: options)
            }
            #expect(outcome(result) == "CurlError.operationTimedOut")
            if case .failure(let error as CurlError) = result {
                #expect(error.message.contains("220 mail.test ready"), "\(error)")
            }
            #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(5), "\(elapsed)")
            #expect(await multi.diagnostics == .idle)
        }

        /// With a user name set, an SMTP server that offers no AUTH fails the connect: libcurl
        /// would go on without logging in.
        @Test func smtpWithoutAuthIsALoginFailure() async throws {
            let smtp = try ScriptedSMTPServer(script: [("EHLO", "250-mail.test\r\n250 SIZE 1000\r\n")])
            defer { smtp.server.stop() }
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: smtp.url, options: Self.plainLogin()) { _ async throws in }
            }
            #expect(error?.code == .loginDenied)
            #expect(error?.message.contains("offers no AUTH") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// A refused login is `loginDenied` with the server's words.
        @Test func refusedLoginQuotesTheServer() async throws {
            let smtp = try ScriptedSMTPServer(script: [Self.ehlo, ("AUTH", "535 5.7.8 Authentication credentials invalid\r\n")])
            defer { smtp.server.stop() }
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: smtp.url, options: Self.plainLogin()) { _ async throws in }
            }
            #expect(error?.code == .loginDenied)
            #expect(error?.message.contains("535 5.7.8 Authentication credentials invalid") == true, "\(String(describing: error))")
        }

        /// A server that floods the set-up with capability lines is stopped at a bound: the
        /// engine's (``ServerResponses/maximumLines``) or the one Debian's libcurl has.
        @Test func floodOfLinesIsBounded() async throws {
            let flood = String(repeating: "250-X\r\n", count: ServerResponses.maximumLines + 10) + "250 OK\r\n"
            let smtp = try ScriptedSMTPServer(script: [("EHLO", flood)])
            defer { smtp.server.stop() }
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: smtp.url, options: Self.plainLogin()) { _ async throws in }
            }
            #expect(error?.code == .weirdServerReply)
            #expect(error?.message.contains("sent too much during the set-up") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// The default `tlsUpgrade` is `.required`: a server without STARTTLS fails the connect
        /// before the login, and the message says what to change.
        @Test func requiredUpgradeWithoutStartTLSFails() async throws {
            let smtp = try ScriptedSMTPServer(script: [Self.ehlo, Self.authPlain, Self.plainCredentials])
            defer { smtp.server.stop() }
            var options = Self.plainLogin()
            options.tlsUpgrade = .required
            let multi = CurlMulti()
            let error = await expectCurlError {
                try await multi.withConnection(to: smtp.url, options: options) { _ async throws in }
            }
            #expect(error?.code == .useSSLFailed)
            #expect(error?.message.contains("does not offer STARTTLS") == true, "\(String(describing: error))")
            #expect(!smtp.received.current.contains { $0.hasPrefix("AUTH") })
            #expect(ConnectionOptions().tlsUpgrade == .required)
        }

        /// Login options are refused where there is no login, and values that would break a
        /// command line are refused before any I/O.
        @Test func badLoginOptionsAreRefused() async throws {
            let multi = CurlMulti()
            var onTCP = ConnectionOptions()
            onTCP.username = "alice"
            let tcp = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:9", options: onTCP) }
            #expect(tcp?.code == .badFunctionArgument && tcp?.message.contains("username") == true)

            var injected = Self.plainLogin()
            injected.password = "secret\r\nDELE 1"
            let crlf = await expectCurlError { _ = try await multi.connect(to: "pop3://127.0.0.1:9", options: injected) }
            #expect(crlf?.code == .badFunctionArgument && crlf?.message.contains("password") == true)

            var mechanism = Self.plainLogin()
            mechanism.loginOptions = "PLAIN"
            let options = await expectCurlError { _ = try await multi.connect(to: "imap://127.0.0.1:9", options: mechanism) }
            #expect(options?.code == .badFunctionArgument && options?.message.contains("AUTH=") == true)
            #expect(await multi.diagnostics == .idle)
        }
    }
}

/// One line from `peer`, without its CRLF, or `nil` at the end of the stream.
private func readLine(_ peer: PeerSocket) -> String? {
    var bytes: [UInt8] = []
    while let chunk = try? peer.read(maxLength: 1), let byte = chunk.first {
        if byte == 0x0a {
            if bytes.last == 0x0d { bytes.removeLast() }
            return String(decoding: bytes, as: UTF8.self)
        }
        bytes.append(byte)
    }
    return nil
}
