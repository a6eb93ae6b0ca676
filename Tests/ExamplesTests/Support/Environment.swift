import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Where the example executables and the daemons are, and small helpers around them.
enum TestEnvironment {
    /// CI runs with `CI=true`: there a missing daemon is a failure, elsewhere a skipped test.
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The built example `name` (`curlcat`, `redis-client`, `http-get`).
    ///
    /// SwiftPM puts executables next to the test runner (`.build/<triple>/<config>/`), and
    /// `ExamplesTests` depends on them, so they are built before the tests run.
    /// `EXAMPLES_BIN_DIR` overrides the directory.
    static func example(_ name: String) throws -> String {
        let directory: String
        if let override = ProcessInfo.processInfo.environment["EXAMPLES_BIN_DIR"], !override.isEmpty {
            directory = override
        } else {
            let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
            directory = (runner as NSString).deletingLastPathComponent
        }
        let path = (directory as NSString).appendingPathComponent(name)
        guard access(path, X_OK) == 0 else {
            throw ProcessFailure("the example '\(name)' is not built at \(path); build the package first (swift build)")
        }
        return path
    }

    /// The path of executable `name` on `PATH` or in the sbin directories (nginx lives in
    /// /usr/sbin, which is not on every user's `PATH`).
    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = (directory as NSString).appendingPathComponent(name)
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// For `.enabled(if:)`: a test that needs `name` runs when it is installed, and always in CI,
    /// where ``daemon(_:package:)`` then fails it if it is missing.
    static func canTry(_ name: String) -> Bool {
        isCI || findExecutable(name) != nil
    }

    /// The path of daemon `name`, or an error that names the Debian package to install.
    static func daemon(_ name: String, package: String) throws -> String {
        guard let path = findExecutable(name) else {
            throw ProcessFailure("\(name) is not installed: apt-get install \(package) (Debian package \(package))")
        }
        return path
    }
}

// MARK: - Ports

/// A TCP port on 127.0.0.1 that was free a moment ago, for daemons that need one in their
/// configuration. Another process may take it meanwhile, so daemons are started with retries
/// (see ``startDaemon(attempts:timeout:_:)``).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ProcessFailure("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
        }
    }
    guard ok else { throw ProcessFailure("bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
func isAccepting(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            connect(fd, address, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return address
}

/// A port on 127.0.0.1 where nothing listens and nothing will: it is bound but never listened
/// on, so connecting is refused. Kept bound until `close()`.
final class RefusingPort {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
            }
        }
        guard fd >= 0, ok else { throw ProcessFailure("could not bind a refusing port") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}

// MARK: - Daemons

/// Starts a daemon on a free port and waits until it accepts connections.
///
/// `start` launches it for a given port. If it exits before accepting (the port was taken in
/// the meantime, say), it is tried again on another port, `attempts` times in all. Readiness is
/// polled — a connect attempt every few milliseconds — up to `timeout`; nothing here waits a
/// fixed time and hopes.
func startDaemon(attempts: Int = 3, timeout: Duration = .seconds(20),
                 _ start: (_ port: Int) throws -> ChildProcess) throws -> (process: ChildProcess, port: Int) {
    var failures: [String] = []
    for _ in 0..<attempts {
        let port = try freeLoopbackPort()
        let process = try start(port)
        let deadline = ContinuousClock.now + timeout
        while !process.hasExited && ContinuousClock.now < deadline {
            if isAccepting(port: port) { return (process, port) }
            usleep(5_000)  // Polling interval, bounded by the deadline above.
        }
        process.stop()
        _ = try? process.waitForExit(timeout: .seconds(10))
        failures.append("\(process.executable) on port \(port): \(process.hasExited ? "exited" : "did not accept within \(timeout)"); stderr: \(process.standardErrorText) stdout: \(process.standardOutputText)")
    }
    throw ProcessFailure("could not start a daemon:\n" + failures.joined(separator: "\n"))
}

/// Runs a short command (such as `openssl`) to completion and fails unless it exits with 0.
@discardableResult
func runToCompletion(_ executable: String, _ arguments: [String], in directory: String? = nil,
                     timeout: Duration = .seconds(60)) throws -> String {
    let process = try ChildProcess(executable, arguments, currentDirectory: directory)
    defer { process.stop() }
    let status = try process.waitForExit(timeout: timeout)
    guard status == 0 else {
        throw ProcessFailure("\(executable) \(arguments.joined(separator: " ")) exited with \(status): \(process.standardErrorText)")
    }
    return process.standardOutputText
}

// MARK: - Files and data

/// A fresh directory under /tmp, removed by ``remove()``.
final class TemporaryDirectory {
    let path: String

    init(_ prefix: String = "asynccurl-examples") throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ProcessFailure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: result)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file(name)))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failure can be reproduced.
func seededBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8]()
    bytes.reserveCapacity(count + 8)
    while bytes.count < count {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let word = state &* 2_685_821_657_736_338_717
        withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
    }
    return Array(bytes.prefix(count))
}

/// Where two byte arrays first differ, for failure messages that do not print megabytes.
func firstDifference(_ actual: [UInt8], _ expected: [UInt8]) -> String? {
    if actual == expected { return nil }
    let common = min(actual.count, expected.count)
    let index = (0..<common).first { actual[$0] != expected[$0] } ?? common
    return "got \(actual.count) bytes, expected \(expected.count); first difference at byte \(index)"
}
