import BenchC
import Foundation
import FoundationNetworking
import Synchronization

// MARK: - URLSession (swift-corelibs-foundation's FoundationNetworking: libcurl underneath)

struct URLSessionTransferClient: TransferBenchClient {
    let name = "URLSession"
    let scenarios: Set<TransferScenario> = [.gets, .download, .upload]

    func sequentialGets(_ targets: TransferTargets, count: Int) async throws -> [UInt64] {
        guard let url = URL(string: targets.helloURL) else { throw BenchFailure("bad URL") }
        let request = URLRequest(url: url)
        var times = [UInt64](repeating: 0, count: count)
        for i in 0..<count {
            let start = bench_now_ns()
            let (data, response) = try await URLSession.shared.data(for: request)
            times[i] = bench_now_ns() - start
            try checkStatus((response as? HTTPURLResponse)?.statusCode ?? 0, "GET")
            guard data.count == 17 else { throw BenchFailure("GET: \(data.count) bytes") }
        }
        return times
    }

    /// Not run: FoundationNetworking on Linux cannot be told to trust a private CA (it reads
    /// `URLSessionCertificateAuthorityInfoFile` only on Android, and no server-trust challenge
    /// reaches the delegate), and the bench does not install its certificate system-wide.
    func concurrentGets(_ targets: TransferTargets, count: Int) async throws {
        throw BenchFailure("URLSession on Linux cannot trust the bench certificate")
    }

    /// A delegate-based data task that counts the bytes as they come (URLSession on Linux has
    /// no `bytes(for:)`; `data(for:)` would hold the whole GiB).
    func download(_ targets: TransferTargets) async throws -> Int {
        guard let url = URL(string: targets.bigURL) else { throw BenchFailure("bad URL") }
        let delegate = CountingDelegate()
        let session = URLSession(configuration: .default, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let (status, received) = try await delegate.run { session.dataTask(with: URLRequest(url: url)) }
        try checkStatus(status, "download")
        return received
    }

    /// `uploadTask(with:fromFile:)`: the 1 GiB file from tmpfs.
    func upload(_ targets: TransferTargets, name: String) async throws -> Int {
        guard let url = URL(string: targets.uploadURLPrefix + name) else { throw BenchFailure("bad URL") }
        var request = URLRequest(url: url)
        request.httpMethod = "PUT"
        let delegate = CountingDelegate()
        let session = URLSession(configuration: .default, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let file = URL(fileURLWithPath: targets.bigFilePath)
        let (status, _) = try await delegate.run { session.uploadTask(with: request, fromFile: file) }
        return status
    }
}

/// Counts a task's body bytes and reports its end.
///
/// `@unchecked Sendable`: URLSession calls the delegate from its own queue while `run` waits on
/// another thread; its one mutable state, `State`, is only touched inside `state`'s `Mutex`, and
/// `NSObject` (which Swift cannot check) adds no state of its own that the class uses.
final class CountingDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private struct State {
        var received = 0
        var continuation: CheckedContinuation<(Int, Int), Error>?
    }
    private let state = Mutex(State())

    func run(_ makeTask: () -> URLSessionTask) async throws -> (status: Int, received: Int) {
        let (status, received) = try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.continuation = continuation }
            makeTask().resume()
        }
        return (status, received)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        state.withLock { $0.received += data.count }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        let (continuation, received) = state.withLock { state in
            defer { state.continuation = nil }
            return (state.continuation, state.received)
        }
        if let error {
            continuation?.resume(throwing: error)
        } else {
            continuation?.resume(returning: ((task.response as? HTTPURLResponse)?.statusCode ?? 0, received))
        }
    }
}

// MARK: - The curl command line (a child process per run; its CPU comes from RUSAGE_CHILDREN)

struct CurlCLITransferClient: TransferBenchClient {
    let name = "curl CLI"
    let scenarios = Set(TransferScenario.allCases)
    let executable: String
    let workDirectory: String

