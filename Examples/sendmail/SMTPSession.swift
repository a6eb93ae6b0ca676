import AsyncCurl

/// One SMTP reply (RFC 5321 section 4.2): a three-digit code and one or more lines of text.
/// A multi-line reply is `250-first`, `250-second`, …, `250 last`.
struct SMTPReply: Sendable, CustomStringConvertible {
    let code: Int
    /// Each line as the server sent it, code included, without the line ending.
    let lines: [String]

    /// 2xx: done. 3xx: go on (354 after DATA). 4xx: refused for now. 5xx: refused for good.
    var isTemporaryFailure: Bool { (400..<500).contains(code) }

    var description: String { lines.joined(separator: " / ") }
}

/// The server did not say what the step needed: a refusal, or something that is not SMTP.
struct SMTPFailure: Error, CustomStringConvertible {
    /// What sendmail was doing, such as `RCPT TO:<bob@example.org>`.
    let step: String
    /// The server's reply, when it sent one.
    let reply: SMTPReply?
    let problem: String

    var isTemporary: Bool { reply?.isTemporaryFailure ?? false }

    var description: String {
        guard let reply else { return "\(step): \(problem)" }
        return "\(step): \(problem): \(reply)"
    }
}

/// The client side of an SMTP session on a connection that libcurl has greeted, upgraded and
/// logged in: commands go out one at a time, and each reply is read completely (every line of
/// a multi-line one) and its code checked before the next command.
///
/// Replies are read with ``AsyncConnection/receive(through:maxLength:timeout:)``, one line at a
/// time, so nothing the server sends after a reply is consumed early. Each wait has a deadline:
/// RFC 5321 section 4.5.3.2 asks clients to wait minutes, not seconds, for a busy server.
struct SMTPSession {
    let connection: AsyncConnection
    /// Where the conversation goes with `--verbose`, or `nil`.
    let log: (@Sendable (String) -> Void)?

    /// How long to wait for a reply to a command, and for the reply to the message's final ".".
    static let replyTimeout: Duration = .seconds(300)
    static let messageTimeout: Duration = .seconds(600)
    /// A longer line, or a reply of more lines, is no SMTP server's.
    static let maximumLineLength = 4096
    static let maximumLines = 1000

    /// Sends `command` and CRLF and reads the reply; throws ``SMTPFailure`` unless its code is
    /// in `expected`.
    @discardableResult
    func command(_ command: String, expecting expected: Set<Int>, timeout: Duration = replyTimeout) async throws -> SMTPReply {
        log?("> \(command)")
        try await connection.send(command + "\r\n", timeout: timeout)
        return try await reply(to: command, expecting: expected, timeout: timeout)
    }

    /// Reads one complete reply to `step` and checks its code.
    func reply(to step: String, expecting expected: Set<Int>, timeout: Duration = replyTimeout) async throws -> SMTPReply {
        let reply = try await readReply(for: step, timeout: timeout)
        guard expected.contains(reply.code) else {
            let problem = reply.code >= 500 ? "the server refused" : reply.code >= 400 ? "the server refused for now" : "unexpected reply"
            throw SMTPFailure(step: step, reply: reply, problem: problem)
        }
        return reply
    }

