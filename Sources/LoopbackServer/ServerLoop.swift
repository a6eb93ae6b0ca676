#if canImport(Glibc)
import Glibc
#endif
import CEpoll

/// The epoll loop behind `LoopbackServer`. Created on, used on, and destroyed on the server's
/// loop thread only, which is why it needs no locking (and is not Sendable).
///
/// Level-triggered throughout: each wake-up does a bounded amount of work per socket (at most
/// `readBudget` bytes read, at most `acceptBatch` accepts), and whatever is left is reported
/// again by the next `epoll_wait`. So one busy client can never starve the others.
final class ServerLoop {
    /// Echo mode buffers at most this much per client before it stops reading that client.
    static let echoLimit = 256 * 1024
    /// Bytes read from one client per wake-up at most.
    static let readBudget = 256 * 1024
    /// Connections accepted per wake-up at most.
    static let acceptBatch = 256

    /// One non-blocking client socket in echo, sink or source mode.
    final class Client {
        let fd: Int32
        /// Bytes still to send are `output[outputOffset...]`. In source mode `output` shares the
        /// mode's array (no copy); in echo mode it is this client's own buffer.
        var output: [UInt8]
        var outputOffset = 0
        /// The client shut down its side (read returned 0).
        var readEOF = false
        /// We sent FIN (shutdown(SHUT_WR)).
        var wroteShutdown = false
        /// The epoll events currently registered.
        var interest: UInt32 = 0

        var pending: Int { output.count - outputOffset }

        init(fd: Int32, output: [UInt8]) {
            self.fd = fd
            self.output = output
        }
    }

    private let mode: LoopbackServer.Mode
    private let listenFD: Int32
    private let epollFD: Int32
    private let wakeFD: Int32
    private let shared: ServerShared
    private var clients: [Int32: Client] = [:]
    /// Reused receive buffer.
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    init(mode: LoopbackServer.Mode, listenFD: Int32, epollFD: Int32, wakeFD: Int32, shared: ServerShared) {
        self.mode = mode
        self.listenFD = listenFD
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.shared = shared
    }

    private var isEcho: Bool {
        if case .echo = mode { return true }
        return false
    }

    private var isHold: Bool {
        if case .hold = mode { return true }
        return false
    }

    private var isSource: Bool {
        if case .source = mode { return true }
        return false
    }

