import CCurl

/// Every line a mail server sends during the set-up, as libcurl's header callback passes them
/// (`CURLOPT_HEADERFUNCTION`): the greeting, the capabilities, the answers to STARTTLS and to the
/// login. Owned by the connection's record (retained there, freed with the easy handle); written
/// only by libcurl's callback, on the engine's queue under its libcurl lock, and read there.
final class ServerResponses {
    /// The lines, without their line endings.
    private(set) var lines: [String] = []
    /// The protocol whose greeting the first line must be.
    let mailProtocol: MailProtocol
    /// The first line was no greeting of ``mailProtocol``: the callback stopped the set-up.
    private(set) var greetingIsForeign = false
    /// The server sent more than ``maximumLines`` lines or ``maximumBytes`` bytes during the
    /// set-up: the callback stopped it, so a hostile server cannot grow the list without bound.
    private(set) var overflowed = false
    private var byteCount = 0

    static let maximumLines = 1_000
    static let maximumBytes = 256 * 1024

    init(_ mailProtocol: MailProtocol) {
        self.mailProtocol = mailProtocol
    }

    /// Adds a line; `false` stops the set-up (see ``greetingIsForeign`` and ``overflowed``).
    func append(_ line: String, byteCount bytes: Int) -> Bool {
        guard lines.count < Self.maximumLines, byteCount + bytes <= Self.maximumBytes else {
            overflowed = true
            return false
        }
        if lines.isEmpty, !mailProtocol.isGreeting(line) {
            greetingIsForeign = true
            lines.append(line)
            return false
        }
        byteCount += bytes
        lines.append(line)
        return true
    }
}

extension EasyHandle {
    /// The login and TLS-upgrade options of a mail URL, and the callback that collects the
    /// server's lines into `responses`, which must outlive the easy handle. For other URLs,
    /// refuses any login option: those connections have no login that could use it.
    func configureLogin(target: ConnectionTarget, options: ConnectionOptions,
                        responses: ServerResponses?) throws(CurlError) {
        let login = options.serverLogin
        guard target.mailProtocol != nil, let responses else {
            if let first = login.namedValues.first {
                throw CurlError(code: .badFunctionArgument, message: "\(first.name): only smtp://, smtps://, imap://, imaps://, pop3:// and pop3s:// connections log in; this URL's connection has no login to use it (a proxy's credentials are proxyUsername and proxyPassword)")
            }
            return
        }
        for (name, value) in login.namedValues {
            // POP3's USER and PASS go out as they are: a line break would start a command of its own.
            guard !value.utf8.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 }) else {
                throw CurlError(code: .badFunctionArgument, message: "\(name) contains a line break or a NUL byte")
            }
        }
        if let username = login.username { try set(CURLOPT_USERNAME, username) }
        if let password = login.password { try set(CURLOPT_PASSWORD, password) }
        if let loginOptions = login.loginOptions {
            guard loginOptions.uppercased().hasPrefix("AUTH=") else {
                throw CurlError(code: .badFunctionArgument, message: "loginOptions: '\(loginOptions)' is not AUTH=<mechanism>, such as AUTH=PLAIN, AUTH=CRAM-MD5 or AUTH=*")
            }
            // libcurl before 8.2.0 knows no AUTH=+LOGIN and fails the set-up with "URL using
            // bad/illegal format", which names nothing the caller set (seen with 7.88.1 and Dovecot).
            if target.mailProtocol == .imap, loginOptions.uppercased() == "AUTH=+LOGIN", LoadedCurl.versionNumber < 0x08_02_00 {
                throw CurlError(code: .badFunctionArgument, message: "loginOptions: AUTH=+LOGIN (IMAP's LOGIN command) needs libcurl 8.2.0 or later, and this is libcurl \(LoadedCurl.version); it sends LOGIN only with AUTH=* to a server that offers no SASL mechanism. Use AUTH=PLAIN, over TLS")
            }
            try set(CURLOPT_LOGIN_OPTIONS, loginOptions)
        }
        if let token = login.oauth2BearerToken { try set(CURLOPT_XOAUTH2_BEARER, token) }
        if let identity = login.saslAuthorizationIdentity { try set(CURLOPT_SASL_AUTHZID, identity) }
        if !target.usesTLS {
            try set(CURLOPT_USE_SSL, login.tlsUpgrade.curlValue)
        }
        // An HTTP proxy's answer to CONNECT is not the server's.
        try set(CURLOPT_SUPPRESS_CONNECT_HEADERS, true)
        try check(ac_easy_setopt_writefunction(raw, CURLOPT_HEADERFUNCTION, curlServerLineCallback), CURLOPT_HEADERFUNCTION)
        try set(CURLOPT_HEADERDATA, pointer: Unmanaged.passUnretained(responses).toOpaque())
    }
}

/// `CURLOPT_HEADERFUNCTION` for mail URLs: libcurl's pingpong reader passes each line the
/// server sends, with its line ending. Returning less than the length stops the set-up with
/// `CURLE_WRITE_ERROR`, which the record then explains (see `explainMailFailure`).
private let curlServerLineCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    var line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    while line.last?.isNewline == true { line.removeLast() }
    let responses = Unmanaged<ServerResponses>.fromOpaque(userdata).takeUnretainedValue()
    return responses.append(line, byteCount: length) ? length : 0
}
