import BenchC
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// SwiftNIO + swift-nio-ssl: `ClientBootstrap` on `MultiThreadedEventLoopGroup.singleton`, a
/// `NIOSSLClientHandler` from one shared `NIOSSLContext` that trusts the bench CA (no server
/// name: swift-nio-ssl then checks the certificate against the peer's IP address), and
/// `NIOAsyncChannel`, as `NIOClient` does over plain TCP. A connect returns once the TLS
/// handshake is done, as AsyncCurl's does.
struct NIOTLSScaleClient: TLSScaleClient {
    let name = "SwiftNIO"
    let group: MultiThreadedEventLoopGroup
    let server: ServerEndpoints
    let context: NIOSSLContext

    init(group: MultiThreadedEventLoopGroup, server: ServerEndpoints) throws {
        self.group = group
        self.server = server
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(server.echoCAFile)
        context = try NIOSSLContext(configuration: configuration)
    }

    typealias Channel = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    private func connect() async throws -> Channel {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: server.tlsEchoPort)
        let context = context
        let (channel, handshake) = try await ClientBootstrap(group: group)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let waiter = HandshakeWaiter(promise: channel.eventLoop.makePromise())
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(waiter)
                    let wrapped = try Channel(wrappingChannelSynchronously: channel)
                    return (wrapped, waiter.promise.futureResult)
                }
            }
        do {
            try await handshake.get()
        } catch {
            try? await channel.executeThenClose { _, _ in }
            throw error
        }
        return channel
    }

    private func openAll(_ count: Int) async throws -> [Channel] {
        try await withThrowingTaskGroup(of: Channel.self) { group in
            for _ in 0..<count {
                group.addTask { try await connect() }
            }
            var open: [Channel] = []
            open.reserveCapacity(count)
            do {
                for try await channel in group { open.append(channel) }
            } catch {
                for channel in open { try? await channel.executeThenClose { _, _ in } }
                throw error
            }
            return open
        }
    }

    func tlsFanOut(connections: Int, size: Int) async throws -> FanOutResult {
        let message = ByteBuffer(repeating: 0x66, count: size)
        return try await measureFanOut(open: { try await openAll(connections) },
                                       exchange: { try await echoAndClose($0, message) })
    }

    func tlsRoundRobin(connections: Int, warmup: Int, count: Int, size: Int) async throws -> RoundRobinOutcome {
        let open = try await openAll(connections)
        return try await Self.enter(open[...], streams: []) { streams in
            let message = ByteBuffer(repeating: 0x70, count: size)
            var streams = streams
            var rtts = [UInt64](repeating: 0, count: count)
            var cpu0 = 0.0
            for i in 0..<(warmup + count) {
                if i == warmup { cpu0 = bench_cpu_seconds() }
                let index = i % connections
                let start = bench_now_ns()
                try await streams[index].outbound.write(message)
                var received = 0
                while received < size {
                    guard let buffer = try await streams[index].inbound.next() else { throw BenchFailure("end of stream") }
                    received += buffer.readableBytes
                }
                if i >= warmup { rtts[i - warmup] = bench_now_ns() - start }
            }
            return RoundRobinOutcome(rtts: rtts, cpuSeconds: bench_cpu_seconds() - cpu0)
        }
    }

    struct Stream {
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    }

    /// Enters every channel's `executeThenClose` (the scoped way to reach its streams), one
    /// inside the other, then runs `body` with all the streams; every channel closes on the way out.
    private static func enter(_ channels: ArraySlice<Channel>, streams: [Stream],
                              _ body: ([Stream]) async throws -> RoundRobinOutcome) async throws -> RoundRobinOutcome {
        guard let first = channels.first else { return try await body(streams) }
        return try await first.executeThenClose { inbound, outbound in
            try await enter(channels.dropFirst(), streams: streams + [Stream(inbound: inbound.makeAsyncIterator(), outbound: outbound)], body)
        }
    }
}

/// Completes `promise` when swift-nio-ssl reports the handshake done, or fails it on an error or
/// a close before that.
final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let promise: EventLoopPromise<Void>
    private var done = false

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { finish(nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(BenchFailure("closed before the TLS handshake"))
        context.fireChannelInactive()
    }

    private func finish(_ error: (any Error)?) {
        guard !done else { return }
        done = true
        if let error { promise.fail(error) } else { promise.succeed() }
    }
}
