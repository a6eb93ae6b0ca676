/// A value that only ever is read or written holding its own ``PthreadMutex`` (a pthread mutex,
/// so that ThreadSanitizer sees the locking; see ``PthreadMutex``).
///
/// `@unchecked Sendable`: `value` is touched only inside `withLock`, holding `mutex`, and
/// `Value` is `Sendable` only where it has to leave the lock (the results of `withLock` are the
/// caller's to be careful with, as with `Mutex`: callers return only `Sendable` values or
/// continuations, which are `Sendable`).
final class PthreadLocked<Value>: @unchecked Sendable {
    private let mutex = PthreadMutex()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock. Not reentrant.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { () throws -> Result in try body(&value) }
    }
}
