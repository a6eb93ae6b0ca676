import CCurl

/// Limits on the connections an engine's transfers open (``CurlMulti/setTransferLimits(_:)``).
///
/// - Important: libcurl 7.88.1 applies the connection limits to every easy handle of the multi
///   handle, so they also count the engine's ``CurlMulti/connect(to:options:)`` connections
///   (per connection cache of up to 32 connections): a connect to a host at its limit waits
///   until one of them closes. Set them on an engine that runs transfers only.
public struct TransferLimits: Sendable, Hashable {
    /// Connections to one host (and port) at once; transfers beyond wait for one
    /// (`CURLMOPT_MAX_HOST_CONNECTIONS`). `nil`: no limit.
    public var maxConnectionsPerHost: Int?
    /// Connections at once, all hosts together (`CURLMOPT_MAX_TOTAL_CONNECTIONS`). `nil`: no limit.
    public var maxConnections: Int?
    /// Idle connections the engine keeps for reuse (`CURLMOPT_MAXCONNECTS`). `nil`: libcurl's
    /// default (four times the number of transfers under way, grown as they grow).
    public var maxIdleConnections: Int?
    /// Streams on one HTTP/2 connection (`CURLMOPT_MAX_CONCURRENT_STREAMS`, at most what the
    /// server allows). Default 100, libcurl's.
    public var maxConcurrentStreams: Int = 100
    /// Whether transfers to one server over HTTP/2 share a connection (`CURLMOPT_PIPELINING`).
    /// Default `true`.
    public var multiplexes = true

    public init(maxConnectionsPerHost: Int? = nil, maxConnections: Int? = nil) {
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self.maxConnections = maxConnections
    }
}

extension CurlMulti {
    /// Sets the limits for the connections of this engine's transfers; they apply to transfers
    /// started from then on. See ``TransferLimits`` for how they meet connections.
    ///
    /// - Throws: ``CurlError/Code/badFunctionArgument`` for a negative or zero limit.
    public func setTransferLimits(_ limits: TransferLimits) throws(CurlError) {
        guard let multi else { throw setupError ?? CurlError(code: .failedInit) }
        func checked(_ value: Int?, _ name: String) throws(CurlError) -> Int {
            guard let value else { return 0 }
            guard value > 0 else {
                throw CurlError(code: .badFunctionArgument, message: "TransferLimits.\(name): \(value) is not positive")
            }
            return value
        }
        let perHost = try checked(limits.maxConnectionsPerHost, "maxConnectionsPerHost")
        let total = try checked(limits.maxConnections, "maxConnections")
        let idle = try checked(limits.maxIdleConnections, "maxIdleConnections")
        let streams = try checked(limits.maxConcurrentStreams, "maxConcurrentStreams")
        let results = curlLock.withLock {
            [ac_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, perHost),
             ac_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total),
             idle > 0 ? ac_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, idle) : CURLM_OK,
             ac_multi_setopt_long(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, streams),
             ac_multi_setopt_long(multi, CURLMOPT_PIPELINING, limits.multiplexes ? Int(CURLPIPE_MULTIPLEX) : Int(CURLPIPE_NOTHING))]
        }
        if let failed = results.first(where: { $0 != CURLM_OK }) {
            throw CurlError(code: .badFunctionArgument, message: "curl_multi_setopt failed: \(String(cString: curl_multi_strerror(failed)))")
        }
    }
}
