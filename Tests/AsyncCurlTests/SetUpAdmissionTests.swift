@testable import AsyncCurl
import Testing

extension AsyncCurlTests {
    /// The turns of connection set-ups (``CurlMulti/SetUpLimit``) as a value, without sockets or
    /// clocks: waiters are plain numbers, time is passed in.
    @Suite struct SetUpAdmissionTests {
        typealias Admission = SetUpAdmission<Int>

        /// Reserves and arrives `count` set-ups at `now`; returns their tokens and arrivals.
        static func arrive(_ count: Int, _ admission: inout Admission, now: UInt64 = 0,
                           firstWaiter: Int = 0) -> [(token: UInt64, arrival: Admission.Arrival)] {
            (0..<count).map { index in
                let token = admission.reserve()
                return (token, admission.arrive(token, waiter: firstWaiter + index, now: now, isCancelled: false))
            }
        }

        @Test func setUpsBeyondTheLimitWaitAndGoInTheOrderTheyCame() {
            var admission = Admission(limit: 2, grace: 1_000)
            let arrived = Self.arrive(5, &admission)
            #expect(arrived.map(\.arrival) == [.admitted, .admitted, .queued, .queued, .queued])
            #expect(admission.waitingCount == 3)
            #expect(admission.leave(arrived[1].token, now: 10) == [2])
            #expect(admission.leave(arrived[0].token, now: 11) == [3])
            #expect(admission.leave(arrived[2].token, now: 12) == [4])
            #expect(admission.waitingCount == 0)
            #expect(admission.holding.count == 2)
        }

        @Test func aNewcomerDoesNotOvertakeTheWaitingOnes() {
            var admission = Admission(limit: 1, grace: 1_000)
            let arrived = Self.arrive(2, &admission)
            #expect(arrived.map(\.arrival) == [.admitted, .queued])
            // The turn is free for a moment, but someone waits: the newcomer queues behind.
            #expect(admission.leave(arrived[0].token, now: 1) == [1])
            let late = Self.arrive(1, &admission, firstWaiter: 9)
            #expect(late.map(\.arrival) == [.queued])
        }

        @Test func aCancelledWaiterIsHandedBackOnceAndSkipped() {
            var admission = Admission(limit: 1, grace: 1_000)
            let arrived = Self.arrive(3, &admission)
            #expect(admission.cancel(arrived[1].token) == 1)
            #expect(admission.cancel(arrived[1].token) == nil)
            #expect(admission.timeOut(arrived[1].token) == nil)
            #expect(admission.leave(arrived[0].token, now: 5) == [2])
            #expect(admission.waitingCount == 0)
        }

        @Test func cancellingAHolderChangesNothingUntilItLeaves() {
            var admission = Admission(limit: 1, grace: 1_000)
            let arrived = Self.arrive(2, &admission)
            #expect(admission.cancel(arrived[0].token) == nil)
            #expect(admission.waitingCount == 1)
            #expect(admission.leave(arrived[0].token, now: 1) == [1])
        }

        @Test func aCancellationBeforeArrivalIsRememberedForTheArrival() {
            var admission = Admission(limit: 4, grace: 1_000)
            let token = admission.reserve()
            #expect(admission.cancel(token) == nil)
            #expect(admission.arrive(token, waiter: 0, now: 0, isCancelled: false) == .cancelled)
            #expect(admission.holding.isEmpty)
            // A task cancelled on the way in holds nothing either.
            let other = admission.reserve()
            #expect(admission.arrive(other, waiter: 1, now: 0, isCancelled: true) == .cancelled)
            #expect(admission.holding.isEmpty && admission.waitingCount == 0)
        }

        @Test func aTimedOutWaiterIsHandedBackOnce() {
            var admission = Admission(limit: 1, grace: 1_000)
            let arrived = Self.arrive(2, &admission)
            #expect(admission.timeOut(arrived[0].token) == nil)
            #expect(admission.timeOut(arrived[1].token) == 1)
            #expect(admission.cancel(arrived[1].token) == nil)
            #expect(admission.leave(arrived[0].token, now: 1) == [])
        }

        @Test func slowSetUpsStopCountingAfterTheGrace() {
            var admission = Admission(limit: 2, grace: 100)
            let first = Self.arrive(2, &admission, now: 0)
            let waiting = Self.arrive(3, &admission, now: 50, firstWaiter: 2)
            #expect(waiting.map(\.arrival) == [.queued, .queued, .queued])
            // The wake-up is due when the oldest turn ends, and is handed out once.
            #expect(admission.wakeUpToSchedule() == 100)
            #expect(admission.wakeUpToSchedule() == nil)
            #expect(admission.expire(now: 99) == [])
            #expect(admission.expire(now: 100) == [2, 3])
            // The expired set-ups' own end later frees nothing more.
            #expect(admission.leave(first[0].token, now: 120) == [])
            #expect(admission.wakeUpToSchedule() == 200)
            #expect(admission.expire(now: 200) == [4])
            #expect(admission.wakeUpToSchedule() == nil)
        }

        @Test func noWakeUpWhileNobodyWaits() {
            var admission = Admission(limit: 2, grace: 100)
            _ = Self.arrive(2, &admission)
            #expect(admission.wakeUpToSchedule() == nil)
        }

        @Test func aLimitBelowOneMeansOne() {
            var admission = Admission(limit: 0, grace: 100)
            #expect(Self.arrive(2, &admission).map(\.arrival) == [.admitted, .queued])
        }

        @Test func manyWaitersDrainInOrderThroughTheCompactedQueue() {
            var admission = Admission(limit: 3, grace: .max)
            var arrived = Self.arrive(5_000, &admission)
            var order: [Int] = []
            var now: UInt64 = 1
            while !arrived.isEmpty {
                let done = arrived.removeFirst()
                order += admission.leave(done.token, now: now)
                now += 1
            }
            #expect(order == Array(3..<5_000))
            #expect(admission.holding.isEmpty && admission.waitingCount == 0)
        }

        @Test func turnsConvertToNanosecondsSaturating() {
            #expect(CurlMulti.SetUpLimit(concurrentSetUps: 1, turn: .milliseconds(50)).turnNanoseconds == 50_000_000)
            #expect(CurlMulti.SetUpLimit(concurrentSetUps: 1, turn: .seconds(Int64.max)).turnNanoseconds == .max)
            #expect(CurlMulti.SetUpLimit(concurrentSetUps: 1, turn: .seconds(-1)).turnNanoseconds == 0)
            #expect(CurlMulti.SetUpLimit.unlimited.description == "unlimited")
        }
    }
}
