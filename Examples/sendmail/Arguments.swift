import AsyncCurl
#if canImport(Glibc)
import Glibc
#endif

/// The command line of `sendmail`, parsed by hand so the example needs no package but AsyncCurl.
struct Arguments {
    var url = ""
    var from = ""
    var recipients: [String] = []
    var subject: String?
    var user: String?
    var passwordFile: String?
    var caFile: String?
    var proxy: String?
    var tlsUpgrade = TLSUpgrade.required
    var mechanism: String?
    var connectTimeout: Duration = .seconds(30)
    var verbose = false

    enum Outcome {
        case run(Arguments)
        case help
        case usageError(String)
    }

    static let usage = """
        usage: sendmail --from ADDRESS --to ADDRESS [--to ADDRESS …] [options] smtp://HOST[:PORT]
               sendmail --from ADDRESS --to ADDRESS [options] smtps://HOST[:PORT]

        Sends one plain-text message, its body read from standard input, over SMTP. libcurl
        connects, upgrades to TLS with STARTTLS (smtp://) or starts with TLS (smtps://), and
        logs in; sendmail then speaks SMTP itself: MAIL FROM, RCPT TO for each recipient, DATA,
        QUIT, checking every reply.

        The message gets From, To, Subject, Date, Message-ID and MIME headers (UTF-8 text).
        Line endings become CRLF and lines that start with "." are dot-stuffed, so the body
        arrives exactly as given, whatever it holds.

        options:
          --from ADDRESS         the sender (MAIL FROM and the From header), such as alice@example.com
          --to ADDRESS           a recipient (RCPT TO and the To header); give it once per recipient
          --subject TEXT         the Subject header
          --user NAME            log in as NAME; the password comes from --password-file, or from
                                 the environment variable SMTP_PASSWORD
          --password-file FILE   read the password from the first line of FILE
          --auth MECHANISM       log in with this SASL mechanism only: PLAIN, LOGIN, CRAM-MD5, …
                                 (default: the strongest the server offers)
          --tls-upgrade MODE     for smtp:// URLs: required (default: STARTTLS or fail before the
                                 login), if-available (plain text when the server has no STARTTLS),
                                 or none (plain text throughout)
          --cacert FILE          verify the server's certificate with the CA certificates in the
                                 PEM file FILE instead of the system's bundle
          --proxy URL            connect through a proxy (socks5h://host:port, http://host:port, …)
          --connect-timeout S    give up when connecting, TLS and the login take longer than S
                                 seconds (default 30)
          -v, --verbose          write the SMTP conversation to standard error (the server's
                                 lines and sendmail's commands; never the login's)
          -h, --help             print this help and exit

        The path of an smtp:// URL is the name sendmail gives in EHLO:
        smtp://mail.example.com:587/client.example.org

        exit status:
          0   the server accepted the message
          1   the connection, the TLS upgrade or the login failed, or the server refused the
              message for good (a 5xx reply), or standard input could not be read
          2   bad arguments
          75  the server refused for now (a 4xx reply): try again later

        example:
          printf 'Hello Bob.\\n' | SMTP_PASSWORD=… sendmail --from alice@example.com \\
              --to bob@example.org --subject Hello --user alice smtp://mail.example.com:587

        """

