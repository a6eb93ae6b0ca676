import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import HummingbirdWSCompression
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Hummingbird's WebSocket server in the bench process: an echo endpoint at `/echo` on
/// 127.0.0.1, on an event loop thread of its own (the clients' NIO code runs on the singleton
/// group, AsyncCurl on its engine thread and Swift's pool).
///
/// permessage-deflate is configured, so a client that offers it gets it and one that does not
/// gets an uncompressed connection: the same server serves both kinds of row. Every message is
/// compressed (`minFrameSizeToCompress: 0`; Hummingbird's default leaves messages under 256 bytes
/// uncompressed) and frames up to 4 MiB are accepted and sent whole, so a 1 MiB echo is one
/// frame each way.
final class WebSocketEchoServer: Sendable {
    static let maximumFrameSize = 4 << 20

    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let services: ServiceGroup
    private let task: Task<Void, Never>
    private let offers: OfferLog

    private init(port: Int, group: MultiThreadedEventLoopGroup, services: ServiceGroup, task: Task<Void, Never>, offers: OfferLog) {
        self.port = port
        self.group = group
        self.services = services
        self.task = task
        self.offers = offers
    }

    var url: String { "ws://127.0.0.1:\(port)/echo" }

    /// Whether the last upgrade request offered permessage-deflate (the server accepts any offer),
    /// so the bench can check that each client's connection is compressed as the row says.
    var lastConnectionOfferedDeflate: Bool? { offers.last.withLock { $0 } }

    static func start() async throws -> WebSocketEchoServer {
        var logger = Logger(label: "bench.websocket-server")
        logger.logLevel = .error
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let offers = OfferLog()
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            ws: WebSocketServerConfiguration(
                maxFrameSize: maximumFrameSize,
                extensions: [.perMessageDeflate(maxDecompressedFrameSize: maximumFrameSize, minFrameSizeToCompress: 0)],
                autoPing: .disabled
            )
        )
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(configuration: configuration) { request, _, _ in
                guard request.path == "/echo" else { return .dontUpgrade }
                let offered = request.headerFields[values: .secWebSocketExtensions].contains { $0.contains("permessage-deflate") }
                offers.last.withLock { $0 = offered }
                return .upgrade([:]) { inbound, outbound, _ in
                    for try await message in inbound.messages(maxSize: maximumFrameSize) {
                        switch message {
                        case .text(let text): try await outbound.write(.text(text))
                        case .binary(let bytes): try await outbound.write(.binary(bytes))
                        }
                    }
                }
            },
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            eventLoopGroupProvider: .shared(group),
            logger: logger
        )
        // No signal handlers: stop() shuts it down.
        let services = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            do {
                try await services.run()
            } catch {
                log("bench: the WebSocket server stopped: \(error)")
            }
            portContinuation.finish()
        }
        var port = 0
        for await bound in ports { port = bound }
        guard port > 0 else {
            await services.triggerGracefulShutdown()
            _ = await task.value
            try? await group.shutdownGracefully()
            throw BenchFailure("the Hummingbird WebSocket server did not start")
        }
        return WebSocketEchoServer(port: port, group: group, services: services, task: task, offers: offers)
    }

    /// Graceful shutdown (every client has closed its WebSocket by now), then the loop thread.
    func stop() async {
        await services.triggerGracefulShutdown()
        _ = await task.value
        try? await group.shutdownGracefully()
    }
}

private final class OfferLog: Sendable {
    let last = Mutex<Bool?>(nil)
}
