@testable import AsyncCurl
import Testing

/// The response body's flow control as a value: buffering, pausing at the limit, resuming at
/// half, waking the waiting consumer, the end, and dropping the body.
extension AsyncCurlTests {
    @Suite struct ResponseBodyStateMachineTests {
        typealias Machine = ResponseBodyStateMachine<Int>

        /// The bytes of a buffered write, or a failure naming the decision.
        static func isBuffered(_ decision: Machine.WriteDecision) -> Bool {
            if case .buffered = decision { return true }
            return false
        }

        static func isPause(_ decision: Machine.WriteDecision) -> Bool {
            if case .pause = decision { return true }
            return false
        }

        static func isRefuse(_ decision: Machine.WriteDecision) -> Bool {
            if case .refuse = decision { return true }
            return false
        }

        /// The chunk `next` returned and whether it asked to resume; `nil` for any other action.
        static func chunk(_ action: Machine.NextAction) -> (bytes: [UInt8], resume: Bool)? {
            if case .chunk(let bytes, let resume) = action { return (bytes, resume) }
            return nil
        }

        static func waits(_ action: Machine.NextAction) -> Bool? {
            if case .wait(let resume) = action { return resume }
            return nil
        }

        static func ends(_ action: Machine.NextAction) -> Bool {
            if case .end = action { return true }
            return false
        }

        static func bytes(_ count: Int, _ value: UInt8 = 7) -> [UInt8] { [UInt8](repeating: value, count: count) }

        @Test func writesAreBufferedWhileUnderTheLimit() {
            var machine = Machine(limit: 10)
            #expect(Self.isBuffered(machine.write(Self.bytes(4))))
            #expect(Self.isBuffered(machine.write(Self.bytes(5))))
            #expect(machine.bufferedBytes == 9)
            // 9 < 10: this write is still taken whole, even though it goes past the limit.
            #expect(Self.isBuffered(machine.write(Self.bytes(3))))
            #expect(machine.bufferedBytes == 12)
            #expect(!machine.isPaused)
        }

        @Test func atTheLimitTheWritePausesWithoutTakingTheBytes() {
            var machine = Machine(limit: 10)
            #expect(Self.isBuffered(machine.write(Self.bytes(10, 1))))
            #expect(Self.isPause(machine.write(Self.bytes(3, 2))))
            #expect(machine.isPaused)
            #expect(machine.bufferedBytes == 10)
            // Offered again while still full: paused again, still not taken.
            #expect(Self.isPause(machine.write(Self.bytes(3, 2))))
            let first = Self.chunk(machine.next(1))
            #expect(first?.bytes == Self.bytes(10, 1))
            #expect(first?.resume == true)
            // Only the chunk taken before the pause was in the buffer.
            #expect(Self.waits(machine.next(2)) == false)
        }