    static func parse(_ arguments: [String]) -> Outcome {
        var result = Arguments()
        var positional: [String] = []
        var index = 0

        func value() -> String? {
            index += 1
            return index < arguments.count && !arguments[index].isEmpty ? arguments[index] : nil
        }

        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help":
                return .help
            case "--from":
                guard let address = value() else { return .usageError("--from needs an address") }
                result.from = address
            case "--to":
                guard let address = value() else { return .usageError("--to needs an address") }
                result.recipients.append(address)
            case "--subject":
                guard let subject = value() else { return .usageError("--subject needs a text") }
                result.subject = subject
            case "--user":
                guard let user = value() else { return .usageError("--user needs a user name") }
                result.user = user
            case "--password-file":
                guard let file = value() else { return .usageError("--password-file needs a file") }
                result.passwordFile = file
            case "--auth":
                guard let mechanism = value() else { return .usageError("--auth needs a mechanism, such as PLAIN") }
                result.mechanism = mechanism.uppercased()
            case "--tls-upgrade":
                switch value() {
                case "required": result.tlsUpgrade = .required
                case "if-available": result.tlsUpgrade = .ifAvailable
                case "none": result.tlsUpgrade = .none
                default: return .usageError("--tls-upgrade needs required, if-available or none")
                }
            case "--cacert":
                guard let file = value() else { return .usageError("--cacert needs a PEM file") }
                result.caFile = file
            case "--proxy":
                guard let proxy = value() else { return .usageError("--proxy needs a proxy URL") }
                result.proxy = proxy
            case "--connect-timeout":
                guard let text = value(), let seconds = Double(text), seconds > 0, seconds < 1_000_000 else {
                    return .usageError("--connect-timeout needs a positive number of seconds")
                }
                result.connectTimeout = .milliseconds(Int64((seconds * 1000).rounded(.up)))
            case "-v", "--verbose":
                result.verbose = true
            default:
                if argument.hasPrefix("-") && argument.count > 1 {
                    return .usageError("unknown option '\(argument)'")
                }
                positional.append(argument)
            }
            index += 1
        }

        guard positional.count == 1 else {
            return .usageError(positional.isEmpty ? "missing the smtp:// or smtps:// URL of the server" : "expected one URL, got \(positional.count) arguments")
        }
        result.url = positional[0]
        let scheme = result.url.prefix(while: { $0 != ":" }).lowercased()
        guard scheme == "smtp" || scheme == "smtps", result.url.dropFirst(scheme.count).hasPrefix("://") else {
            return .usageError("'\(result.url)' is not an smtp:// or smtps:// URL")
        }
        guard !result.from.isEmpty else { return .usageError("missing --from") }
        guard !result.recipients.isEmpty else { return .usageError("missing --to") }
        for address in [result.from] + result.recipients where !isAddress(address) {
            return .usageError("'\(address)' is not a plain ASCII mail address such as alice@example.com")
        }
        if let subject = result.subject, subject.contains(where: \.isNewline) {
            return .usageError("--subject must be one line")
        }
        if result.user == nil, result.passwordFile != nil || result.mechanism != nil {
            return .usageError("--password-file and --auth need --user")
        }
        return .run(result)
    }

    /// `local@domain` in printable ASCII, without spaces, angle brackets or line breaks: what
    /// can go between `<` and `>` in MAIL FROM and RCPT TO, and into a header, as it is.
    static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }
    }

    /// The password: the first line of `--password-file`, or `SMTP_PASSWORD`. Throws when a
    /// user is given without either.
    func password(environment: [String: String]) throws -> String? {
        guard let user else { return nil }
        if let passwordFile {
            guard let bytes = readFile(passwordFile) else {
                throw UsageFailure("cannot read the password file '\(passwordFile)': \(String(cString: strerror(errno)))")
            }
            let line = bytes.prefix { $0 != 0x0a && $0 != 0x0d }
            return String(decoding: line, as: UTF8.self)
        }
        if let password = environment["SMTP_PASSWORD"] { return password }
        throw UsageFailure("--user \(user) needs a password: --password-file FILE, or SMTP_PASSWORD in the environment")
    }
}

/// A problem with what the user gave, found after parsing (exit status 2).
struct UsageFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The whole file at `path`, or `nil` (with `errno` set) if it cannot be read.
func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return readAll(fd)
}

/// Everything up to the end of `fd`, or `nil` (with `errno` set) on a read error.
func readAll(_ fd: Int32) -> [UInt8]? {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count > 0 {
            bytes.append(contentsOf: buffer[0..<count])
        } else if count == 0 {
            return bytes
        } else if errno != EINTR {
            return nil
        }
    }
}