    /// One process with `count` URLs in a `--config` file, sequential, one keep-alive
    /// connection; each transfer's `%{time_total}` from `--write-out`.
    func sequentialGets(_ targets: TransferTargets, count: Int) async throws -> [UInt64] {
        let config = "\(workDirectory)/gets.conf"
        let lines = String(repeating: "url = \"\(targets.helloURL)\"\noutput = \"/dev/null\"\n", count: count)
        try Data(lines.utf8).write(to: URL(fileURLWithPath: config))
        let out = "\(workDirectory)/gets.out"
        try runChecked(["-s", "-S", "--fail", "-w", "%{time_total} %{size_download}\\n", "-K", config], stdout: out)
        let fields = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
        guard fields.count == count, fields.allSatisfy({ $0.count == 2 && $0[1] == "17" }) else {
            throw BenchFailure("curl CLI: \(fields.count) of \(count) transfers reported 17 bytes")
        }
        return fields.map { UInt64((Double($0[0]) ?? 0) * 1e9) }
    }

    /// `--parallel --parallel-max 100 --http2`, one process per batch (so each batch includes
    /// the process start and the TLS handshake: see BENCHMARKS.md).
    func concurrentGets(_ targets: TransferTargets, count: Int) async throws {
        let config = "\(workDirectory)/h2.conf"
        let lines = String(repeating: "url = \"\(targets.helloTLSURL)\"\noutput = \"/dev/null\"\n", count: count)
        try Data(lines.utf8).write(to: URL(fileURLWithPath: config))
        let out = "\(workDirectory)/h2.out"
        try runChecked(["-s", "-S", "--no-progress-meter", "--fail", "--http2", "--parallel", "--parallel-max", "\(count)", "--cacert", targets.caFile,
                        "-w", "%{http_version} %{size_download}\\n", "-K", config], stdout: out)
        let fields = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        guard fields.count == count, fields.allSatisfy({ $0 == "2 17" }) else {
            throw BenchFailure("curl CLI: \(fields.count) of \(count) h2 transfers reported HTTP/2 and 17 bytes")
        }
    }

    /// Nothing to warm: every batch is a new process.
    func concurrentGetsWarmup(_ targets: TransferTargets, count: Int) async throws {}

    func download(_ targets: TransferTargets) async throws -> Int {
        let out = "\(workDirectory)/download.out"
        try runChecked(["-s", "-S", "--fail", "-o", "/dev/null", "-w", "%{size_download}", targets.bigURL], stdout: out)
        return Int(try String(contentsOfFile: out, encoding: .utf8)) ?? -1
    }

    func upload(_ targets: TransferTargets, name: String) async throws -> Int {
        let out = "\(workDirectory)/upload.out"
        try runChecked(["-s", "-S", "-o", "/dev/null", "-w", "%{http_code}", "-T", targets.bigFilePath,
                        targets.uploadURLPrefix + name], stdout: out)
        return Int(try String(contentsOfFile: out, encoding: .utf8)) ?? -1
    }

    private func runChecked(_ arguments: [String], stdout: String) throws {
        // -q first: no ~/.curlrc.
        let status = try runChild(executable, ["-q"] + arguments, stdout: stdout)
        guard status == 0 else {
            let message = (try? String(contentsOfFile: stdout + ".err", encoding: .utf8)) ?? ""
            throw BenchFailure("curl exited with \(status): \(message.suffix(300))")
        }
    }
}

/// posix_spawn + wait4: the child's exit status. Blocks the calling thread (the bench runs one
/// thing at a time); the child's CPU lands in RUSAGE_CHILDREN.
func runChild(_ executable: String, _ arguments: [String], stdout: String) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    // stderr beside it: curl's parallel progress meter shows even with -s.
    posix_spawn_file_actions_addopen(&actions, 2, stdout + ".err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    // An empty environment: no proxy variables, no locale, nothing of the caller's.
    let environment: [UnsafeMutablePointer<CChar>?] = [nil]
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environment)
    guard spawned == 0 else { throw BenchFailure("posix_spawn \(executable): \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw BenchFailure("waitpid: \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// User + system time of the waited-for children so far.
func childrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
