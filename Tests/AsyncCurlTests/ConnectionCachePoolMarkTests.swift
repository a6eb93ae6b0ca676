@testable import AsyncCurl
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    /// Which groups' caches are worth keeping once empty (for their TLS sessions), without libcurl.
    @Suite struct ConnectionCachePoolMarkTests {
        @Test func onlyAGroupThatHeldTLSSessionsIsWorthKeeping() {
            var pool = ConnectionCachePool<Int>(capacity: 2)
            let plain = pool.join { 1 }
            #expect(!pool.isWorthKeeping(plain.group))
            let tls = pool.join { 1 }
            pool.markHoldsTLSSessions(tls.group)
            #expect(tls.group == plain.group)
            #expect(pool.isWorthKeeping(plain.group), "the mark is the group's, whichever connection leaves last")
            #expect(pool.leave(tls.group) == nil)
            #expect(pool.isWorthKeeping(plain.group))
            #expect(pool.leave(plain.group) == 1)
        }

        @Test func aGroupWithDNSOverHTTPSIsNeverWorthKeeping() {
            var pool = ConnectionCachePool<Int>(capacity: 4)
            let first = pool.join { 1 }
            pool.markHoldsTLSSessions(first.group)
            let second = pool.join { 1 }
            pool.markHoldsHelperConnections(second.group)
            #expect(!pool.isWorthKeeping(first.group))
        }

        @Test func aNewCacheInAReusedGroupStartsUnmarked() {
            var pool = ConnectionCachePool<Int>(capacity: 1)
            let first = pool.join { 1 }
            pool.markHoldsTLSSessions(first.group)
            pool.markHoldsHelperConnections(first.group)
            #expect(pool.leave(first.group) == 1)
            let again = pool.join { 2 }
            #expect(again.group == first.group, "the group number is reused")
            #expect(again.cache == 2)
            #expect(!pool.isWorthKeeping(again.group))
            pool.markHoldsTLSSessions(again.group)
            #expect(pool.isWorthKeeping(again.group))
        }
    }
}
