import CCurl
import HTTPTypes
import Logging
#if canImport(Glibc)
import Glibc
#endif

// Preparing a connection (on the caller's thread), putting it in a connection cache and the
// multi handle, and cancelling a connect that is under way.

extension CurlMulti {
    /// Creates and configures the easy handle; ``start(_:)`` adds it to the multi handle. Runs
    /// on the caller's thread: nothing here needs the multi handle, and many concurrent connects
    /// would otherwise queue for the engine's executor to do it one after the other.
    nonisolated func prepareConnection(to target: ConnectionTarget, options: ConnectionOptions,
                                       handOver: (request: HTTPRequest, body: [UInt8]?)? = nil) throws -> ConnectionRecord {
        if let setupError { throw setupError }
        let (easy, id, errorBuffer) = try makeEasyHandle()
        let logger = options.logger.map { logger -> Logger in
            var logger = logger
            logger[metadataKey: "asynccurl.connection"] = "\(id)"
            return logger
        }
        let traceBox = TraceBox.handler(trace: options.trace, logger: logger).map { Unmanaged.passRetained(TraceBox($0)) }
        let gate = ConnectionGate(epoll: readiness?.epoll, timerQueue: executor.queue, idleTimeout: options.idleTimeout)
        let hasTLSLayer = !options.hasNoTLSLayer(for: target)
        let record = ConnectionRecord(id: id, easy: easy, curlLock: curlLock, target: target, gate: gate,
                                      allowsDirectIO: handOver == nil && !hasTLSLayer,
                                      errorBuffer: errorBuffer, traceBox: traceBox)
        record.cachesTLSSessions = options.cachesTLSSessions && hasTLSLayer
        record.setup = SetupFacts(target: target, options: options)
        record.hasTLSLayer = hasTLSLayer
        record.logger = logger
        if let mail = target.mailProtocol {
            record.serverResponses = Unmanaged.passRetained(ServerResponses(mail))
        }
        do {
            let handle = EasyHandle(raw: easy)
            try handle.configure(target: target, options: options, id: id,
                                 errorBuffer: errorBuffer, traceBox: traceBox?.takeUnretainedValue(),
                                 serverResponses: record.serverResponses?.takeUnretainedValue(),
                                 lists: &record.lists)
            if releasesLibcurlHandles, record.allowsDirectIO, target.mailProtocol == nil {
                try handle.set(CURLOPT_BUFFERSIZE, Self.smallDownloadBufferSize)
            }
            if let handOver {
                let exchange = Unmanaged.passRetained(HTTPExchange())
                record.exchange = exchange
                try handle.configureHandOver(handOver.request, body: handOver.body, exchange: exchange.takeUnretainedValue(),
                                             lists: &record.lists)
            }
        } catch {
            // Not in a connection cache yet, nor in the multi handle.
            record.free(emptyConnectionCache: nil)
            throw error
        }
        return record
    }

    /// A new easy handle, the next number (connections and transfers share the counter) and a
    /// zeroed `CURLOPT_ERRORBUFFER`; the caller's record owns and frees them.
    nonisolated func makeEasyHandle() throws(CurlError) -> (UnsafeMutableRawPointer, ConnectionID, UnsafeMutablePointer<CChar>) {
        guard let easy = curl_easy_init() else {
            throw CurlError(code: .failedInit, message: "curl_easy_init failed")
        }
        let id = ConnectionID(rawValue: lastConnectionID.wrappingAdd(1, ordering: .relaxed).newValue)
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        return (easy, id, errorBuffer)
    }

    /// `CURLOPT_BUFFERSIZE` (libcurl's minimum) for a connection with no TLS at any layer, no
    /// HTTP hand-over and no mail protocol, instead of libcurl's 16 KiB.
    ///
    /// libcurl 7.88.1 allocates that buffer when the set-up starts and frees it when the set-up
    /// is done, so an open connection never holds it; but while thousands of connects are under
    /// way at once, their 16 KiB buffers interleave on the heap with what the connections keep,
    /// and the holes they leave stay resident (BENCHMARKS.md, "Memory per connection"). Such a
    /// set-up reads nothing with it: its bytes go through `recv(2)` once open, and through
    /// `curl_easy_recv` (capped at the buffer's size) only once, on attaching. SOCKS proxies are
    /// the one set-up that uses it, and libcurl's SOCKS code is written for the minimum (it
    /// asserts it is at least 600 bytes); an HTTP proxy's CONNECT reply is read a byte at a time
    /// into a buffer of its own. Mail set-ups read the server's lines into it (a line over half
    /// the buffer fails), TLS reads cap each `curl_easy_recv` at its size, and the hand-over
    /// reads the response with it: those keep the default.
    static let smallDownloadBufferSize = 1024

