import Foundation
import Glibc
import Synchronization

/// Throw-away certificates, made once per test run with the openssl command-line tool (EC P-256
/// keys, fast to generate) in a directory removed when the test process exits (or, after a
/// crash, by the next run: see `makeTemporaryDirectory`).
///
/// Every certificate is issued with `openssl ca` and explicit dates starting yesterday: a
/// certificate whose notBefore is "now" can fail verification within the same second, and only
/// `openssl ca` can also backdate the expired one (OpenSSL 3.0's `x509` has no start date).
struct TestCertificates: Sendable {
    /// A certificate and its unencrypted private key (PEM files).
    struct Identity: Sendable {
        let certificate: String
        let key: String
    }

    /// The test CA, in a PEM file.
    let caFile: String
    /// A directory holding the test CA under its hash name (`openssl rehash`), for `caDirectory`.
    let caDirectory: String
    /// A second CA, which signs only the HTTPS proxy's certificate.
    let proxyCAFile: String

    /// For `localhost` and 127.0.0.1, from the test CA.
    let server: Identity
    /// Valid, from the test CA, but for `wrong.example` only.
    let wrongHost: Identity
    /// From the test CA, for `svc.example.test` only: a name only `resolve`, `connectTo` or a
    /// DNS-over-HTTPS responder can make reachable.
    let service: Identity
    /// For `localhost` and 127.0.0.1, from the test CA, valid only in January 2020.
    let expired: Identity
    /// A client certificate from the test CA.
    let client: Identity
    /// `client`'s key, encrypted (AES-256) with `clientKeyPassword`.
    let clientEncryptedKey: String
    let clientKeyPassword = "correct horse"
    /// For `localhost` and 127.0.0.1, from the proxy CA.
    let proxy: Identity
    /// An intermediate CA, issued by the test CA (a PEM file of it alone).
    let intermediateCAFile: String
    /// For `localhost` and 127.0.0.1, from the intermediate CA (the file holds the leaf only).
    let intermediateLeaf: Identity

    /// `server`'s public key pin, `sha256//<base64>`, for `pinnedPublicKey`.
    let serverPin: String
    /// `server`'s public key, a PEM file (the other form `pinnedPublicKey` accepts).
    let serverPublicKeyFile: String
    /// The pin of a different key (the wrong-host certificate's).
    let otherPin: String

    /// The certificates, made on first use. Throws (every time) if that failed.
    static func shared() throws -> TestCertificates {
        try made.get()
    }

    private static let made: Result<TestCertificates, any Error> = Result { try TestCertificates.make() }

