import Foundation
import Glibc

/// A throw-away Kerberos realm, `TEST.ASYNCCURL`, on loopback: MIT krb5's KDC (`krb5kdc -n`,
/// in the foreground) on a free port of 127.0.0.1, with its database, configuration and keys in
/// a directory of its own. For Negotiate (SPNEGO) proxy authentication through squid.
///
/// It holds three principals, each with a random key written to a keytab:
/// - `HTTP/localhost`, the proxy's service principal (`serviceKeytab`, for squid's
///   `negotiate_kerberos_auth`). libcurl asks for `HTTP@<proxy host>`, so the proxy URL must
///   name the host `localhost`; `dns_canonicalize_hostname = false` and `rdns = false` keep
///   the name as it is.
/// - `proxy/localhost`, another service principal of the same host (`proxyServiceKeytab`), for
///   a proxy whose Kerberos service name is not `HTTP` (`proxyServiceName`).
/// - `kuser`, the client, whose forwardable ticket `kinit -f -k` puts into `credentialCache` (a real
///   exchange with the KDC).
///
/// The test process's GSS-API library finds the realm through the environment:
/// `KRB5_CONFIG=<configFile>` and `KRB5CCNAME=<credentialCache>` (`withClientEnvironment`).
final class KerberosRealm: Sendable {
    static let realm = "TEST.ASYNCCURL"
    static let clientPrincipal = "kuser@\(realm)"
    static let servicePrincipal = "HTTP/localhost@\(realm)"
    /// A second service principal for the same host, for a proxy whose Kerberos service is not
    /// `HTTP` (`proxyServiceName`); its key is in `proxyServiceKeytab` only.
    static let proxyServicePrincipal = "proxy/localhost@\(realm)"

    let port: Int
    let daemon: Daemon
    /// The krb5.conf clients use (and squid's helper).
    let configFile: String
    /// `FILE:<path>` holding the client's ticket-granting ticket.
    let credentialCache: String
    /// The keytab with `HTTP/localhost`'s key, readable by squid's user.
    let serviceKeytab: String
    /// The keytab with `proxy/localhost`'s key (and no other), readable by squid's user.
    let proxyServiceKeytab: String
    private let directory: TemporaryDirectory

