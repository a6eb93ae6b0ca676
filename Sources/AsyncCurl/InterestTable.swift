/// Who wants readiness of which socket: curl (for sockets it is still setting up) and
/// connections (for a `send` or `receive` that got `CURLE_AGAIN`).
///
/// A value type that only computes; the engine applies the `Change` it returns to its epoll set.
/// Keeping both interests per fd in one place means one registration per fd, whatever mix of
/// curl and connection waits it serves.
struct InterestTable {
    struct Entry: Equatable {
        /// What curl asked for in its socket callback.
        var curl: Readiness = []
        /// What a connection waits for, and which connection.
        var waiting: Readiness = []
        var owner: ConnectionID?

        var combined: Readiness { curl.union(waiting) }
    }

    /// The change to make in the epoll set.
    enum Change: Equatable {
        case none
        /// Register or modify `fd` to exactly this interest.
        case watch(Int32, Readiness)
        /// Remove `fd`.
        case unwatch(Int32)
    }

    private(set) var entries: [Int32: Entry] = [:]

    var count: Int { entries.count }

    subscript(fd: Int32) -> Entry? { entries[fd] }

    /// curl's socket callback: `interest` is the complete wanted set (empty for `CURL_POLL_REMOVE`).
    /// Always returns the registration to make, even when it looks unchanged: the same fd number
    /// may now name a new socket, which the kernel dropped from the set when the old one closed.
    mutating func setCurlInterest(_ interest: Readiness, for fd: Int32) -> Change {
        update(fd, force: true) { $0.curl = interest }
    }

    /// A connection starts or stops waiting on its socket.
    mutating func setWaiting(_ interest: Readiness, for fd: Int32, owner: ConnectionID) -> Change {
        update(fd) { entry in
            entry.waiting = interest
            entry.owner = interest.isEmpty ? nil : owner
        }
    }

    /// A connection takes its socket over from curl (after `CURLMSG_DONE`), or gives it back to
    /// curl for closing. Whatever was recorded for the fd number before is stale: curl may have
    /// closed an earlier socket with that number without telling us.
    mutating func reset(_ fd: Int32) -> Change {
        entries.removeValue(forKey: fd) == nil ? .none : .unwatch(fd)
    }

    private mutating func update(_ fd: Int32, force: Bool = false, _ body: (inout Entry) -> Void) -> Change {
        let old = entries[fd] ?? Entry()
        var new = old
        body(&new)
        if new.combined.isEmpty {
            entries.removeValue(forKey: fd)
            return old.combined.isEmpty && !force ? .none : .unwatch(fd)
        }
        entries[fd] = new
        return new.combined == old.combined && !force ? .none : .watch(fd, new.combined)
    }
}
