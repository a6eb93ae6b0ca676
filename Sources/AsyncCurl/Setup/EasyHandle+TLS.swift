import CCurl

/// The libcurl options one ``TLSOptions`` maps onto: the peer's, or the HTTPS proxy's.
/// libcurl 7.88.1 has no proxy variant of `CURLOPT_SSL_EC_CURVES` and `CURLOPT_SSL_VERIFYSTATUS`
/// (its `url.c` copies neither into the proxy's TLS configuration): those are `nil` here.
struct TLSOptionNames {
    /// `tls` or `proxyTLS`, for messages.
    let owner: String
    let caInfo, caPath, verifyPeer, verifyHost, certificate, key, keyPassword: CURLoption
    let pinnedPublicKey, version, cipherList, tls13Ciphers: CURLoption
    let caInfoBlob, certificateBlob, keyBlob, certificateType, keyType, crlFile: CURLoption
    let curves, verifyStatus: CURLoption?

    static let peer = TLSOptionNames(
        owner: "tls",
        caInfo: CURLOPT_CAINFO, caPath: CURLOPT_CAPATH, verifyPeer: CURLOPT_SSL_VERIFYPEER,
        verifyHost: CURLOPT_SSL_VERIFYHOST, certificate: CURLOPT_SSLCERT, key: CURLOPT_SSLKEY,
        keyPassword: CURLOPT_KEYPASSWD, pinnedPublicKey: CURLOPT_PINNEDPUBLICKEY,
        version: CURLOPT_SSLVERSION, cipherList: CURLOPT_SSL_CIPHER_LIST, tls13Ciphers: CURLOPT_TLS13_CIPHERS,
        caInfoBlob: CURLOPT_CAINFO_BLOB, certificateBlob: CURLOPT_SSLCERT_BLOB, keyBlob: CURLOPT_SSLKEY_BLOB,
        certificateType: CURLOPT_SSLCERTTYPE, keyType: CURLOPT_SSLKEYTYPE, crlFile: CURLOPT_CRLFILE,
        curves: CURLOPT_SSL_EC_CURVES, verifyStatus: CURLOPT_SSL_VERIFYSTATUS)

    static let proxy = TLSOptionNames(
        owner: "proxyTLS",
        caInfo: CURLOPT_PROXY_CAINFO, caPath: CURLOPT_PROXY_CAPATH, verifyPeer: CURLOPT_PROXY_SSL_VERIFYPEER,
        verifyHost: CURLOPT_PROXY_SSL_VERIFYHOST, certificate: CURLOPT_PROXY_SSLCERT, key: CURLOPT_PROXY_SSLKEY,
        keyPassword: CURLOPT_PROXY_KEYPASSWD, pinnedPublicKey: CURLOPT_PROXY_PINNEDPUBLICKEY,
        version: CURLOPT_PROXY_SSLVERSION, cipherList: CURLOPT_PROXY_SSL_CIPHER_LIST,
        tls13Ciphers: CURLOPT_PROXY_TLS13_CIPHERS,
        caInfoBlob: CURLOPT_PROXY_CAINFO_BLOB, certificateBlob: CURLOPT_PROXY_SSLCERT_BLOB,
        keyBlob: CURLOPT_PROXY_SSLKEY_BLOB, certificateType: CURLOPT_PROXY_SSLCERTTYPE,
        keyType: CURLOPT_PROXY_SSLKEYTYPE, crlFile: CURLOPT_PROXY_CRLFILE,
        curves: nil, verifyStatus: nil)
}

