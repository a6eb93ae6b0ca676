#if canImport(Glibc)
import Glibc
#endif

/// A listener that never accepts, whose accept queue is already full, so further connection
/// attempts hang in SYN retries. For testing connect timeouts against a real socket.
///
/// How: `listen(fd, 0)` lets Linux queue backlog + 1 = 1 completed connection. The first filler
/// client completes its handshake and occupies that slot; from then on the kernel drops every
/// SYN to this port, so the other fillers, and any client under test, stay in SYN_SENT
/// (a non-blocking connect stays EINPROGRESS) until they give up.
///
/// Sendable without `@unchecked`: `port` is immutable and the fds are behind a `Locked`.
public final class BlackholeListener: Sendable {
    /// The port that swallows connection attempts.
    public let port: Int

    /// `tcp://127.0.0.1:<port>`.
    public var url: String { "tcp://127.0.0.1:\(port)" }

    /// Listener first, then the filler clients; `nil` once closed.
    private let fds: Locked<[Int32]?>

    /// Filler connections opened against the listener. One fills the queue; the rest are
    /// margin and keep retrying SYNs that the kernel keeps dropping.
    private static let fillerCount = 4

    public init() throws {
        ignoreSIGPIPE()
        let listener = try makeLoopbackListener(backlog: 0, nonBlocking: true)
        var opened = [listener.fd]
        do {
            var address = loopbackAddress(port: listener.port)
            for index in 0..<Self.fillerCount {
                let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                    | Int32(SOCK_NONBLOCK.rawValue)
                let fd = socket(AF_INET, type, 0)
                guard fd >= 0 else { throw LoopbackServerError("socket", errno: errno) }
                opened.append(fd)
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                guard result == 0 || errno == EINPROGRESS else {
                    throw LoopbackServerError("connect", errno: errno)
                }
                if index == 0, result != 0 {
                    // Make sure the first filler really sits in the accept queue before the
                    // others (and the tests) come along. On loopback the handshake completes
                    // almost at once; the 1 s limit only guards against a pathological host.
                    var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&pollFD, 1, 1000)
                }
            }
        } catch {
            opened.forEach(closeQuietly)
            throw error
        }
        self.port = listener.port
        self.fds = Locked(opened)
    }

    deinit {
        close()
    }

    /// Closes the listener and the filler clients. Idempotent.
    public func close() {
        let open = fds.withLock { fds -> [Int32] in
            defer { fds = nil }
            return fds ?? []
        }
        open.forEach(closeQuietly)
    }
}
