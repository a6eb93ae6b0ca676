import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Standard input and output are blocking file descriptors, and a blocking read or write must not
// run on Swift's cooperative thread pool (one thread per core: a blocked one is lost to every
// other task). As in curlcat, each stream is served by a thread of its own, here a serial
// Dispatch queue's (Dispatch adds threads when one blocks), and async code talks to it through
// a stream or a continuation.

/// An I/O error on a standard stream, with the failing call and `errno`.
struct StreamError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32

    var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// Waits until `fd` is ready for `events`, for a descriptor another program left non-blocking.
private func waitUntilReady(_ fd: Int32, events: Int16) {
    var entry = pollfd(fd: fd, events: events, revents: 0)
    _ = poll(&entry, 1, -1)
}

// MARK: - Input

/// Splits bytes into lines at `\n`, dropping the line ending (`\n` or `\r\n`).
struct LineSplitter {
    private var partial: [UInt8] = []

    /// The lines `bytes` completes; an unfinished last line is kept for the next call.
    mutating func lines(in bytes: ArraySlice<UInt8>) -> [String] {
        var lines: [String] = []
        var rest = bytes
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            partial.append(contentsOf: rest[..<newline])
            if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
            lines.append(String(decoding: partial, as: UTF8.self))
            partial.removeAll(keepingCapacity: true)
            rest = rest[(newline + 1)...]
        }
        partial.append(contentsOf: rest)
        return lines
    }

    /// The unfinished last line at the end of input, if there is one.
    mutating func finish() -> String? {
        defer { partial = [] }
        return partial.isEmpty ? nil : String(decoding: partial, as: UTF8.self)
    }
}

/// Standard input as an `AsyncSequence` of lines, read ahead by a dedicated thread.
///
/// The thread reads a chunk only while it holds a credit, and the iterator gives a chunk's credit
/// back once all of its lines have been taken: at most `bufferedChunks` chunks wait in memory, so
/// a slow server slows the reading of standard input down instead of filling memory.
struct InputLines: AsyncSequence, Sendable {
    typealias Element = String
    typealias Failure = any Error

    private let stream: AsyncThrowingStream<[String], any Error>
    private let credits: DispatchSemaphore

    init(fileDescriptor fd: Int32 = 0, chunkSize: Int = 65536, bufferedChunks: Int = 4) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [String].self)
        let credits = DispatchSemaphore(value: bufferedChunks)
        let stopped = Atomic<Bool>(false)
        continuation.onTermination = { _ in
            // The consumer went away: let the thread leave its credit wait and notice.
            stopped.store(true, ordering: .relaxed)
            credits.signal()
        }
        DispatchQueue(label: "wscat.stdin").async {
            var splitter = LineSplitter()
            var buffer = [UInt8](repeating: 0, count: chunkSize)
            while true {
                credits.wait()
                if stopped.load(ordering: .relaxed) { return }
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let lines = splitter.lines(in: buffer[0..<count])
                    if lines.isEmpty {
                        credits.signal()  // Nothing was yielded: the credit is still ours.
                    } else {
                        continuation.yield(lines)
                    }
                } else if count == 0 {
                    if let last = splitter.finish() { continuation.yield([last]) }
                    continuation.finish()
                    return
                } else {
                    let code = errno
                    guard code == EINTR || code == EAGAIN || code == EWOULDBLOCK else {
                        continuation.finish(throwing: StreamError(operation: "reading standard input", code: code))
                        return
                    }
                    if code != EINTR { waitUntilReady(fd, events: Int16(POLLIN)) }
                    credits.signal()
                }
            }
        }
        self.stream = stream
        self.credits = credits
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), credits: credits)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        typealias Element = String
        typealias Failure = any Error

        var base: AsyncThrowingStream<[String], any Error>.AsyncIterator
        let credits: DispatchSemaphore
        var pending: ArraySlice<String> = []
        var holdsChunk = false

        /// The next line; `nil` at the end of input, or when the task is cancelled.
        mutating func next() async throws -> String? {
            if let line = pending.popFirst() { return line }
            if holdsChunk {
                holdsChunk = false
                credits.signal()
            }
            guard let lines = try await base.next() else { return nil }
            holdsChunk = true
            pending = lines[...]
            return pending.popFirst()
        }
    }
}

// MARK: - Output

/// Writes to a file descriptor from a dedicated thread, completely and in order. `write(_:)`
/// returns once its bytes are written, so a slow reader of standard output slows the reading of
/// messages (and so the server) down.
final class OutputWriter: Sendable {
    private let fd: Int32
    private let queue: DispatchQueue

    init(fileDescriptor fd: Int32 = 1) {
        self.fd = fd
        queue = DispatchQueue(label: "wscat.stdout.\(fd)")
    }

    /// Writes all of `bytes`; returns once they are written.
    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        let fd = self.fd
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                continuation.resume(with: Result { try Self.writeAll(bytes, to: fd) })
            }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        try bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, base + offset, buffer.count - offset)
                if written >= 0 {
                    offset += written
                    continue
                }
                let code = errno
                switch code {
                case EINTR:
                    continue
                case EAGAIN, EWOULDBLOCK:
                    waitUntilReady(fd, events: Int16(POLLOUT))
                default:
                    throw StreamError(operation: fd == 2 ? "writing standard error" : "writing standard output", code: code)
                }
            }
        }
    }
}

/// Writes a message to standard error at once (unbuffered), with a newline if it has none.
/// For the last words before `exit`; while messages are printed, use an ``OutputWriter``.
func printError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    Array(text.utf8).withUnsafeBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(2, base + offset, buffer.count - offset)
            if written > 0 {
                offset += written
            } else if !(written < 0 && errno == EINTR) {
                return
            }
        }
    }
}