extension EasyHandle {
    func apply(_ tls: TLSOptions, _ names: TLSOptionNames) throws(CurlError) {
        if let caFile = tls.caFile { try set(names.caInfo, caFile) }
        if let caDirectory = tls.caDirectory {
            try set(names.caPath, caDirectory)
        } else if tls.caFile != nil || LoadedCurl.hasDefaultCAFile {
            // No CA directory (Debian's libcurl sets /etc/ssl/certs by default): with one,
            // libcurl 7.88.1 parses the CA file again for every connection and keeps the copy
            // as long as the connection (openssl.c, Curl_ssl_setup_x509_store: its engine-wide
            // store cache needs CApath unset), about 26 ms and 790 KiB per connection
            // with the system bundle.
            try set(names.caPath, pointer: nil)
        }
        try set(names.verifyPeer, tls.verifyPeer)
        try set(names.verifyHost, tls.verifyHost ? 2 : 0)
        if let certificate = tls.clientCertificateFile { try set(names.certificate, certificate) }
        if let key = tls.clientKeyFile { try set(names.key, key) }
        if let password = tls.clientKeyPassword { try set(names.keyPassword, password) }
        if let pin = tls.pinnedPublicKey { try set(names.pinnedPublicKey, pin) }
        if tls.minimumVersion != nil || tls.maximumVersion != nil {
            // CURLOPT_SSLVERSION holds the minimum in its low bits and the maximum shifted by 16.
            let minimum = tls.minimumVersion?.curlValue ?? Int(CURL_SSLVERSION_DEFAULT)
            let maximum = tls.maximumVersion.map { $0.curlValue << 16 } ?? Int(CURL_SSLVERSION_MAX_DEFAULT)
            try set(names.version, minimum | maximum)
        }
        if let ciphers = tls.cipherList { try set(names.cipherList, ciphers) }
        if let suites = tls.tls13CipherSuites { try set(names.tls13Ciphers, suites) }

        if let bytes = tls.caCertificates { try set(names.caInfoBlob, blob: bytes, "\(names.owner).caCertificates") }
        if let bytes = tls.clientCertificate { try set(names.certificateBlob, blob: bytes, "\(names.owner).clientCertificate") }
        if let bytes = tls.clientKey { try set(names.keyBlob, blob: bytes, "\(names.owner).clientKey") }
        if tls.clientCertificateFormat != .pem { try set(names.certificateType, tls.clientCertificateFormat.curlName) }
        if tls.clientKeyFormat != .pem { try set(names.keyType, tls.clientKeyFormat.curlName) }
        if let crlFile = tls.crlFile { try set(names.crlFile, crlFile) }
        if let curves = tls.curves {
            guard let option = names.curves else {
                throw CurlError(code: .notBuiltIn, message: "\(names.owner).curves: libcurl \(LoadedCurl.version) cannot choose the curves of the TLS connection to a proxy (no CURLOPT_PROXY_SSL_EC_CURVES); set tls.curves for the peer")
            }
            try set(option, curves)
        }
        if tls.verifyStatus {
            guard let option = names.verifyStatus else {
                throw CurlError(code: .notBuiltIn, message: "\(names.owner).verifyStatus: libcurl \(LoadedCurl.version) cannot check a proxy's OCSP stapling (no CURLOPT_PROXY_SSL_VERIFYSTATUS); set tls.verifyStatus for the peer")
            }
            try set(option, true)
        }
        try applyMore(tls, owner: names.owner, names.owner == TLSOptionNames.proxy.owner ? .proxy : .peer)
    }

    /// A `struct curl_blob` option; libcurl copies the bytes (`CURL_BLOB_COPY`) before returning.
    func set(_ option: CURLoption, blob bytes: [UInt8], _ name: String) throws(CurlError) {
        guard !bytes.isEmpty else {
            throw CurlError(code: .badFunctionArgument, message: "\(name): no bytes given")
        }
        let code = bytes.withUnsafeBytes { buffer -> CURLcode in
            var blob = curl_blob(data: UnsafeMutableRawPointer(mutating: buffer.baseAddress), len: buffer.count,
                                 flags: UInt32(CURL_BLOB_COPY))
            return withUnsafeMutablePointer(to: &blob) { ac_easy_setopt_pointer(raw, option, UnsafeMutableRawPointer($0)) }
        }
        try check(code, option)
    }
}
