extension CurlMulti {
    /// How often and how long threads have waited for an engine's libcurl lock, since the engine
    /// was created (``CurlMulti/lockStatistics``).
    ///
    /// Every libcurl call of an engine holds one lock: the engine's own calls on its queue
    /// (socket actions, adding and removing handles) and the `curl_easy_send` and
    /// `curl_easy_recv` of its TLS connections (and of connections through an HTTPS proxy or
    /// handed over from HTTP) on the callers' threads, which encrypt and decrypt inside the
    /// call. Plain TCP connections, once open, send and receive without it.
    ///
    /// An acquisition that finds the lock free is not counted and costs nothing to measure;
    /// one that finds it held is counted, and its wait is timed on the monotonic clock.
    ///
    /// To see what share of the time threads spend waiting, take two snapshots and divide the
    /// difference of ``totalWait`` by the wall time between them:
    ///
    /// ```swift
    /// let before = multi.lockStatistics
    /// let start = ContinuousClock.now
    /// // ... the workload ...
    /// let waited = multi.lockStatistics.totalWait - before.totalWait
    /// let share = waited / (ContinuousClock.now - start)   // 0.4: 40 % of the wall time
    /// ```
    ///
    /// A share near zero means the lock is not what limits the engine. A share that is a large
    /// part of the wall time (with several threads waiting it can exceed 1) means TLS
    /// connections are queueing for each other's encryption: spread them over several engines
    /// with ``CurlMultiGroup`` (one engine per core), whose engines share no lock. See
    /// <doc:PerformanceNotes#Many-cores>.
    public struct LockStatistics: Sendable, Hashable, CustomStringConvertible {
        /// Acquisitions that found the lock held by another thread and had to wait.
        public var contendedAcquisitions: UInt64
        /// The sum of those waits.
        public var totalWait: Duration
        /// The longest of those waits.
        public var longestWait: Duration

        /// Creates a set of figures; all zero is an engine whose lock has never been contended.
        public init(contendedAcquisitions: UInt64 = 0, totalWait: Duration = .zero, longestWait: Duration = .zero) {
            self.contendedAcquisitions = contendedAcquisitions
            self.totalWait = totalWait
            self.longestWait = longestWait
        }

        /// The mean wait of a contended acquisition; zero if there was none.
        public var meanWait: Duration {
            contendedAcquisitions == 0 ? .zero : totalWait / contendedAcquisitions
        }

        public var description: String {
            "contendedAcquisitions=\(contendedAcquisitions) totalWait=\(totalWait) longestWait=\(longestWait)"
        }
    }

    /// How often and how long threads have waited for this engine's libcurl lock so far.
    ///
    /// Read without the lock, from any thread; the figures only grow. Each figure is read on its
    /// own, so a snapshot taken while threads wait is a moment's view, but never one with a
    /// ``LockStatistics/totalWait`` smaller than its ``LockStatistics/longestWait``. Measuring
    /// costs nothing when the lock is free; see ``LockStatistics`` for what to do with them.
    public nonisolated var lockStatistics: LockStatistics {
        curlLock.statistics
    }
}

extension CurlMultiGroup {
    /// Each engine's ``CurlMulti/lockStatistics``, in the order of ``engines``.
    ///
    /// The engines have a lock each, so a group's TLS connections wait only for connections on
    /// the same engine. A share of time waiting that stays high on every engine means more
    /// TLS work than the engines' cores can do.
    public var lockStatistics: [CurlMulti.LockStatistics] {
        engines.map(\.lockStatistics)
    }
}
