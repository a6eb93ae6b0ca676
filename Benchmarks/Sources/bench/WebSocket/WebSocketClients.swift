import AsyncCurl
import AsyncCurlWebSocket
import BenchC
import HummingbirdWSCompression
import Logging
import NIOCore
import NIOPosix
import Synchronization
import WSClient
import WebSocketKit

/// The message a run echoes, in the forms the clients send.
struct WebSocketPayload: Sendable {
    let isText: Bool
    let bytes: [UInt8]
    var text: String { String(decoding: bytes, as: UTF8.self) }
    var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }
    var count: Int { bytes.count }
}

/// One WebSocket client library. Each run opens its own connection, sends `warmup + count`
/// messages one at a time (each waits for its echo before the next goes), closes with the
/// closing handshake, and returns the timed round trips in ns (send call to echo delivered).
protocol WebSocketBenchClient: Sendable {
    var name: String { get }
    var supportsCompression: Bool { get }
    func echo(url: String, compressed: Bool, payload: WebSocketPayload, warmup: Int, count: Int) async throws -> [UInt64]
}

/// Fails unless the echo is the message that went out (same kind and length).
private func checkEcho(isText: Bool, count: Int, against payload: WebSocketPayload) throws {
    guard isText == payload.isText, count == payload.count else {
        throw BenchFailure("echo is a \(isText ? "text" : "binary") message of \(count) bytes, not the \(payload.count) sent")
    }
}

// MARK: - AsyncCurlWebSocket

struct AsyncCurlWebSocketClient: WebSocketBenchClient {
    let supportsCompression = true
    let multi: CurlMulti
    /// Runs the echo loop on the engine's readiness thread (`CurlMulti.taskExecutor`) instead of
    /// Swift's global pool, as the TCP scenarios' "AsyncCurl on its executor".
    var onEngineExecutor = false

    var name: String { onEngineExecutor ? "AsyncCurlWebSocket on its executor" : "AsyncCurlWebSocket" }

    func echo(url: String, compressed: Bool, payload: WebSocketPayload, warmup: Int, count: Int) async throws -> [UInt64] {
        try await withTaskExecutorPreference(onEngineExecutor ? multi.taskExecutor : nil) {
            try await echoHere(url: url, compressed: compressed, payload: payload, warmup: warmup, count: count)
        }
    }

    private func echoHere(url: String, compressed: Bool, payload: WebSocketPayload, warmup: Int, count: Int) async throws -> [UInt64] {
        var configuration = WebSocketConfiguration()
        configuration.maximumFrameSize = WebSocketEchoServer.maximumFrameSize
        configuration.maximumMessageSize = WebSocketEchoServer.maximumFrameSize
        if compressed { configuration.compression = .permessageDeflate }
        let socket = try await multi.webSocket(to: url, configuration: configuration)
        let message: AsyncCurlWebSocket.WebSocket.Message = payload.isText ? .text(payload.text) : .binary(payload.bytes)
        var messages = socket.messages.makeAsyncIterator()
        var rtts = [UInt64](repeating: 0, count: count)
        do {
            for i in 0..<(warmup + count) {
                let start = bench_now_ns()
                try await socket.send(message)
                guard let reply = try await messages.next() else { throw BenchFailure("the server closed the WebSocket") }
                let end = bench_now_ns()
                if i >= warmup { rtts[i - warmup] = end - start }
                switch reply {
                case .text(let text): try checkEcho(isText: true, count: text.utf8.count, against: payload)
                case .binary(let bytes): try checkEcho(isText: false, count: bytes.count, against: payload)
                }
            }
        } catch {
            try? await socket.close()
            throw error
        }
        try await socket.close()
        return rtts
    }
}

// MARK: - Hummingbird's WebSocketClient (swift-websocket's WSClient)

struct HummingbirdWebSocketClient: WebSocketBenchClient {
    let name = "Hummingbird WSClient"
    let supportsCompression = true
    let group: any EventLoopGroup

    /// What the handler hands back: the round trips, or what went wrong.
    private final class Outcome: Sendable {
        let value = Mutex<Result<[UInt64], any Error>?>(nil)
    }

