import CCurl
import Dispatch
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Identifies one connection inside its ``CurlMulti``; also stored as the easy handle's
/// `CURLOPT_PRIVATE` so `CURLMSG_DONE` finds its record.
struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt64

    var description: String { "#\(rawValue)" }
}

/// Everything the engine knows about one connection. Owned by the ``CurlMulti`` actor and only
/// touched on its executor; the public ``AsyncConnection`` holds its ``ConnectionID`` and its
/// ``ConnectionGate``.
///
/// The record is the single owner of the easy handle, its error buffer and trace box, and of
/// the connect's continuation; its gate owns the suspended sends and receives. ``CurlMulti``
/// releases them all in exactly one place (`discard`), whichever way the connection ends.
final class ConnectionRecord {
    enum State {
        /// Added to the multi handle; `connect` waits in the continuation for `CURLMSG_DONE`.
        case connecting(CheckedContinuation<ConnectionInfo, any Error>?)
        /// Set up; the application owns the socket.
        case open(socket: Int32)
    }

    let id: ConnectionID
    let easy: UnsafeMutableRawPointer
    /// The engine's lock around every libcurl call (see ``CurlChannel``).
    let curlLock: CountingMutex
    let target: ConnectionTarget
    var state: State

    /// `CURLOPT_ERRORBUFFER`: libcurl writes the detailed message of the last failure here.
    let errorBuffer: UnsafeMutablePointer<CChar>
    /// Keeps the trace handler alive while libcurl holds a pointer to it.
    var traceBox: Unmanaged<TraceBox>?
    /// libcurl will not write to the error buffer again (see `captureFailuresAfterStaleErrorBuffer`).
    var errorBufferIsStale = false
    /// For an HTTP hand-over: what libcurl reads.
    var exchange: Unmanaged<HTTPExchange>?
    /// The lists the options gave libcurl (proxy headers, resolve and connect-to entries, and
    /// an HTTP hand-over's request header fields).
    var lists = CurlLists()
    /// For a mail URL: the server's lines, which libcurl's header callback writes during the set-up.
    var serverResponses: Unmanaged<ServerResponses>?
    /// TLS runs to the peer: a TLS URL, or a mail connection that upgraded with STARTTLS.
    var usesTLSToPeer: Bool
    /// What the options asked for, for the connection's info and errors.
    var setup = SetupFacts()
    /// The options' logger, with the connection's number as metadata.
    var logger: Logger?
    /// TLS runs at some layer (to the peer, or to an `https://` or environment proxy), so the
    /// socket cannot be half-closed.
    var hasTLSLayer = false
    /// The group whose libcurl connection cache the easy handle uses (`CurlMulti.connectionCaches`);
    /// `nil` until it joins one.
    var connectionCacheGroup: Int?
    /// Whether libcurl may cache the connection's TLS sessions (to the peer or to an HTTPS
    /// proxy) in its connection cache, so that the engine keeps that cache when it empties.
    var cachesTLSSessions = false
    /// Set instead of a group for a connection with ``ConnectionOptions/resolve`` entries: a
    /// share of its own holding its connection cache and its DNS cache, so that the entries,
    /// which libcurl 7.88.1 stores as permanent DNS cache entries, die with the connection
    /// instead of answering the engine's later connections.
    var privateCache: UnsafeMutableRawPointer?

    /// What the connection's callers reach without the engine: the in-progress flags, held
    /// bytes, waits and the means to send and receive. Shared with the ``AsyncConnection``.
    let gate: ConnectionGate
    /// No TLS at any layer (plain target, no HTTPS or environment proxy, no HTTP hand-over), so
    /// once open the gate gets the socket and bytes bypass curl_easy_send/recv.
    let allowsDirectIO: Bool
    /// The easy handle, error buffer, trace box and lists are freed and the socket is the
    /// engine's own (a duplicate of libcurl's, see `CurlMulti.releaseCurl`): nothing may use
    /// `easy` or `channel` any more, and `discard` closes the socket itself.
    var ownsSocket = false

