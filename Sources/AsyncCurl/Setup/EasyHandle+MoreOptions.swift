import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// The libcurl options for the rest of what ``TLSOptions`` can say: the issuer check,
/// `CURLOPT_SSL_OPTIONS` and TLS-SRP, for the peer or the HTTPS proxy.
struct MoreTLSOptionNames {
    let issuerCertificate, issuerCertificateBlob, sslOptions, version: CURLoption
    let tlsAuthUsername, tlsAuthPassword: CURLoption
    /// `CURLOPT_TLSAUTH_TYPE`; `nil` for the proxy: libcurl 7.88.1's setopt.c refuses every
    /// non-NULL `CURLOPT_PROXY_TLSAUTH_TYPE` with `CURLE_BAD_FUNCTION_ARGUMENT` (its test reads
    /// `argptr || !strncasecompare(...)`). The type is only checked, never used: SRP is on
    /// whenever a TLS-SRP user name is set, so leaving it out changes nothing.
    let tlsAuthType: CURLoption?

    static let peer = MoreTLSOptionNames(
        issuerCertificate: CURLOPT_ISSUERCERT, issuerCertificateBlob: CURLOPT_ISSUERCERT_BLOB,
        sslOptions: CURLOPT_SSL_OPTIONS, version: CURLOPT_SSLVERSION, tlsAuthUsername: CURLOPT_TLSAUTH_USERNAME,
        tlsAuthPassword: CURLOPT_TLSAUTH_PASSWORD, tlsAuthType: CURLOPT_TLSAUTH_TYPE)

    static let proxy = MoreTLSOptionNames(
        issuerCertificate: CURLOPT_PROXY_ISSUERCERT, issuerCertificateBlob: CURLOPT_PROXY_ISSUERCERT_BLOB,
        sslOptions: CURLOPT_PROXY_SSL_OPTIONS, version: CURLOPT_PROXY_SSLVERSION, tlsAuthUsername: CURLOPT_PROXY_TLSAUTH_USERNAME,
        tlsAuthPassword: CURLOPT_PROXY_TLSAUTH_PASSWORD, tlsAuthType: nil)
}

extension EasyHandle {
    /// Connection options beyond ``configureSetup(unixSocketPathFromURL:options:lists:)``: TCP Fast Open,
    /// address shuffling, SOCKS5 authentication methods, the proxy's Kerberos service name and
    /// GSS-API delegation.
    func configureMoreSetup(options: ConnectionOptions) throws(CurlError) {
        if options.tcpFastOpen {
            try set(CURLOPT_TCP_FASTOPEN, true)
        }
        if options.dnsShuffleAddresses {
            try set(CURLOPT_DNS_SHUFFLE_ADDRESSES, true)
        }
        let methods = options.socks5AuthMethods
        guard methods.isSubset(of: .all) else {
            throw CurlError(code: .badFunctionArgument, message: "socks5AuthMethods: \(methods) has bits libcurl does not know; use .usernamePassword and .gssapi")
        }
        if methods != .all {
            try set(CURLOPT_SOCKS5_AUTH, Int(bitPattern: methods.rawValue))
        }
        if let service = options.proxyServiceName {
            try Self.checkServiceName(service, option: "proxyServiceName")
            try set(CURLOPT_PROXY_SERVICE_NAME, service)
        }
        if options.gssapiDelegation != .none {
            try set(CURLOPT_GSSAPI_DELEGATION, options.gssapiDelegation.curlValue)
        }
    }

    /// The rest of `tls` (see ``MoreTLSOptionNames``); `owner` is `tls` or `proxyTLS`.
    func applyMore(_ tls: TLSOptions, owner: String, _ names: MoreTLSOptionNames) throws(CurlError) {
        if let bytes = tls.issuerCertificate {
            // libcurl reads the issuer with PEM_read_bio_X509 only, after the handshake.
            guard Self.containsPEMCertificate(bytes) else {
                throw CurlError(code: .sslIssuerError, message: "\(owner).issuerCertificate: not a PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            try set(names.issuerCertificateBlob, blob: bytes, "\(owner).issuerCertificate")
        } else if let path = tls.issuerCertificateFile {
            guard !path.isEmpty, !path.utf8.contains(0), access(path, R_OK) == 0 else {
                throw CurlError(code: .sslIssuerError, message: "\(owner).issuerCertificateFile: cannot read '\(path)'")
            }
            try set(names.issuerCertificate, path)
        }

        var sslOptions = 0
        if !tls.acceptsPartialChain { sslOptions |= Int(CURLSSLOPT_NO_PARTIALCHAIN) }
        if tls.allowsBEAST { sslOptions |= Int(CURLSSLOPT_ALLOW_BEAST) }
        if sslOptions != 0 {
            try set(names.sslOptions, sslOptions)
        }

        switch (tls.srpUsername, tls.srpPassword) {
        case (nil, nil):
            break
        case (let username?, let password?):
            guard !username.isEmpty, !username.utf8.contains(0) else {
                throw CurlError(code: .badFunctionArgument, message: "\(owner).srpUsername: '\(username)' is not a user name")
            }
            guard !password.utf8.contains(0) else {
                throw CurlError(code: .badFunctionArgument, message: "\(owner).srpPassword: contains a NUL byte")
            }
            if tls.minimumVersion == .tls1_3 || tls.maximumVersion == .tls1_3 {
                throw CurlError(code: .badFunctionArgument, message: "\(owner).srpUsername: TLS-SRP exists for TLS 1.2 and older only, but \(owner).\(tls.minimumVersion == .tls1_3 ? "minimumVersion" : "maximumVersion") is TLS 1.3")
            }
            // libcurl 7.88.1 limits TLS 1.2's cipher suites to SRP but still offers TLS 1.3,
            // where a server with a certificate is then accepted without any SRP: with
            // verifyPeer off, as an SRP-only server needs, nobody would be authenticated.
            let minimum = tls.minimumVersion?.curlValue ?? Int(CURL_SSLVERSION_DEFAULT)
            try set(names.version, minimum | Int(CURL_SSLVERSION_MAX_TLSv1_2))
            if let type = names.tlsAuthType { try set(type, "SRP") }
            try set(names.tlsAuthUsername, username)
            try set(names.tlsAuthPassword, password)
        case (nil, _?):
            throw CurlError(code: .badFunctionArgument, message: "\(owner).srpPassword: set without \(owner).srpUsername")
        case (_?, nil):
            throw CurlError(code: .badFunctionArgument, message: "\(owner).srpUsername: set without \(owner).srpPassword")
        }
    }

    /// Whether `bytes` hold a PEM certificate block anywhere (after a comment, say).
    static func containsPEMCertificate(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN CERTIFICATE-----".utf8)
        guard bytes.count >= marker.count else { return false }
        return (0...(bytes.count - marker.count)).contains { bytes[$0..<($0 + marker.count)].elementsEqual(marker) }
    }

    /// A Kerberos service name: not empty, no `@` or `/` (libcurl adds `@host`), no NUL.
    static func checkServiceName(_ name: String, option: String) throws(CurlError) {
        guard !name.isEmpty, !name.utf8.contains(where: { $0 == 0 || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "/") || $0 <= 0x20 }) else {
            throw CurlError(code: .badFunctionArgument, message: "\(option): '\(name)' is not a Kerberos service name (such as HTTP or proxy)")
        }
    }
}