    /// Puts the connection's easy handle in a connection cache of its group (`CURLOPT_SHARE`);
    /// `release` takes it out again.
    /// A connection with `resolve` entries gets a share of its own, with its DNS cache in it
    /// (see ``ConnectionRecord/privateCache``).
    func joinConnectionCache(_ record: ConnectionRecord) throws(CurlError) {
        let cache: UnsafeMutableRawPointer
        if record.setup.hasResolveEntries {
            // Its TLS sessions die with it too (libcurl keeps them per easy handle then).
            cache = try Self.makeShare([CURL_LOCK_DATA_CONNECT, CURL_LOCK_DATA_DNS])
            record.privateCache = cache
            privateCacheCount += 1
        } else {
            var reusedRetained = false
            let (group, groupCache) = try connectionCaches.join { () throws(CurlError) -> UnsafeMutableRawPointer in
                // The cache kept for its TLS sessions, if any, is the next one used.
                if let retained = resources.retainedConnectionCache {
                    resources.retainedConnectionCache = nil
                    reusedRetained = true
                    return retained
                }
                // The TLS session cache goes with the connection cache because an easy handle
                // has one share only; without it libcurl keeps sessions per easy handle, that
                // is per connection, and never resumes one.
                return try Self.makeShare([CURL_LOCK_DATA_CONNECT, CURL_LOCK_DATA_SSL_SESSION])
            }
            record.connectionCacheGroup = group
            // A kept cache still holds its sessions, whoever uses it now.
            if record.cachesTLSSessions || reusedRetained { connectionCaches.markHoldsTLSSessions(group) }
            if record.setup.dnsOverHTTPS != nil { connectionCaches.markHoldsHelperConnections(group) }
            cache = groupCache
        }
        // Under the lock: the share is shared with connections whose sends and receives run on
        // other threads, and setting it changes the share's count of users.
        let result = curlLock.withLock { ac_easy_setopt_pointer(record.easy, CURLOPT_SHARE, cache) }
        guard result == CURLE_OK else {
            throw CurlError(code: CurlError.Code(result), message: "curl_easy_setopt(CURLOPT_SHARE) failed: \(String(cString: curl_easy_strerror(result)))")
        }
    }

    /// A share handle (`CURLSH`) sharing `data`.
    static func makeShare(_ data: [curl_lock_data]) throws(CurlError) -> UnsafeMutableRawPointer {
        guard let share = curl_share_init() else {
            throw CurlError(code: .failedInit, message: "curl_share_init failed")
        }
        // No lock functions: every libcurl call on the engine's handles, hence on the shares
        // they use, is made holding `curlLock`.
        for kind in data {
            let shared = ac_share_setopt_long(share, CURLSHOPT_SHARE, Int(kind.rawValue))
            guard shared == CURLSHE_OK else {
                _ = curl_share_cleanup(share)
                throw CurlError(code: .failedInit, message: "curl_share_setopt(CURLSHOPT_SHARE) failed: \(String(cString: curl_share_strerror(shared)))")
            }
        }
        return share
    }

    /// Adds a prepared connection to a connection cache and to the multi handle; `CURLMSG_DONE`
    /// completes it. Returns the failure, after which the caller releases the record.
    func start(_ record: ConnectionRecord) -> (any Error)? {
        // Checked again: `shutdown()` may have run while `establish` was suspended.
        if isShutDown { return ConnectionError.engineShutDown }
        guard let multi else {
            return setupError ?? CurlError(code: .failedInit, message: "the engine has no multi handle")
        }
        do {
            try joinConnectionCache(record)
        } catch {
            return error
        }
        let added = curlLock.withLock { curl_multi_add_handle(multi, record.easy) }
        guard added == CURLM_OK else {
            return CurlError(code: .failedInit, message: "curl_multi_add_handle failed: \(String(cString: curl_multi_strerror(added)))")
        }
        connections[record.id] = record
        return nil
    }

    /// A connect attempt was cancelled: stop it and release everything it holds.
    func cancelConnect(_ id: ConnectionID) {
        guard let record = connections[id], case .connecting(let continuation) = record.state else { return }
        discard(record)
        if let continuation {
            pendingContinuations -= 1
            continuation.resume(throwing: CancellationError())
        }
    }
}