    /// Whether the connection needs nothing from libcurl once open, so that the engine frees
    /// libcurl's handle then: direct I/O, no mail protocol (a mail connection keeps its
    /// handle, as before), and no DNS-over-HTTPS (its lookups' HTTPS connections live in the
    /// connection's cache, which the connection then keeps alive for the next lookups).
    var releasesCurlWhenOpen: Bool {
        allowsDirectIO && target.mailProtocol == nil && setup.dnsOverHTTPS == nil
    }
    init(id: ConnectionID, easy: UnsafeMutableRawPointer, curlLock: CountingMutex, target: ConnectionTarget, gate: ConnectionGate,
         allowsDirectIO: Bool, errorBuffer: UnsafeMutablePointer<CChar>, traceBox: Unmanaged<TraceBox>?) {
        self.id = id
        self.allowsDirectIO = allowsDirectIO
        self.easy = easy
        self.curlLock = curlLock
        self.target = target
        self.gate = gate
        self.state = .connecting(nil)
        self.usesTLSToPeer = target.usesTLS
        self.errorBuffer = errorBuffer
        self.traceBox = traceBox
    }

    /// Still being set up by libcurl.
    var isConnecting: Bool {
        if case .connecting = state { return true }
        return false
    }

    var socket: Int32? {
        if case .open(let socket) = state { return socket }
        return nil
    }

    /// libcurl writes only the first failure of a transfer to the error buffer; later ones go
    /// only to the verbose trace. A connection whose set-up logged a failure that was not fatal
    /// (such as `getpeername()` on a socket the peer already closed) would otherwise report its
    /// real error with a stale or empty message. So: clear the buffer, and keep the last trace
    /// line from now on. Only such connections pay for the verbose trace.
    func captureFailuresAfterStaleErrorBuffer() {
        guard errorBuffer[0] != 0 else { return }
        errorBuffer[0] = 0
        errorBufferIsStale = true
        traceBox?.takeUnretainedValue().lastText = nil
        let easy = EasyHandle(raw: easy)
        if traceBox == nil {
            let box = Unmanaged.passRetained(TraceBox(nil))
            guard (try? easy.enableTrace(box.takeUnretainedValue())) != nil else {
                box.release()
                return
            }
            traceBox = box
        }
    }

    /// The error libcurl reported for `code`, with the error buffer's details when present,
    /// and the proxy's status if an HTTP proxy refused the tunnel. Call it holding the engine's
    /// `curlLock`, right after the failing call.
    func error(_ code: CURLcode) -> CurlError {
        var proxyStatus: Int?
        if case .connecting = state, let status = EasyHandle(raw: easy).long(CURLINFO_HTTP_CONNECTCODE), status >= 300 {
            proxyStatus = status
        }
        var error = channel.error(code, proxyStatus: proxyStatus)
        if case .connecting = state {
            explainSetupFailure(&error)
            explainMailFailure(&error)
        }
        return error
    }

