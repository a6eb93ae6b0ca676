/// TLS settings for `tls://` and `https://` connections (libcurl with OpenSSL).
public struct TLSOptions: Sendable, Hashable {
    /// A PEM file of CA certificates to verify the peer with (`CURLOPT_CAINFO`). `nil` uses the
    /// system's bundle (libcurl's built-in default, `/etc/ssl/certs/ca-certificates.crt` on
    /// Debian).
    ///
    /// The engine parses a CA file once and shares it between its connections, for up to a day
    /// (libcurl's CA cache), as long as ``caDirectory``, ``caCertificates`` and ``crlFile`` are
    /// unset; one of those makes every connection parse its own copy and keep it while open:
    /// with Debian's system bundle (139 certificates), 26 ms and 790 KiB per connection.
    /// Connections with different CA files on one engine take turns in that one cache.
    public var caFile: String?

    /// Verify the peer's certificate chain (`CURLOPT_SSL_VERIFYPEER`). On by default.
    ///
    /// - Warning: Turning this off makes the connection open to any man in the middle. Only do it
    ///   for tests or for peers you reach over an otherwise trusted path.
    public var verifyPeer: Bool = true

    /// Verify that the certificate is for the host in the URL (`CURLOPT_SSL_VERIFYHOST`).
    /// On by default.
    ///
    /// - Warning: Turning this off accepts a valid certificate for *any* host.
    public var verifyHost: Bool = true

    /// A PEM client certificate to present (`CURLOPT_SSLCERT`).
    public var clientCertificateFile: String?

    /// The PEM private key for ``clientCertificateFile`` (`CURLOPT_SSLKEY`).
    public var clientKeyFile: String?

    /// The pass phrase of an encrypted ``clientKeyFile`` (`CURLOPT_KEYPASSWD`).
    public var clientKeyPassword: String?

    /// A directory of CA certificates named by their hashes, as `openssl rehash` makes it
    /// (`CURLOPT_CAPATH`).
    ///
    /// `nil` (the default) searches no directory, only ``caFile`` or the system's bundle, even
    /// where libcurl was built with a default directory (Debian's: `/etc/ssl/certs`, whose
    /// certificates `update-ca-certificates` also puts in the bundle): with a directory set,
    /// libcurl 7.88.1 cannot share the parsed CA certificates between connections (see
    /// ``caFile``). A system whose libcurl has no readable default bundle keeps the default
    /// directory. Set `"/etc/ssl/certs"` here to search it as libcurl does by default.
    public var caDirectory: String?

    /// The public key the peer must have (`CURLOPT_PINNEDPUBLICKEY`): a PEM or DER file path,
    /// or `"sha256//"` followed by the base64 SHA-256 of the DER public key (several may be
    /// joined with `;`). A mismatch fails with ``CurlError/Code/sslPinnedPublicKeyMismatch``.
    public var pinnedPublicKey: String?

    /// The oldest TLS version to accept (`CURLOPT_SSLVERSION`). `nil` uses libcurl's default
    /// (TLS 1.2 with this OpenSSL).
    public var minimumVersion: TLSVersion?

    /// The newest TLS version to offer (`CURL_SSLVERSION_MAX_*`). `nil` means the newest supported.
    public var maximumVersion: TLSVersion?

    /// OpenSSL cipher list for TLS 1.2 and older (`CURLOPT_SSL_CIPHER_LIST`), such as
    /// `"ECDHE-RSA-AES128-GCM-SHA256"`.
    public var cipherList: String?

    /// TLS 1.3 cipher suites (`CURLOPT_TLS13_CIPHERS`), such as `"TLS_AES_128_GCM_SHA256"`.
    public var tls13CipherSuites: String?

    /// CA certificates to verify the peer with, from memory: the bytes of a PEM file holding
    /// one or more certificates (`CURLOPT_CAINFO_BLOB`). Used instead of ``caFile`` and the
    /// system's bundle.
    public var caCertificates: [UInt8]?

