import Foundation
import Glibc

/// squid 5, a real caching proxy, as an HTTP proxy that demands authentication: it answers
/// `CONNECT` (to any port, but only to 127.0.0.1, ::1 and localhost) for authenticated users
/// only, and offers the schemes it is given in that order, each checked by squid's own helper
/// program from /usr/lib/squid:
///
/// - `.basic`: `basic_ncsa_auth` with an htpasswd file (an `openssl passwd -apr1` hash);
/// - `.digest`: `digest_file_auth` with a plain `user:password` file;
/// - `.ntlm`: `ntlm_fake_auth`, which runs the NTLM handshake but accepts any password;
/// - `.negotiate`: `negotiate_kerberos_auth` with a keytab (see `KerberosRealm`).
///
/// It runs in the foreground (`squid -N`) with no disk cache, and its configuration, logs and pid
/// file in a directory of its own. Run as root, squid drops to the `proxy` user (its
/// `cache_effective_user`), so that directory and its files are handed to that user.
///
/// Stopping: squid needs about 2 s to shut down on SIGTERM (its shutdown steps run on a 1 s
/// event tick, whatever `shutdown_lifetime` says), so `stop()` SIGKILLs it. Its helpers run in
/// sessions of their own (squid calls setsid for them) and exit when their stdin, a pipe from
/// squid, reaches end of file. A killed squid leaves its shared memory files in /dev/shm behind;
/// each instance has its own service name (`-n`), so they are not shared with another squid,
/// and `stop()` removes them.
final class SquidPeer: Sendable {
    /// An authentication scheme squid offers.
    enum Scheme: Sendable, Equatable {
        case basic
        case digest
        case ntlm
        /// SPNEGO with Kerberos: `keytab` holds `principal`'s key (such as
        /// `HTTP/localhost@TEST.ASYNCCURL`); `kerberosConfig` is the krb5.conf the helper reads.
        case negotiate(keytab: String, principal: String, kerberosConfig: String)
    }

    /// One line of squid's access.log: `TCP_TUNNEL/200 … CONNECT 127.0.0.1:4242 pxuser …`.
    struct AccessLogEntry: Sendable, Equatable, CustomStringConvertible {
        /// Squid's result code and the HTTP status, such as `TCP_TUNNEL/200` or `TCP_DENIED/407`.
        let result: String
        let method: String
        let url: String
        /// The authenticated user, `nil` for `-`.
        let user: String?

        var status: Int? { result.split(separator: "/").last.flatMap { Int($0) } }
        var description: String { "\(result) \(method) \(url) \(user ?? "-")" }
    }

    let port: Int
    let daemon: Daemon
    let schemes: [Scheme]
    let user: String
    let password: String
    private let serviceName: String
    private let directory: TemporaryDirectory

