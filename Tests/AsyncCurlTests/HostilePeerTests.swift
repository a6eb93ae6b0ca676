import AsyncCurl
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

/// Peers that misbehave in every way a real network peer can: silence, stalls, FIN and RST at
/// awkward moments, trickles, floods, half-closes, instant hang-ups and refusals. Each test states
/// the outcome the library guarantees and asserts exactly that, within a deadline.
extension AsyncCurlTests {
    @Suite struct HostilePeerTests {
        /// Accepts, never speaks first. A receive with a timeout throws `operationTimedOut`, consumes
        /// nothing, and the connection is still usable: the peer answers a later request.
        @Test func silentPeerTimesOutAndStaysUsable() async throws {
            let server = try LoopbackServer(mode: .handler { peer in
                // Silent until spoken to; then answers once.
                guard let request = try? peer.read(exactly: 4), request == Array("ping".utf8) else { return }
                try? peer.write("pong")
                _ = try? peer.readToEnd()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                for _ in 0..<3 {
                    let (result, elapsed) = await measured { try await connection.receive(timeout: .milliseconds(150)) }
                    #expect(outcome(result) == "CurlError.operationTimedOut")
                    #expect(elapsed >= .milliseconds(140) && elapsed < .seconds(2), "\(elapsed)")
                    #expect(await multi.diagnostics.pendingContinuations == 0)
                }
                try await connection.send("ping")
                #expect(try await connection.receive(exactly: 4, timeout: .seconds(10)) == Array("pong".utf8))
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// Speaks, then stalls forever without closing. Everything it said is delivered; the next
        /// receive times out; `receive(exactly:)` asking for more than was said times out and
        /// keeps what it had for the next receive.
        @Test func peerThatSpeaksThenStalls() async throws {
            let gate = PeerGate()
            let server = try LoopbackServer(mode: .handler { peer in
                try? peer.write("hello, then silence")
                gate.wait()  // the stall: holds the connection open, says nothing more
            })
            defer {
                gate.open()
                server.stop()
            }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            #expect(try await connection.receive(exactly: 5, timeout: .seconds(10)) == Array("hello".utf8))

            let (short, shortElapsed) = await measured { try await connection.receive(exactly: 100, timeout: .milliseconds(200)) }
            #expect(outcome(short) == "CurlError.operationTimedOut")
            #expect(shortElapsed >= .milliseconds(190) && shortElapsed < .seconds(2), "\(shortElapsed)")

            // Nothing was lost by the timed-out receive(exactly:).
            #expect(try await connection.receive(exactly: 14, timeout: .seconds(10)) == Array(", then silence".utf8))
            let (stalled, stalledElapsed) = await measured { try await connection.receive(timeout: .milliseconds(200)) }
            #expect(outcome(stalled) == "CurlError.operationTimedOut")
            #expect(stalledElapsed < .seconds(2), "\(stalledElapsed)")
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// Closes (FIN) in the middle of a message: every byte it sent arrives, then `nil`, and
        /// `receive(exactly:)` reports how many of the wanted bytes there were.
        @Test func peerThatClosesMidStream() async throws {
            var stream = ByteStream(seed: 11)
            let sent = stream.next(300_000)
            let server = try LoopbackServer(mode: .handler { peer in
                try? peer.write(sent)
                peer.close()  // FIN after 300,000 of the 1,000,000 bytes the client expects
            })
            defer { server.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url) { connection async throws in
                let error = await #expect(throws: ConnectionError.self) {
                    _ = try await connection.receive(exactly: 1_000_000, timeout: .seconds(20))
                }
                #expect(error?.code == .unexpectedEndOfStream)
                #expect(error?.byteCount == sent.count)
                // The bytes stayed in the connection, in order, followed by the end of the stream.
                #expect(try await connection.receive(exactly: sent.count, timeout: .seconds(10)) == sent)
                #expect(try await connection.receive(timeout: .seconds(10)) == nil)
                #expect(try await connection.receive(timeout: .seconds(10)) == nil, "end of stream is sticky")
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// Resets (RST) in the middle of a stream. What AsyncCurl does, on Linux with libcurl 7.88.1:
        /// - bytes that reached the client before the RST are delivered first, in order;
        /// - then the receive throws `CurlError.recvError` (ECONNRESET), and so does every later
        ///   one: the kernel reports a reset only once and then reads as a closed stream, but the
        ///   connection keeps the failure, so a reset never looks like a clean end of stream;
        /// - a send throws `CurlError.sendError`;
        /// - a receive that is already waiting when the RST arrives throws `recvError` at once,
        ///   and a send suspended on a full buffer throws `sendError` at once.
        @Test func peerThatResetsMidStream() async throws {
            var stream = ByteStream(seed: 12)
            let first = stream.next(1000)
            let second = stream.next(500)
            let server = try LoopbackServer(mode: .handler { peer in
                try? peer.write(first)
                guard (try? peer.read(exactly: 2)) != nil else { return }  // the client's "go"
                try? peer.write(second)
                peer.reset()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            #expect(try await connection.receive(exactly: first.count, timeout: .seconds(10)) == first)
            try await connection.send("go")
            // The peer's socket is closed only after its RST went out; loopback delivers the RST
            // behind the 500 bytes written before it.
            try await waitUntil("the peer to reset") { server.openClients == 0 }

            #expect(try await connection.receive(exactly: second.count, timeout: .seconds(10)) == second)
            let error = await #expect(throws: CurlError.self) { _ = try await connection.receive(timeout: .seconds(10)) }
            #expect(error?.code == .recvError, "\(String(describing: error))")
            let again = await #expect(throws: CurlError.self, "the reset is not forgotten") { _ = try await connection.receive(timeout: .seconds(10)) }
            #expect(again == error)
            let delimited = await #expect(throws: CurlError.self) { _ = try await connection.receive(through: Array("\n".utf8), timeout: .seconds(10)) }
            #expect(delimited?.code == .recvError)
            let sendError = await #expect(throws: CurlError.self) { try await connection.send("too late") }
            #expect(sendError?.code == .sendError, "\(String(describing: sendError))")
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// A receive waiting when the RST arrives throws `recvError` at once.
        @Test func resetFailsAWaitingReceive() async throws {
            let gate = PeerGate()
            let server = try LoopbackServer(mode: .handler { peer in
                gate.wait()
                peer.reset()
            })
            defer {
                gate.open()
                server.stop()
            }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let receiving = Task { try await connection.receive(timeout: .seconds(30)) }
            try await waitUntil("the receive to wait") { await multi.diagnostics.pendingContinuations == 1 }
            let start = ContinuousClock.now
            gate.open()
            let received = await receiving.result
            let elapsed = ContinuousClock.now - start
            #expect(outcome(received) == "CurlError.recvError")
            #expect(elapsed < .seconds(2), "\(elapsed)")
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// A send suspended on a full buffer (the peer never reads) when the RST arrives throws
        /// `sendError` at once.
        @Test func resetFailsASuspendedSend() async throws {
            let gate = PeerGate()
            let server = try LoopbackServer(mode: .handler { peer in
                gate.wait()  // never reads, so the client's send fills the buffers
                peer.reset()
            })
            defer {
                gate.open()
                server.stop()
            }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            let sending = Task { try await connection.send([UInt8](repeating: 7, count: 64 << 20), timeout: .seconds(30)) }
            try await waitUntil("the send to wait") { await multi.diagnostics.pendingContinuations == 1 }
            let start = ContinuousClock.now
            gate.open()
            let sent = await sending.result
            let elapsed = ContinuousClock.now - start
            #expect(outcome(sent) == "CurlError.sendError")
            #expect(elapsed < .seconds(2), "\(elapsed)")
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// Both directions waiting when the RST arrives. The kernel reports a reset once
        /// (ECONNRESET), to whichever call touches the socket first; after that the socket reads as
        /// ended and writes fail with EPIPE. The send always throws `sendError`; the receive throws
        /// `recvError` whether it got there first or the send did (the connection keeps a reset a
        /// send met, so the receive does not mistake it for a clean end of stream). Both return at
        /// once.
        @Test func resetWithBothDirectionsWaitingIsReportedOnce() async throws {
            let gate = PeerGate()
            let server = try LoopbackServer(mode: .handler { peer in
                gate.wait()  // never reads, so the client's send fills the buffers
                peer.reset()
            })
            defer {
                gate.open()
                server.stop()
            }
            let multi = CurlMulti()
            var receiveOutcomes: [String: Int] = [:]
            for _ in 0..<20 {
                let connection = try await multi.connect(to: server.url)
                let receiving = Task { try await connection.receive(timeout: .seconds(30)) }
                let sending = Task { try await connection.send([UInt8](repeating: 7, count: 64 << 20), timeout: .seconds(30)) }
                try await waitUntil("a receive and a send to wait") { await multi.diagnostics.pendingContinuations == 2 }
                let start = ContinuousClock.now
                gate.open()
                let received = await receiving.result
                let sent = await sending.result
                let elapsed = ContinuousClock.now - start
                let receiveOutcome = switch received {
                case .success(let bytes): bytes == nil ? "nil" : "data"
                case .failure(let error): outcome(of: error)
                }
                receiveOutcomes[receiveOutcome, default: 0] += 1
                #expect(outcome(sent) == "CurlError.sendError")
                #expect(elapsed < .seconds(2), "\(elapsed)")
                await connection.close()
                gate.close()
            }
            #expect(receiveOutcomes == ["CurlError.recvError": 20], "\(receiveOutcomes)")
            print("HostilePeerTests: RST with a receive and a send waiting, receive outcomes over 20 runs: \(receiveOutcomes.sorted { $0.key < $1.key })")
            #expect(await multi.diagnostics == .idle)
        }

        /// Trickles one byte every 2 ms. `receive(exactly:)` collects all 200 across ~200 waits; an
        /// idle timeout shorter than the whole trickle but longer than each gap does not fire,
        /// because it limits each wait, not the operation; a per-call timeout shorter than the
        /// trickle fires and gives its bytes back.
        @Test func peerThatDripsOneByteAtATime() async throws {
            let count = 200
            let server = try LoopbackServer(mode: .handler { peer in
                for round in 0..<2 {
                    for index in 0..<count {
                        guard (try? peer.write([UInt8(truncatingIfNeeded: round * count + index)])) != nil else { return }
                        // The peer's own pacing (its behaviour under test), not synchronisation.
                        usleep(2_000)
                    }
                }
                _ = try? peer.readToEnd()
            })
            defer { server.stop() }
            var options = ConnectionOptions()
            options.idleTimeout = .milliseconds(250)
            let multi = CurlMulti()
            try await multi.withConnection(to: server.url, options: options) { connection async throws in
                let (whole, elapsed) = await measured { try await connection.receive(exactly: count, timeout: .seconds(20)) }
                #expect(try whole.get() == (0..<count).map { UInt8($0) })
                #expect(elapsed >= .milliseconds(300), "200 bytes 2 ms apart took \(elapsed): the idle timeout (250 ms) did not cut it short")

                let (partial, partialElapsed) = await measured { try await connection.receive(exactly: count, timeout: .milliseconds(100)) }
                #expect(outcome(partial) == "CurlError.operationTimedOut")
                #expect(partialElapsed < .seconds(2))
                // Whatever the timed-out call had collected comes back first, nothing lost.
                #expect(try await connection.receive(exactly: count, timeout: .seconds(20)) == (count..<(2 * count)).map { UInt8(truncatingIfNeeded: $0) })
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// Floods 64 MiB as fast as it can at a reader that takes 4 KiB at a time and yields in
        /// between. Every byte arrives, in order; the client does not buffer ahead of its reader.
        @Test func floodingPeerAndSlowReader() async throws {
            let total = 64 << 20
            let chunk = 1 << 20
            let server = try LoopbackServer(mode: .handler { peer in
                var stream = ByteStream(seed: 64)
                for _ in 0..<(total / chunk) {
                    guard (try? peer.write(stream.next(chunk))) != nil else { return }
                }
                peer.shutdownWrite()
                _ = try? peer.readToEnd()
            })
            defer { server.stop() }
            let multi = CurlMulti()
            let memoryBefore = residentMemoryAfterTrim()
            var peakGrowth = 0
            try await multi.withConnection(to: server.url) { connection async throws in
                var expected = ByteStream(seed: 64)
                var received = 0
                var reads = 0
                var mismatchAt: Int?
                while let bytes = try await connection.receive(maxLength: 4096, timeout: .seconds(30)) {
                    #expect(bytes.count <= 4096)
                    if mismatchAt == nil, let offset = expected.firstMismatch(in: bytes) { mismatchAt = received + offset }
                    received += bytes.count
                    reads += 1
                    if reads % 2048 == 0 { peakGrowth = max(peakGrowth, residentMemoryAfterTrim() - memoryBefore) }
                    await Task.yield()
                }
                #expect(received == total)
                #expect(mismatchAt == nil, "first wrong byte at offset \(mismatchAt ?? -1)")
                #expect(reads >= total / 4096)
                print("HostilePeerTests: flood of \(total >> 20) MiB read in \(reads) receives of at most 4 KiB, "
                      + "all verified; peak resident memory growth \(peakGrowth >> 10) KiB")
            }
            // The peer's thread holds up to two 1 MiB chunks; the client holds one 4 KiB piece plus
            // the engine's fixed receive buffer. Unbounded read-ahead would show tens of MiB.
            if memoryChecksApply {
                #expect(peakGrowth < 24 << 20, "resident memory grew by \(peakGrowth >> 20) MiB while 64 MiB streamed through")
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// Half-closes: sends, then shuts down its write side while it keeps reading. The client
        /// reads the bytes, then `nil`; it can still send and the peer reads it; then the peer
        /// closes, and the client's sends fail with `sendError`.
        @Test func peerThatHalfClosesAndKeepsReading() async throws {
            let heard = PeerReport<[UInt8]>()
            let gate = PeerGate()
            let server = try LoopbackServer(mode: .handler { peer in
                try? peer.write("last words")
                peer.shutdownWrite()
                heard.publish((try? peer.read(exactly: 9)) ?? [])
                gate.wait()
                peer.close()
            })
            defer {
                gate.open()
                server.stop()
            }
            let multi = CurlMulti()
            let connection = try await multi.connect(to: server.url)
            #expect(try await connection.receive(exactly: 10, timeout: .seconds(10)) == Array("last words".utf8))
            #expect(try await connection.receive(timeout: .seconds(10)) == nil)
            try await connection.send("after EOF", timeout: .seconds(10))
            #expect(try await heard.wait("the peer to read after its half-close") == Array("after EOF".utf8))
            #expect(try await connection.receive(timeout: .seconds(10)) == nil)

            gate.open()
            try await waitUntil("the peer to close") { server.openClients == 0 }
            // The first send after a full close may still be accepted by the local kernel; the
            // peer answers it with an RST, after which sends fail.
            let failure = try await sendUntilFailure(connection)
            #expect(failure.code == .sendError, "\(failure)")
            await connection.close()
            #expect(await multi.diagnostics == .idle)
        }

        /// Accepts and closes at once (FIN). TCP completed before the accept, so the connect
        /// succeeds; the first receive returns `nil`; sends then fail with `sendError`.
        @Test func peerThatClosesRightAfterAccepting() async throws {
            let server = try LoopbackServer(mode: .handler { peer in peer.close() })
            defer { server.stop() }
            let multi = CurlMulti()
            for _ in 0..<50 {
                let connection = try await multi.connect(to: server.url)
                #expect(try await connection.receive(timeout: .seconds(10)) == nil)
                try await waitUntil("the peer to close") { server.openClients == 0 }
                let failure = try await sendUntilFailure(connection)
                #expect(failure.code == .sendError, "\(failure)")
                await connection.close()
            }
            #expect(await multi.diagnostics == .idle)
        }

        /// Accepts and resets at once (RST). Depending on when the RST overtakes libcurl's
        /// hand-over, the connect fails (`couldNotConnect` when curl's connect check reads the
        /// error, `recvError` when the hand-over read does), or it succeeds and the first receive
        /// throws `recvError`. Never a hang, never a success with data, never another error.
        @Test func peerThatResetsRightAfterAccepting() async throws {
            let server = try LoopbackServer(mode: .handler { peer in peer.reset() })
            defer { server.stop() }
            let multi = CurlMulti()
            var outcomes: [String: Int] = [:]
            for _ in 0..<100 {
                let outcome: String
                do {
                    let connection = try await multi.connect(to: server.url)
                    try await waitUntil("the peer to reset") { server.openClients == 0 }
                    do {
                        let received = try await connection.receive(timeout: .seconds(10))
                        outcome = received == nil ? "receive nil" : "receive data"
                    } catch let error as CurlError {
                        outcome = "receive \(error.code)"
                    }
                    await connection.close()
                } catch let error as CurlError {
                    outcome = "connect \(error.code)"
                }
                outcomes[outcome, default: 0] += 1
            }
            let allowed: Set = ["connect couldNotConnect", "connect recvError", "receive recvError"]
            #expect(Set(outcomes.keys).isSubset(of: allowed), "\(outcomes)")
            print("HostilePeerTests: accept-then-RST outcomes over 100 connects: \(outcomes.sorted { $0.key < $1.key })")
            #expect(await multi.diagnostics == .idle)
        }

        /// Nobody listens: every connect fails promptly with `couldNotConnect` and leaves nothing
        /// behind, however often it is tried.
        @Test func refusingPortFailsPromptlyEveryTime() async throws {
            let refusing = try RefusingPort()
            let multi = CurlMulti()
            let baseline = openFileDescriptorCount()
            var slowest = Duration.zero
            for _ in 0..<200 {
                let (result, elapsed) = await measured { try await multi.connect(to: "tcp://127.0.0.1:\(refusing.port)") }
                #expect(outcome(result) == "CurlError.couldNotConnect")
                slowest = max(slowest, elapsed)
            }
            #expect(slowest < .seconds(1), "slowest refusal took \(slowest)")
            print("HostilePeerTests: 200 refused connects, slowest \(slowest.milliseconds) ms")
            #expect(await multi.diagnostics == .idle)
            // `<=`: an engine from an earlier test may still be closing its epoll fd.
            #expect(openFileDescriptorCount() <= baseline)
        }

        /// Sends one byte at a time until a send fails (at most 5 s); returns that failure.
        private func sendUntilFailure(_ connection: AsyncConnection) async throws -> CurlError {
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                do {
                    try await connection.send("x", timeout: .seconds(5))
                } catch let error as CurlError {
                    return error
                }
                await Task.yield()
            }
            throw DeadlineExceeded(what: "a send to fail")
        }
    }
}
