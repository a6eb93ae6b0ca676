#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import Synchronization  // Atomic only; locks are `Locked` (see Locked.swift)

/// A real TCP peer on 127.0.0.1 for tests and demos: listens on an ephemeral port and serves
/// every connection according to its `Mode`, from one background thread running an epoll loop
/// (handler mode hands each connection to a thread of its own instead).
///
/// Sendable without `@unchecked`: every stored property is immutable, atomic or behind a `Locked`.
public final class LoopbackServer: Sendable {
    /// How the server treats each accepted connection.
    public enum Mode: Sendable {
        /// Writes back everything it reads. At most 256 KiB is buffered per client; while the
        /// buffer is full the server stops reading that client until the buffer drains, so a
        /// client that writes without reading sees real TCP backpressure. When the client
        /// half-closes, the server flushes what it holds, shuts down its side and closes.
        case echo
        /// Reads and discards everything, counting bytes; closes when the client closes.
        case sink
        /// Writes these bytes to each client as soon as it connects, then shuts down its side
        /// (the client reads EOF) and closes once the client closes. Whatever the client sends
        /// meanwhile is read, counted and discarded.
        case source([UInt8])
        /// Hands each accepted socket, in blocking mode, to this closure on a new thread of its
        /// own. The closure owns the socket; the server closes it when the closure returns (if
        /// the closure did not) and, at the latest, in `stop()`.
        case handler(@Sendable (PeerSocket) -> Void)
        /// Accepts each connection and then neither reads nor writes: a peer that has stopped
        /// reading, so a client's sends fill the socket buffers and suspend. No thread per
        /// connection, so thousands of such peers are cheap. A connection is closed when the
        /// client's FIN or RST reaches the server (a FIN queued behind unsent data never does,
        /// while the server's receive window stays shut) and, at the latest, in `stop()`.
        case hold
    }

    /// The port the server listens on, chosen by the kernel.
    public let port: Int

    /// `tcp://127.0.0.1:<port>`.
    public var url: String { "tcp://127.0.0.1:\(port)" }

    /// Connections accepted so far.
    public var acceptedCount: Int { shared.accepted.load(ordering: .relaxed) }

    /// Total bytes read from clients, in every mode except `handler` (the closure does its own reads).
    public var bytesReceived: Int { shared.bytesReceived.load(ordering: .relaxed) }

    /// Client sockets currently open (handler-mode sockets included).
    public var openClients: Int { shared.openClients.load(ordering: .relaxed) }

    /// State shared with the loop thread and the handler threads. It is deliberately not `self`:
    /// if those threads retained the server, its `deinit` (and so `stop()`) could never run.
    private let shared: ServerShared

    /// The running loop, or `nil` once stopped. Held locked for the whole of `stop()`, so a
    /// concurrent second `stop()` returns only after the first has finished.
    private let running: Locked<RunningLoop?>

    private struct RunningLoop: Sendable {
        let thread: pthread_t
        let listenFD: Int32
        let epollFD: Int32
        let wakeFD: Int32
    }

    /// Binds 127.0.0.1 on an ephemeral port, starts listening (backlog 4096) and starts the loop
    /// thread. Throws `LoopbackServerError` if any of the system calls fails.
    public init(mode: Mode) throws {
        ignoreSIGPIPE()
        let listener = try makeLoopbackListener(backlog: 4096, nonBlocking: true)
        var toClose = [listener.fd]
        do {
            let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
            guard epollFD >= 0 else { throw LoopbackServerError("epoll_create1", errno: errno) }
            toClose.append(epollFD)
            // stop() writes to this eventfd to wake the loop out of epoll_wait.
            let wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
            guard wakeFD >= 0 else { throw LoopbackServerError("eventfd", errno: errno) }
            toClose.append(wakeFD)
            for fd in [listener.fd, wakeFD] {
                var event = epoll_event()
                event.events = EPOLLIN.rawValue
                event.data.fd = fd
                guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
                    throw LoopbackServerError("epoll_ctl", errno: errno)
                }
            }

            let shared = ServerShared()
            let thread = try startThread(detached: false) {
                // The loop's state lives and dies on this thread; only `shared` is visible to others.
                let loop = ServerLoop(
                    mode: mode, listenFD: listener.fd, epollFD: epollFD, wakeFD: wakeFD, shared: shared)
                loop.run()
            }
            self.shared = shared
            self.port = listener.port
            self.running = Locked(RunningLoop(
                thread: thread, listenFD: listener.fd, epollFD: epollFD, wakeFD: wakeFD))
        } catch {
            toClose.forEach(closeQuietly)
            throw error
        }
    }

    deinit {
        stop()
    }

    /// Stops the server: wakes the loop thread and waits for it to exit (it closes every client
    /// socket on its way out), then closes the listener, the epoll set and the wake-up eventfd,
    /// and closes the sockets of handler-mode connections (their threads are not waited for).
    /// Idempotent and thread-safe.
    public func stop() {
        running.withLock { running in
            guard let loop = running else { return }
            running = nil
            var one: UInt64 = 1
            // Cannot fail: the eventfd counter is far from overflowing and the fd is open.
            _ = Glibc.write(loop.wakeFD, &one, MemoryLayout<UInt64>.size)
            _ = pthread_join(loop.thread, nil)
            closeQuietly(loop.listenFD)
            closeQuietly(loop.epollFD)
            closeQuietly(loop.wakeFD)
        }
        for peer in shared.takeAllPeers() {
            peer.close()
        }
    }
}

/// Counters and handler-mode sockets, shared by the server object, its loop thread and its
/// handler threads.
final class ServerShared: Sendable {
    let accepted = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    let openClients = Atomic<Int>(0)

    private struct Peers {
        var byID: [Int: PeerSocket] = [:]
        var nextID = 0
    }

    private let peers = Locked(Peers())

    /// Remembers a handler-mode socket so `stop()` can close it; returns its key for `forget`.
    func remember(_ peer: PeerSocket) -> Int {
        peers.withLock { peers in
            peers.nextID += 1
            peers.byID[peers.nextID] = peer
            return peers.nextID
        }
    }

    func forget(_ id: Int) {
        _ = peers.withLock { $0.byID.removeValue(forKey: id) }
    }

    func takeAllPeers() -> [PeerSocket] {
        peers.withLock { peers in
            defer { peers.byID.removeAll() }
            return Array(peers.byID.values)
        }
    }
}