    /// The client certificate, from memory (`CURLOPT_SSLCERT_BLOB`), in
    /// ``clientCertificateFormat``. Takes precedence over ``clientCertificateFile``.
    public var clientCertificate: [UInt8]?

    /// The client certificate's private key, from memory (`CURLOPT_SSLKEY_BLOB`), in
    /// ``clientKeyFormat``. Takes precedence over ``clientKeyFile``. Not needed with a PKCS#12
    /// certificate, which holds its key.
    public var clientKey: [UInt8]?

    /// The format of ``clientCertificateFile`` or ``clientCertificate`` (`CURLOPT_SSLCERTTYPE`).
    /// For ``CertificateFormat/pkcs12``, ``clientKeyPassword`` is the bundle's password.
    public var clientCertificateFormat: CertificateFormat = .pem

    /// The format of ``clientKeyFile`` or ``clientKey`` (`CURLOPT_SSLKEYTYPE`).
    public var clientKeyFormat: KeyFormat = .pem

    /// A PEM file of certificate revocation lists (`CURLOPT_CRLFILE`): a revoked certificate in
    /// the peer's chain fails the handshake.
    public var crlFile: String?

    /// The elliptic curves (key-exchange groups) to offer, in order of preference
    /// (`CURLOPT_SSL_EC_CURVES`), as OpenSSL names them, joined with `:`: `"X25519:P-256"`.
    public var curves: String?

    /// Requires the peer to staple a valid OCSP response to its certificate, and checks it
    /// (`CURLOPT_SSL_VERIFYSTATUS`). A missing or bad response fails the connect with
    /// ``CurlError/Code/sslInvalidCertificateStatus``. Off by default.
    public var verifyStatus: Bool = false

    /// A PEM file with the certificate that must have issued the peer's certificate
    /// (`CURLOPT_ISSUERCERT` / `CURLOPT_PROXY_ISSUERCERT`): checked after the chain is
    /// verified, against the peer's own certificate only (its direct issuer, not a root above an
    /// intermediate). A peer whose certificate another CA issued fails the connect with
    /// ``CurlError/Code/sslIssuerError``, as does a file that cannot be read as a PEM
    /// certificate. Use it to accept only one CA out of a larger ``caFile`` or system bundle.
    public var issuerCertificateFile: String?

    /// Like ``issuerCertificateFile``, from memory: the bytes of a PEM certificate
    /// (`CURLOPT_ISSUERCERT_BLOB` / `CURLOPT_PROXY_ISSUERCERT_BLOB`). Takes precedence over
    /// ``issuerCertificateFile``.
    public var issuerCertificate: [UInt8]?

    /// Whether a CA certificate in ``caFile``, ``caCertificates`` or ``caDirectory`` that is an
    /// intermediate, not a self-signed root, is enough to trust the peer (OpenSSL's
    /// `X509_V_FLAG_PARTIAL_CHAIN`, which libcurl 7.88.1 sets unless `CURLSSLOPT_NO_PARTIALCHAIN`
    /// is in `CURLOPT_SSL_OPTIONS` / `CURLOPT_PROXY_SSL_OPTIONS`). On by default, as in libcurl:
    /// pinning trust to an intermediate CA works. `false` demands a chain up to a self-signed
    /// root in the trusted certificates; otherwise the connect fails with
    /// ``CurlError/Code/peerFailedVerification``. libcurl never uses partial chains together
    /// with ``crlFile`` (an OpenSSL limitation), whatever this says.
    public var acceptsPartialChain: Bool = true

    /// Turns off OpenSSL's workaround for the BEAST attack on CBC ciphers in TLS 1.0 and SSL 3
    /// (`CURLSSLOPT_ALLOW_BEAST` in `CURLOPT_SSL_OPTIONS` / `CURLOPT_PROXY_SSL_OPTIONS`), for
    /// very old peers that cannot cope with the empty fragments the workaround sends. Off by
    /// default. It only matters for TLS 1.0, which the OpenSSL of Debian 12 refuses at its
    /// default security level anyway; TLS 1.1 and newer are not affected.
    public var allowsBEAST: Bool = false

