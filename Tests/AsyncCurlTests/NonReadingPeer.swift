import Dispatch
import LoopbackServer
@testable import TestPeers

/// A peer that accepts and holds connections open without ever reading, so a large send fills
/// the socket buffers and suspends. `stop()` releases the held connections and the server.
final class NonReadingPeer: Sendable {
    private let server: LoopbackServer
    private let release: DispatchSemaphore

    var url: String { server.url }

    init() throws {
        let release = DispatchSemaphore(value: 0)
        // The deadline bounds a handler thread even if a test never calls stop().
        server = try LoopbackServer(mode: .handler { _ in _ = release.wait(timeout: .now() + 60) })
        self.release = release
    }

    func stop() {
        for _ in 0..<server.acceptedCount { release.signal() }
        server.stop()
    }
}
