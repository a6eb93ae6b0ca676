// `make demo`: a tour of AsyncCurl against servers embedded in this process on 127.0.0.1.
import AsyncCurl
import LoopbackServer

@main
struct Demo {
    static func main() async {
        do {
            try await run()
        } catch {
            print("demo failed: \(error)")
            exitProcess(1)
        }
    }

    static func run() async throws {
        let echo = try LoopbackServer(mode: .echo)
        let story = Array(String(repeating: "All work and no play makes Jack a dull boy.\n", count: 20_000).utf8)
        let source = try LoopbackServer(mode: .source(story))
        defer {
            echo.stop()
            source.stop()
        }
        let multi = CurlMulti()
        print("AsyncCurl demo — echo server at \(echo.url), source server at \(source.url)")

        // 1. One request/response, with the connection closed on the way out.
        let pong = try await multi.withConnection(to: echo.url) { connection in
            try await connection.send("PING\r\n")
            return try await connection.receive(exactly: 6)
        }
        print("1. sent PING, the echo server answered \(String(decoding: pong, as: UTF8.self).debugDescription)")

        // 2. Several connections at once, on one engine and one event loop.
        let clock = ContinuousClock()
        let start = clock.now
        let replies = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 1...8 {
                group.addTask {
                    try await multi.withConnection(to: echo.url) { connection in
                        let message = Array(repeating: UInt8(ascii: "a") + UInt8(index), count: 100_000 * index)
                        try await connection.send(message)
                        let reply = try await connection.receive(exactly: message.count)
                        return reply == message ? reply.count : -1
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        let echoed = replies.reduce(0, +)
        print("2. 8 concurrent connections echoed \(echoed) bytes, every byte checked, in \(milliseconds(clock.now - start))")

        // 3. Streaming: `chunks` is an AsyncSequence that ends when the peer closes.
        let streamed = try await multi.withConnection(to: source.url) { connection in
            var total = 0
            var chunkCount = 0
            for try await chunk in connection.chunks {
                total += chunk.count
                chunkCount += 1
            }
            return (total, chunkCount)
        }
        print("3. streamed \(streamed.0) bytes in \(streamed.1) chunks until the server closed (expected \(story.count))")

        // 4. Cancellation: a receive waiting for bytes that never come is cancelled; the
        //    connection stays usable and nothing was consumed.
        try await multi.withConnection(to: echo.url) { connection in
            let waiting = Task { try await connection.receive() }
            // Wait (at most 5 s) until the receive is suspended, so the cancellation hits it there.
            let deadline = ContinuousClock.now + .seconds(5)
            while await multi.diagnostics.pendingContinuations == 0, ContinuousClock.now < deadline {
                await Task.yield()
            }
            waiting.cancel()
            do {
                _ = try await waiting.value
                print("4. unexpected: the receive was not cancelled")
            } catch is CancellationError {
                try await connection.send("still here")
                let reply = try await connection.receive(exactly: 10)
                print("4. cancelled a waiting receive; the same connection then echoed \(String(decoding: reply, as: UTF8.self).debugDescription)")
            }
        }

        // 5. Errors are typed: a refused connection and a malformed URL.
        do {
            _ = try await multi.connect(to: "tcp://127.0.0.1:1")
        } catch let error as CurlError {
            print("5. connecting to a closed port: \(error.code) — \(error.message)")
        }
        do {
            _ = try await multi.connect(to: "tcp://127.0.0.1")
        } catch let error as CurlError {
            print("   a URL without a port: \(error.code) — \(error.message)")
        }

        // 6. Everything is released.
        print("6. engine after closing everything: \(await multi.diagnostics)")
    }

    /// A duration as milliseconds with one decimal, such as "12.3 ms".
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = (Double(seconds) * 10_000 + Double(attoseconds) / 1e14).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10) ms"
    }
}