    /// The user name for TLS-SRP (RFC 5054, `CURLOPT_TLSAUTH_USERNAME` /
    /// `CURLOPT_PROXY_TLSAUTH_USERNAME`, with `CURLOPT_TLSAUTH_TYPE` `SRP`): client and server
    /// prove to each other that they know the password, without a certificate. Needs
    /// ``srpPassword``. libcurl then offers only the SRP cipher suites (unless ``cipherList``
    /// says otherwise: a list of your own must hold only SRP suites, such as
    /// `"SRP-AES-256-CBC-SHA"`, or a peer may pick another), and AsyncCurl offers TLS 1.2 at
    /// most, since SRP does not exist in TLS 1.3 and libcurl 7.88.1 would otherwise accept a
    /// TLS 1.3 server without any SRP. A server that does not speak TLS-SRP fails the
    /// handshake with ``CurlError/Code/sslConnectError``; a ``maximumVersion`` or
    /// ``minimumVersion`` of TLS 1.3 is refused before connecting.
    ///
    /// An SRP server that has no certificate sends none: turn ``verifyPeer`` and ``verifyHost``
    /// off for it (the SRP exchange itself authenticates the server), or libcurl fails the
    /// connect with ``CurlError/Code/peerFailedVerification`` after the handshake. A wrong
    /// password fails the handshake with ``CurlError/Code/sslConnectError`` (the server's
    /// `bad_record_mac` alert).
    ///
    /// ```swift
    /// options.tls.srpUsername = "alice"
    /// options.tls.srpPassword = secret
    /// options.tls.verifyPeer = false   // an SRP-only server: no certificate to verify
    /// options.tls.verifyHost = false
    /// ```
    public var srpUsername: String?

    /// The TLS-SRP password for ``srpUsername`` (`CURLOPT_TLSAUTH_PASSWORD` /
    /// `CURLOPT_PROXY_TLSAUTH_PASSWORD`).
    public var srpPassword: String?

    /// Default TLS settings: verification on, the system's CA bundle, no client certificate.
    public init() {}
}

/// The format of a client certificate, for ``TLSOptions/clientCertificateFormat``.
public enum CertificateFormat: Sendable, Hashable, CaseIterable {
    /// PEM text (`-----BEGIN CERTIFICATE-----`).
    case pem
    /// Binary DER.
    case der
    /// A PKCS#12 (`.p12`, `.pfx`) bundle of the certificate and its key.
    case pkcs12

    /// The `CURLOPT_SSLCERTTYPE` value.
    var curlName: String {
        switch self {
        case .pem: return "PEM"
        case .der: return "DER"
        case .pkcs12: return "P12"
        }
    }
}

/// The format of a private key, for ``TLSOptions/clientKeyFormat``.
public enum KeyFormat: Sendable, Hashable, CaseIterable {
    /// PEM text (`-----BEGIN PRIVATE KEY-----` and the like).
    case pem
    /// Binary DER.
    case der

    /// The `CURLOPT_SSLKEYTYPE` value.
    var curlName: String {
        switch self {
        case .pem: return "PEM"
        case .der: return "DER"
        }
    }
}

/// A TLS protocol version, for ``TLSOptions/minimumVersion`` and ``TLSOptions/maximumVersion``.
public enum TLSVersion: Sendable, Hashable, CaseIterable {
    /// TLS 1.0 (obsolete; most OpenSSL configurations refuse it).
    case tls1_0
    /// TLS 1.1 (obsolete; most OpenSSL configurations refuse it).
    case tls1_1
    /// TLS 1.2.
    case tls1_2
    /// TLS 1.3.
    case tls1_3
}
