/// Which sockets curl wants watched, and for what: the sockets it uses while it sets
/// connections up (resolver, connect, proxy and TLS handshakes). Open connections' sockets are
/// not here; their own waits arm them (``ConnectionGate``).
///
/// A value type that only computes; the engine applies the `Change` it returns to its epoll set.
struct InterestTable {
    /// The change to make in the epoll set.
    enum Change: Equatable {
        case none
        /// Register or modify `fd` to exactly this interest.
        case watch(Int32, Readiness)
        /// Remove `fd`.
        case unwatch(Int32)
    }

    private(set) var entries: [Int32: Readiness] = [:]

    var count: Int { entries.count }

    subscript(fd: Int32) -> Readiness? { entries[fd] }

    /// curl's socket callback: `interest` is the complete wanted set (empty for `CURL_POLL_REMOVE`).
    /// Always returns the registration to make, even when it looks unchanged: the same fd number
    /// may now name a new socket, which the kernel dropped from the set when the old one closed.
    mutating func setCurlInterest(_ interest: Readiness, for fd: Int32) -> Change {
        guard !interest.isEmpty else {
            entries.removeValue(forKey: fd)
            return .unwatch(fd)
        }
        entries[fd] = interest
        return .watch(fd, interest)
    }

    /// A connection takes its socket over from curl (after `CURLMSG_DONE`). Whatever was
    /// recorded for the fd number before is stale: curl may have closed an earlier socket with
    /// that number without telling us.
    mutating func reset(_ fd: Int32) -> Change {
        entries.removeValue(forKey: fd) == nil ? .none : .unwatch(fd)
    }
}
