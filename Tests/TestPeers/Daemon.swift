import Foundation
import Glibc
import Synchronization

/// A real server program (stunnel, tinyproxy, redis-server, nginx, …) that a test runs as a child
/// process and always stops again.
///
/// - It runs in a process group of its own, so `stop()` also reaches the children a forking
///   daemon starts (danted's helpers, a forking relay) and nothing is left behind.
/// - Its stdin is /dev/null; stdout and stderr go to `logPath`, quoted in every error about it.
/// - It inherits no file descriptor but 0, 1 and 2: a daemon holding a copy of one of the test's
///   sockets would keep a connection open after the test closed it.
/// - SIGPIPE is back to its default in the child (the test process ignores it; that would be
///   inherited across exec).
///
/// Every wait has a deadline: a daemon that does not start fails its test instead of hanging it.
/// `deinit` stops the process too, so an early `throw` in a test cannot leak it.
final class Daemon: Sendable {
    /// A short name for messages, such as `"stunnel"`.
    let name: String
    /// The child's process id (the `timeout` wrapper's, see `init`), which is also the process
    /// group id of the daemon and everything it starts.
    let pid: pid_t
    /// Where the child's stdout and stderr go.
    let logPath: String

    /// The child's wait status once it has been reaped.
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`. Throws `PeerError.launchFailed` if it cannot be
    /// executed at all. It does not wait for the daemon to be ready: see `waitUntilListening`.
    ///
    /// The daemon runs under coreutils' `timeout`, which ends it after `maximumLifetime` (SIGTERM,
    /// then SIGKILL 5 s later): if the test process crashes, nothing calls `stop()`, and the
    /// daemon must still not outlive the run by long. `timeout` passes SIGTERM on to the daemon
    /// and exits with its status, so it is transparent to `stop()` and to `checkRunning()`.
    init(name: String, executable: String, arguments: [String], logPath: String,
         maximumLifetime: Duration = .seconds(600)) throws {
        self.name = name
        self.logPath = logPath
        let candidates: [String] = ["/usr/bin/timeout", "/bin/timeout"]
        if let timeout = candidates.first(where: { access($0, X_OK) == 0 }) {
            let seconds = max(1, maximumLifetime.components.seconds)
            self.pid = try spawnProcess(executable: timeout, arguments: ["--kill-after=5", "\(seconds)", executable] + arguments,
                                        outputPath: logPath, ownProcessGroup: true)
        } else {
            self.pid = try spawnProcess(executable: executable, arguments: arguments, outputPath: logPath, ownProcessGroup: true)
        }
    }

    deinit {
        stop()
    }

    /// Whether the process is still running (reaps it if it has exited).
    var isRunning: Bool { !reap() }

    /// The end of the daemon's output, for error messages.
    func logTail(maxCharacters: Int = 3000) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log)"
        return text.count > maxCharacters ? "…" + text.suffix(maxCharacters) : text
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`, polling with connect
    /// attempts. Throws `PeerError.exited` at once if the daemon dies meanwhile (a bad
    /// configuration, or the port was taken) and `PeerError.notReady` after `timeout`.
    func waitUntilListening(on port: Int, timeout: Duration = .seconds(10)) async throws {
        try await poll("did not listen on 127.0.0.1:\(port)", timeout: timeout) {
            loopbackPortAcceptsConnections(port) ? () : nil
        }
    }

    /// Starts a daemon that listens on `portCount` free loopback ports, written into its
    /// configuration by `start` (given the attempt's number, from 1, and the ports), and waits
    /// until every port accepts connections. The ports are picked before the daemon starts, so
    /// another process may take one in between: a daemon that exits while starting is tried
    /// again with new ports, `attempts` times in all.
    static func startListening(portCount: Int, attempts: Int = 3,
                               _ start: (_ attempt: Int, _ ports: [Int]) throws -> Daemon) async throws -> (Daemon, [Int]) {
        var attempt = 0
        while true {
            attempt += 1
            let ports = try (0..<portCount).map { _ in try freeLoopbackPort() }
            let daemon = try start(attempt, ports)
            do {
                for port in ports {
                    try await daemon.waitUntilListening(on: port)
                }
            } catch PeerError.exited where attempt < attempts {
                // Most likely another process took one of the ports in between.
                continue
            }
            return (daemon, ports)
        }
    }

