@testable import AsyncCurl
import Testing

extension AsyncCurlTests {
    /// A streamed request body's flow control as a value: the producer's pushes, libcurl's reads.
    @Suite struct RequestBodyStateMachineTests {
        typealias Machine = RequestBodyStateMachine<Int>

        static func proceeds(_ action: Machine.PushAction) -> Bool? {
            if case .proceed(let resume) = action { return resume }
            return nil
        }

        static func waits(_ action: Machine.PushAction) -> Bool? {
            if case .wait(let resume) = action { return resume }
            return nil
        }

        static func stops(_ action: Machine.PushAction) -> Bool {
            if case .stop = action { return true }
            return false
        }

        /// Reads up to `capacity` bytes: the decision, the bytes copied and the producer to wake.
        static func read(_ machine: inout Machine, capacity: Int) -> (Machine.ReadDecision, [UInt8], Int?) {
            var buffer = [UInt8](repeating: 0xEE, count: capacity)
            let (decision, wake) = buffer.withUnsafeMutableBytes { machine.read(into: $0) }
            if case .bytes(let count) = decision { return (decision, Array(buffer.prefix(count)), wake) }
            #expect(buffer.allSatisfy { $0 == 0xEE }, "nothing may be written without .bytes")
            return (decision, [], wake)
        }

        @Test func pushProceedsUnderTheLimitAndWaitsAtIt() {
            var machine = Machine(limit: 10)
            #expect(Self.proceeds(machine.push([UInt8](repeating: 1, count: 4), 1)) == false)
            #expect(Self.proceeds(machine.push([UInt8](repeating: 1, count: 5), 1)) == false)
            #expect(machine.bufferedBytes == 9)
            #expect(Self.waits(machine.push([1], 2)) == false)
            #expect(machine.bufferedBytes == 10)
            #expect(machine.cancelProducer() == 2)
            #expect(machine.cancelProducer() == nil)
        }

        @Test func oneChunkLargerThanTheLimitIsTakenAndWaits() {
            var machine = Machine(limit: 10)
            #expect(Self.waits(machine.push([UInt8](repeating: 3, count: 25), 1)) == false)
            #expect(machine.bufferedBytes == 25)
        }

        @Test func readCopiesAcrossChunkBoundaries() {
            var machine = Machine(limit: 100)
            _ = machine.push([1, 2, 3], 0)
            _ = machine.push([4, 5], 0)
            _ = machine.push([], 0)
            _ = machine.push([6, 7, 8, 9], 0)
            #expect(machine.bufferedBytes == 9)
            var (decision, bytes, _) = Self.read(&machine, capacity: 4)
            #expect(decision == .bytes(4))
            #expect(bytes == [1, 2, 3, 4])
            (decision, bytes, _) = Self.read(&machine, capacity: 4)
            #expect(bytes == [5, 6, 7, 8])
            (decision, bytes, _) = Self.read(&machine, capacity: 4)
            #expect(decision == .bytes(1))
            #expect(bytes == [9])
            #expect(machine.bufferedBytes == 0)
            #expect(machine.sentBytes == 9)
            (decision, bytes, _) = Self.read(&machine, capacity: 4)
            #expect(decision == .pause)
        }

        @Test func producerIsWokenExactlyAtHalf() {
            var machine = Machine(limit: 10)
            #expect(Self.proceeds(machine.push([UInt8](repeating: 1, count: 6), 1)) == false)
            #expect(Self.waits(machine.push([UInt8](repeating: 2, count: 6), 7)) == false)
            var (decision, _, wake) = Self.read(&machine, capacity: 6)  // 12 - 6 = 6 left
            #expect(decision == .bytes(6))
            #expect(wake == nil)
            (decision, _, wake) = Self.read(&machine, capacity: 1)  // 5 left: half
            #expect(decision == .bytes(1))
            #expect(wake == 7)
            (_, _, wake) = Self.read(&machine, capacity: 1)
            #expect(wake == nil)
            #expect(machine.cancelProducer() == nil)
        }

        @Test func emptyBufferPausesAndTheNextPushResumes() {
            var machine = Machine(limit: 10)
            let (decision, _, wake) = Self.read(&machine, capacity: 8)
            #expect(decision == .pause)
            #expect(wake == nil)
            #expect(machine.isPaused)
            #expect(Self.proceeds(machine.push([1, 2], 1)) == true)
            #expect(!machine.isPaused)
            #expect(Self.proceeds(machine.push([3], 1)) == false)
            #expect(Self.read(&machine, capacity: 8).1 == [1, 2, 3])
        }

