@testable import AsyncCurl
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    /// The bookkeeping of which libcurl connection cache each connection joins, without libcurl:
    /// caches are plain numbers here.
    @Suite struct ConnectionCachePoolTests {
        /// A pool whose caches count how many were made.
        struct Maker {
            var made = 0
            mutating func make() -> Int {
                made += 1
                return made
            }
        }

        @Test func groupsFillUpToCapacityBeforeANewCacheIsMade() {
            var pool = ConnectionCachePool<Int>(capacity: 3)
            var maker = Maker()
            let groups = (0..<7).map { _ in pool.join { maker.make() } }
            #expect(groups.map(\.cache) == [1, 1, 1, 2, 2, 2, 3])
            #expect(maker.made == 3)
            #expect(pool.cacheCount == 3)
        }

        @Test func aCacheIsHandedBackWhenItsLastConnectionLeaves() {
            var pool = ConnectionCachePool<Int>(capacity: 2)
            var maker = Maker()
            let first = pool.join { maker.make() }
            let second = pool.join { maker.make() }
            #expect(first.group == second.group)
            #expect(pool.leave(first.group) == nil)
            #expect(pool.cacheCount == 1)
            #expect(pool.leave(second.group) == 1)
            #expect(pool.cacheCount == 0)
        }

        @Test func aGroupWithRoomIsFilledAgainBeforeANewCacheIsMade() {
            var pool = ConnectionCachePool<Int>(capacity: 2)
            var maker = Maker()
            let joined = (0..<6).map { _ in pool.join { maker.make() } }
            // Free one place in the first and in the third group: the next two joins fill them.
            #expect(pool.leave(joined[0].group) == nil)
            #expect(pool.leave(joined[5].group) == nil)
            let refill = [pool.join { maker.make() }, pool.join { maker.make() }]
            #expect(Set(refill.map(\.cache)) == [1, 3])
            #expect(maker.made == 3)
            // Every group is full again: the next join makes a cache.
            #expect(pool.join { maker.make() }.cache == 4)
        }

        @Test func anEmptiedGroupIsReusedWithANewCache() {
            var pool = ConnectionCachePool<Int>(capacity: 1)
            var maker = Maker()
            let first = pool.join { maker.make() }
            let second = pool.join { maker.make() }
            #expect(first.group != second.group)
            #expect(pool.leave(first.group) == 1)
            let third = pool.join { maker.make() }
            #expect(third.group == first.group)
            #expect(third.cache == 3)
            #expect(pool.cacheCount == 2)
        }

        @Test func aFailedCreateChangesNothing() {
            struct Refused: Error {}
            var pool = ConnectionCachePool<Int>(capacity: 2)
            #expect(throws: Refused.self) { try pool.join { () throws(Refused) -> Int in throw Refused() } }
            #expect(pool.cacheCount == 0)
            var maker = Maker()
            let joined = pool.join { maker.make() }
            #expect(joined.cache == 1)
            #expect(pool.leave(joined.group) == 1)
        }

        /// Random joins and leaves against a model: no group ever holds more than the capacity,
        /// a cache is handed back exactly when its group empties, and at the end none is left.
        @Test func randomChurnKeepsEveryGroupWithinCapacity() {
            var pool = ConnectionCachePool<Int>(capacity: 4)
            var maker = Maker()
            var generator = SystemRandomNumberGenerator()
            var members: [Int: [Int]] = [:]    // cache → connections in it
            var live: [(connection: Int, group: Int, cache: Int)] = []
            var handedBack = 0
            for connection in 0..<5_000 {
                if live.isEmpty || Bool.random(using: &generator) {
                    let joined = pool.join { maker.make() }
                    members[joined.cache, default: []].append(connection)
                    #expect(members[joined.cache]!.count <= 4)
                    live.append((connection, joined.group, joined.cache))
                } else {
                    let leaving = live.remove(at: Int.random(in: 0..<live.count, using: &generator))
                    members[leaving.cache]!.removeAll { $0 == leaving.connection }
                    let empty = members[leaving.cache]!.isEmpty
                    let cache = pool.leave(leaving.group)
                    #expect(cache == (empty ? leaving.cache : nil))
                    if empty { members[leaving.cache] = nil; handedBack += 1 }
                }
                #expect(pool.cacheCount == members.count)
            }
            for leaving in live { _ = pool.leave(leaving.group).map { _ in handedBack += 1 } }
            #expect(pool.cacheCount == 0)
            #expect(handedBack == maker.made)
        }
    }
}