    /// Adds what the user needs to fix a failed set-up to libcurl's message: the methods a proxy
    /// that answered 407 offers, why a Unix socket could not be reached, and that a name was
    /// looked up with DNS-over-HTTPS.
    private func explainSetupFailure(_ error: inout CurlError) {
        if error.proxyStatusCode == 407 {
            let offered = AuthMethods(rawValue: UInt(bitPattern: EasyHandle(raw: easy).long(CURLINFO_PROXYAUTH_AVAIL) ?? 0))
            let offer = offered.isEmpty ? "no method libcurl knows" : "\(offered)"
            if !setup.hasProxyCredentials {
                error.message += "; the proxy requires authentication (HTTP 407) and offers \(offer): set proxyUsername and proxyPassword"
            } else if setup.proxyAuthMethods.intersection(offered).isEmpty, !offered.isEmpty {
                error.message += "; the proxy requires authentication (HTTP 407) and offers \(offer), but proxyAuthMethods allows only \(setup.proxyAuthMethods): allow one it offers, or .any"
            } else {
                error.message += "; the proxy refused the credentials (HTTP 407; it offers \(offer), proxyAuthMethods allows \(setup.proxyAuthMethods))"
                if setup.proxyAuthMethods.pick(from: offered) == .negotiate {
                    // GSS-API without a ticket sends nothing: libcurl then retries without
                    // credentials and gets the same 407, indistinguishable from a refused ticket.
                    error.message += ", or there were none to send: Negotiate takes them from the Kerberos ticket cache (kinit, KRB5CCNAME), not from proxyUsername"
                }
            }
        }
        if let path = setup.unixSocket, error.code == .couldNotConnect {
            let option = setup.unixSocketIsAbstract ? "abstractUnixSocket" : "unixSocketPath"
            var reason = "nobody accepts connections there"
            if !setup.unixSocketIsAbstract {
                var status = stat()
                if stat(path, &status) != 0 {
                    reason = String(cString: strerror(errno)).lowercased()
                } else if status.st_mode & S_IFMT != S_IFSOCK {
                    reason = "it is not a socket"
                }
            }
            error.message += "; \(option) '\(path)': \(reason)"
        }
        if let doh = setup.dnsOverHTTPS, error.code == .couldNotResolveHost || error.code == .couldNotResolveProxy {
            // libcurl 7.88.1 says only "Couldn't resolve host name", for a name the DoH server
            // does not know and for a DoH request that failed (its TLS verification included).
            error.message += "; dnsOverHTTPS '\(doh)' gave no address: the name is unknown there, or the DoH request failed (its certificate is verified with the tls CA settings and dnsOverHTTPS.verifyPeer/verifyHost)"
        }
    }

    /// Frees what the record owns, once: the easy handle (no longer in the multi handle), its
    /// error buffer, trace box, HTTP exchange and server lines, and `emptyConnectionCache`, the connection
    /// cache its group left empty (see `CurlMulti.release`), which goes after the easy handle
    /// that used it: a share in use cannot be freed.
    func free(emptyConnectionCache: UnsafeMutableRawPointer?) {
        curlLock.withLock {
            curl_easy_cleanup(easy)
            if let emptyConnectionCache {
                let freed = curl_share_cleanup(emptyConnectionCache)
                assert(freed == CURLSHE_OK, "a connection cache was freed while an easy handle still used it")
            }
        }
        errorBuffer.deallocate()
        traceBox?.release()
        traceBox = nil
        exchange?.release()
        exchange = nil
        serverResponses?.release()
        serverResponses = nil
        lists.freeAll()
    }

    /// The easy handle as callers use it off the engine (``CurlChannel``).
    var channel: CurlChannel {
        CurlChannel(easy: easy, errorBuffer: errorBuffer, traceBox: traceBox,
                    errorBufferIsStale: errorBufferIsStale, curlLock: curlLock)
    }
}

/// libcurl's `CURLOPT_DEBUGDATA`: the user's trace handler, and the last text line, which
/// stands in for the error buffer once libcurl has stopped writing to it (see `error(_:)`).
final class TraceBox {
    let handler: (@Sendable (TraceEvent) -> Void)?
    var lastText: String?

    init(_ handler: (@Sendable (TraceEvent) -> Void)?) {
        self.handler = handler
    }

    /// What libcurl's trace goes to: the options' trace handler, and the logger when it logs at
    /// `trace` level. `nil` when neither wants it, so the verbose trace stays off.
    static func handler(trace: (@Sendable (TraceEvent) -> Void)?, logger: Logger?) -> (@Sendable (TraceEvent) -> Void)? {
        guard let logger, logger.logLevel <= .trace else { return trace }
        return { event in
            trace?(event)
            logger.trace("\(event)")
        }
    }
}
