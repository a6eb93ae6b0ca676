#if canImport(Glibc)
import Glibc
#endif

/// What a new pthread runs; passed through pthread_create's `void *` argument.
private final class ThreadEntry: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Starts a pthread running `body`. A joinable thread must be joined with `pthread_join`;
/// a detached one cleans up after itself.
func startThread(detached: Bool, _ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    // One retain travels with the thread and is released when the thread takes the entry.
    let entry = Unmanaged.passRetained(ThreadEntry(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        guard let raw else { return nil }
        Unmanaged<ThreadEntry>.fromOpaque(raw).takeRetainedValue().body()
        return nil
    }, entry)
    guard result == 0 else {
        // The thread never started, so the retain it would have taken over is still ours.
        Unmanaged<ThreadEntry>.fromOpaque(entry).release()
        throw LoopbackServerError("pthread_create", errno: result)
    }
    if detached { _ = pthread_detach(thread) }
    return thread
}
