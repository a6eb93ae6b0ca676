extension CurlMulti {
    /// How many connection set-ups an engine runs at once.
    ///
    /// While a connection is being set up, libcurl holds about 20 KiB for it (its easy handle,
    /// the connection, its filters and buffers); an open `tcp://` connection keeps about 1.3 KiB.
    /// When thousands of connects start at the same instant, the set-ups' memory ends up
    /// interleaved with what the open connections keep, and the allocator cannot give the holes
    /// back: 18.4 KiB of resident memory stayed per idle connection after a burst of 10,000
    /// concurrent connects, against 4.5 KiB with at most 256 set-ups at once (BENCHMARKS.md,
    /// "Memory per connection"). So an engine starts at most ``concurrentSetUps`` set-ups at once
    /// and the other connects wait their turn, in the order they came, holding nothing but
    /// their task until then.
    ///
    /// A set-up that is still under way after ``turn`` (a slow or unreachable peer, a proxy, a
    /// TLS handshake far away) stops counting, so slow set-ups never hold up the others for
    /// longer than that: at worst, connects start at ``concurrentSetUps`` per ``turn``
    /// (5,120 per second by default, about what one engine sets up on loopback). Time spent
    /// waiting for a turn is not part of ``ConnectionOptions/connectTimeout``; cancelling the
    /// task ends the wait at once.
    ///
    /// Connections opened with ``CurlMulti/connect(to:options:)``,
    /// ``CurlMulti/connect(to:after:body:options:)`` and the WebSocket module take turns;
    /// transfers (``CurlMulti/execute(_:body:options:)``) do not.
    public struct SetUpLimit: Sendable, Hashable, CustomStringConvertible {
        /// The most set-ups under way at once that count; at least 1.
        public var concurrentSetUps: Int
        /// How long a set-up counts.
        public var turn: Duration

        /// Creates a limit of `concurrentSetUps` set-ups at once, each counting for at most `turn`.
        public init(concurrentSetUps: Int, turn: Duration) {
            self.concurrentSetUps = concurrentSetUps
            self.turn = turn
        }

        /// 256 set-ups at once, each counting for at most 50 ms: what ``CurlMulti/init()`` uses.
        public static let `default` = SetUpLimit(concurrentSetUps: 256, turn: .milliseconds(50))

        /// No limit: every connect starts its set-up at once.
        public static let unlimited = SetUpLimit(concurrentSetUps: .max, turn: .zero)

        public var description: String {
            concurrentSetUps == .max ? "unlimited" : "\(concurrentSetUps) set-ups at once, \(turn) each"
        }

        /// `turn` in nanoseconds, saturating.
        var turnNanoseconds: UInt64 {
            let (seconds, attoseconds) = turn.components
            guard seconds >= 0, attoseconds >= 0 else { return 0 }
            let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
            let (sum, overflowAgain) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
            return overflow || overflowAgain ? .max : sum
        }
    }
}
