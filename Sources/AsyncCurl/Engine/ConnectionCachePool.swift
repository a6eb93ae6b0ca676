/// Which libcurl connection cache each of the engine's connections lives in: groups of at most
/// `capacity` connections share one cache (a `CURLSH` with `CURL_LOCK_DATA_CONNECT`, set with
/// `CURLOPT_SHARE`), instead of all of them living in the multi handle's.
///
/// Why: libcurl 7.88.1 finds a connect-only handle's connection by walking every connection of
/// its cache (`Curl_getconnectinfo`, which `curl_easy_send`, `curl_easy_recv` and
/// `curl_multi_remove_handle` call), and `curl_multi_remove_handle` walks it once more
/// (`close_connect_only`). With one cache per engine, each attach, each TLS send or receive and
/// each close was O(open connections): 10,000 connections spent about a fifth of their fan-out's
/// CPU on those walks (BENCHMARKS.md). With groups, a walk is at most `capacity` long.
///
/// Why not one cache per connection: each cache costs libcurl a private easy handle of its own
/// (the cache's "closure handle"), about 9 KiB of resident memory per connection when measured;
/// a group spreads that over `capacity` connections.
///
/// A value type with no libcurl in it, so its bookkeeping is tested directly: the engine passes
/// `create` to make a cache and frees the one that ``leave(_:)`` hands back. A new connection
/// joins a group that has room, most recently opened or left first; a group is freed as soon as
/// its last connection leaves. (The engine may keep that last cache for the TLS sessions in it,
/// see ``isWorthKeeping(_:)`` and `CurlMulti.release`; the pool then no longer counts it.)
struct ConnectionCachePool<Cache> {
    let capacity: Int

    private var caches: [Cache?] = []
    private var members: [Int] = []
    /// Groups with a cache and room for another connection, in no particular order.
    private var withRoom: [Int] = []
    /// Where each group is in `withRoom`, or `nil`.
    private var roomIndex: [Int?] = []
    /// Groups without a cache, to reuse before growing the arrays.
    private var unused: [Int] = []
    /// Whether a connection with a TLS session cache has been in the group since its cache was
    /// made (see ``markHoldsTLSSessions(_:)``).
    private var sessionMarks: [Bool] = []
    /// Whether a connection whose libcurl transfers leave connections of their own in the cache
    /// (DNS-over-HTTPS lookups) has been in the group since its cache was made.
    private var helperMarks: [Bool] = []

    init(capacity: Int) {
        assert(capacity > 0, "a connection cache must have room for a connection")
        self.capacity = capacity
    }

    /// Caches alive now.
    var cacheCount: Int { caches.count - unused.count }

    /// Adds a connection to a group with room, creating a group (and its cache with `create`)
    /// if none has room. Returns the group, to give to ``leave(_:)``, and its cache. If `create`
    /// throws, nothing changes.
    mutating func join<Failure: Error>(create: () throws(Failure) -> Cache) throws(Failure) -> (group: Int, cache: Cache) {
        if let group = withRoom.last, let cache = caches[group] {
            members[group] += 1
            if members[group] == capacity { removeFromRoom(group) }
            return (group, cache)
        }
        let cache = try create()
        let group: Int
        if let reused = unused.popLast() {
            group = reused
            caches[group] = cache
        } else {
            group = caches.count
            caches.append(cache)
            members.append(0)
            roomIndex.append(nil)
            sessionMarks.append(false)
            helperMarks.append(false)
        }
        members[group] = 1
        sessionMarks[group] = false
        helperMarks[group] = false
        if capacity > 1 { addToRoom(group) }
        return (group, cache)
    }

    /// Takes a connection out of `group`. Returns the group's cache when that was its last
    /// connection: the caller frees it (after the connection's easy handle, which uses it).
    mutating func leave(_ group: Int) -> Cache? {
        assert(members[group] > 0, "a connection left a connection cache group it was not in")
        members[group] -= 1
        if members[group] == 0 {
            if roomIndex[group] != nil { removeFromRoom(group) }
            let cache = caches[group]
            caches[group] = nil
            unused.append(group)
            return cache
        }
        if members[group] == capacity - 1 { addToRoom(group) }
        return nil
    }

    /// Notes that `group`'s cache may hold TLS sessions: a connection that caches them joined it.
    mutating func markHoldsTLSSessions(_ group: Int) {
        sessionMarks[group] = true
    }

    /// Notes that libcurl may have left connections of its own in `group`'s cache (the HTTPS
    /// connections of DNS-over-HTTPS lookups, which stay there until the cache is freed).
    mutating func markHoldsHelperConnections(_ group: Int) {
        helperMarks[group] = true
    }

    /// Whether `group`'s cache is worth keeping once empty: it may hold TLS sessions, and no
    /// connections of libcurl's own that keeping it would keep open.
    func isWorthKeeping(_ group: Int) -> Bool {
        sessionMarks[group] && !helperMarks[group]
    }

    private mutating func addToRoom(_ group: Int) {
        roomIndex[group] = withRoom.count
        withRoom.append(group)
    }

    private mutating func removeFromRoom(_ group: Int) {
        guard let index = roomIndex[group] else { return }
        let last = withRoom.removeLast()
        if last != group {
            withRoom[index] = last
            roomIndex[last] = index
        }
        roomIndex[group] = nil
    }
}
