import CCurl

/// Whether a plain mail connection (`smtp://`, `imap://`, `pop3://`) upgrades to TLS with
/// `STARTTLS` (`STLS` for POP3) before the login: ``ConnectionOptions/tlsUpgrade``
/// (`CURLOPT_USE_SSL`).
public enum TLSUpgrade: Sendable, Hashable, CaseIterable {
    /// No upgrade: the whole session, the login included, is plain text
    /// (`CURLUSESSL_NONE`). Only for servers on a trusted network, or without a login.
    case none
    /// Upgrade when the server offers it, and go on in plain text when it does not
    /// (`CURLUSESSL_TRY`). Anyone on the way can strip the offer from the server's capability
    /// list and read the login: opportunistic TLS protects against listening, not against an
    /// active attacker. ``ConnectionInfo/upgradedToTLS`` says which it was.
    case ifAvailable
    /// Upgrade, or fail the connect with ``CurlError/Code/useSSLFailed`` before any login is
    /// sent (`CURLUSESSL_ALL`). The default.
    case required

    /// The `CURLUSESSL_*` value.
    var curlValue: Int {
        switch self {
        case .none: return Int(CURLUSESSL_NONE.rawValue)
        case .ifAvailable: return Int(CURLUSESSL_TRY.rawValue)
        case .required: return Int(CURLUSESSL_ALL.rawValue)
        }
    }
}

/// The server-login options of a mail connection, stored together in ``ConnectionOptions``.
struct ServerLogin: Sendable, Hashable {
    var username: String?
    var password: String?
    /// ``ConnectionOptions/tlsUpgrade`` as set, or `nil` when left at its default: a mail
    /// connection then requires the upgrade, a transfer does not ask for one.
    var explicitTLSUpgrade: TLSUpgrade?
    var tlsUpgrade: TLSUpgrade { explicitTLSUpgrade ?? .required }
    var loginOptions: String?
    var oauth2BearerToken: String?
    var saslAuthorizationIdentity: String?

    /// The options set, by their names, for errors about them.
    var namedValues: [(name: String, value: String)] {
        [("username", username), ("password", password), ("loginOptions", loginOptions),
         ("oauth2BearerToken", oauth2BearerToken), ("saslAuthorizationIdentity", saslAuthorizationIdentity)]
            .compactMap { entry in entry.1.map { (entry.0, $0) } }
    }

    /// Whether libcurl will log in: it does when a user name (or a bearer token) is given.
    var logsIn: Bool { username != nil || oauth2BearerToken != nil }
}

extension ConnectionOptions {
    /// The user name for the login to a mail server (`CURLOPT_USERNAME`): for `smtp://`,
    /// `imap://`, `pop3://` URLs and their TLS variants. Not the proxy's
    /// (``proxyUsername``). libcurl logs in during the set-up when this is set, with the strongest
    /// SASL mechanism the server offers and ``loginOptions`` allows (for IMAP and POP3, falling
    /// back to `LOGIN` and `USER`/`PASS`); the connection is handed over after the login.
    ///
    /// ```swift
    /// var options = ConnectionOptions()
    /// options.username = "alice"
    /// options.password = secret
    /// let imap = try await multi.connect(to: "imaps://mail.example.com", options: options)
    /// ```
    ///
    /// A login the server refuses fails the connect with ``CurlError/Code/loginDenied``, the
    /// server's answer in the message. An SMTP server that offers no `AUTH` at all fails it the
    /// same way, rather than handing over a connection that is not logged in. Without a user
    /// name nothing logs in: the connection is handed over after the greeting, the capabilities
    /// and the TLS upgrade. Setting a login option on any other URL throws
    /// ``CurlError/Code/badFunctionArgument``: those connections have no login.
    public var username: String? {
        get { serverLogin.username }
        set { serverLogin.username = newValue }
    }

    /// The password for ``username`` (`CURLOPT_PASSWORD`). It is sent only after the TLS
    /// upgrade that ``tlsUpgrade`` requires by default, and with a challenge-response mechanism
    /// (CRAM-MD5, DIGEST-MD5) it is not sent at all.
    public var password: String? {
        get { serverLogin.password }
        set { serverLogin.password = newValue }
    }

    /// Whether a plain `smtp://`, `imap://` or `pop3://` connection upgrades to TLS with
    /// `STARTTLS` (`STLS`) before the login (`CURLOPT_USE_SSL`).
    ///
    /// The default, ``TLSUpgrade/required``, upgrades or fails with
    /// ``CurlError/Code/useSSLFailed`` before anything else is sent, so that no password (and no
    /// mail) crosses the network in plain text by accident; going without TLS takes a deliberate
    /// ``TLSUpgrade/ifAvailable`` or ``TLSUpgrade/none``. The ``tls`` options (CA, verification,
    /// client certificate, versions, pinning) apply to the upgraded connection exactly as to an
    /// `imaps://` one: the server's certificate is verified for the URL's host.
    /// `smtps://`, `imaps://` and `pop3s://` run TLS from the first byte (implicit TLS) and ignore
    /// this setting; so do URLs of other schemes.
    ///
    /// Transfers (``TransferOptions/connection``): an `ftp://`, `imap://` or `pop3://` transfer
    /// upgrades (`AUTH TLS` for FTP: explicit FTPS, the data connections protected too) only when
    /// this is set; left at its default it goes in plain text, as curl does without `--ssl-reqd`.
    /// Set ``TLSUpgrade/required`` to send an FTP login only over TLS.
    public var tlsUpgrade: TLSUpgrade {
        get { serverLogin.tlsUpgrade }
        set { serverLogin.explicitTLSUpgrade = newValue }
    }

    /// The login options for a mail server (`CURLOPT_LOGIN_OPTIONS`): which mechanisms libcurl
    /// may use, as `AUTH=<mechanism>`, such as `"AUTH=PLAIN"`, `"AUTH=CRAM-MD5"`,
    /// `"AUTH=XOAUTH2"` or `"AUTH=*"` (any, the default). IMAP's plain `LOGIN` command is
    /// `"AUTH=+LOGIN"` (libcurl 8.2.0 and later; with an older libcurl the connect throws
    /// ``CurlError/Code/badFunctionArgument``) and POP3's `APOP` is `"AUTH=+APOP"`. libcurl's
    /// mechanisms: PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, NTLM, GSSAPI (Kerberos), XOAUTH2,
    /// OAUTHBEARER and EXTERNAL.
    public var loginOptions: String? {
        get { serverLogin.loginOptions }
        set { serverLogin.loginOptions = newValue }
    }

    /// An OAuth 2.0 access token for the login (`CURLOPT_XOAUTH2_BEARER`), sent with the SASL
    /// mechanism XOAUTH2 or OAUTHBEARER, whichever the server offers, together with
    /// ``username``, which these mechanisms need too.
    public var oauth2BearerToken: String? {
        get { serverLogin.oauth2BearerToken }
        set { serverLogin.oauth2BearerToken = newValue }
    }

    /// The SASL authorization identity (`CURLOPT_SASL_AUTHZID`): the user to act as, when
    /// ``username`` is an administrator's or a proxy user's that may act for others. Sent with
    /// the PLAIN mechanism.
    public var saslAuthorizationIdentity: String? {
        get { serverLogin.saslAuthorizationIdentity }
        set { serverLogin.saslAuthorizationIdentity = newValue }
    }
}