    /// Waits until the daemon's output has a line starting with `prefix` and returns the rest of
    /// that line. For peers that choose their own port and print it.
    func waitForLine(startingWith prefix: String, timeout: Duration = .seconds(10)) async throws -> String {
        try await poll("printed no line starting with '\(prefix)'", timeout: timeout) {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            // Only complete lines: the daemon may be in the middle of writing one.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            return lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
        }
    }

    /// Checks `probe` every few milliseconds until it gives a value, which it returns: the
    /// daemon's outside state (a port, a socket, its log) has no event to wait on. Throws
    /// `PeerError.exited` at once if the daemon dies meanwhile, and `PeerError.notReady` naming
    /// `failure` ("did not listen on …") once `timeout` has passed.
    func poll<Value>(_ failure: String, timeout: Duration, _ probe: () -> Value?) async throws -> Value {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = probe() { return value }
            try checkRunning()
            guard ContinuousClock.now < deadline else {
                throw PeerError.notReady("\(name) \(failure) within \(timeout)", log: logTail())
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Throws `PeerError.exited` if the daemon is no longer running.
    func checkRunning() throws {
        guard reap() else { return }
        let status = exitStatus.withLock { $0 } ?? -1
        throw PeerError.exited("\(name) (pid \(pid)) exited: \(describeWaitStatus(status))", log: logTail())
    }

    /// Stops the daemon: SIGTERM, up to 5 s to exit, then SIGKILL; then SIGKILL to whatever is
    /// left of its process group (children of a forking daemon). Returns once the process has
    /// been reaped. Idempotent.
    func stop() {
        if !reap() {
            _ = kill(pid, SIGTERM)
            if !waitForExit(timeout: .seconds(5)) {
                _ = kill(-pid, SIGKILL)
                _ = waitForExit(timeout: .seconds(5))
            }
        }
        // The group outlives its leader while children remain; ESRCH once it is empty.
        _ = kill(-pid, SIGKILL)
    }

    /// Polls for the process's exit until `timeout`; true once it has exited.
    private func waitForExit(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !reap() {
            guard ContinuousClock.now < deadline else { return false }
            usleep(1_000)
        }
        return true
    }

    /// Reaps the process if it has exited, without blocking; true if it has.
    private func reap() -> Bool {
        exitStatus.withLock { status in
            if status != nil { return true }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = raw
                return true
            }
            if result == -1 && errno == ECHILD {
                status = -1
                return true
            }
            return false
        }
    }
}

extension Daemon {
    /// Runs `script`, a Python 3 program of the test's own, with `arguments`, in a temporary
    /// directory named after `name` that also holds its log. The directory must live as long as
    /// the daemon. `interpreter` is the Python that has the modules the script imports.
    static func python(_ name: String, script: String, arguments: [String] = [],
                       interpreter: PeerProgram = .python3) throws -> (Daemon, TemporaryDirectory) {
        let python = try interpreter.executable()
        let directory = try TemporaryDirectory(name)
        let file = try directory.write("\(name).py", script)
        let daemon = try Daemon(name: name, executable: python, arguments: [file] + arguments,
                                logPath: directory.file("\(name).log"))
        return (daemon, directory)
    }

    /// Waits for the `PORT <n>` line of a peer that picks its own port (so no other process can
    /// take it in between) and returns the port.
    func waitForPrintedPort() async throws -> Int {
        let printed = try await waitForLine(startingWith: "PORT ")
        guard let port = Int(printed) else {
            throw PeerError.notReady("\(name) printed a bad port '\(printed)'", log: logTail())
        }
        return port
    }
}

/// What went wrong with a peer program.
enum PeerError: Error, CustomStringConvertible {
    /// The program is not installed.
    case missing(String)
    /// It could not be started.
    case launchFailed(String)
    /// It exited while it should be running.
    case exited(String, log: String)
    /// It did not become ready in time.
    case notReady(String, log: String)
    /// A one-shot command (openssl) failed.
    case commandFailed(String, output: String)

    var description: String {
        switch self {
        case .missing(let message), .launchFailed(let message): return message
        case .exited(let message, let log), .notReady(let message, let log): return "\(message)\n--- its output ---\n\(log)"
        case .commandFailed(let message, let output): return "\(message)\n--- output ---\n\(output)"
        }
    }
}

/// Runs a short command to completion (openssl while making certificates) and returns its
/// combined stdout and stderr. Throws if it exits non-zero or runs longer than `timeout` (it
/// is killed then).
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> String {
    let outputPath = FileManager.default.temporaryDirectory
        .appendingPathComponent("asynccurl-command-\(getpid())-\(UInt64.random(in: 0 ... .max)).log").path
    defer { unlink(outputPath) }
    let pid = try spawnProcess(executable: executable, arguments: arguments, outputPath: outputPath, ownProcessGroup: false)
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if ContinuousClock.now >= deadline {
            _ = kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            throw PeerError.commandFailed("\(executable) \(arguments.joined(separator: " ")) ran longer than \(timeout)", output: "")
        }
        usleep(1_000)
    }
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw PeerError.commandFailed(
            "\(executable) \(arguments.joined(separator: " ")) failed: \(describeWaitStatus(status))", output: output)
    }
    return output
}

