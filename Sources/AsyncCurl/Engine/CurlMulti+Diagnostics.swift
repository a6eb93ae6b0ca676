extension CurlMulti {
    /// Counts of what the engine holds right now, for monitoring and for tests that prove
    /// everything is released.
    public struct Diagnostics: Sendable, Hashable, CustomStringConvertible {
        /// Connections being set up (easy handles added to the multi handle, not yet done).
        public var connecting: Int
        /// Open connections (easy handles owned by an ``AsyncConnection``).
        public var open: Int
        /// Sockets the engine watches: curl's while it sets connections up, and every open
        /// connection's (in the readiness thread's set).
        public var watchedSockets: Int
        /// Suspended continuations: connects and sends or receives waiting for readiness.
        public var pendingContinuations: Int
        /// libcurl connection caches (share handles) in use: one for every group of up to 32
        /// connections that have an easy handle (connecting ones, and open ones with TLS at
        /// some layer, a mail protocol or an HTTP hand-over: an open plain connection keeps
        /// none), plus one for each such connection with ``ConnectionOptions/resolve`` entries;
        /// none once all are closed.
        public var connectionCaches: Int
        /// Connection caches kept with no connection in them, for the TLS sessions they hold:
        /// 0 or 1. When the last connection of a group that made TLS connections (with
        /// ``ConnectionOptions/reusesTLSSessions``) closes, the engine keeps that group's cache,
        /// so the next connection to the same peer resumes its TLS session; the next group
        /// uses it. ``CurlMulti/shutdown()`` and the engine's release free it. A group in which
        /// a connection used ``ConnectionOptions/dnsOverHTTPS`` is never kept: its cache holds
        /// libcurl's open DoH connections too.
        public var retainedConnectionCaches: Int
        /// Transfers under way (``CurlMulti/execute(_:body:options:)``): from the start until
        /// the body has arrived, failed or been cancelled (the application may still be reading
        /// what is buffered).
        public var transfers: Int

        /// Creates a set of counts; all zero is an idle engine that has kept no TLS sessions.
        public init(connecting: Int = 0, open: Int = 0, watchedSockets: Int = 0, pendingContinuations: Int = 0,
                    connectionCaches: Int = 0, retainedConnectionCaches: Int = 0, transfers: Int = 0) {
            self.transfers = transfers
            self.connecting = connecting
            self.open = open
            self.watchedSockets = watchedSockets
            self.pendingContinuations = pendingContinuations
            self.connectionCaches = connectionCaches
            self.retainedConnectionCaches = retainedConnectionCaches
        }

        /// Connecting plus open connections: at most the easy handles alive in this engine (an
        /// open connection with no TLS at any layer, no mail protocol and no HTTP hand-over has
        /// released its easy handle).
        public var easyHandles: Int { connecting + open }

        /// Whether the engine holds nothing for any connection: nothing connecting or open, no
        /// socket watched, nothing waiting, no connection cache in use. The one connection cache
        /// an engine may keep for its TLS sessions (``retainedConnectionCaches``) is allowed.
        public var isIdle: Bool {
            connecting == 0 && open == 0 && watchedSockets == 0 && pendingContinuations == 0 && connectionCaches == 0
                && transfers == 0
        }

        public var description: String {
            "connecting=\(connecting) open=\(open) watchedSockets=\(watchedSockets) pendingContinuations=\(pendingContinuations) connectionCaches=\(connectionCaches) retainedConnectionCaches=\(retainedConnectionCaches) transfers=\(transfers)"
        }
    }

    /// What the engine holds right now. All zero once every connection is closed, except
    /// ``Diagnostics/retainedConnectionCaches`` (see ``Diagnostics/isIdle``).
    public var diagnostics: Diagnostics {
        var connecting = 0
        for record in connections.values {
            if case .connecting = record.state { connecting += 1 }
        }
        let open = readiness?.watchedGates ?? []
        let waits = open.reduce(0) { $0 + $1.waiterCount }
        return Diagnostics(connecting: connecting, open: connections.count - connecting,
                           watchedSockets: interests.count + open.count,
                           pendingContinuations: pendingContinuations + waits,
                           connectionCaches: connectionCaches.cacheCount + privateCacheCount,
                           retainedConnectionCaches: resources.retainedConnectionCache == nil ? 0 : 1,
                           transfers: transfers.count)
    }
}
