import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// Integrity soak: mixed traffic over 64 connections to an echo server for `AC_SOAK_SECONDS`
/// (default 60; the test must fit the root suite's 3-minute limit, so keep it at most 150 and
/// repeat the run for longer soaks, as `make soak` does).
///
/// Every connection runs a sender and a receiver at once. Message sizes run from 1 byte to
/// 16 MiB, skewed towards small ones; receives take random amounts, from 1 byte to 256 KiB.
/// Every byte that comes back is checked against the seeded `ByteStream` it was generated from.
/// Connections live for a random number of messages; one in eight is closed by its receiver in
/// the middle of a transfer (its sender must then see `ConnectionError.closed`), and every slot
/// reconnects until time is up.
///
/// The first sixth of the time (at most 10 s) is a warm-up; the rest runs in five rounds. After
/// the warm-up and after each round all traffic stops for a moment and resident memory is
/// measured: it must never grow more than 10 MiB above the post-warm-up figure. At the end the
/// process's fds must be back where they were before the soak.
extension AsyncCurlTests {
    @Suite struct SoakTests {
        static let slots = 64
        static let largest = 16 << 20

        struct Totals: Sendable {
            var connections = 0
            var closedMidTransfer = 0
            var messages = 0
            var bytesSent = 0
            var bytesVerified = 0
            var failures: [String] = []

            static func + (lhs: Totals, rhs: Totals) -> Totals {
                Totals(connections: lhs.connections + rhs.connections,
                       closedMidTransfer: lhs.closedMidTransfer + rhs.closedMidTransfer,
                       messages: lhs.messages + rhs.messages,
                       bytesSent: lhs.bytesSent + rhs.bytesSent,
                       bytesVerified: lhs.bytesVerified + rhs.bytesVerified,
                       failures: lhs.failures + rhs.failures)
            }
        }

        @Test func mixedTrafficKeepsEveryByteAndLeaksNothing() async throws {
            let seconds = max(2, environmentInt("AC_SOAK_SECONDS", default: 60))
            let warmUp = Duration.seconds(min(10, Double(seconds) / 6))
            let server = try LoopbackServer(mode: .echo)
            defer { server.stop() }
            let multi = CurlMulti()
            let baselineDescriptors = openFileDescriptorCount()
            let start = ContinuousClock.now

            // Allocations of 64 KiB and more come straight from mmap and go straight back on free,
            // so resident memory measures what is live, not how the heap happens to be fragmented
            // by the 16 MiB messages.
            setMallocMmapThreshold(64 << 10)
            var totals = try await Self.traffic(multi: multi, url: server.url, until: start + warmUp, round: 0)
            try await waitUntil("the warm-up connections to be closed") { server.openClients == 0 }
            #expect(await multi.diagnostics == .idle)
            let warmMemory = residentMemoryAfterTrim()
            let warmHeap = heapBytesInUse() ?? 0

            // The rest in five rounds, with a pause after each to measure resident memory while no
            // traffic flows: a leak shows as growth from round to round.
            var samples: [Int] = []
            let rounds = 5
            let measured = Duration.seconds(seconds) - warmUp
            for round in 1...rounds {
                let roundEnd = start + warmUp + measured * (Double(round) / Double(rounds))
                totals = totals + (try await Self.traffic(multi: multi, url: server.url, until: roundEnd, round: UInt64(round)))
                try await waitUntil("round \(round)'s connections to be closed") { server.openClients == 0 }
                #expect(await multi.diagnostics == .idle)
                samples.append(residentMemoryAfterTrim())
            }
            let elapsed = ContinuousClock.now - start
            let endMemory = samples.last ?? warmMemory
            let growth = (samples.max() ?? warmMemory) - warmMemory
            let heapGrowth = (heapBytesInUse() ?? 0) - warmHeap

            #expect(totals.failures.isEmpty, "\(totals.failures.count) failures, first: \(totals.failures.prefix(10))")
            #expect(totals.bytesVerified > 0 && totals.connections > Self.slots)
            if memoryChecksApply {
                #expect(growth < 10 << 20, "resident memory grew by \(growth >> 10) KiB after the warm-up")
            }
            try await waitUntil("the process's fds to return to the baseline of \(baselineDescriptors)") {
                openFileDescriptorCount() <= baselineDescriptors
            }
            let wallSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let mebibytes = { (bytes: Double) in oneDecimal(bytes / 1_048_576) }
            print("SoakTests: \(oneDecimal(wallSeconds)) s, \(Self.slots) concurrent connections, "
                  + "\(totals.connections) connections opened (\(totals.closedMidTransfer) closed mid-transfer), "
                  + "\(totals.messages) messages, \(mebibytes(Double(totals.bytesSent))) MiB sent, "
                  + "\(mebibytes(Double(totals.bytesVerified))) MiB echoed and verified byte for byte "
                  + "(\(mebibytes(Double(totals.bytesSent + totals.bytesVerified) / wallSeconds)) MiB/s both ways), "
                  + "resident memory after warm-up \(warmMemory >> 10) KiB, after each round \(samples.map { $0 >> 10 }) KiB "
                  + "(largest growth \(growth >> 10) KiB, end \((endMemory - warmMemory) >> 10) KiB), "
                  + "C heap in use \(heapGrowth >> 10) KiB above the post-warm-up figure, "
                  + "fds back to baseline, \(totals.failures.count) failures"
                  + (memoryChecksApply ? "" : " (memory figures not checked under a sanitizer or valgrind)"))
        }

