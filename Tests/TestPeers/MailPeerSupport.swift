import AsyncCurl
import Testing

/// What MailIMAPTests and MailPOP3Tests share: the login options for Dovecot's `alice`, and
/// reading the protocols' lines after the hand-over.
enum MailPeer {
    /// `alice`'s login, the test CA for the server's certificate, a connect timeout (which covers
    /// the whole set-up, the login included) and optionally `loginOptions` and a trace.
    static func login(password: String = DovecotPeer.password, loginOptions: String? = nil,
                      tlsUpgrade: TLSUpgrade = .required, trace: TraceRecorder? = nil) throws -> ConnectionOptions {
        var options = peerOptions(trace: trace)
        options.username = DovecotPeer.user
        options.password = password
        options.loginOptions = loginOptions
        options.tlsUpgrade = tlsUpgrade
        options.tls.caFile = try TestCertificates.shared().caFile
        return options
    }

    /// One line the server sent, without its CRLF; `nil` at the end of the stream.
    static func line(_ connection: AsyncConnection) async throws -> String? {
        guard let bytes = try await connection.receive(through: Array("\r\n".utf8), timeout: .seconds(10)) else { return nil }
        return String(decoding: bytes.dropLast(2), as: UTF8.self)
    }

    /// Sends `command` (an IMAP command line with `tag`) and returns the answer's lines, up to
    /// and including the tagged one.
    static func imap(_ connection: AsyncConnection, _ tag: String, _ command: String) async throws -> [String] {
        try await connection.send("\(tag) \(command)\r\n")
        var lines: [String] = []
        while let line = try await line(connection) {
            lines.append(line)
            if line.hasPrefix("\(tag) ") { break }
        }
        return lines
    }

    /// Sends a POP3 command and returns its status line (`+OK …` or `-ERR …`), and for a
    /// `multiLine` command's `+OK` the lines up to the terminating `.`, dot-unstuffed.
    static func pop3(_ connection: AsyncConnection, _ command: String, multiLine: Bool = false) async throws -> (status: String, lines: [String]) {
        try await connection.send("\(command)\r\n")
        let status = try await line(connection) ?? ""
        guard multiLine, status.hasPrefix("+OK") else { return (status, []) }
        var lines: [String] = []
        while let line = try await line(connection), line != "." {
            lines.append(line.hasPrefix("..") ? String(line.dropFirst()) : line)
        }
        return (status, lines)
    }
}
