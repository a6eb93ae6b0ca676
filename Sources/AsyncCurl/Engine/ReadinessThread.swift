import CEpoll
#if canImport(Glibc)
import Glibc
#endif

/// The engine's thread that waits for open connections' sockets and wakes their sends and
/// receives; also the engine's task executor (``CurlMulti/taskExecutor``).
///
/// Why a thread of its own and not the engine's Dispatch source: a Dispatch read source is
/// served by libdispatch's manager thread, which wakes a worker for the engine's queue, which
/// resumes the waiting task on a thread of the global pool: three thread wake-ups in a row for
/// every wait. This thread blocks in `epoll_wait` itself and resumes the task directly: two
/// wake-ups, as many as SwiftNIO's event loop needs (see BENCHMARKS.md). A task that prefers this
/// thread as its executor is run by it right after the event, so its wait costs one wake-up,
/// like a blocking `poll` loop. libcurl's own sockets stay with the engine's Dispatch source,
/// where `curl_multi_socket_action` runs.
///
/// It owns its epoll set, which holds open connections' sockets only, each registered one-shot
/// and armed by the thread that waits on it (``ConnectionGate``), plus an eventfd that wakes the
/// thread for jobs and for stopping; the table from socket to gate; and the queue of jobs. One
/// per engine, stopped when the engine's resources are released.
///
/// `@unchecked Sendable`: `shared` is read and written only holding `mutex`; `thread` is
/// written once, by `pthread_create` in ``start()``, and read only by ``stop()``, which the
/// engine's resources call long after `start()` has returned; the rest is immutable.
final class ReadinessThread: @unchecked Sendable {
    /// Open connections' sockets, one-shot; each gate arms its socket here.
    let epoll: Epoll
    private let wakeEvent: Int32
    private let mutex = PthreadMutex()
    private var thread = pthread_t()

    private struct Shared {
        /// The gate of each watched socket, indexed by the socket's number: a lookup per event
        /// with no hashing. Descriptor numbers are small and reused, so this stays as long as
        /// the highest socket number the engine has watched.
        var gates: [ConnectionGate?] = []
        /// Jobs of tasks that prefer this thread, in order.
        var jobs: [UnownedJob] = []
        /// The thread is not blocked in `epoll_wait` (or is about to return from it): a new
        /// job needs no eventfd write.
        var isAwake = true
        var isStopping = false

        func gate(of socket: Int32) -> ConnectionGate? {
            socket >= 0 && Int(socket) < gates.count ? gates[Int(socket)] : nil
        }
    }
    /// Only touched holding `mutex` (and in `deinit`, when nothing else is left). Behind a
    /// pointer, not a stored `var`, for the reason given at `ConnectionGate.state`: the lock
    /// already makes every access exclusive.
    private let shared: UnsafeMutablePointer<Shared>

    static let eventBatchSize = 256

