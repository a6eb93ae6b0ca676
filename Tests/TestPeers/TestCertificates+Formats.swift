import Foundation

/// More forms of the throw-away certificates of ``TestCertificates``, for the TLS detail tests:
/// DER and PKCS#12 client identities, certificate revocation lists and a stapled OCSP response.
/// Made once per run with the openssl tool, in the same directory (removed at exit), from the
/// same CA.
struct TestCertificateForms: Sendable {
    /// ``TestCertificates/client``'s certificate, DER.
    let clientCertificateDER: String
    /// ``TestCertificates/client``'s private key, DER (unencrypted).
    let clientKeyDER: String
    /// The client certificate and key in a PKCS#12 bundle protected by ``pkcs12Password``
    /// (OpenSSL 3's defaults: AES-256-CBC with PBKDF2, a SHA-256 MAC).
    let clientPKCS12: String
    let pkcs12Password = "p12 secret"
    /// The same bundle with an empty password: OpenSSL's `PKCS12_parse` tries the empty password
    /// when libcurl passes none.
    let clientPKCS12WithoutPassword: String

    /// A CRL from the test CA that revokes ``TestCertificates/server`` (PEM).
    let crlRevokingServer: String
    /// A CRL from the test CA that revokes nothing (PEM).
    let crlRevokingNothing: String
    /// A CRL from the proxy CA that revokes ``TestCertificates/proxy`` (PEM).
    let crlRevokingProxy: String
    /// A CRL from the proxy CA that revokes nothing (PEM).
    let crlRevokingNothingFromProxyCA: String

    /// A DER OCSP response, signed by the test CA, saying ``TestCertificates/server`` is good:
    /// what `openssl s_server -status_file` staples.
    let ocspGood: String
    /// The same, saying the server certificate is revoked.
    let ocspRevoked: String
    /// The test CA and the server certificate in one PEM file, for a server that must send the
    /// CA in its chain (libcurl's OCSP check looks for the issuer among the certificates the
    /// peer sent).
    let serverChain: String

    /// The forms, made on first use. Throws (every time) if that failed.
    static func shared() throws -> TestCertificateForms {
        try made.get()
    }

    private static let made: Result<TestCertificateForms, any Error> = Result { try TestCertificateForms.make() }

    private static func make() throws -> TestCertificateForms {
        let certificates = try TestCertificates.shared()
        let openssl = try PeerProgram.openssl.executable()
        let directory = (certificates.caFile as NSString).deletingLastPathComponent
        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func run(_ arguments: String...) throws { try runCommand(openssl, arguments) }

        // DER.
        try run("x509", "-in", certificates.client.certificate, "-outform", "DER", "-out", path("client.der"))
        try run("pkey", "-in", certificates.client.key, "-outform", "DER", "-out", path("client-key.der"))

        // PKCS#12, with a password and with the empty one.
        try run("pkcs12", "-export", "-in", certificates.client.certificate, "-inkey", certificates.client.key,
                "-name", "AsyncCurl test client", "-passout", "pass:p12 secret", "-out", path("client.p12"))
        try run("pkcs12", "-export", "-in", certificates.client.certificate, "-inkey", certificates.client.key,
                "-name", "AsyncCurl test client", "-passout", "pass:", "-out", path("client-nopass.p12"))

        // CRLs: each CA gets a database of its own here (copied from the issuing one, where every
        // certificate is still valid), so revoking touches nothing TestCertificates uses.
        func crls(ca: String, revoking certificate: String, prefix: String) throws -> (revoking: String, nothing: String) {
            let database = path("\(prefix)-index.txt")
            try FileManager.default.copyItem(atPath: path("index.txt"), toPath: database)
            try "1000\n".write(toFile: path("\(prefix)-crlnumber"), atomically: false, encoding: .utf8)
            let config = """
                [ca]
                default_ca = crl_ca
                [crl_ca]
                database = \(database)
                crlnumber = \(path("\(prefix)-crlnumber"))
                default_md = sha256
                default_crl_days = 7
                """
            let configFile = path("\(prefix)-crl.cnf")
            try config.write(toFile: configFile, atomically: false, encoding: .utf8)
            // lastUpdate an hour ago, as the certificates are backdated: a CRL issued "now" can
            // look not yet valid to a verifier within the same second.
            let lastUpdate = asn1UTCTime(offsetSeconds: -3600)
            let nothing = path("\(prefix)-crl-nothing.pem")
            try run("ca", "-batch", "-config", configFile, "-gencrl", "-cert", path("\(ca).pem"),
                    "-keyfile", path("\(ca).key"), "-crl_lastupdate", lastUpdate, "-out", nothing)
            try run("ca", "-batch", "-config", configFile, "-cert", path("\(ca).pem"), "-keyfile", path("\(ca).key"),
                    "-revoke", certificate, "-crl_reason", "keyCompromise")
            let revoking = path("\(prefix)-crl-revoked.pem")
            try run("ca", "-batch", "-config", configFile, "-gencrl", "-cert", path("\(ca).pem"),
                    "-keyfile", path("\(ca).key"), "-crl_lastupdate", lastUpdate, "-out", revoking)
            return (revoking, nothing)
        }
        let serverCRLs = try crls(ca: "ca", revoking: certificates.server.certificate, prefix: "ca")
        let proxyCRLs = try crls(ca: "proxy-ca", revoking: certificates.proxy.certificate, prefix: "proxy-ca")

        // OCSP responses signed by the CA itself (an issuer may answer for its certificates):
        // "good" from the issuing database, "revoked" from the one the CRLs were made from.
        func ocsp(index: String, out: String) throws {
            try run("ocsp", "-index", index, "-rsigner", certificates.caFile, "-rkey", path("ca.key"),
                    "-CA", certificates.caFile, "-issuer", certificates.caFile, "-cert", certificates.server.certificate,
                    "-ndays", "7", "-respout", out)
        }
        try ocsp(index: path("index.txt"), out: path("ocsp-good.der"))
        try ocsp(index: path("ca-index.txt"), out: path("ocsp-revoked.der"))

        let chain = try String(contentsOfFile: certificates.server.certificate, encoding: .utf8)
            + String(contentsOfFile: certificates.caFile, encoding: .utf8)
        try chain.write(toFile: path("server-chain.pem"), atomically: false, encoding: .utf8)

        return TestCertificateForms(
            clientCertificateDER: path("client.der"), clientKeyDER: path("client-key.der"),
            clientPKCS12: path("client.p12"), clientPKCS12WithoutPassword: path("client-nopass.p12"),
            crlRevokingServer: serverCRLs.revoking, crlRevokingNothing: serverCRLs.nothing,
            crlRevokingProxy: proxyCRLs.revoking, crlRevokingNothingFromProxyCA: proxyCRLs.nothing,
            ocspGood: path("ocsp-good.der"), ocspRevoked: path("ocsp-revoked.der"),
            serverChain: path("server-chain.pem"))
    }

    /// UTC time `offsetSeconds` from now as `YYYYMMDDHHMMSSZ`.
    private static func asn1UTCTime(offsetSeconds: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: Date(timeIntervalSinceNow: TimeInterval(offsetSeconds)))
    }
}

/// The contents of a file the tests made, as bytes (for the `TLSOptions` fields that take bytes).
func fileBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}
