/// Which connection set-ups may start now: at most `limit` at once, where a set-up that has been
/// under way for `grace` stops counting.
///
/// Why: while a set-up is under way, libcurl holds about 20 KiB for it (the easy handle, its
/// connection, filters, buffers); an open plain connection keeps about 1.3 KiB. When thousands
/// of connects start at the same instant, the set-ups' memory is interleaved on the heap with
/// what the open connections keep, and the holes it leaves stay resident (BENCHMARKS.md, "Memory
/// per connection"). Starting at most `limit` at once lets the next set-ups reuse the last ones'
/// memory instead.
///
/// Why the grace: a set-up that waits on the network (a slow or dead peer, a proxy, a TLS
/// handshake across the world) must not hold up the others. After `grace` it no longer counts,
/// so slow set-ups are at most paced at `limit` per `grace`, which is faster than one engine
/// sets connections up on loopback.
///
/// A value type without clocks or threads: the engine keeps it under a lock, passes the time,
/// and resumes the waiters it returns (`SetUpTurns.swift`). Waiters are admitted in
/// the order they arrived.
struct SetUpAdmission<Waiter> {
    /// The most set-ups that count at once.
    let limit: Int
    /// How long a set-up counts, in nanoseconds.
    let grace: UInt64

    /// Counted set-ups: token → when they were admitted.
    private(set) var holding: [UInt64: UInt64] = [:]
    /// Tokens reserved whose owner has not arrived yet, and whether it was cancelled meanwhile.
    private var reserved: [UInt64: Bool] = [:]
    /// Waiting set-ups by token, and their order of arrival (tokens no longer waiting are
    /// skipped when they come up).
    private var waiting: [UInt64: Waiter] = [:]
    private var queue: [UInt64] = []
    private var queueHead = 0
    private var nextToken: UInt64 = 0
    /// Whether the engine has a wake-up scheduled for ``expire(now:)``.
    private var wakeUpScheduled = false

    init(limit: Int, grace: UInt64) {
        self.limit = max(1, limit)
        self.grace = grace
    }

    /// Set-ups waiting for their turn.
    var waitingCount: Int { waiting.count }

    /// A token for one set-up; ``cancel(_:)`` may come before ``arrive(_:waiter:now:isCancelled:)``.
    mutating func reserve() -> UInt64 {
        nextToken &+= 1
        reserved[nextToken] = false
        return nextToken
    }

    enum Arrival: Equatable {
        /// Go on now; call ``leave(_:now:)`` when the set-up is over.
        case admitted
        /// Wait: the waiter is returned by a later ``leave(_:now:)``, ``expire(now:)`` or
        /// ``cancel(_:)``.
        case queued
        /// The task was cancelled before it arrived; it holds nothing.
        case cancelled
    }

    /// Admits `token` if a turn is free and nobody waits, without a waiter; otherwise leaves it
    /// reserved for ``arrive(_:waiter:now:isCancelled:)``.
    mutating func admitAtOnce(_ token: UInt64, now: UInt64) -> Bool {
        guard holding.count < limit, waiting.isEmpty, reserved[token] == false else { return false }
        reserved.removeValue(forKey: token)
        holding[token] = now
        return true
    }

    mutating func arrive(_ token: UInt64, waiter: Waiter, now: UInt64, isCancelled: Bool) -> Arrival {
        let cancelledEarly = reserved.removeValue(forKey: token) ?? false
        if isCancelled || cancelledEarly { return .cancelled }
        if holding.count < limit && waiting.isEmpty {
            holding[token] = now
            return .admitted
        }
        waiting[token] = waiter
        queue.append(token)
        return .queued
    }

    /// The task of `token` was cancelled: its waiter, if it was waiting (the caller resumes it
    /// with the cancellation); nothing if it holds a turn (the set-up's own cancellation ends
    /// it, then ``leave(_:now:)``) or has not arrived yet (``arrive(_:waiter:now:isCancelled:)``
    /// will say so).
    mutating func cancel(_ token: UInt64) -> Waiter? {
        if reserved[token] != nil {
            reserved[token] = true
            return nil
        }
        return waiting.removeValue(forKey: token)
    }

    /// The task of `token` waited as long as it may: its waiter, if it is still waiting (the
    /// caller resumes it with the time-out).
    mutating func timeOut(_ token: UInt64) -> Waiter? {
        waiting.removeValue(forKey: token)
    }

    /// The set-up of `token` is over (open, failed or cancelled): the waiters that may start now.
    mutating func leave(_ token: UInt64, now: UInt64) -> [Waiter] {
        reserved.removeValue(forKey: token)
        holding.removeValue(forKey: token)
        return admitWaiting(now: now)
    }

    /// Set-ups counted for `grace` or longer stop counting: the waiters that may start now.
    mutating func expire(now: UInt64) -> [Waiter] {
        wakeUpScheduled = false
        if !waiting.isEmpty {
            holding = holding.filter { now &- $0.value < grace }
        }
        return admitWaiting(now: now)
    }

    /// When the engine should call ``expire(now:)``, if it has no wake-up scheduled and someone
    /// waits; it then counts one as scheduled.
    mutating func wakeUpToSchedule() -> UInt64? {
        guard !wakeUpScheduled, !waiting.isEmpty, let oldest = holding.values.min() else { return nil }
        wakeUpScheduled = true
        return oldest &+ grace
    }

    private mutating func admitWaiting(now: UInt64) -> [Waiter] {
        var admitted: [Waiter] = []
        while holding.count < limit, queueHead < queue.count {
            let token = queue[queueHead]
            queueHead += 1
            guard let waiter = waiting.removeValue(forKey: token) else { continue }
            holding[token] = now
            admitted.append(waiter)
        }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead > 1024, queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return admitted
    }
}
