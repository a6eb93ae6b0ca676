import CEpoll
#if canImport(Glibc)
import Glibc
#endif

/// The engine's thread that waits for open connections' sockets and wakes their sends and
/// receives.
///
/// Why a thread of its own and not the engine's Dispatch source: a Dispatch read source is
/// served by libdispatch's manager thread, which wakes a worker for the engine's queue, which
/// resumes the waiting task on a thread of the global pool: three thread wake-ups in a row for
/// every wait. This thread blocks in `epoll_wait` itself and resumes the task directly: two
/// wake-ups, as many as SwiftNIO's event loop needs (see BENCHMARKS.md). libcurl's own sockets
/// stay with the engine's Dispatch source, where `curl_multi_socket_action` runs.
///
/// It owns its epoll set, which holds open connections' sockets only, each registered one-shot
/// and armed by the thread that waits on it (``ConnectionGate``), plus an eventfd that tells the
/// thread to stop; and the table from socket to gate. One per engine, stopped (and joined) when
/// the engine's resources are released.
///
/// `@unchecked Sendable`: `gates` is read and written only holding `mutex`; `thread` and
/// `isStopped` only by the engine's resources, once at start and once at stop (the thread
/// itself never reads them); the rest is immutable.
final class ReadinessThread: @unchecked Sendable {
    /// Open connections' sockets, one-shot; each gate arms its socket here.
    let epoll: Epoll
    private let stopEvent: Int32
    private let mutex = PthreadMutex()
    private var gates: [Int32: ConnectionGate] = [:]
    private var thread = pthread_t()
    private var isStopped = false

    static let eventBatchSize = 256

    /// Creates the epoll set and the eventfd and starts the thread. Throws if the process is out
    /// of descriptors or threads.
    static func start() throws(CurlError) -> ReadinessThread {
        guard let epoll = Epoll() else {
            throw CurlError(code: .failedInit, message: "could not create an epoll set: \(String(cString: strerror(errno)))")
        }
        let stopEvent = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard stopEvent >= 0 else {
            let reason = String(cString: strerror(errno))
            epoll.close()
            throw CurlError(code: .failedInit, message: "could not create an eventfd: \(reason)")
        }
        let readiness = ReadinessThread(epoll: epoll, stopEvent: stopEvent)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = stopEvent
        guard epoll_ctl(epoll.fileDescriptor, EPOLL_CTL_ADD, stopEvent, &event) == 0 else {
            let reason = String(cString: strerror(errno))
            readiness.closeDescriptors()
            throw CurlError(code: .failedInit, message: "could not watch the eventfd: \(reason)")
        }
        // The thread holds one retain of the object while it runs; `stop` joins it.
        let retained = Unmanaged.passRetained(readiness).toOpaque()
        let result = pthread_create(&readiness.thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<ReadinessThread>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, retained)
        guard result == 0 else {
            // The thread never started, so its retain is still ours to give back.
            Unmanaged<ReadinessThread>.fromOpaque(retained).release()
            readiness.closeDescriptors()
            throw CurlError(code: .failedInit, message: "could not start the engine's readiness thread: \(String(cString: strerror(result)))")
        }
        return readiness
    }

    private init(epoll: Epoll, stopEvent: Int32) {
        self.epoll = epoll
        self.stopEvent = stopEvent
    }

    deinit {
        assert(isStopped, "the engine's readiness thread was not stopped")
    }

    // MARK: The engine's side

    /// Adds an open connection's socket, disarmed, and the gate its events wake. Returns the
    /// `errno` of a failure, or 0.
    func watch(_ socket: Int32, for gate: ConnectionGate) -> Int32 {
        mutex.withLock {
            let failure = epoll.addDisarmed(socket)
            if failure == 0 { gates[socket] = gate }
            return failure
        }
    }

    /// Stops watching `socket`, before libcurl closes it. An event for it that the thread has
    /// already taken finds no gate, or (once the number is reused) wakes the new connection's
    /// waits spuriously, which waits allow: they retry their system call.
    func unwatch(_ socket: Int32) {
        mutex.withLock {
            gates.removeValue(forKey: socket)
            epoll.remove(socket)
        }
    }

    /// The gates watched now, for the engine's diagnostics.
    var watchedGates: [ConnectionGate] {
        mutex.withLock { Array(gates.values) }
    }

    /// Tells the thread to stop, waits until it has, and closes the descriptors. Called once,
    /// by the engine's resources, never from the thread itself (which runs no engine code).
    func stop() {
        guard !isStopped else { return }
        var one: UInt64 = 1
        // The eventfd is non-blocking and at most 1 is ever written: the write cannot fail.
        _ = Glibc.write(stopEvent, &one, MemoryLayout<UInt64>.size)
        _ = pthread_join(thread, nil)
        mutex.withLock { gates.removeAll() }
        closeDescriptors()
    }

    private func closeDescriptors() {
        isStopped = true
        epoll.close()
        _ = Glibc.close(stopEvent)
    }

    // MARK: The thread

    private func run() {
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: Self.eventBatchSize)
        defer { events.deallocate() }
        while true {
            let count = epoll_wait(epoll.fileDescriptor, events.baseAddress, Int32(events.count), -1)
            if count < 0 {
                // EINTR is a signal. Anything else (EBADF, EINVAL, EFAULT) means the thread's own
                // epoll fd or buffer is broken: an internal invariant, not something the network
                // or a user can cause, and the waits it serves could never be woken again.
                guard errno == EINTR else { fatalError("epoll_wait on the engine's readiness set failed: \(String(cString: strerror(errno)))") }
                continue
            }
            for event in events[..<Int(count)] {
                let socket = event.data.fd
                if socket == stopEvent { return }
                let gate = mutex.withLock { gates[socket] }
                gate?.wake(Epoll.readiness(of: event.events))
            }
        }
    }
}