    func echo(url: String, compressed: Bool, payload: WebSocketPayload, warmup: Int, count: Int) async throws -> [UInt64] {
        var logger = Logger(label: "bench.hummingbird-client")
        logger.logLevel = .error
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: WebSocketEchoServer.maximumFrameSize,
            extensions: compressed
                ? [.perMessageDeflate(maxDecompressedFrameSize: WebSocketEchoServer.maximumFrameSize, minFrameSizeToCompress: 0)]
                : []
        )
        let outcome = Outcome()
        let text = payload.text
        let buffer = payload.buffer
        try await WSClient.WebSocketClient.connect(url: url, configuration: configuration, eventLoopGroup: group, logger: logger) {
            inbound, outbound, _ in
            var messages = inbound.messages(maxSize: WebSocketEchoServer.maximumFrameSize).makeAsyncIterator()
            var rtts = [UInt64](repeating: 0, count: count)
            do {
                for i in 0..<(warmup + count) {
                    let start = bench_now_ns()
                    try await outbound.write(payload.isText ? .text(text) : .binary(buffer))
                    guard let reply = try await messages.next() else { throw BenchFailure("the server closed the WebSocket") }
                    let end = bench_now_ns()
                    if i >= warmup { rtts[i - warmup] = end - start }
                    switch reply {
                    case .text(let text): try checkEcho(isText: true, count: text.utf8.count, against: payload)
                    case .binary(let bytes): try checkEcho(isText: false, count: bytes.readableBytes, against: payload)
                    }
                }
                outcome.value.withLock { $0 = .success(rtts) }
            } catch {
                outcome.value.withLock { $0 = .failure(error) }
            }
        }
        guard let result = outcome.value.withLock({ $0 }) else {
            throw BenchFailure("the WebSocket closed before the handler finished")
        }
        return try result.get()
    }
}

// MARK: - Vapor's websocket-kit

struct WebSocketKitClient: WebSocketBenchClient {
    let name = "websocket-kit"
    /// websocket-kit 2.16 has no permessage-deflate.
    let supportsCompression = false
    let group: any EventLoopGroup

    private enum Event: Sendable {
        case open(WebSocketKit.WebSocket)
        case text(String)
        case binary(ByteBuffer)
    }

    func echo(url: String, compressed: Bool, payload: WebSocketPayload, warmup: Int, count: Int) async throws -> [UInt64] {
        guard !compressed else { throw BenchFailure("websocket-kit has no permessage-deflate") }
        // The documented callbacks, run on the channel's event loop, feed an AsyncStream that
        // this task reads: the usual bridge from websocket-kit to async code.
        let (events, continuation) = AsyncStream<Event>.makeStream()
        var configuration = WebSocketKit.WebSocketClient.Configuration()
        configuration.maxFrameSize = WebSocketEchoServer.maximumFrameSize
        try await WebSocketKit.WebSocket.connect(to: url, configuration: configuration, on: group) { socket in
            socket.onText { _, text in continuation.yield(.text(text)) }
            socket.onBinary { _, bytes in continuation.yield(.binary(bytes)) }
            socket.onClose.whenComplete { _ in continuation.finish() }
            continuation.yield(.open(socket))
        }.get()
        var iterator = events.makeAsyncIterator()
        guard case .open(let socket) = await iterator.next() else { throw BenchFailure("websocket-kit did not open") }
        let text = payload.text
        let buffer = payload.buffer
        var rtts = [UInt64](repeating: 0, count: count)
        do {
            for i in 0..<(warmup + count) {
                let start = bench_now_ns()
                if payload.isText {
                    try await socket.send(text)
                } else {
                    try await socket.send(raw: buffer.readableBytesView, opcode: .binary)
                }
                let reply = await iterator.next()
                let end = bench_now_ns()
                if i >= warmup { rtts[i - warmup] = end - start }
                switch reply {
                case .text(let text): try checkEcho(isText: true, count: text.utf8.count, against: payload)
                case .binary(let bytes): try checkEcho(isText: false, count: bytes.readableBytes, against: payload)
                case .open, nil: throw BenchFailure("the server closed the WebSocket")
                }
            }
        } catch {
            try? await socket.close(code: .normalClosure)
            throw error
        }
        try await socket.close(code: .normalClosure)
        return rtts
    }
}