    /// `http://127.0.0.1:<port>`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts squid offering `schemes` (in that order) and accepting `user` with `password`
    /// (any password with `.ntlm`, any Kerberos principal with `.negotiate`).
    init(schemes: [Scheme], user: String = "pxuser", password: String = "proxy-secret") async throws {
        let executable = try PeerProgram.squid.executable()
        let directory = try TemporaryDirectory("squid")
        var authLines: [String] = []
        for scheme in schemes {
            switch scheme {
            case .basic:
                let hash = try runCommand(try PeerProgram.openssl.executable(), ["passwd", "-apr1", password])
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                let file = try directory.write("basic.passwd", "\(user):\(hash)\n")
                authLines += ["auth_param basic program \(helpers)/basic_ncsa_auth \(file)",
                              "auth_param basic children 1 startup=1 idle=1",
                              "auth_param basic realm asynccurl-squid"]
            case .digest:
                let file = try directory.write("digest.passwd", "\(user):\(password)\n")
                authLines += ["auth_param digest program \(helpers)/digest_file_auth \(file)",
                              "auth_param digest children 1 startup=1 idle=1",
                              "auth_param digest realm asynccurl-squid"]
            case .ntlm:
                authLines += ["auth_param ntlm program \(helpers)/ntlm_fake_auth",
                              "auth_param ntlm children 1 startup=1 idle=1"]
            case .negotiate(let keytab, let principal, let kerberosConfig):
                // The helper reads its keytab and krb5.conf from the environment; env(1) sets
                // them for it alone.
                authLines += ["auth_param negotiate program /usr/bin/env KRB5_CONFIG=\(kerberosConfig) KRB5_KTNAME=\(keytab) "
                                + "\(helpers)/negotiate_kerberos_auth -k \(keytab) -s \(principal)",
                              "auth_param negotiate children 1 startup=1 idle=1"]
            }
        }
        let owner = squidUser()
        let serviceName = "asynccurl\(getpid())p"
        var chosenServiceName = serviceName
        (daemon, port) = try await Daemon.launch { port in
            let lines = [
                "http_port 127.0.0.1:\(port)",
                "visible_hostname asynccurl-squid",
                "pid_filename \(directory.file("squid.pid"))",
                "cache_log \(directory.file("cache.log"))",
                "access_log stdio:\(directory.file("access.log"))",
                "cache_store_log none",
                "coredump_dir \(directory.path)",
                "cache deny all",
                "cache_mem 1 MB",
                "icp_port 0",
                "htcp_port 0",
                "netdb_filename none",
                "pinger_enable off",
                "logfile_rotate 0",
            ] + (owner.map { ["cache_effective_user \($0.name)"] } ?? []) + authLines + [
                "acl authenticated proxy_auth REQUIRED",
                "acl loopback dst 127.0.0.1/32 ::1",
                // Loopback first: a CONNECT elsewhere is 403 without a challenge; a CONNECT to
                // loopback without valid credentials is 407.
                "http_access allow loopback authenticated",
                "http_access deny all",
            ]
            let config = try directory.write("squid.conf", lines.joined(separator: "\n") + "\n")
            if let owner { try handOver(directory, to: owner) }
            chosenServiceName = serviceName + "\(port)"
            return try Daemon(name: "squid", executable: executable,
                              arguments: ["-n", chosenServiceName, "-N", "-f", config],
                              logPath: directory.file("squid-output.log"))
        }
        self.serviceName = chosenServiceName
        self.schemes = schemes
        self.user = user
        self.password = password
        self.directory = directory
    }

    deinit {
        stop()
    }

    /// What squid logged so far, one entry per request it finished (a tunnel is logged when it
    /// closes).
    var accessLog: [AccessLogEntry] {
        let text = (try? String(contentsOfFile: directory.file("access.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            // time elapsed client result bytes method url user hierarchy type
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8 else { return nil }
            return AccessLogEntry(result: String(fields[3]), method: String(fields[5]), url: String(fields[6]),
                                  user: fields[7] == "-" ? nil : String(fields[7]))
        }
    }

    /// squid's own log (cache.log), for error messages.
    var cacheLog: String {
        (try? String(contentsOfFile: directory.file("cache.log"), encoding: .utf8)) ?? "(no cache.log)"
    }

    /// Kills squid (see the type's comment) and removes its shared memory files.
    func stop() {
        if daemon.isRunning {
            // squid itself, not the `timeout` wrapper (Daemon's pid): the wrapper then reaps it,
            // so no killed squid lingers as an orphaned zombie. Only a process of the daemon's
            // group is killed, should the pid file be stale.
            let written = (try? String(contentsOfFile: directory.file("squid.pid"), encoding: .utf8)) ?? ""
            if let squid = pid_t(written.trimmingCharacters(in: .whitespacesAndNewlines)), getpgid(squid) == daemon.pid {
                _ = kill(squid, SIGKILL)
            } else {
                _ = kill(-daemon.pid, SIGKILL)
            }
        }
        daemon.stop()
        for segment in ["metadata", "queues", "readers"] {
            unlink("/dev/shm/\(serviceName)-cf__\(segment).shm")
        }
    }
}

private let helpers = "/usr/lib/squid"

/// The user squid runs as when started by root, or `nil` when it is not (it then stays the
/// user it was started as).
private func squidUser() -> (name: String, uid: uid_t, gid: gid_t)? {
    guard geteuid() == 0 else { return nil }
    for name in ["proxy", "nobody"] {
        if let entry = getpwnam(name) {
            return (name, entry.pointee.pw_uid, entry.pointee.pw_gid)
        }
    }
    return nil
}

/// Makes `directory` and everything in it belong to `owner`, so squid can write its logs there
/// and its helpers can read their password files.
private func handOver(_ directory: TemporaryDirectory, to owner: (name: String, uid: uid_t, gid: gid_t)) throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    for path in [directory.path] + names.map(directory.file) {
        guard chown(path, owner.uid, owner.gid) == 0 else {
            throw PeerError.launchFailed("chown \(path) to \(owner.name): \(String(cString: strerror(errno)))")
        }
    }
}
