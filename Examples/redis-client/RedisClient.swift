// redis-client: a small Redis (RESP2) client on AsyncCurl. See `redis-client --help`.
import AsyncCurl
#if canImport(Glibc)
import Glibc
#endif

@main
struct RedisClient {
    static let usage = """
        usage: redis-client [--url URL] [--connect-timeout S] COMMAND

        A small Redis client on AsyncCurl: RESP2 over a raw connection that libcurl set up.

        commands:
          PING                   prints PONG
          SET KEY VALUE          prints OK
          GET KEY                prints the value, or (nil)
          INCR-PIPELINE KEY N    sends N INCR commands in one write, reads the N replies, checks
                                 that they count up by one, and prints the last: (integer) …
          demo                   a tour of the commands above against the server (it writes keys
                                 named asynccurl:demo:* and deletes them again)

        options:
          --url URL              the server: tcp://HOST:PORT, or tls://HOST:PORT for a Redis with
                                 TLS (default tcp://127.0.0.1:6379)
          --connect-timeout S    give up when connecting takes longer than S seconds
          -h, --help             print this help and exit

        exit status: 0 on success, 1 on a network error or a Redis error reply, 2 on bad arguments

        """

    enum Command {
        case ping
        case set(key: String, value: String)
        case get(key: String)
        case incrementPipeline(key: String, count: Int)
        case demo
    }

    static func main() async {
        var url = "tcp://127.0.0.1:6379"
        var options = ConnectionOptions()
        var words: [String] = []
        var arguments = CommandLine.arguments.dropFirst()[...]
        while let argument = arguments.popFirst() {
            switch argument {
            case "-h", "--help":
                print(usage, terminator: "")
                exit(0)
            case "--url":
                guard let value = arguments.popFirst() else { usageError("--url needs a URL") }
                url = value
            case "--connect-timeout":
                guard let value = arguments.popFirst().flatMap(Double.init), value > 0, value < 1_000_000 else {
                    usageError("--connect-timeout needs a positive number of seconds")
                }
                options.connectTimeout = .milliseconds(Int64((value * 1000).rounded(.up)))
            default:
                if argument.hasPrefix("--") { usageError("unknown option '\(argument)'") }
                words.append(argument)
            }
        }

        let command: Command
        switch (words.first?.uppercased(), words.count) {
        case ("PING", 1): command = .ping
        case ("SET", 3): command = .set(key: words[1], value: words[2])
        case ("GET", 2): command = .get(key: words[1])
        case ("INCR-PIPELINE", 3):
            guard let count = Int(words[2]), count > 0 else { usageError("INCR-PIPELINE needs a positive count") }
            command = .incrementPipeline(key: words[1], count: count)
        case ("DEMO", 1): command = .demo
        case (nil, _): usageError("missing command")
        default: usageError("unknown command or wrong number of arguments: \(words.joined(separator: " "))")
        }

        do {
            let redis = try await RedisConnection.connect(to: url, options: options)
            do {
                try await run(command, on: redis, url: url)
                await redis.close()
            } catch {
                await redis.close()
                throw error
            }
            exit(0)
        } catch {
            printError("redis-client: \(error)")
            exit(1)
        }
    }

    static func run(_ command: Command, on redis: RedisConnection, url: String) async throws {
        switch command {
        case .ping:
            print(try await redis.ping())
        case .set(let key, let value):
            try await redis.set(key, Array(value.utf8))
            print("OK")
        case .get(let key):
            if let value = try await redis.get(key) {
                print(String(decoding: value, as: UTF8.self))
            } else {
                print("(nil)")
            }
        case .incrementPipeline(let key, let count):
            let replies = try await redis.incrementPipelined(key, count: count)
            try checkConsecutive(replies)
            print("(integer) \(replies.last!)")
        case .demo:
            try await demo(redis, url: url)
        }
    }

    /// Replies of a pipeline of INCRs on one key must count up by one each.
    static func checkConsecutive(_ replies: [Int]) throws {
        for (previous, next) in zip(replies, replies.dropFirst()) where next != previous + 1 {
            throw RedisError(message: "INCR replies are not consecutive: \(previous) then \(next)")
        }
    }

    static func demo(_ redis: RedisConnection, url: String) async throws {
        let clock = ContinuousClock()
        print("redis-client demo against \(url)")
        print("PING → \(try await redis.ping())")

        let greeting = "asynccurl:demo:greeting"
        try await redis.set(greeting, Array("hello from AsyncCurl".utf8))
        print("SET \(greeting) \"hello from AsyncCurl\" → OK")
        let value = try await redis.get(greeting).map { String(decoding: $0, as: UTF8.self) }
        print("GET \(greeting) → \(value.map { "\"\($0)\"" } ?? "(nil)")")
        let missing = try await redis.get("asynccurl:demo:missing")
        print("GET asynccurl:demo:missing → \(missing == nil ? "(nil)" : "unexpectedly set")")

        // A large value: the reply's bulk string is read with receive(exactly:).
        let big = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var start = clock.now
        try await redis.set("asynccurl:demo:big", big)
        let echoed = try await redis.get("asynccurl:demo:big")
        print("SET + GET of a 1 MiB value: \(echoed == big ? "identical" : "DIFFERENT") after \(milliseconds(clock.now - start))")

        // Pipelining: one write, one round trip, many replies.
        let counter = "asynccurl:demo:counter"
        try await redis.delete([counter])
        start = clock.now
        let replies = try await redis.incrementPipelined(counter, count: 10_000)
        let pipelined = clock.now - start
        try checkConsecutive(replies)
        start = clock.now
        for _ in 0..<100 {
            _ = try await redis.command(["INCR", counter])
        }
        let sequential = clock.now - start
        print("10000 INCR in one pipeline: replies \(replies.first!)…\(replies.last!) in \(milliseconds(pipelined)), \(microseconds(pipelined / 10_000)) per command")
        print("100 INCR one at a time (a round trip each): \(milliseconds(sequential)), \(microseconds(sequential / 100)) per command")

        let reply = try await redis.command(["NO-SUCH-COMMAND"])
        print("an unknown command → \(reply)")

        let deleted = try await redis.delete([greeting, "asynccurl:demo:big", counter])
        print("DEL of the demo's keys → \(deleted)")
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let value = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let value = Double(seconds) * 1e6 + Double(attoseconds) / 1e12
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) µs"
    }

    static func usageError(_ message: String) -> Never {
        printError("redis-client: \(message)\n\n\(usage)")
        exit(2)
    }

    static func printError(_ message: String) {
        var bytes = Array(message.utf8)
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