    /// Reads lines up to the last of a reply (`ddd text` or `ddd`, after any `ddd-text`),
    /// checking that each has the form and all the same code.
    func readReply(for step: String, timeout: Duration) async throws -> SMTPReply {
        var lines: [String] = []
        var code: Int?
        while lines.count < Self.maximumLines {
            let raw: [UInt8]
            do {
                guard let line = try await connection.receive(through: [0x0a], maxLength: Self.maximumLineLength, timeout: timeout) else {
                    throw SMTPFailure(step: step, reply: nil, problem: "the server closed the connection" + (lines.isEmpty ? "" : " in the middle of its reply \(lines)"))
                }
                raw = line
            } catch let error as ConnectionError where error.code == .delimiterNotFound {
                throw SMTPFailure(step: step, reply: nil, problem: "the server sent a line longer than \(Self.maximumLineLength) bytes")
            } catch let error as ConnectionError where error.code == .unexpectedEndOfStream {
                throw SMTPFailure(step: step, reply: nil, problem: "the server closed the connection in the middle of a line")
            }
            // CRLF, but a bare LF is tolerated.
            let bytes = raw.last == 0x0a ? raw.dropLast(raw.dropLast().last == 0x0d ? 2 : 1) : raw[...]
            let line = String(decoding: bytes, as: UTF8.self)
            log?("< \(line)")
            lines.append(line)
            let digits = bytes.prefix(3)
            guard digits.count == 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  bytes.count == 3 || bytes[bytes.startIndex + 3] == 0x20 || bytes[bytes.startIndex + 3] == 0x2d,
                  let lineCode = Int(String(decoding: digits, as: UTF8.self)) else {
                throw SMTPFailure(step: step, reply: SMTPReply(code: 0, lines: lines), problem: "the server's answer is not an SMTP reply")
            }
            guard code == nil || code == lineCode else {
                throw SMTPFailure(step: step, reply: SMTPReply(code: lineCode, lines: lines), problem: "the lines of one reply have different codes")
            }
            code = lineCode
            if bytes.count == 3 || bytes[bytes.startIndex + 3] == 0x20 {
                return SMTPReply(code: lineCode, lines: lines)
            }
        }
        throw SMTPFailure(step: step, reply: nil, problem: "the server's reply has more than \(Self.maximumLines) lines")
    }

    /// The whole transaction: MAIL FROM, RCPT TO for each recipient, DATA, the message, and
    /// the final `.`. Returns the server's acceptance (`250 …`).
    ///
    /// `message` must already be SMTP data (see ``SMTPData/encode(_:)``). `BODY=8BITMIME` is
    /// declared when the message has bytes above 127 and the server offers 8BITMIME.
    func send(_ message: SMTPData, from sender: String, to recipients: [String], capabilities: Capabilities) async throws -> SMTPReply {
        if let limit = capabilities.sizeLimit, message.bytes.count > limit {
            throw SMTPFailure(step: "MAIL FROM", reply: nil, problem: "the message is \(message.bytes.count) bytes, and the server takes at most \(limit) (its SIZE)")
        }
        var mailFrom = "MAIL FROM:<\(sender)>"
        if message.isEightBit, capabilities.eightBitMIME { mailFrom += " BODY=8BITMIME" }
        try await command(mailFrom, expecting: [250])
        for recipient in recipients {
            // 251: "user not local; will forward", an acceptance too.
            try await command("RCPT TO:<\(recipient)>", expecting: [250, 251])
        }
        try await command("DATA", expecting: [354])
        log?("> (the message: \(message.bytes.count) bytes, then \".\")")
        try await connection.send(message.bytes, timeout: Self.messageTimeout)
        return try await reply(to: "the message (after DATA)", expecting: [250], timeout: Self.messageTimeout)
    }
}

/// What the server offered in its last EHLO answer (after STARTTLS, if there was one), from
/// the lines libcurl collected during the set-up (``ConnectionInfo/serverResponses``).
struct Capabilities: Sendable {
    var eightBitMIME = false
    /// The server's `SIZE` limit in bytes, when it names one (0 means none).
    var sizeLimit: Int?

    init(serverResponses lines: [String]) {
        // The last 220 is the greeting or STARTTLS's "ready"; the EHLO answer follows it.
        let start = lines.lastIndex { $0.hasPrefix("220") }.map { $0 + 1 } ?? 0
        for line in lines[start...] where line.hasPrefix("250") && line.count > 4 {
            let words = line.dropFirst(4).uppercased().split(separator: " ")
            switch words.first {
            case "8BITMIME": eightBitMIME = true
            case "SIZE": sizeLimit = words.dropFirst().first.flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
            default: break
            }
        }
    }
}
