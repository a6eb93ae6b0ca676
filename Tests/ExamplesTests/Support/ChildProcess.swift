import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A waiting step ran past its deadline.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    var description: String { "deadline exceeded: \(what)" }
}

/// A child process with its standard output and error collected, for tests.
///
/// Output is read by dedicated threads into memory, so the child never blocks on a full pipe.
/// Every wait takes a deadline. ``stop()`` (also run by `deinit`) ends the child — SIGTERM, then
/// SIGKILL if it lingers — and waits for it, so no test leaves a process behind.
final class ChildProcess: @unchecked Sendable {
    let executable: String
    let arguments: [String]

    private let process = Process()
    /// What the reader threads and the termination handler update. A separate object, so that
    /// they do not keep the `ChildProcess` alive and its `deinit` can stop the child.
    private let state = State()

    private final class State: @unchecked Sendable {
        /// Guards everything below; signalled whenever output arrives or the child exits.
        let condition = NSCondition()
        var output: [UInt8] = []
        var errorOutput: [UInt8] = []
        var openOutputStreams = 2
        var exited = false
        /// Our end of the child's standard input, or -1.
        var inputFD: Int32 = -1
    }

    /// Starts `executable`. Standard input is a pipe fed through ``writeInput(_:)`` when
    /// `withInput` is true, `/dev/null` otherwise.
    init(_ executable: String, _ arguments: [String], withInput: Bool = false,
         currentDirectory: String? = nil) throws {
        self.executable = executable
        self.arguments = arguments
        ignoreSIGPIPE()

        let stdout = try Self.makePipe()
        let stderr = try Self.makePipe()
        let stdin = withInput ? try Self.makePipe() : nil
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let currentDirectory {
            process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory)
        }
        // Our own pipe fds (close-on-exec), so we know exactly which ends to close and when.
        process.standardOutput = FileHandle(fileDescriptor: stdout.write, closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: stderr.write, closeOnDealloc: false)
        process.standardInput = stdin.map { FileHandle(fileDescriptor: $0.read, closeOnDealloc: false) }
            ?? FileHandle.nullDevice
        process.terminationHandler = { [state] _ in
            state.condition.lock()
            defer { state.condition.unlock() }
            state.exited = true
            state.condition.broadcast()
        }
        do {
            try Self.runWithNoSignalsBlocked(process)
        } catch {
            for fd in [stdout.read, stdout.write, stderr.read, stderr.write, stdin?.read ?? -1, stdin?.write ?? -1] where fd >= 0 {
                close(fd)
            }
            throw error
        }
        // The child has its copies; ours would keep the pipes open for ever.
        close(stdout.write)
        close(stderr.write)
        if let stdin {
            close(stdin.read)
            state.inputFD = stdin.write
        }
        startReader(stdout.read, isError: false)
        startReader(stderr.read, isError: true)
    }

    deinit {
        stop()
        if state.inputFD >= 0 { close(state.inputFD) }
    }

    var processIdentifier: Int32 { process.processIdentifier }

    // MARK: Input

    /// Writes `bytes` to the child's standard input and leaves it open, for a conversation: the
    /// caller waits for the answer, then writes more. Meant for small writes that fit in the
    /// pipe (64 KiB), which do not block.
    func writeInput(_ bytes: [UInt8]) {
        state.condition.lock()
        let fd = state.inputFD
        state.condition.unlock()
        precondition(fd >= 0, "the child was started without an input pipe, or input was already closed")
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if !(written < 0 && errno == EINTR) {
                    break  // EPIPE: the child is gone.
                }
            }
        }
    }

    /// Writes `bytes` to the child's standard input from a background thread, then closes it.
    /// A child that exits early makes the rest fail with EPIPE, which is ignored.
    func writeInputAndClose(_ bytes: [UInt8]) {
        state.condition.lock()
        let fd = state.inputFD
        state.inputFD = -1
        state.condition.unlock()
        precondition(fd >= 0, "the child was started without an input pipe, or input was already closed")
        Thread.detachNewThread {
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        break  // EPIPE: the child is gone.
                    }
                }
            }
            close(fd)
        }
    }

    // MARK: Output

    var standardOutput: [UInt8] {
        state.condition.lock()
        defer { state.condition.unlock() }
        return state.output
    }

    var standardOutputText: String { String(decoding: standardOutput, as: UTF8.self) }

    var standardErrorText: String {
        state.condition.lock()
        defer { state.condition.unlock() }
        return String(decoding: state.errorOutput, as: UTF8.self)
    }

    /// Waits until standard output holds at least `count` bytes.
    func waitForOutput(count: Int, timeout: Duration) throws {
        guard try waitForOutput("\(count) bytes of output from \(name)", timeout: timeout, until: { $0.count >= count }) else {
            throw ProcessFailure("\(name) exited with \(standardOutput.count) of \(count) bytes of output; stderr: \(standardErrorText)")
        }
    }

    /// Waits until standard output satisfies `condition` (checked whenever output arrives), or
    /// the child has exited with its output complete; throws `DeadlineExceeded` after `timeout`.
    /// Returns whether the condition holds.
    @discardableResult
    func waitForOutput(_ what: String, timeout: Duration, until condition: @escaping ([UInt8]) -> Bool) throws -> Bool {
        try wait(for: what, timeout: timeout) { condition($0.output) || ($0.exited && $0.openOutputStreams == 0) }
        return condition(standardOutput)
    }

    // MARK: Exit

    /// Waits for the child to exit and its output to be complete; returns the exit status
    /// (128 + the signal number if a signal ended it).
    @discardableResult
    func waitForExit(timeout: Duration) throws -> Int32 {
        try wait(for: "\(name) to exit", timeout: timeout) { $0.exited && $0.openOutputStreams == 0 }
        return exitStatus
    }

    /// Whether the child has exited.
    var hasExited: Bool {
        state.condition.lock()
        defer { state.condition.unlock() }
        return state.exited
    }

    private var exitStatus: Int32 {
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Ends the child if it still runs: SIGTERM, then SIGKILL after five seconds; waits for it.
    func stop() {
        guard !hasExited else { return }
        kill(process.processIdentifier, SIGTERM)
        if (try? wait(for: "exit after SIGTERM", timeout: .seconds(5), { $0.exited })) == nil {
            kill(process.processIdentifier, SIGKILL)
            _ = try? wait(for: "exit after SIGKILL", timeout: .seconds(10), { $0.exited })
        }
    }

    private var name: String { (executable as NSString).lastPathComponent }

    // MARK: Plumbing

    private func wait(for what: String, timeout: Duration, _ done: (State) -> Bool) throws {
        let (seconds, attoseconds) = timeout.components
        let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        state.condition.lock()
        defer { state.condition.unlock() }
        while !done(state) {
            guard state.condition.wait(until: deadline) || done(state) else {
                throw DeadlineExceeded(what: what)
            }
        }
    }

    private func startReader(_ fd: Int32, isError: Bool) {
        Thread.detachNewThread { [state] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                state.condition.lock()
                if count > 0 {
                    if isError {
                        state.errorOutput.append(contentsOf: buffer[0..<count])
                    } else {
                        state.output.append(contentsOf: buffer[0..<count])
                    }
                } else {
                    state.openOutputStreams -= 1
                }
                state.condition.broadcast()
                state.condition.unlock()
                if count <= 0 { break }
            }
            close(fd)
        }
    }

    /// Starts `process` from a thread that blocks no signals.
    ///
    /// A child inherits the signal mask of the thread that spawns it, and Foundation's `Process`
    /// does not reset it. Test code runs on Dispatch worker threads, which block nearly every
    /// signal, so a daemon started from there would ignore SIGTERM (measured: redis-server then
    /// only dies from SIGKILL).
    private static func runWithNoSignalsBlocked(_ process: Process) throws {
        final class Outcome: @unchecked Sendable {
            var error: (any Error)?
            let done = DispatchSemaphore(value: 0)
        }
        let outcome = Outcome()
        let thread = Thread {
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            do {
                try process.run()
            } catch {
                outcome.error = error
            }
            outcome.done.signal()
        }
        thread.start()
        outcome.done.wait()
        if let error = outcome.error { throw error }
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw ProcessFailure("pipe: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec, so other children do not inherit them (the child gets dup2'ed copies).
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

struct ProcessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writing to a pipe whose reader has exited must be an EPIPE error, not the end of the tests.
func ignoreSIGPIPE() {
    signal(SIGPIPE, SIG_IGN)
}