/// posix_spawn with the daemon rules above: stdin /dev/null, stdout+stderr to `outputPath`, no
/// other inherited descriptors, SIGPIPE default, empty signal mask, optionally a new process group.
private func spawnProcess(executable: String, arguments: [String], outputPath: String, ownProcessGroup: Bool) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    if let addCloseFrom = posixSpawnAddCloseFrom {
        _ = addCloseFrom(&actions, 3)
    }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
    if ownProcessGroup {
        flags |= Int32(POSIX_SPAWN_SETPGROUP)
        posix_spawnattr_setpgroup(&attributes, 0)
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard result == 0 else {
        throw PeerError.launchFailed("cannot start \(executable): \(String(cString: strerror(result)))")
    }
    return pid
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), looked up at run time: Swift's
/// Glibc module does not export it. Without it (an older glibc) the child inherits the test
/// process's descriptors that lack close-on-exec.
private let posixSpawnAddCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

private func describeWaitStatus(_ status: Int32) -> String {
    if status == -1 { return "already reaped elsewhere" }
    let signal = status & 0x7f
    return signal == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(signal)"
}

/// Whether a TCP connect to 127.0.0.1:`port` succeeds right now.
func loopbackPortAcceptsConnections(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago: bound to port 0, read back, closed. For
/// daemons that must be told their port. Another process could take it in between; `launch`
/// retries with a new port when that happens.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw PeerError.launchFailed("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw PeerError.launchFailed("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension Daemon {
    /// Starts a daemon that must be told its port: picks a free port, calls `start` with it and
    /// waits until the port accepts connections. If the daemon exits first (most likely someone
    /// took the port in between), tries again with another port, up to `attempts` times.
    static func launch(attempts: Int = 3, _ start: (_ port: Int) throws -> Daemon) async throws -> (daemon: Daemon, port: Int) {
        var lastError: (any Error)?
        for _ in 0..<attempts {
            let port = try freeLoopbackPort()
            let daemon = try start(port)
            do {
                try await daemon.waitUntilListening(on: port)
                return (daemon, port)
            } catch let error as PeerError {
                guard case .exited = error else { throw error }
                lastError = error
            }
        }
        throw lastError!
    }
}

/// A directory under /tmp for one peer's configuration and log, removed with the object.
///
/// Named `/tmp/asynccurl-peers-<pid>-<prefix>-XXXXXX`: a test process that crashes removes
/// nothing, so the first directory made in a run also removes those of dead test processes.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ prefix: String) throws {
        path = try makeTemporaryDirectory(prefix)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `path/name`.
    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `contents` to `path/name` and returns its full path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let file = file(name)
        try contents.write(toFile: file, atomically: false, encoding: .utf8)
        return file
    }
}

/// Creates `/tmp/asynccurl-peers-<pid>-<prefix>-XXXXXX`, after removing (once per run) the
/// directories that crashed test processes left behind.
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    staleDirectoriesRemoved
    var template = Array("/tmp/\(temporaryDirectoryPrefix)\(getpid())-\(prefix)-XXXXXX".utf8CString)
    guard let created = mkdtemp(&template) else {
        throw PeerError.launchFailed("mkdtemp: \(String(cString: strerror(errno)))")
    }
    return String(cString: created)
}

private let temporaryDirectoryPrefix = "asynccurl-peers-"

/// Evaluated once: removes /tmp/asynccurl-peers-<pid>-* of processes that no longer exist.
private let staleDirectoriesRemoved: Void = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
    for name in names where name.hasPrefix(temporaryDirectoryPrefix) {
        let rest = name.dropFirst(temporaryDirectoryPrefix.count)
        guard let owner = rest.split(separator: "-").first.flatMap({ pid_t($0) }), owner != getpid() else { continue }
        if kill(owner, 0) == -1 && errno == ESRCH {
            try? FileManager.default.removeItem(atPath: "/tmp/\(name)")
        }
    }
}()
