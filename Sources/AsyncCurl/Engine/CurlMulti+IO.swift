import CCurl
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

// An open connection's lifecycle on the engine: half-closing and closing. Its sends and
// receives do not come here: they run on the callers' threads through the connection's gate.

extension CurlMulti {
    // MARK: - Half-closing

    /// Half-closes a plain TCP connection: `shutdown(SHUT_WR)` on its socket.
    func finishSending(_ id: ConnectionID) throws {
        let record = try openRecord(id)
        guard !record.usesTLSToPeer else {
            throw CurlError(code: .unsupportedProtocol, message: "finishSending() is not possible on a TLS connection: libcurl cannot send close_notify without closing the connection")
        }
        guard !record.hasTLSLayer else {
            throw CurlError(code: .unsupportedProtocol, message: "finishSending() is not possible through an https:// proxy: the socket carries TLS to the proxy, which libcurl cannot end without closing the connection")
        }
        guard let socket = record.socket, try record.gate.finishSending() else { return }
        if Glibc.shutdown(socket, Int32(SHUT_WR)) != 0 {
            throw CurlError(code: .sendError, message: "shutdown(SHUT_WR) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// The error for an operation on a connection that is gone.
    private var closedError: ConnectionError {
        isShutDown ? .engineShutDown : .closed
    }

    // MARK: - Closing

    /// Closes connection `id` if it is still open; waiting operations throw `error`.
    /// Idempotent.
    func close(_ id: ConnectionID, error: ConnectionError = .closed) {
        guard let record = connections[id] else { return }
        var connecting: CheckedContinuation<ConnectionInfo, any Error>?
        if case .connecting(let continuation) = record.state { connecting = continuation }
        discard(record, waitersThrow: error)
        if connecting != nil { pendingContinuations -= 1 }
        connecting?.resume(throwing: error)
    }

    /// Takes a connection out of the engine and frees its libcurl resources; its suspended
    /// sends and receives throw `error`. The caller has already taken (and will resume) the
    /// connect's continuation.
    func discard(_ record: ConnectionRecord, waitersThrow error: ConnectionError = .closed) {
        guard connections.removeValue(forKey: record.id) != nil else { return }
        if case .open = record.state {
            record.logger?.debug("closed", metadata: error == .closed ? nil : ["asynccurl.reason": "\(error)"])
        }
        // No direct I/O and no waits from here on; returns once no caller is using the socket,
        // which libcurl closes below.
        record.gate.close(waitersThrow: error)
        if let socket = record.socket {
            // Stop watching before curl closes the fd inside curl_multi_remove_handle, so the fd
            // number can be reused at once without a stale registration.
            readiness?.unwatch(socket)
            if record.ownsSocket {
                // libcurl's part went when the connection opened (releaseCurl).
                Glibc.close(socket)
                return
            }
        }
        if let multi {
            _ = curlLock.withLock { curl_multi_remove_handle(multi, record.easy) }
        }
        release(record)
    }

    /// For a connection that needs nothing more from libcurl (``ConnectionRecord/releasesCurlWhenOpen``),
    /// right after `CURLMSG_DONE`: keeps a duplicate of its socket and frees its easy handle,
    /// libcurl's connection (whose descriptor libcurl closes, nothing being sent) and its
    /// place in a connection cache, about 9 KiB per connection (BENCHMARKS.md, "Memory per
    /// connection"). The record owns the duplicate from then on and closes it in `discard`.
    /// If the descriptor cannot be duplicated (the process is out of descriptors), the
    /// connection keeps libcurl's handle, as a TLS connection does.
    func releaseCurl(of record: ConnectionRecord, socket: Int32) {
        let owned = fcntl(socket, F_DUPFD_CLOEXEC, 0)
        guard owned >= 0 else { return }
        if let multi {
            _ = curlLock.withLock { curl_multi_remove_handle(multi, record.easy) }
        }
        release(record)
        record.ownsSocket = true
        record.state = .open(socket: owned)
    }

    /// Frees what a record owns; the easy handle must no longer be in the multi handle.
    ///
    /// A group's cache that its last connection leaves is freed, unless TLS connections that
    /// cache sessions were in it: then the engine keeps it (instead of any cache it kept
    /// before), for the next connection to resume a session from (see
    /// ``Diagnostics/retainedConnectionCaches``). Not if a connection used DNS-over-HTTPS:
    /// libcurl leaves the lookups' HTTPS connections in the cache, open until it is freed.
    func release(_ record: ConnectionRecord) {
        var emptyCache: UnsafeMutableRawPointer?
        if let group = record.connectionCacheGroup {
            let worthKeeping = connectionCaches.isWorthKeeping(group)
            emptyCache = connectionCaches.leave(group)
            if let cache = emptyCache, worthKeeping, !isShutDown {
                // The one kept before goes instead (its easy handles are all gone).
                emptyCache = resources.retainedConnectionCache
                resources.retainedConnectionCache = cache
            }
        }
        record.connectionCacheGroup = nil
        if let privateCache = record.privateCache {
            emptyCache = privateCache
            record.privateCache = nil
            privateCacheCount -= 1
        }
        record.free(emptyConnectionCache: emptyCache)
    }

    /// The record of an open connection, or ``ConnectionError/closed``
    /// (``ConnectionError/engineShutDown`` once the engine is shut down).
    private func openRecord(_ id: ConnectionID) throws(ConnectionError) -> ConnectionRecord {
        // `discard` takes a record out of `connections` first, so one found here is not released.
        guard let record = connections[id], case .open = record.state else { throw closedError }
        return record
    }
}