    private static func make() throws -> TestCertificates {
        let openssl = try PeerProgram.openssl.executable()
        let directory = try makeTemporaryDirectory("certificates")
        certificateDirectory.withLock { $0 = directory }
        atexit { removeCertificateDirectory() }

        let yesterday = asn1Time(offsetDays: -1)
        let nextWeek = asn1Time(offsetDays: 7)

        func path(_ name: String) -> String { "\(directory)/\(name)" }
        func run(_ arguments: String...) throws { try runCommand(openssl, arguments) }

        let config = """
            [ca]
            default_ca = test_ca
            [test_ca]
            database = \(path("index.txt"))
            new_certs_dir = \(directory)
            serial = \(path("serial"))
            default_md = sha256
            policy = any_name
            unique_subject = no
            [any_name]
            commonName = supplied
            [ca_extensions]
            basicConstraints = critical, CA:TRUE
            keyUsage = critical, keyCertSign, cRLSign
            subjectKeyIdentifier = hash
            [server_extensions]
            basicConstraints = CA:FALSE
            subjectAltName = DNS:localhost, IP:127.0.0.1
            extendedKeyUsage = serverAuth
            [wrong_host_extensions]
            basicConstraints = CA:FALSE
            subjectAltName = DNS:wrong.example
            extendedKeyUsage = serverAuth
            [service_extensions]
            basicConstraints = CA:FALSE
            subjectAltName = DNS:svc.example.test
            extendedKeyUsage = serverAuth
            [client_extensions]
            basicConstraints = CA:FALSE
            extendedKeyUsage = clientAuth
            """
        try config.write(toFile: path("ca.cnf"), atomically: false, encoding: .utf8)
        try "".write(toFile: path("index.txt"), atomically: false, encoding: .utf8)
        try "1000\n".write(toFile: path("serial"), atomically: false, encoding: .utf8)

        func newKeyAndRequest(_ name: String) throws {
            try run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=AsyncCurl test \(name)")
        }
        func makeCA(_ name: String) throws {
            try newKeyAndRequest(name)
            try run("ca", "-batch", "-config", path("ca.cnf"), "-selfsign", "-keyfile", path("\(name).key"),
                    "-in", path("\(name).csr"), "-out", path("\(name).pem"), "-notext",
                    "-startdate", yesterday, "-enddate", nextWeek, "-extensions", "ca_extensions")
        }
        func issue(_ name: String, by ca: String, extensions: String,
                   from start: String = yesterday, until end: String = nextWeek) throws -> Identity {
            try newKeyAndRequest(name)
            try run("ca", "-batch", "-config", path("ca.cnf"), "-cert", path("\(ca).pem"), "-keyfile", path("\(ca).key"),
                    "-in", path("\(name).csr"), "-out", path("\(name).pem"), "-notext",
                    "-startdate", start, "-enddate", end, "-extensions", extensions)
            return Identity(certificate: path("\(name).pem"), key: path("\(name).key"))
        }
        func pin(of certificate: String, publicKeyFile: String) throws -> String {
            try run("x509", "-in", certificate, "-noout", "-pubkey", "-out", publicKeyFile)
            try run("pkey", "-pubin", "-in", publicKeyFile, "-outform", "DER", "-out", publicKeyFile + ".der")
            try run("dgst", "-sha256", "-binary", "-out", publicKeyFile + ".sha256", publicKeyFile + ".der")
            let digest = try Data(contentsOf: URL(fileURLWithPath: publicKeyFile + ".sha256"))
            return "sha256//" + digest.base64EncodedString()
        }

        try makeCA("ca")
        try makeCA("proxy-ca")
        let server = try issue("server", by: "ca", extensions: "server_extensions")
        let wrongHost = try issue("wrong-host", by: "ca", extensions: "wrong_host_extensions")
        let service = try issue("service", by: "ca", extensions: "service_extensions")
        let expired = try issue("expired", by: "ca", extensions: "server_extensions",
                                from: "20200101000000Z", until: "20200201000000Z")
        let client = try issue("client", by: "ca", extensions: "client_extensions")
        let proxy = try issue("proxy", by: "proxy-ca", extensions: "server_extensions")
        let intermediate = try issue("intermediate-ca", by: "ca", extensions: "ca_extensions")
        let intermediateLeaf = try issue("intermediate-leaf", by: "intermediate-ca", extensions: "server_extensions")
        try run("pkey", "-in", client.key, "-aes256", "-passout", "pass:correct horse", "-out", path("client-encrypted.key"))

        let caDirectory = path("ca-directory")
        try FileManager.default.createDirectory(atPath: caDirectory, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: path("ca.pem"), toPath: "\(caDirectory)/ca.pem")
        try run("rehash", caDirectory)

        return TestCertificates(
            caFile: path("ca.pem"), caDirectory: caDirectory, proxyCAFile: path("proxy-ca.pem"),
            server: server, wrongHost: wrongHost, service: service, expired: expired, client: client,
            clientEncryptedKey: path("client-encrypted.key"), proxy: proxy,
            intermediateCAFile: intermediate.certificate, intermediateLeaf: intermediateLeaf,
            serverPin: try pin(of: server.certificate, publicKeyFile: path("server-public.pem")),
            serverPublicKeyFile: path("server-public.pem"),
            otherPin: try pin(of: wrongHost.certificate, publicKeyFile: path("wrong-host-public.pem")))
    }

    /// UTC time `offsetDays` from now as `YYYYMMDDHHMMSSZ`, the form `openssl ca` takes.
    private static func asn1Time(offsetDays: Int) -> String {
        var time = Glibc.time(nil) + offsetDays * 86_400
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let length = strftime(&buffer, buffer.count, "%Y%m%d%H%M%SZ", &parts)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The certificate directory, for the exit handler (a C function pointer cannot capture it).
private let certificateDirectory = Mutex<String?>(nil)

private func removeCertificateDirectory() {
    if let directory = certificateDirectory.withLock({ $0 }) {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
