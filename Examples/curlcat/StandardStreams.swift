import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// Standard input and output are plain blocking file descriptors. Blocking reads and writes must
// not run on Swift's cooperative thread pool (it has one thread per core; a blocked one is lost
// to every other task), so each stream gets a dedicated thread, and async code talks to it.

/// Starts a detached thread running `body`.
func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Entry: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let entry = Unmanaged.passRetained(Entry(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        Unmanaged<Entry>.fromOpaque(raw).takeRetainedValue().body()
        return nil
    }, entry)
    guard result == 0 else {
        // The system is out of threads: report it like any other failure, no crash.
        Unmanaged<Entry>.fromOpaque(entry).release()
        let message = "curlcat: cannot start a thread: \(String(cString: strerror(result)))\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        exit(1)
    }
    pthread_detach(thread)
}

/// An I/O error on a standard stream, with the failing call and `errno`.
struct StreamError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32

    var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

/// Waits until `fd` is ready for `events` (`POLLIN` or `POLLOUT`); for descriptors that another
/// program left in non-blocking mode.
private func waitUntilReady(_ fd: Int32, events: Int16) {
    var entry = pollfd(fd: fd, events: events, revents: 0)
    _ = poll(&entry, 1, -1)
}

// MARK: - Input

/// Standard input as an `AsyncSequence` of chunks, read ahead by a dedicated thread into a
/// bounded buffer.
///
/// The thread may only read while it holds a credit; each `next()` call gives back the credit of
/// the chunk returned before it, which by then the caller has finished with. So at most
/// `bufferedChunks` chunks wait in memory, and a slow connection slows the reading of standard
/// input down instead of letting it fill memory.
struct InputChunks: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    typealias Failure = any Error

    private let stream: AsyncThrowingStream<[UInt8], any Error>
    private let credits: DispatchSemaphore

    init(fileDescriptor fd: Int32 = 0, chunkSize: Int = 65536, bufferedChunks: Int = 4) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        let credits = DispatchSemaphore(value: bufferedChunks)
        let stopped = Atomic<Bool>(false)
        continuation.onTermination = { _ in
            // The consumer went away: let the thread leave its credit wait and notice.
            stopped.store(true, ordering: .relaxed)
            credits.signal()
        }
        startThread {
            var buffer = [UInt8](repeating: 0, count: chunkSize)
            while true {
                credits.wait()
                if stopped.load(ordering: .relaxed) { return }
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    continuation.yield(Array(buffer[0..<count]))
                    continue
                }
                if count == 0 {
                    continuation.finish()
                    return
                }
                let code = errno
                if code == EINTR || code == EAGAIN || code == EWOULDBLOCK {
                    if code != EINTR { waitUntilReady(fd, events: Int16(POLLIN)) }
                    credits.signal()  // Nothing was yielded: the credit is still ours.
                    continue
                }
                continuation.finish(throwing: StreamError(operation: "reading standard input", code: code))
                return
            }
        }
        self.stream = stream
        self.credits = credits
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), credits: credits)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        typealias Element = [UInt8]
        typealias Failure = any Error

        var base: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator
        let credits: DispatchSemaphore
        var holdsChunk = false

        mutating func next() async throws -> [UInt8]? {
            if holdsChunk {
                holdsChunk = false
                credits.signal()
            }
            guard let chunk = try await base.next() else { return nil }
            holdsChunk = true
            return chunk
        }
    }
}

// MARK: - Output

/// Writes byte chunks to a file descriptor from a dedicated thread, completely (looping over
/// partial writes) and in order. `write(_:)` suspends until its chunk is written, so a slow
/// reader of standard output slows the connection down.
final class OutputWriter: Sendable {
    private struct Job {
        let bytes: [UInt8]
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let fd: Int32
    private let jobs = Mutex<[Job]>([])
    private let jobsAvailable = DispatchSemaphore(value: 0)

    init(fileDescriptor fd: Int32 = 1) {
        self.fd = fd
        startThread { [self] in
            while true {
                jobsAvailable.wait()
                let job = jobs.withLock { $0.removeFirst() }
                do {
                    try writeAll(job.bytes)
                    job.continuation.resume()
                } catch {
                    job.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Writes all of `bytes`; returns once they are written.
    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            jobs.withLock { $0.append(Job(bytes: bytes, continuation: continuation)) }
            jobsAvailable.signal()
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
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
                    throw StreamError(operation: "writing standard output", code: code)
                }
            }
        }
    }
}

/// Writes a message to standard error at once (unbuffered).
func printError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    text.utf8CString.withUnsafeBufferPointer { buffer in
        var offset = 0
        let count = buffer.count - 1  // Without the terminating NUL.
        while offset < count {
            let written = Glibc.write(2, buffer.baseAddress! + offset, count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