        @Test func pushThatFillsThePausedBufferResumesAndWaits() {
            var machine = Machine(limit: 4)
            #expect(Self.read(&machine, capacity: 8).0 == .pause)
            #expect(Self.waits(machine.push([1, 2, 3, 4], 9)) == true)
        }

        @Test func finishedProducerEndsAfterTheBufferDrains() {
            var machine = Machine(limit: 10)
            _ = machine.push([1, 2, 3], 0)
            #expect(machine.producerFinished(nil) == false)
            #expect(machine.producerFinished(TransferTestFailure()) == false, "only the first end counts")
            #expect(machine.producerError == nil)
            #expect(Self.stops(machine.push([4], 0)))
            #expect(Self.read(&machine, capacity: 2).1 == [1, 2])
            #expect(Self.read(&machine, capacity: 2).1 == [3])
            #expect(Self.read(&machine, capacity: 2).0 == .end)
            #expect(Self.read(&machine, capacity: 2).0 == .end)
        }

        @Test func finishWhilePausedAsksToResume() {
            var machine = Machine(limit: 10)
            #expect(Self.read(&machine, capacity: 2).0 == .pause)
            #expect(machine.producerFinished(nil) == true)
            #expect(Self.read(&machine, capacity: 2).0 == .end)
        }

        @Test func failedProducerAbortsAfterTheBufferDrains() {
            var machine = Machine(limit: 10)
            _ = machine.push([1], 0)
            #expect(Self.read(&machine, capacity: 4).1 == [1])
            #expect(Self.read(&machine, capacity: 4).0 == .pause)
            _ = machine.push([2], 0)
            #expect(machine.producerFinished(TransferTestFailure()) == false)
            #expect(machine.producerError is TransferTestFailure)
            #expect(Self.read(&machine, capacity: 4).1 == [2])
            #expect(Self.read(&machine, capacity: 4).0 == .abort)
        }

        @Test func canRewindOnlyBeforeTheFirstByteIsRead() {
            var machine = Machine(limit: 10)
            #expect(machine.canRewind)
            #expect(Self.read(&machine, capacity: 4).0 == .pause)
            #expect(machine.canRewind)
            _ = machine.push([1, 2], 0)
            #expect(machine.canRewind)
            #expect(Self.read(&machine, capacity: 1).0 == .bytes(1))
            #expect(!machine.canRewind)
        }

        @Test func transferFinishedWakesTheProducerAndStopsLaterPushes() {
            var machine = Machine(limit: 4)
            #expect(Self.waits(machine.push([1, 2, 3, 4], 3)) == false)
            #expect(machine.transferFinished() == 3)
            #expect(machine.bufferedBytes == 0)
            #expect(machine.transferFinished() == nil)
            #expect(Self.stops(machine.push([5], 4)))
            #expect(machine.cancelProducer() == nil)
        }

        @Test func manySmallChunksAreReadInOrder() {
            // The read side takes chunks from the front of the buffer: many tiny chunks must
            // neither reorder nor cost a pass over the whole buffer each.
            var machine = Machine(limit: 1 << 18)
            var expected: [UInt8] = []
            var received: [UInt8] = []
            let clock = ContinuousClock()
            let start = clock.now
            var counter = 0
            for _ in 0..<8 {
                var producing = true
                while producing {
                    let chunk = (0..<4).map { UInt8(truncatingIfNeeded: counter &+ $0 &* 7) }
                    counter += 1
                    expected += chunk
                    producing = Self.proceeds(machine.push(chunk, 1)) != nil
                }
                var woken = false
                while !woken {
                    let (decision, bytes, wake) = Self.read(&machine, capacity: 16 << 10)
                    guard case .bytes = decision else {
                        Issue.record("the buffer drained before the producer was woken: \(decision)")
                        return
                    }
                    received += bytes
                    woken = wake != nil
                }
            }
            while machine.bufferedBytes > 0 { received += Self.read(&machine, capacity: 16 << 10).1 }
            #expect(received == expected)
            #expect(received.count >= 1 << 20)
            let elapsed = clock.now - start
            // About 1.3 s in a debug build; 9 s when each read shifted the whole chunk array.
            #expect(elapsed < .seconds(5), "\(elapsed) for \(counter) chunks")
        }
    }
}

