import Dispatch

/// When a send, a receive or one of their waits must end: a point on Dispatch's monotonic
/// clock, the clock the gate's deadline timers run on.
///
/// Why not `ContinuousClock.Instant`: the standard library does not promise that type's layout,
/// so every copy of a value holding one (`ReadinessWaiter`, `Optional<Instant>`) goes through
/// runtime value witnesses. That was measurable on the wait path, which copies a waiter several
/// times per wait. This is a plain integer, and it turns into a `DispatchTime` with no clock
/// arithmetic when a timer is scheduled.
///
/// Arithmetic saturates: a timeout of `.seconds(.max)` is a deadline that never comes, and a
/// negative one is a deadline that has passed, neither a trap.
struct Deadline: Comparable, Sendable {
    /// Nanoseconds on the clock of `DispatchTime.now().uptimeNanoseconds`.
    let uptimeNanoseconds: UInt64

    static var now: Deadline {
        Deadline(uptimeNanoseconds: DispatchTime.now().uptimeNanoseconds)
    }

    /// `duration` from now.
    static func after(_ duration: Duration) -> Deadline {
        now.adding(duration)
    }

    /// This deadline moved by `duration`, saturating at both ends of the clock.
    func adding(_ duration: Duration) -> Deadline {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (nanoseconds, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow || carry {
            return Deadline(uptimeNanoseconds: seconds < 0 ? 0 : .max)
        }
        if nanoseconds >= 0 {
            let (sum, overflow) = uptimeNanoseconds.addingReportingOverflow(UInt64(nanoseconds))
            return Deadline(uptimeNanoseconds: overflow ? .max : sum)
        }
        let magnitude = nanoseconds.magnitude
        return Deadline(uptimeNanoseconds: uptimeNanoseconds > magnitude ? uptimeNanoseconds - magnitude : 0)
    }

    var hasPassed: Bool { self <= .now }

    /// For `DispatchSourceTimer.schedule(deadline:)`.
    var dispatchTime: DispatchTime {
        // DispatchTime reserves UInt64.max for "forever", which is what a saturated deadline means.
        uptimeNanoseconds == .max ? .distantFuture : DispatchTime(uptimeNanoseconds: uptimeNanoseconds)
    }

    static func < (lhs: Deadline, rhs: Deadline) -> Bool {
        lhs.uptimeNanoseconds < rhs.uptimeNanoseconds
    }
}