    init() async throws {
        let kdc = try PeerProgram.krb5kdc.executable()
        let kadmin = try PeerProgram.kadminLocal.executable()
        let kinit = try PeerProgram.kinit.executable()
        let kdbUtil = try kdbUtilExecutable(besides: kdc)
        let directory = try TemporaryDirectory("krb5")
        // squid's helper runs as the `proxy` user: it must reach the keytab and krb5.conf.
        chmod(directory.path, 0o755)
        let configFile = directory.file("krb5.conf")
        let kdcProfile = directory.file("kdc.conf")
        let serviceKeytab = directory.file("http.keytab")
        let proxyServiceKeytab = directory.file("proxy.keytab")
        let clientKeytab = directory.file("client.keytab")
        let environment = ["KRB5_CONFIG=\(configFile)", "KRB5_KDC_PROFILE=\(kdcProfile)"]
        /// Runs a Kerberos tool with the realm's configuration (env(1): `runCommand` passes
        /// the test process's environment unchanged).
        func run(_ executable: String, _ arguments: [String]) throws {
            try runCommand("/usr/bin/env", environment + [executable] + arguments, timeout: .seconds(20))
        }
        func writeConfiguration(port: Int) throws {
            try directory.write("krb5.conf", """
                [libdefaults]
                    default_realm = \(Self.realm)
                    dns_lookup_kdc = false
                    dns_lookup_realm = false
                    dns_canonicalize_hostname = false
                    rdns = false
                    udp_preference_limit = 1
                [realms]
                    \(Self.realm) = {
                        kdc = 127.0.0.1:\(port)
                    }
                [domain_realm]
                    localhost = \(Self.realm)

                """)
            try directory.write("kdc.conf", """
                [kdcdefaults]
                    kdc_listen = 127.0.0.1:\(port)
                    kdc_tcp_listen = 127.0.0.1:\(port)
                [realms]
                    \(Self.realm) = {
                        database_name = \(directory.file("principal"))
                        key_stash_file = \(directory.file("stash"))
                        acl_file = \(directory.file("kadm5.acl"))
                    }
                [logging]
                    kdc = FILE:\(directory.file("kdc.log"))

                """)
        }

        // The database first (its location is all kdb5_util and kadmin.local need), then the
        // KDC on a free port.
        try writeConfiguration(port: 88)
        try run(kdbUtil, ["-r", Self.realm, "create", "-s", "-P", "throwaway-master-key"])
        for query in ["addprinc -randkey \(Self.servicePrincipal)", "ktadd -k \(serviceKeytab) \(Self.servicePrincipal)",
                      "addprinc -randkey \(Self.proxyServicePrincipal)", "ktadd -k \(proxyServiceKeytab) \(Self.proxyServicePrincipal)",
                      "addprinc -randkey \(Self.clientPrincipal)", "ktadd -k \(clientKeytab) \(Self.clientPrincipal)"] {
            try run(kadmin, ["-r", Self.realm, "-q", query])
        }
        chmod(serviceKeytab, 0o644)
        chmod(proxyServiceKeytab, 0o644)
        (daemon, port) = try await Daemon.launch { port in
            try writeConfiguration(port: port)
            return try Daemon(name: "krb5kdc", executable: "/usr/bin/env",
                              arguments: environment + [kdc, "-n", "-r", Self.realm, "-P", directory.file("kdc.pid")],
                              logPath: directory.file("krb5kdc-output.log"))
        }
        let credentialCache = "FILE:\(directory.file("ccache"))"
        try runCommand("/usr/bin/env", ["KRB5_CONFIG=\(configFile)", "KRB5CCNAME=\(credentialCache)",
                                        kinit, "-f", "-k", "-t", clientKeytab, Self.clientPrincipal], timeout: .seconds(20))
        self.configFile = configFile
        self.credentialCache = credentialCache
        self.serviceKeytab = serviceKeytab
        self.proxyServiceKeytab = proxyServiceKeytab
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    /// The `.negotiate` scheme for a squid that accepts this realm's tickets.
    var squidScheme: SquidPeer.Scheme {
        .negotiate(keytab: serviceKeytab, principal: Self.servicePrincipal, kerberosConfig: configFile)
    }

    /// What the KDC logged, such as `TGS_REQ … kuser@TEST.ASYNCCURL for HTTP/localhost@…`.
    var kdcLog: String {
        (try? String(contentsOfFile: directory.file("kdc.log"), encoding: .utf8)) ?? ""
    }

    /// A credential cache that holds no ticket (it does not exist).
    var emptyCredentialCache: String { "FILE:\(directory.file("no-such-ccache"))" }

    /// Runs `body` with `KRB5_CONFIG` pointing at this realm and `KRB5CCNAME` at
    /// `credentialCache` (the client's ticket unless told otherwise), then restores both.
    /// setenv changes the whole process: the test suites run one test at a time. GSS-API reads
    /// both whenever libcurl starts a Negotiate exchange (MIT krb5 makes a new context each time).
    func withClientEnvironment<T>(credentialCache cache: String? = nil, _ body: () async throws -> T) async rethrows -> T {
        let names = ["KRB5_CONFIG", "KRB5CCNAME"]
        let saved = names.map { name in getenv(name).map { String(cString: $0) } }
        setenv("KRB5_CONFIG", configFile, 1)
        setenv("KRB5CCNAME", cache ?? credentialCache, 1)
        defer {
            for (name, value) in zip(names, saved) {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        return try await body()
    }
}

/// kdb5_util, which Debian installs next to krb5kdc (package krb5-kdc).
private func kdbUtilExecutable(besides kdc: String) throws -> String {
    let candidate = URL(fileURLWithPath: kdc).deletingLastPathComponent().appendingPathComponent("kdb5_util").path
    guard access(candidate, X_OK) == 0 else {
        throw PeerError.missing("kdb5_util is not installed next to \(kdc): apt-get install -y krb5-kdc")
    }
    return candidate
}
