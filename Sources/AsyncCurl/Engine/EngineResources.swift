import CCurl
import CEpoll
import Dispatch

/// The engine's process resources — the multi handle, curl's epoll set with its Dispatch
/// source, the open connections' readiness thread, curl's timer and the event and receive
/// buffers — and the one place that releases them.
///
/// A separate object rather than a `deinit` of the actor: an `isolated deinit` on `CurlMulti`
/// makes Swift 6.3.1's optimizer fail ("circular reference") when another module creates a
/// `CurlMulti` in a release build, and a nonisolated actor `deinit` may not touch non-Sendable
/// state. The actor owns this object alone, so it is released when the actor is: by then no
/// engine code runs (the Dispatch handlers hold the actor weakly and keep it alive while they
/// run), and every connection and pending connect held the actor, so none is left.
final class EngineResources {
    /// `nil` when the engine could not be set up (see `CurlMulti.setupError`).
    let multi: UnsafeMutableRawPointer?
    let curlSocketSource: DispatchSourceRead?
    let readiness: ReadinessThread?
    let timer: DispatchSourceTimer
    let events: UnsafeMutableBufferPointer<epoll_event>
    let receiveBuffer: UnsafeMutableRawBufferPointer
    /// A connection cache (`CURLSH`) whose last connection has closed, kept for the TLS
    /// sessions in it so that the next connection to the same peer resumes one; the next
    /// connection cache the engine needs is this one (see `CurlMulti.release`). Only the actor
    /// sets it.
    var retainedConnectionCache: UnsafeMutableRawPointer?
    /// The TLS session cache (`CURLSH`) the engine's transfers share, so that a new connection
    /// to a server resumes a session of an earlier one; made by the first transfer. Used only
    /// under the engine's curl lock, like every libcurl call of the engine.
    var transferShare: UnsafeMutableRawPointer?

    init(multi: UnsafeMutableRawPointer?, curlSocketSource: DispatchSourceRead?, readiness: ReadinessThread?,
         timer: DispatchSourceTimer,
         events: UnsafeMutableBufferPointer<epoll_event>, receiveBuffer: UnsafeMutableRawBufferPointer) {
        self.multi = multi
        self.curlSocketSource = curlSocketSource
        self.readiness = readiness
        self.timer = timer
        self.events = events
        self.receiveBuffer = receiveBuffer
    }

    deinit {
        // No connection is left (each held the engine), so the thread watches nothing.
        readiness?.stop()
        timer.cancel()
        // Its cancel handler closes the epoll fd once Dispatch no longer watches it.
        curlSocketSource?.cancel()
        if let multi {
            // curl_multi_cleanup would otherwise call back into the engine, which is gone.
            _ = ac_multi_setopt_socketfunction(multi, nil)
            _ = ac_multi_setopt_timerfunction(multi, nil)
            curl_multi_cleanup(multi)
        }
        if let transferShare {
            // Every transfer's easy handle is gone (each transfer held the engine).
            _ = curl_share_cleanup(transferShare)
        }
        if let retainedConnectionCache {
            // No easy handle uses it: it was kept only once its last connection had closed.
            _ = curl_share_cleanup(retainedConnectionCache)
        }
        events.deallocate()
        receiveBuffer.deallocate()
    }
}
