/// The mail protocols whose connect phase libcurl runs before handing a connection over:
/// greeting, capabilities, STARTTLS and login (see the "Mail protocols" article).
enum MailProtocol: String, Sendable, Hashable {
    case smtp
    case imap
    case pop3

    /// The protocol and default port of a URL scheme, or `nil` for a scheme that is not a mail one.
    static func scheme(_ scheme: String) -> (protocol: MailProtocol, defaultPort: Int)? {
        switch scheme {
        case "smtp": return (.smtp, 25)
        case "smtps": return (.smtp, 465)
        case "imap": return (.imap, 143)
        case "imaps": return (.imap, 993)
        case "pop3": return (.pop3, 110)
        case "pop3s": return (.pop3, 995)
        default: return nil
        }
    }

    /// The name in messages: `SMTP`, `IMAP`, `POP3`.
    var name: String { rawValue.uppercased() }

    /// The command that upgrades a plain connection to TLS.
    var startTLSCommand: String { self == .pop3 ? "STLS" : "STARTTLS" }

    /// Checks what follows the host and port. An `smtp://` URL may name the client in one path
    /// segment, which libcurl sends with `EHLO` (`smtp://mail.example.com/client.example.org`);
    /// IMAP and POP3 paths name mailboxes and messages, which a hand-over never reaches, so
    /// they are refused rather than silently ignored.
    func checkPath(_ trailer: Substring, url: String) throws(CurlError) {
        if trailer.isEmpty || trailer == "/" { return }
        guard self == .smtp, trailer.hasPrefix("/") else {
            throw CurlError(code: .urlMalformat, message: "'\(url)': a \(rawValue):// URL for a connection has no path, query or fragment: libcurl stops after the login, before any mailbox or message")
        }
        let name = trailer.dropFirst()
        let isName = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7a) || "-.[]:".utf8.contains(byte)
        }
        guard isName else {
            throw CurlError(code: .urlMalformat, message: "'\(url)': the path of an smtp:// URL is the client's name for EHLO, a host name or address literal such as /client.example.org; '\(name)' is not one")
        }
    }

    /// Whether `line`, the first a server sent, has the form of this protocol's greeting, so that
    /// a server that speaks something else (a web server, another protocol's banner) is told apart
    /// from one that speaks the protocol and fails: SMTP `220 …` (or `220-…`, or a refusal such as
    /// `554 …`), IMAP `* OK …`, `* PREAUTH …` or `* BYE …`, POP3 `+OK …` or `-ERR …`.
    func isGreeting(_ line: String) -> Bool {
        switch self {
        case .smtp:
            let bytes = Array(line.utf8)
            return bytes.count >= 3 && bytes[0..<3].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
                && (bytes.count == 3 || bytes[3] == 0x20 || bytes[3] == 0x2d)
        case .imap:
            let words = line.split(separator: " ", maxSplits: 2)
            return words.count >= 2 && words[0] == "*" && ["OK", "PREAUTH", "BYE"].contains(words[1].uppercased())
        case .pop3:
            return line.hasPrefix("+OK") || line.hasPrefix("-ERR")
        }
    }
}
