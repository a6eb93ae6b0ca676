// fetch: a small curl on AsyncCurl's transfers. See `fetch --help`, or Arguments.swift.
import AsyncCurl
import HTTPTypes
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Sends one request with ``CurlMulti/execute(_:method:headerFields:body:options:)`` and writes
/// the response body to standard output or a file as it streams in.
///
/// libcurl does everything on the wire (proxy, TLS, HTTP/1.1 or HTTP/2, redirects,
/// authentication); fetch maps the command line to ``TransferOptions``, prints what `-v` asks
/// for and turns a failure into curl's exit code.
@main
struct Fetch {
    static func main() async {
        // A closed standard output or error should be a write error, not the end by a signal.
        signal(SIGPIPE, SIG_IGN)
        let arguments: Arguments
        switch Arguments.parse(Array(CommandLine.arguments.dropFirst())) {
        case .help:
            print(Arguments.usage, terminator: "")
            exit(0)
        case .usageError(let message):
            printError("fetch: \(message)\n\n\(Arguments.usage)")
            exit(2)
        case .run(let parsed):
            arguments = parsed
        }

        // Like curl, no progress line when the body itself goes to the terminal.
        let progress = isatty(2) == 1 && !(arguments.output == nil && isatty(1) == 1) ? ProgressLine() : nil
        do {
            let status = try await run(arguments, progress: progress)
            progress?.finish()
            exit(status)
        } catch let failure as UsageFailure {
            progress?.finish()
            printError("fetch: \(failure)")
            exit(2)
        } catch let error as CurlError {
            progress?.finish()
            printError("fetch: \(error)")
            // curl's exit codes are libcurl's error codes.
            exit((1...255).contains(error.code.rawValue) ? Int32(error.code.rawValue) : 1)
        } catch {
            progress?.finish()
            printError("fetch: \(error)")
            exit(1)
        }
    }

    /// Runs the transfer; returns the exit status.
    static func run(_ arguments: Arguments, progress: ProgressLine?) async throws -> Int32 {
        var options = arguments.transferOptions()
        if let progress {
            options.progress = { figures in progress.show(figures) }
        }
        let body: RequestBody?
        switch arguments.data {
        case nil: body = nil
        case .text(let text): body = .text(text)
        case .file(let path): body = .file(path)
        case .standardInput:
            guard let bytes = readAll(0) else {
                throw UsageFailure("cannot read standard input: \(String(cString: strerror(errno)))")
            }
            body = .bytes(bytes)
        }
        let method = arguments.method ?? (body == nil ? .get : .post)

        let response = try await CurlMulti.shared.execute(arguments.url, method: method, headerFields: arguments.headerFields,
                                                          body: body, options: options)
        if arguments.verbose {
            var lines = ["< \(response.status.code) \(response.status.reasonPhrase)"]
            lines += response.headerFields.map { "< \($0.name.rawName): \($0.value)" }
            printError(lines.joined(separator: "\n"))
        }
        if arguments.fail, response.status.code >= 400 {
            // Dropping the body unread cancels the transfer.
            printError("fetch: the server answered \(response.status.code) \(response.status.reasonPhrase)")
            return 22
        }
        if let output = arguments.output {
            try await response.body.write(toFile: output)
        } else {
            for try await chunk in response.body {
                guard writeAll(1, chunk) else {
                    throw CurlError(code: .writeError, message: "cannot write to standard output: \(String(cString: strerror(errno)))")
                }
            }
        }
        let facts = try await response.body.facts()
        if arguments.verbose {
            let version = facts.httpVersion.map { "HTTP/\($0)" } ?? "reply \(facts.responseCode)"
            let peer = facts.remoteAddress.map { " from \($0):\(facts.remotePort ?? 0)" } ?? ""
            printError("* \(version), \(facts.bytesDownloaded) bytes in \(milliseconds(facts.totalTime)) ms\(peer), \(facts.redirectCount) redirects")
        }
        return 0
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}

/// The progress line on standard error (a terminal): bytes so far, the total and a bar when
/// known. libcurl's progress callback runs on the engine's queue; the line is redrawn at most
/// ten times a second.
final class ProgressLine: Sendable {
    private struct State {
        var drawn = false
        var lastDraw: timespec?
        /// The latest figures not drawn yet (skipped by the ten-per-second limit).
        var pending: TransferProgress?
    }
    private let state = Mutex(State())

    func show(_ progress: TransferProgress) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let due = state.withLock { state -> Bool in
            if let last = state.lastDraw, (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1_000_000 < 100 {
                state.pending = progress
                return false
            }
            state.lastDraw = now
            state.drawn = true
            state.pending = nil
            return true
        }
        if due { draw(progress) }
    }

    /// Draws the last figures and ends the line, if one was drawn.
    func finish() {
        let (drawn, pending) = state.withLock { state in
            defer { state.pending = nil }
            return (state.drawn, state.pending)
        }
        guard drawn else { return }
        if let pending { draw(pending) }
        _ = writeAll(2, Array("\n".utf8))
    }

    private func draw(_ progress: TransferProgress) {
        let sending = progress.bytesUploaded > 0 && progress.bytesDownloaded == 0
        let done = sending ? progress.bytesUploaded : progress.bytesDownloaded
        let total = sending ? progress.uploadTotal : progress.downloadTotal
        var line = "\r\(sending ? "sent" : "received") \(Self.mebibytes(done))"
        if let total, total > 0 {
            let width: Int64 = 30
            let filled = min(width, done * width / total)
            line += " of \(Self.mebibytes(total)) [\(String(repeating: "#", count: Int(filled)))\(String(repeating: " ", count: Int(width - filled)))] \(min(100, done * 100 / total))%"
        }
        _ = writeAll(2, Array((line + "   ").utf8))
    }

    static func mebibytes(_ bytes: Int64) -> String {
        let tenths = bytes * 10 / (1 << 20)
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

/// Writes all of `bytes` to `fd`; `false` (with `errno` set) if that failed.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written > 0 {
            offset += written
        } else if !(written < 0 && errno == EINTR) {
            return false
        }
    }
    return true
}

/// Writes `message` and a line break to standard error, all of it.
func printError(_ message: String) {
    var bytes = Array(message.utf8)
    if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
    _ = writeAll(2, bytes)
}

/// Everything up to the end of `fd`, or `nil` (with `errno` set) on a read error.
func readAll(_ fd: Int32) -> [UInt8]? {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count > 0 {
            bytes.append(contentsOf: buffer[0..<count])
        } else if count == 0 {
            return bytes
        } else if errno != EINTR {
            return nil
        }
    }
}
