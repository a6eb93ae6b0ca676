@testable import AsyncCurl
import Dispatch
import Glibc
import LoopbackServer
import Testing
@testable import TestPeers

// Helpers for the transfer tests of bodies, back-pressure, cancellation and bad input.

/// A request body as an `AsyncSequence`: `total` bytes of ``NginxHTTPServer/bytes(count:)`` in
/// chunks of `chunkSize`, counting in `progress` how far the producer got (the bytes it handed
/// out), and setting `finished` when its iterator goes away (the producer task stopped).
struct CountingChunks: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let total: Int
    let chunkSize: Int
    let progress: Locked<Int>
    let finished: Locked<Bool>
    /// The bytes to send; `nil` makes cheap zero chunks (for sequences too large to keep).
    let source: [UInt8]?

    init(total: Int, chunkSize: Int = 64 << 10, source: [UInt8]? = nil) {
        self.total = total
        self.chunkSize = chunkSize
        self.source = source
        progress = Locked(0)
        finished = Locked(false)
    }

    final class AsyncIterator: AsyncIteratorProtocol {
        let sequence: CountingChunks
        var offset = 0
        init(_ sequence: CountingChunks) { self.sequence = sequence }

        func next() async throws -> [UInt8]? {
            guard offset < sequence.total else { return nil }
            let count = Swift.min(sequence.chunkSize, sequence.total - offset)
            let chunk = sequence.source.map { Array($0[offset..<(offset + count)]) } ?? [UInt8](repeating: 0x61, count: count)
            offset += count
            sequence.progress.withLock { $0 = offset }
            return chunk
        }

        deinit { sequence.finished.withLock { $0 = true } }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }
}

/// A scripted HTTP server on 127.0.0.1 (a `LoopbackServer` in handler mode): for each
/// connection it reads the request head and hands it, with the socket, to `script`. The script
/// may block on `gate`, which `stop()` opens.
final class ScriptedHTTPServer: Sendable {
    let server: LoopbackServer
    let gate = PeerGate()
    /// The request heads received, in order.
    let heads = Locked<[String]>([])

    init(_ script: @escaping @Sendable (PeerSocket, String, PeerGate) -> Void) throws {
        let gate = self.gate
        let heads = self.heads
        server = try LoopbackServer(mode: .handler { peer in
            guard let head = Self.readHead(peer) else { return }
            heads.withLock { $0.append(head) }
            script(peer, head, gate)
        })
    }

    func url(_ path: String = "/") -> String { "http://127.0.0.1:\(server.port)\(path)" }

    func stop() {
        gate.open()
        server.stop()
    }

    /// Reads up to the blank line that ends a request head (byte by byte: what follows stays
    /// in the socket).
    static func readHead(_ peer: PeerSocket) -> String? {
        var bytes: [UInt8] = []
        while !(bytes.count >= 4 && bytes.suffix(4) == [13, 10, 13, 10]) {
            guard bytes.count < 65536, let byte = try? peer.read(exactly: 1) else { return nil }
            bytes += byte
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension CurlMulti {
    /// Whether the one transfer the engine holds is paused on receiving.
    var onlyTransferIsReceivePaused: Bool {
        transfers.count == 1 && transfers.values.first?.receivePaused == true
    }

    /// Transfers paused on receiving.
    var receivePausedCount: Int { transfers.values.filter(\.receivePaused).count }

    /// Bytes the one transfer's response stream holds for its consumer.
    var onlyTransferBufferedBytes: Int? { transfers.values.first?.stream.bufferedBytes }
}

/// Waits until the engine holds no transfer and its diagnostics are idle.
func expectTransfersReleased(_ multi: CurlMulti, timeout: Duration = .seconds(10),
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
    try await waitUntil("the transfers to be released", timeout: timeout) { await multi.diagnostics.transfers == 0 }
    #expect(await multi.diagnostics == .idle, sourceLocation: sourceLocation)
}

/// Options trusting the nginx peer's certificate, asking for `version`.
func nginxOptions(_ server: NginxHTTPServer, _ version: HTTPVersionChoice = .http2) -> TransferOptions {
    var options = TransferOptions()
    options.connection.tls.caFile = server.caFile
    options.httpVersion = version
    return options
}

/// Waits `interval` on a Dispatch timer (not a synchronisation: a measurement window, for a
/// figure that must stay under a bound while nothing else happens).
func observe(for interval: Duration) async {
    let milliseconds = Int(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { done.resume() }
    }
}

/// A body's bytes differ from the expected ones at `offset`.
struct Mismatch: Error {
    let offset: Int
}