    /// Creates the epoll set and the eventfd and starts the thread. Throws if the process is out
    /// of descriptors or threads.
    static func start() throws(CurlError) -> ReadinessThread {
        guard let epoll = Epoll() else {
            throw CurlError(code: .failedInit, message: "could not create an epoll set: \(String(cString: strerror(errno)))")
        }
        let wakeEvent = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeEvent >= 0 else {
            let reason = String(cString: strerror(errno))
            epoll.close()
            throw CurlError(code: .failedInit, message: "could not create an eventfd: \(reason)")
        }
        let readiness = ReadinessThread(epoll: epoll, wakeEvent: wakeEvent)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeEvent
        guard epoll_ctl(epoll.fileDescriptor, EPOLL_CTL_ADD, wakeEvent, &event) == 0 else {
            let reason = String(cString: strerror(errno))
            readiness.closeDescriptors()
            throw CurlError(code: .failedInit, message: "could not watch the eventfd: \(reason)")
        }
        // The thread holds one retain of the object while it runs, and closes the descriptors
        // when it ends.
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

    private init(epoll: Epoll, wakeEvent: Int32) {
        self.epoll = epoll
        self.wakeEvent = wakeEvent
        shared = UnsafeMutablePointer<Shared>.allocate(capacity: 1)
        shared.initialize(to: Shared())
    }

    deinit {
        shared.deinitialize(count: 1)
        shared.deallocate()
    }

    // MARK: The engine's side

    /// Adds an open connection's socket, disarmed, and the gate its events wake. Returns the
    /// `errno` of a failure, or 0.
    func watch(_ socket: Int32, for gate: ConnectionGate) -> Int32 {
        mutex.withLock {
            let failure = epoll.addDisarmed(socket)
            if failure == 0 {
                let index = Int(socket)
                if index >= shared.pointee.gates.count {
                    shared.pointee.gates.append(contentsOf: repeatElement(nil, count: index + 1 - shared.pointee.gates.count))
                }
                shared.pointee.gates[index] = gate
            }
            return failure
        }
    }

    /// Stops watching `socket`, before libcurl closes it. An event for it that the thread has
    /// already taken finds no gate, or (once the number is reused) wakes the new connection's
    /// waits spuriously, which waits allow: they retry their system call.
    func unwatch(_ socket: Int32) {
        mutex.withLock {
            if socket >= 0, Int(socket) < shared.pointee.gates.count { shared.pointee.gates[Int(socket)] = nil }
            epoll.remove(socket)
        }
    }

    /// The gates watched now, for the engine's diagnostics.
    var watchedGates: [ConnectionGate] {
        mutex.withLock { shared.pointee.gates.compactMap { $0 } }
    }

    /// Tells the thread to stop once its queued jobs have run; called once, by the engine's
    /// resources. From another thread it waits until the thread has ended (and closed the
    /// descriptors). On the thread itself (a job there released the engine) the thread ends when
    /// that job returns. Jobs enqueued later go to the global concurrent executor.
    func stop() {
        let alreadyStopping = mutex.withLock {
            defer { shared.pointee.isStopping = true }
            return shared.pointee.isStopping
        }
        guard !alreadyStopping else { return }
        poke()
        if pthread_equal(pthread_self(), thread) == 0 {
            _ = pthread_join(thread, nil)
        } else {
            _ = pthread_detach(thread)
        }
    }

    private func poke() {
        var one: UInt64 = 1
        // The eventfd is non-blocking; its counter cannot overflow with writes of 1 that the
        // thread keeps reading back, so the write cannot fail.
        _ = Glibc.write(wakeEvent, &one, MemoryLayout<UInt64>.size)
    }

    private func closeDescriptors() {
        epoll.close()
        _ = Glibc.close(wakeEvent)
    }

    // MARK: The thread

    /// The thread's name, as `top -H` and debuggers show it (at most 15 characters). Set
    /// through /proc, as Glibc's module does not export `pthread_setname_np`; without /proc the
    /// thread simply keeps its creator's name.
    static let threadName = "AsyncCurl.ready"

    private func run() {
        let comm = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        if comm >= 0 {
            _ = Self.threadName.withCString { Glibc.write(comm, $0, strlen($0)) }
            _ = Glibc.close(comm)
        }
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: Self.eventBatchSize)
        /// The gates the batch's events wake, found under the lock and woken outside it.
        var woken: [(gate: ConnectionGate, ready: Readiness)] = []
        woken.reserveCapacity(Self.eventBatchSize)
        /// The jobs being run; swapped with the queue's array, so neither is reallocated.
        var batch: [UnownedJob] = []
        defer {
            events.deallocate()
            mutex.withLock { shared.pointee.gates.removeAll() }
            closeDescriptors()
        }
        let executor = asUnownedTaskExecutor()
        while true {
            // Sleep only with no job queued; a job enqueued from now on writes the eventfd. With
            // jobs queued, still look at the sockets (without blocking), so tasks that keep this
            // thread busy cannot starve the connections' events.
            let state = mutex.withLock { () -> (stopping: Bool, jobsQueued: Bool) in
                guard shared.pointee.jobs.isEmpty else { return (false, true) }
                shared.pointee.isAwake = false
                return (shared.pointee.isStopping, false)
            }
            if state.stopping { return }
            let count = epoll_wait(epoll.fileDescriptor, events.baseAddress, Int32(events.count), state.jobsQueued ? 0 : -1)
            if count < 0 {
                // EINTR is a signal. Anything else (EBADF, EINVAL, EFAULT) means the thread's
                // own epoll fd or buffer is broken: an internal invariant, not something the
                // network or a user can cause, and the waits it serves could never be woken.
                guard errno == EINTR else { fatalError("epoll_wait on the engine's readiness set failed: \(String(cString: strerror(errno)))") }
            }
            var poked = false
            mutex.withLock {
                shared.pointee.isAwake = true
                for event in events[..<Int(max(count, 0))] {
                    if event.data.fd == wakeEvent {
                        poked = true
                    } else if let gate = shared.pointee.gate(of: event.data.fd) {
                        woken.append((gate, Epoll.readiness(of: event.events)))
                    }
                }
            }
            if poked {
                var counter: UInt64 = 0
                _ = Glibc.read(wakeEvent, &counter, MemoryLayout<UInt64>.size)
            }
            for (gate, ready) in woken {
                gate.wake(ready)
            }
            woken.removeAll(keepingCapacity: true)
            // The tasks resumed just now that prefer this thread run here, with no hand-off.
            mutex.withLock { swap(&batch, &shared.pointee.jobs) }
            for job in batch {
                job.runSynchronously(on: executor)
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

// MARK: - Running tasks

extension ReadinessThread: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let action = mutex.withLock { () -> (stopped: Bool, poke: Bool) in
            guard !shared.pointee.isStopping else { return (true, false) }
            shared.pointee.jobs.append(job)
            defer { shared.pointee.isAwake = true }
            return (false, !shared.pointee.isAwake)
        }
        if action.stopped {
            // The engine is gone; its tasks go on elsewhere rather than never.
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        } else if action.poke {
            poke()
        }
    }
}
