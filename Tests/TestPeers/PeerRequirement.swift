import Foundation
import Glibc
import Synchronization
import Testing

/// A program a test runs as its real peer, and the Debian package that provides it.
///
/// Outside CI a test whose program is missing is skipped with a message naming the package
/// (`@Test(.requires(.tinyproxy))`). In CI (`CI=true`) it is not skipped: it runs and fails when it
/// cannot find the program, so a CI machine lacking a package cannot pass by skipping.
struct PeerProgram: Sendable, Hashable, CustomStringConvertible {
    /// Executable names to look for, in order.
    let executables: [String]
    /// The Debian package that installs it.
    let debianPackage: String
    /// Arguments of a quick run that must succeed for the program to be usable (a Python or Perl
    /// module that must be importable), or `nil`.
    let probe: [String]?

    init(_ executables: String..., package: String, probe: [String]? = nil) {
        self.executables = executables
        self.debianPackage = package
        self.probe = probe
    }

    static let openssl = PeerProgram("openssl", package: "openssl")
    static let stunnel = PeerProgram("stunnel4", "stunnel", package: "stunnel4")
    static let tinyproxy = PeerProgram("tinyproxy", package: "tinyproxy")
    static let microsocks = PeerProgram("microsocks", package: "microsocks")
    static let danted = PeerProgram("danted", package: "dante-server")
    /// Python's ssl module serves TLS records exactly as the test writes them.
    static let python3 = PeerProgram("python3", package: "python3", probe: ["-c", "import ssl, selectors"])
    /// The Python `websockets` library (Debian's python3-websockets), an independent RFC 6455 and
    /// RFC 7692 implementation, for the WebSocket client's tests.
    static let pythonWebsockets = PeerProgram("python3", package: "python3-websockets", probe: ["-c", "import websockets"])
    /// aiosmtpd, the SMTP server library, in Debian's Python (see SMTPServer).
    static let aiosmtpd = PeerProgram("python3", package: "python3-aiosmtpd", probe: ["-c", "import aiosmtpd"])
    /// IO::Socket::Socks is the one packaged SOCKS4a server implementation that works here
    /// (danted 1.4.2 does not understand SOCKS4a's host names; see Socks4aPeer).
    static let squid = PeerProgram("squid", package: "squid")
    static let nginx = PeerProgram("nginx", package: "nginx")
    static let redis = PeerProgram("redis-server", package: "redis-server")
    /// A Kerberos KDC and its database tool, for Negotiate (SPNEGO) proxy authentication.
    static let krb5kdc = PeerProgram("krb5kdc", package: "krb5-kdc")
    static let kadminLocal = PeerProgram("kadmin.local", package: "krb5-admin-server")
    static let kinit = PeerProgram("kinit", package: "krb5-user")
    static let perlSocks = PeerProgram("perl", package: "libio-socket-socks-perl", probe: ["-MIO::Socket::Socks", "-e", "1"])
    /// GnuTLS's test server and its SRP verifier tool, for TLS-SRP (OpenSSL 3.0's s_server cannot
    /// look up SRP users: see GnuTLSSRPPeer).
    static let gnutlsServ = PeerProgram("gnutls-serv", package: "gnutls-bin")
    static let srptool = PeerProgram("srptool", package: "gnutls-bin")

    var description: String { executables[0] }

    /// The program's full path, or `nil` if it is not installed. Debian's own directories come
    /// first, so a `python3` from pyenv or similar on `PATH` does not replace the system one.
    var path: String? {
        if let known = Self.cache.withLock({ $0[self] }) { return known }
        let found = locate()
        Self.cache.withLock { $0[self] = found }
        return found
    }

    var isAvailable: Bool { path != nil }

    /// The full path, or `PeerError.missing` naming the package to install.
    func executable() throws -> String {
        guard let path else {
            throw PeerError.missing("\(executables[0]) is not installed: apt-get install -y \(debianPackage)")
        }
        return path
    }

    private static let cache = Mutex<[PeerProgram: String?]>([:])

    private func locate() -> String? {
        let pathVariable = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] + pathVariable.split(separator: ":").map(String.init)
        for name in executables {
            for directory in directories {
                let candidate = "\(directory)/\(name)"
                guard access(candidate, X_OK) == 0 else { continue }
                if let probe {
                    guard (try? runCommand(candidate, probe, timeout: .seconds(20))) != nil else { continue }
                }
                return candidate
            }
        }
        return nil
    }
}

/// Whether this is a CI run, where a missing peer must fail rather than skip.
let isCI: Bool = ProcessInfo.processInfo.environment["CI"] == "true"

extension Trait where Self == ConditionTrait {
    /// Runs the test only where these peer programs are installed, except in CI, where it always
    /// runs (and fails if one is missing). The skip message names the Debian packages.
    static func requires(_ programs: PeerProgram...) -> Self {
        // Checked only when the test is about to run (the probes start processes), so merely
        // listing or filtering tests costs nothing.
        let names = programs.map(\.description).joined(separator: ", ")
        let packages = programs.map(\.debianPackage).joined(separator: " ")
        return .enabled(
            if: isCI || programs.allSatisfy(\.isAvailable),
            Comment(rawValue: "needs \(names): apt-get install -y \(packages)"))
    }
}
