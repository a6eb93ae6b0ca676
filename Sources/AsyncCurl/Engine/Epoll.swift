import CEpoll
#if canImport(Glibc)
import Glibc
#endif

/// Readiness of a socket: the two directions curl and the connections wait for.
struct Readiness: OptionSet, Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt8

    static let readable = Readiness(rawValue: 1 << 0)
    static let writable = Readiness(rawValue: 1 << 1)

    var description: String {
        switch self {
        case []: return "[]"
        case .readable: return "[readable]"
        case .writable: return "[writable]"
        default: return "[readable, writable]"
        }
    }
}

/// One `epoll` instance. Each engine has two: curl's, whose registrations are changed only on
/// the engine's queue, and the readiness set of its open connections (``ReadinessThread``),
/// where each connection's one-shot registration is armed by whichever thread waits on it
/// (``ConnectionGate``), which the kernel allows.
///
/// Registrations are changed synchronously, from inside curl's socket callback if need be, so an
/// fd that curl closes right after `CURL_POLL_REMOVE` can never leave a stale registration behind:
/// the kernel drops a closed fd from the set by itself, and a reused fd number is simply added
/// again. That is what makes the design immune to the fd-close/fd-reuse races that a
/// one-Dispatch-source-per-fd design suffers from (see `shared/libcurl-notes.md`).
struct Epoll {
    /// The epoll file descriptor; watched by the engine's one Dispatch read source.
    let fileDescriptor: Int32

    /// Creates the epoll set, or returns `nil` with `errno` set when the process is out of fds.
    init?() {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.fileDescriptor = fd
    }

    /// Makes the registration of `fd` exactly `interest`; an empty interest removes it.
    ///
    /// Falls back between `EPOLL_CTL_MOD` and `EPOLL_CTL_ADD` on `ENOENT`/`EEXIST`, because the
    /// engine cannot know whether curl closed (and the kernel therefore dropped) an fd meanwhile.
    /// Returns the `errno` of a failure that is not one of those, or 0.
    @discardableResult
    func set(_ fd: Int32, interest: Readiness) -> Int32 {
        guard !interest.isEmpty else {
            remove(fd)
            return 0
        }
        var event = epoll_event()
        event.events = Self.mask(for: interest)
        event.data.fd = fd
        if epoll_ctl(fileDescriptor, EPOLL_CTL_MOD, fd, &event) == 0 { return 0 }
        guard errno == ENOENT else { return errno }
        if epoll_ctl(fileDescriptor, EPOLL_CTL_ADD, fd, &event) == 0 { return 0 }
        guard errno == EEXIST else { return errno }
        return epoll_ctl(fileDescriptor, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : errno
    }

    /// Adds an open connection's socket, disarmed: one-shot, so each wait arms it with
    /// ``arm(_:for:)`` and the kernel disarms it again when it reports the event. Returns the
    /// `errno` of a failure, or 0.
    func addDisarmed(_ fd: Int32) -> Int32 {
        var event = epoll_event()
        event.events = EPOLLONESHOT.rawValue
        event.data.fd = fd
        if epoll_ctl(fileDescriptor, EPOLL_CTL_ADD, fd, &event) == 0 { return 0 }
        guard errno == EEXIST else { return errno }
        return epoll_ctl(fileDescriptor, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : errno
    }

    /// Arms a socket added with ``addDisarmed(_:)`` for one report of `interest`. Safe from any
    /// thread. Returns the `errno` of a failure, or 0.
    func arm(_ fd: Int32, for interest: Readiness) -> Int32 {
        var event = epoll_event()
        event.events = Self.mask(for: interest) | EPOLLONESHOT.rawValue
        event.data.fd = fd
        return epoll_ctl(fileDescriptor, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : errno
    }

    /// Removes `fd`; an fd that is already gone (`ENOENT`, `EBADF`) is fine.
    func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fileDescriptor, EPOLL_CTL_DEL, fd, &event)
    }

    /// Reads ready events without blocking.
    func poll(into buffer: UnsafeMutableBufferPointer<epoll_event>) -> Int {
        let count = epoll_wait(fileDescriptor, buffer.baseAddress, Int32(buffer.count), 0)
        return max(0, Int(count))
    }

    /// Closes the epoll fd. Only call once nothing (no Dispatch source) watches it any more.
    func close() {
        _ = Glibc.close(fileDescriptor)
    }

    static func mask(for interest: Readiness) -> UInt32 {
        var mask: UInt32 = 0
        if interest.contains(.readable) { mask |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue }
        if interest.contains(.writable) { mask |= EPOLLOUT.rawValue }
        return mask
    }

    /// What an epoll event says about each direction. Errors and hang-ups wake both, so the
    /// next send or receive reports them.
    static func readiness(of events: UInt32) -> Readiness {
        var ready: Readiness = []
        let failed = events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
        if failed || events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 { ready.insert(.readable) }
        if failed || events & EPOLLOUT.rawValue != 0 { ready.insert(.writable) }
        return ready
    }

    static func isError(_ events: UInt32) -> Bool {
        events & EPOLLERR.rawValue != 0
    }
}