        @Test func resumesExactlyWhenHalfTheLimitIsReached() {
            // limit 10: resume at 5 buffered bytes, not at 6.
            var machine = Machine(limit: 10)
            for count in [4, 1, 5] { #expect(Self.isBuffered(machine.write(Self.bytes(count)))) }
            #expect(Self.isPause(machine.write(Self.bytes(1))))
            let first = Self.chunk(machine.next(1))  // 10 - 4 = 6 left
            #expect(first?.bytes.count == 4)
            #expect(first?.resume == false)
            #expect(machine.isPaused)
            let second = Self.chunk(machine.next(1))  // 6 - 1 = 5 left: half
            #expect(second?.bytes.count == 1)
            #expect(second?.resume == true)
            #expect(!machine.isPaused)
            // Asked once only.
            #expect(Self.chunk(machine.next(1))?.resume == false)
        }

        @Test func oddLimitRoundsHalfDown() {
            // limit 11: half is 5; 6 bytes left is not enough.
            var machine = Machine(limit: 11)
            for count in [5, 1, 5] { #expect(Self.isBuffered(machine.write(Self.bytes(count)))) }
            #expect(Self.isPause(machine.write(Self.bytes(1))))
            #expect(Self.chunk(machine.next(1))?.resume == false)  // 6 left
            #expect(Self.chunk(machine.next(1))?.resume == true)  // 5 left
        }

        @Test func limitOfOneResumesOnlyWhenEmpty() {
            var machine = Machine(limit: 0)  // clamped to 1
            #expect(machine.limit == 1)
            #expect(Self.isBuffered(machine.write(Self.bytes(3))))
            #expect(Self.isPause(machine.write(Self.bytes(1))))
            #expect(Self.chunk(machine.next(1))?.resume == true)
        }

        @Test func pausedMachineResumesWhenTheConsumerStartsWaiting() {
            var machine = Machine(limit: 4)
            #expect(Self.isBuffered(machine.write(Self.bytes(4))))
            #expect(Self.isPause(machine.write(Self.bytes(1))))
            #expect(Self.chunk(machine.next(1))?.resume == true)
            // Already resumed: waiting does not ask again.
            #expect(Self.waits(machine.next(2)) == false)
        }

        @Test func waitingConsumerGetsTheBytesDirectly() {
            var machine = Machine(limit: 10)
            #expect(Self.waits(machine.next(42)) == false)
            guard case .deliver(let delivered, let waiter) = machine.write([1, 2, 3]) else {
                Issue.record("the waiting consumer should get the bytes")
                return
            }
            #expect(delivered == [1, 2, 3])
            #expect(waiter == 42)
            #expect(machine.bufferedBytes == 0)
            // The waiter was used up: the next write is buffered.
            #expect(Self.isBuffered(machine.write([4])))
            #expect(machine.cancelWaiter() == nil)
            #expect(Self.chunk(machine.next(43))?.bytes == [4])
        }

        @Test func finishWithoutErrorWakesTheWaiterThenEnds() {
            var machine = Machine(limit: 10)
            #expect(Self.waits(machine.next(5)) == false)
            #expect(machine.finish(nil) == 5)
            #expect(machine.hasEnded)
            #expect(Self.ends(machine.next(6)))
            #expect(Self.ends(machine.next(6)))
            // Only the first end counts.
            #expect(machine.finish(TransferTestFailure()) == nil)
            #expect(Self.ends(machine.next(7)))
        }

        @Test func finishWithErrorWakesTheWaiterThenFails() {
            var machine = Machine(limit: 10)
            #expect(Self.waits(machine.next(5)) == false)
            #expect(machine.finish(TransferTestFailure()) == 5)
            guard case .fail(let error) = machine.next(6) else {
                Issue.record("next should fail after finish(error)")
                return
            }
            #expect(error is TransferTestFailure)
            #expect(machine.finish(nil) == nil)
            guard case .fail = machine.next(7) else {
                Issue.record("a second finish must not change the end")
                return
            }
        }

        @Test func bufferedChunksStayReadableAfterTheEnd() {
            var machine = Machine(limit: 100)
            #expect(Self.isBuffered(machine.write([1])))
            #expect(Self.isBuffered(machine.write([2, 3])))
            #expect(machine.finish(TransferTestFailure()) == nil)
            #expect(Self.isRefuse(machine.write([9])))
            #expect(Self.chunk(machine.next(1))?.bytes == [1])
            #expect(Self.chunk(machine.next(1))?.bytes == [2, 3])
            guard case .fail(let error) = machine.next(1) else {
                Issue.record("the error comes after the buffered chunks")
                return
            }
            #expect(error is TransferTestFailure)
        }

        @Test func finishWhilePausedDoesNotAskToResume() {
            var machine = Machine(limit: 2)
            #expect(Self.isBuffered(machine.write([1, 2])))
            #expect(Self.isPause(machine.write([3])))
            #expect(machine.finish(nil) == nil)
            #expect(!machine.isPaused)
            // The transfer is over: nothing to resume.
            #expect(Self.chunk(machine.next(1))?.resume == false)
            #expect(Self.ends(machine.next(1)))
        }

        @Test func cancelWaiterReturnsTheWaiterOnce() {
            var machine = Machine(limit: 10)
            #expect(machine.cancelWaiter() == nil)
            #expect(Self.waits(machine.next(8)) == false)
            #expect(machine.cancelWaiter() == 8)
            #expect(machine.cancelWaiter() == nil)
            // Nobody waits any more: bytes are buffered, and the end wakes nobody.
            #expect(Self.isBuffered(machine.write([1])))
            #expect(machine.finish(nil) == nil)
        }

        @Test func consumerGoneDropsTheBufferAndRefusesWrites() {
            var machine = Machine(limit: 4)
            #expect(Self.isBuffered(machine.write([1, 2, 3, 4])))
            #expect(Self.isPause(machine.write([5])))
            machine.consumerGone()
            #expect(machine.bufferedBytes == 0)
            #expect(!machine.hasEnded)
            #expect(Self.isRefuse(machine.write([5])))
            #expect(Self.isRefuse(machine.write([6])))
        }

        @Test func manyChunksKeepTheirOrderAcrossCompaction() {
            var machine = Machine(limit: 1 << 30)
            var written: [UInt8] = []
            var read: [UInt8] = []
            func chunk(_ index: Int) -> [UInt8] {
                (0..<(index % 7 + 1)).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0) }
            }
            func readOne() {
                guard let next = Self.chunk(machine.next(0)) else {
                    Issue.record("expected a buffered chunk")
                    return
                }
                read += next.bytes
            }
            var index = 0
            for _ in 0..<1000 {
                #expect(Self.isBuffered(machine.write(chunk(index))))
                written += chunk(index)
                index += 1
            }
            // Read part, interleave writes and reads (3 in, 2 out), then drain.
            for _ in 0..<600 { readOne() }
            for _ in 0..<500 {
                for _ in 0..<3 {
                    #expect(Self.isBuffered(machine.write(chunk(index))))
                    written += chunk(index)
                    index += 1
                }
                readOne()
                readOne()
            }
            #expect(machine.bufferedBytes == written.count - read.count)
            while machine.bufferedBytes > 0 { readOne() }
            #expect(read == written)
            #expect(read.count > 4000)
            #expect(Self.waits(machine.next(1)) == false)
        }
    }
}

struct TransferTestFailure: Error {}
