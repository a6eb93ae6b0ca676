// sendmail: sends one message over SMTP on AsyncCurl. See `sendmail --help`, or Arguments.swift.
import AsyncCurl
#if canImport(Glibc)
import Glibc
#endif

/// Reads a message body from standard input and sends it to an SMTP server.
///
/// libcurl does the set-up: the connection (through a proxy if asked), TLS (implicit, or
/// STARTTLS as `--tls-upgrade` says, verified with `--cacert`), EHLO and the SASL login.
/// ``CurlMulti/connect(to:options:)`` hands the connection over right after the login, and
/// ``SMTPSession`` sends the transaction itself.
@main
struct Sendmail {
    static func main() async {
        // A closed standard error should not end the program with a signal.
        signal(SIGPIPE, SIG_IGN)
        let arguments: Arguments
        switch Arguments.parse(Array(CommandLine.arguments.dropFirst())) {
        case .help:
            print(Arguments.usage, terminator: "")
            exit(0)
        case .usageError(let message):
            printError("sendmail: \(message)\n\n\(Arguments.usage)")
            exit(2)
        case .run(let parsed):
            arguments = parsed
        }

        do {
            try await run(arguments)
            exit(0)
        } catch let failure as UsageFailure {
            printError("sendmail: \(failure)")
            exit(2)
        } catch let failure as SMTPFailure {
            printError("sendmail: \(failure)")
            exit(failure.isTemporary ? 75 : 1)
        } catch {
            printError("sendmail: \(error)")
            exit(1)
        }
    }

    static func run(_ arguments: Arguments) async throws {
        var environment: [String: String] = [:]
        if let value = getenv("SMTP_PASSWORD") { environment["SMTP_PASSWORD"] = String(cString: value) }
        let password = try arguments.password(environment: environment)

        // The whole body first, with a blocking read while nothing else runs yet: a message
        // must not go out half-read, and a slow pipe must not hold the server's connection open.
        guard let body = readAll(0) else {
            throw UsageFailure("cannot read the message from standard input: \(String(cString: strerror(errno)))")
        }
        let header = MessageHeader(from: arguments.from, recipients: arguments.recipients, subject: arguments.subject)
        let data = try SMTPData.encode(Array(header.rendered().utf8) + body)

        var options = ConnectionOptions()
        options.connectTimeout = arguments.connectTimeout
        options.username = arguments.user
        options.password = password
        options.loginOptions = arguments.mechanism.map { "AUTH=\($0)" }
        options.tlsUpgrade = arguments.tlsUpgrade
        options.proxy = arguments.proxy
        if let caFile = arguments.caFile { options.tls.caFile = caFile }
        // Not libcurl's trace: with PLAIN or LOGIN it would show the password (in base64).
        let log: (@Sendable (String) -> Void)? = arguments.verbose ? { @Sendable line in printError(line) } : nil

        let connection = try await CurlMulti.shared.connect(to: arguments.url, options: options)
        if let log {
            for line in connection.info.serverResponses { log("< \(line)") }
            log("* the set-up is done: \(connection.info.usesTLS ? "TLS \(connection.info.tlsVersion ?? "")" : "no TLS"), \(arguments.user.map { "logged in as \($0)" } ?? "not logged in")")
        }
        let session = SMTPSession(connection: connection, log: log)
        do {
            let accepted = try await session.send(data, from: arguments.from, to: arguments.recipients,
                                                  capabilities: Capabilities(serverResponses: connection.info.serverResponses))
            log?("* sent: \(accepted)")
        } catch let failure as SMTPFailure {
            // Say goodbye where the server can still hear it; the failure is what counts.
            if failure.reply != nil {
                _ = try? await session.command("QUIT", expecting: [221], timeout: .seconds(10))
            }
            await connection.close()
            throw failure
        } catch {
            await connection.close()
            throw error
        }
        // The message is accepted: a QUIT that goes wrong now must not make anyone send it again.
        do {
            try await session.command("QUIT", expecting: [221], timeout: .seconds(30))
        } catch {
            printError("sendmail: the message was sent, but QUIT failed: \(error)")
        }
        await connection.close()
    }
}

/// Writes `message` and a line break to standard error, all of it.
func printError(_ message: String) {
    var bytes = Array(message.utf8)
    if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return
        }
    }
}