        /// Runs all slots until `deadline`; each finishes its current connection before returning.
        static func traffic(multi: CurlMulti, url: String, until deadline: ContinuousClock.Instant, round: UInt64) async throws -> Totals {
            try await withThrowingTaskGroup(of: Totals.self) { group in
                for slot in 0..<slots {
                    group.addTask {
                        await runSlot(UInt64(slot), round: round, multi: multi, url: url, until: deadline)
                    }
                }
                return try await group.reduce(Totals(), +)
            }
        }

        /// One slot: connection after connection until the deadline.
        static func runSlot(_ slot: UInt64, round: UInt64, multi: CurlMulti, url: String,
                            until deadline: ContinuousClock.Instant) async -> Totals {
            var totals = Totals()
            var random = SeededGenerator(seed: 0x50A4_0000 ^ (round << 32) ^ slot)
            var generation: UInt64 = 0
            while ContinuousClock.now < deadline, totals.failures.count < 5 {
                generation += 1
                let seed = (round << 48) ^ (slot << 32) ^ generation
                let sizes = (0..<Int.random(in: 1...8, using: &random)).map { _ in messageSize(using: &random) }
                let total = sizes.reduce(0, +)
                // One connection in eight is closed by its receiver part-way through the stream.
                let closeAfter: Int? = Int.random(in: 0..<8, using: &random) == 0 ? Int.random(in: 0..<total, using: &random) : nil
                let readSeed = random.next()
                do {
                    let connection = try await multi.connect(to: url)
                    totals.connections += 1
                    async let sent = sender(connection, sizes: sizes, seed: seed, mayBeClosed: closeAfter != nil)
                    let verified = await receiver(connection, total: total, seed: seed, readSeed: readSeed, closeAfter: closeAfter)
                    let (messages, bytes, sendFailure) = await sent
                    await connection.close()
                    totals.messages += messages
                    totals.bytesSent += bytes
                    totals.bytesVerified += verified.bytes
                    if closeAfter != nil { totals.closedMidTransfer += 1 }
                    if let failure = verified.failure { totals.failures.append("slot \(slot) gen \(generation): \(failure)") }
                    if let sendFailure { totals.failures.append("slot \(slot) gen \(generation): \(sendFailure)") }
                } catch {
                    totals.failures.append("slot \(slot) gen \(generation): connect: \(outcome(of: error))")
                }
            }
            return totals
        }

        /// 1 byte to 16 MiB, skewed small: the power of two is picked with a squared uniform
        /// variable, so about 80% of messages are under 256 KiB and 1 in 11 is 1 MiB or more.
        static func messageSize(using random: inout SeededGenerator) -> Int {
            let u = Double.random(in: 0..<1, using: &random)
            let exponent = Int(u * u * 24)  // 0...23
            return min(largest, Int.random(in: (1 << exponent)...(2 << exponent), using: &random))
        }

        /// Sends every message; returns the messages and bytes sent, and what went wrong, if anything
        /// other than the receiver's planned close.
        static func sender(_ connection: AsyncConnection, sizes: [Int], seed: UInt64,
                           mayBeClosed: Bool) async -> (messages: Int, bytes: Int, failure: String?) {
            var stream = ByteStream(seed: seed)
            var messages = 0
            var bytes = 0
            for size in sizes {
                let message = stream.next(size)
                do {
                    try await connection.send(message, timeout: .seconds(60))
                } catch let error as ConnectionError where error.code == .closed && mayBeClosed {
                    return (messages, bytes, nil)
                } catch {
                    return (messages, bytes, "send: \(outcome(of: error))")
                }
                messages += 1
                bytes += size
            }
            return (messages, bytes, nil)
        }

        /// Receives `total` bytes in pieces of random size and checks each against the stream; or
        /// closes the connection after `closeAfter` bytes.
        static func receiver(_ connection: AsyncConnection, total: Int, seed: UInt64, readSeed: UInt64,
                             closeAfter: Int?) async -> (bytes: Int, failure: String?) {
            var expected = ByteStream(seed: seed)
            var random = SeededGenerator(seed: readSeed)
            var received = 0
            let pieceSizes = [1, 7, 100, 1460, 4096, 65536, 262_144]
            while received < total {
                if let closeAfter, received >= closeAfter {
                    await connection.close()
                    return (received, nil)
                }
                let maxLength = pieceSizes.randomElement(using: &random)!
                do {
                    guard let chunk = try await connection.receive(maxLength: maxLength, timeout: .seconds(60)) else {
                        return (received, "end of stream after \(received) of \(total) bytes")
                    }
                    if let offset = expected.firstMismatch(in: chunk) {
                        return (received, "wrong byte at offset \(received + offset) of \(total)")
                    }
                    received += chunk.count
                } catch {
                    return (received, "receive after \(received) of \(total) bytes: \(outcome(of: error))")
                }
            }
            return (received, nil)
        }
    }
}
