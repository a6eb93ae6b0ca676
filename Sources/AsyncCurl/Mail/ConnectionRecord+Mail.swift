import CCurl

// What a mail connection's set-up tells its ConnectionInfo and its errors: the server's lines,
// whether STARTTLS happened, and the server's own words when the set-up failed.

extension ConnectionRecord {
    /// Adds the server's lines and the TLS upgrade to `info` after libcurl finished the set-up
    /// of a mail URL, and updates what the record knows about the connection's TLS. Returns an
    /// error when the set-up succeeded but must not count: an SMTP login was asked for and the
    /// server offers none (libcurl then goes on without logging in). Call it holding the
    /// engine's libcurl lock.
    func addMailFacts(to info: inout ConnectionInfo) -> CurlError? {
        guard let mail = target.mailProtocol, let responses = serverResponses?.takeUnretainedValue() else { return nil }
        info.serverResponses = responses.lines
        if setup.mayUpgradeToTLS, let handshake = EasyHandle(raw: easy).duration(CURLINFO_APPCONNECT_TIME_T), handshake > .zero {
            // libcurl 7.88.1 records the handshake time only for TLS to the peer, never for an
            // HTTPS proxy's; with STARTTLS that is the upgrade's handshake.
            info.upgradedToTLS = true
            info.usesTLS = true
            info.timings.tlsEstablished = handshake
        }
        usesTLSToPeer = info.usesTLS
        hasTLSLayer = info.usesTLS || setup.proxyMayUseTLS
        if mail == .smtp, setup.logsIn, !Self.smtpOffersLogin(responses.lines) {
            return CurlError(code: .loginDenied, message: "username is set, but the SMTP server offers no AUTH in its EHLO answer, so libcurl did not log in\(Self.quoting(responses.lines.last))")
        }
        return nil
    }

    /// Whether the last `EHLO` answer (after the greeting, or after STARTTLS's `220`) lists `AUTH`.
    private static func smtpOffersLogin(_ lines: [String]) -> Bool {
        let lastAnswer = lines.lastIndex { $0.hasPrefix("220") }.map { lines[($0 + 1)...] } ?? lines[...]
        return lastAnswer.contains { line in
            let capability = line.dropFirst(4).uppercased()
            return line.hasPrefix("250") && (capability.hasPrefix("AUTH ") || capability.hasPrefix("AUTH="))
        }
    }

    /// Adds the mail server's words to a failed set-up's error, and names what to change: the
    /// refused login's answer, a missing STARTTLS, a server that speaks another protocol.
    func explainMailFailure(_ error: inout CurlError) {
        guard let mail = target.mailProtocol, let responses = serverResponses?.takeUnretainedValue() else { return }
        let lines = responses.lines
        if responses.greetingIsForeign, let first = lines.first {
            error = CurlError(code: .weirdServerReply, message: "the server does not speak \(mail.name): its first line is not a\(mail == .imap ? "n" : "") \(mail.name) greeting\(Self.quoting(first))")
            return
        }
        // Debian's libcurl 7.88.1 has its own bound (CVE-2023-38039's fix): "Too large response headers".
        if responses.overflowed || error.code == .recvError && error.message.contains("Too large response headers") {
            let detail = responses.overflowed ? "more than \(ServerResponses.maximumLines) lines or \(ServerResponses.maximumBytes / 1024) KiB" : error.message
            error = CurlError(code: .weirdServerReply, message: "the \(mail.name) server sent too much during the set-up (\(detail))")
            return
        }
        switch error.code {
        case .useSSLFailed:
            if error.message.lowercased().contains("denied") {
                error.message += "; tlsUpgrade is .required\(Self.quoting(lines.last))"
            } else {
                error.message += "; the server does not offer \(mail.startTLSCommand) and tlsUpgrade is .required: connect with \(mail.rawValue)s:// (TLS from the start) if the server has it, or set tlsUpgrade to .ifAvailable or .none to go on in plain text knowingly"
            }
        case .loginDenied, .remoteAccessDenied, .weirdServerReply:
            if error.code == .loginDenied, error.message.contains("Authentication cancelled") {
                // libcurl itself sent "*": it could not read the challenge. libcurl 7.88.1 reads
                // DIGEST-MD5's algorithm only unquoted, and Dovecot quotes it (algorithm="md5-sess").
                // The server's last line is only its answer to the "*", such as "BAD Authentication
                // aborted by client", and would read as the server's refusal.
                error.message += "; libcurl could not answer the server's SASL challenge and cancelled the login (libcurl \(LoadedCurl.version) cannot read every server's DIGEST-MD5 challenge): allow another mechanism with loginOptions"
            }
            error.message += Self.quoting(lines.last)
        case .recvError where lines.isEmpty:
            error.message += "; the server closed the connection before its \(mail.name) greeting"
        case .recvError, .operationTimedOut:
            error.message += Self.quoting(lines.last, as: "the server's last line was")
        default:
            break
        }
    }

    /// `"; the server said: '<line>'"` (or another `lead`), cut to a readable length, or nothing without a line.
    private static func quoting(_ line: String?, as lead: String = "the server said:") -> String {
        guard let line else { return "" }
        let shown = line.count > 300 ? line.prefix(300) + "…" : Substring(line)
        return "; \(lead) '\(shown)'"
    }
}
