import Dispatch

/// A `SerialExecutor` that runs jobs on one serial `DispatchQueue`.
///
/// Linux has no `DispatchSerialQueue` conformance to `SerialExecutor`, so `CurlMulti` uses this
/// small adapter. Because the engine's Dispatch sources target the same queue, their handlers
/// already run on the actor's executor and can enter it with `assumeIsolated`.
final class DispatchQueueExecutor: SerialExecutor {
    /// The serial queue every job, event handler and timer of one engine runs on.
    let queue: DispatchQueue

    init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedSerialExecutor()
        queue.async {
            job.runSynchronously(on: executor)
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets `assumeIsolated` succeed from Dispatch handlers running on `queue`.
    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