    /// Runs until `stop()` signals the wake-up eventfd, then closes every client socket.
    /// The listener, epoll and eventfd fds belong to `LoopbackServer`, which closes them after
    /// joining this thread.
    func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        var stopping = false
        while !stopping {
            let count = events.withUnsafeMutableBufferPointer {
                epoll_wait(epollFD, $0.baseAddress, Int32($0.count), -1)
            }
            if count < 0 {
                if errno == EINTR { continue }
                // EBADF/EINVAL would mean our own fds are broken; nothing sensible is left to do.
                break
            }
            for index in 0..<Int(count) {
                let fd = events[index].data.fd
                let flags = events[index].events
                if fd == wakeFD {
                    stopping = true
                } else if fd == listenFD {
                    acceptConnections()
                } else if let client = clients[fd] {
                    // A client closed earlier in this batch has no entry; its event is stale.
                    handle(client, events: flags)
                }
            }
        }
        for client in Array(clients.values) {
            close(client)
        }
    }

    // MARK: Accepting

    private func acceptConnections() {
        // Handler-mode sockets stay blocking: the closure expects plain blocking I/O.
        var nonBlocking = true
        if case .handler = mode { nonBlocking = false }
        for _ in 0..<Self.acceptBatch {
            // Plain accept: Swift's Glibc module does not export accept4 (it needs _GNU_SOURCE).
            // On Linux the accepted socket inherits neither O_NONBLOCK nor FD_CLOEXEC, so both are
            // set below; the window without FD_CLOEXEC only matters to a concurrent fork+exec.
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                switch errno {
                case EINTR, ECONNABORTED:
                    continue
                default:
                    // EAGAIN: the queue is empty. EMFILE/ENFILE/ENOBUFS: try again on the next
                    // wake-up (the listener stays readable) rather than drop the connection.
                    return
                }
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if nonBlocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            shared.accepted.add(1, ordering: .relaxed)
            shared.openClients.add(1, ordering: .relaxed)
            setNoDelay(fd)
            switch mode {
            case .handler(let body):
                startHandler(fd: fd, body: body)
            case .source(let bytes):
                addClient(Client(fd: fd, output: bytes))
            case .echo, .sink, .hold:
                addClient(Client(fd: fd, output: []))
            }
        }
    }

    private func addClient(_ client: Client) {
        clients[client.fd] = client
        // Source mode: start writing at once; registration happens in `progress`.
        if client.pending > 0, !flush(client) {
            close(client)
            return
        }
        progress(client)
    }

    private func startHandler(fd: Int32, body: @escaping @Sendable (PeerSocket) -> Void) {
        let shared = self.shared
        let peer = PeerSocket(fd: fd, onClose: { shared.openClients.subtract(1, ordering: .relaxed) })
        let id = shared.remember(peer)
        do {
            _ = try startThread(detached: true) {
                body(peer)
                peer.close()
                shared.forget(id)
            }
        } catch {
            // Out of threads: the client sees the connection closed, which a test will notice.
            peer.close()
            shared.forget(id)
        }
    }

    // MARK: Serving

    private func handle(_ client: Client, events: UInt32) {
        if isHold {
            // Hold mode watches only for the client going away (EPOLLRDHUP, EPOLLHUP, EPOLLERR);
            // whatever it sent stays unread, so closing sends the client an RST.
            close(client)
            return
        }
        if events & EPOLLERR.rawValue != 0 {
            // Typically an RST from the client: nothing more can be read or written.
            close(client)
            return
        }
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue) != 0, !readAvailable(client) {
            close(client)
            return
        }
        // Also try after reading: echo data just read usually fits the socket buffer right away.
        if client.pending > 0, !flush(client) {
            close(client)
            return
        }
        progress(client)
    }

    /// Reads up to `readBudget` bytes (in echo mode no more than the buffer has room for).
    /// Returns false on a socket error.
    private func readAvailable(_ client: Client) -> Bool {
        guard !client.readEOF else { return true }
        var budget = Self.readBudget
        while budget > 0 {
            var wanted = min(scratch.count, budget)
            if isEcho { wanted = min(wanted, Self.echoLimit - client.pending) }
            if wanted <= 0 { return true }
            let received = scratch.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, wanted, 0) }
            if received > 0 {
                shared.bytesReceived.add(received, ordering: .relaxed)
                budget -= received
                if isEcho { client.output += scratch[0..<received] }
            } else if received == 0 {
                client.readEOF = true
                return true
            } else {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return true
                default: return false
                }
            }
        }
        return true
    }

    /// Sends as much pending output as the socket takes. Returns false on a socket error
    /// (EPIPE, ECONNRESET: the client is gone).
    private func flush(_ client: Client) -> Bool {
        while client.pending > 0 {
            let sent = client.output.withUnsafeBytes {
                send(client.fd, $0.baseAddress! + client.outputOffset, client.pending, Int32(MSG_NOSIGNAL))
            }
            if sent >= 0 {
                client.outputOffset += sent
            } else {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return true
                default: return false
                }
            }
        }
        // Everything sent. Drop the buffer (or the reference to the source bytes) but keep the
        // echo buffer's capacity, which the next read will reuse.
        if isEcho {
            client.output.removeAll(keepingCapacity: true)
        } else {
            client.output = []
        }
        client.outputOffset = 0
        return true
    }

    /// After reading or writing: finishes the connection if it is done, else registers exactly
    /// the events the client now needs.
    private func progress(_ client: Client) {
        if client.pending == 0 {
            if isSource, !client.wroteShutdown {
                // All source bytes are out: FIN tells the client the message is complete.
                _ = Glibc.shutdown(client.fd, Int32(SHUT_WR))
                client.wroteShutdown = true
            }
            if client.readEOF {
                // Echo: everything is echoed. Sink and source: the client has gone.
                if !client.wroteShutdown {
                    _ = Glibc.shutdown(client.fd, Int32(SHUT_WR))
                    client.wroteShutdown = true
                }
                close(client)
                return
            }
        } else if isEcho, client.outputOffset > 0, client.outputOffset >= client.output.count / 2 {
            // Keep the echo buffer from growing: drop what is sent once it is half the buffer.
            client.output.removeSubrange(0..<client.outputOffset)
            client.outputOffset = 0
        }

        // Reading stops after EOF, and in echo mode while the buffer is full (backpressure).
        let wantsInput = !client.readEOF && (!isEcho || client.pending < Self.echoLimit)
        var interest: UInt32 = 0
        if isHold {
            interest = EPOLLRDHUP.rawValue  // never reads: only notices the client's FIN or RST
        } else if wantsInput {
            interest |= EPOLLIN.rawValue
        }
        if client.pending > 0 { interest |= EPOLLOUT.rawValue }
        guard interest != client.interest else { return }

        var event = epoll_event()
        event.events = interest
        event.data.fd = client.fd
        let operation = client.interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        guard epoll_ctl(epollFD, operation, client.fd, &event) == 0 else {
            // Only ENOMEM/ENOSPC are possible here; a client we cannot watch is dropped.
            close(client)
            return
        }
        client.interest = interest
    }

    private func close(_ client: Client) {
        // close(2) also removes the fd from the epoll set (no other fd shares its description).
        closeQuietly(client.fd)
        clients[client.fd] = nil
        shared.openClients.subtract(1, ordering: .relaxed)
    }
}
