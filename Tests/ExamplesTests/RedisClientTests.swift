import Testing

extension ExamplesTests {
    @Suite(.enabled(if: TestEnvironment.canTry("redis-server"), "redis-server is not installed (Debian package redis-server)"))
    struct RedisClientTests {
        @Test func pingAnswersPong() throws {
            try withRedis { url in
                let reply = try redisClient(["--url", url, "PING"])
                #expect(reply == "PONG\n")
            }
        }

        @Test func setThenGetRoundTrips() throws {
            try withRedis { url in
                let set = try redisClient(["--url", url, "SET", "greeting", "hello, wörld"])
                #expect(set == "OK\n")
                let get = try redisClient(["--url", url, "GET", "greeting"])
                #expect(get == "hello, wörld\n")
                let missing = try redisClient(["--url", url, "GET", "no-such-key"])
                #expect(missing == "(nil)\n")
            }
        }

        @Test func pipelinedIncrementsCountToOneThousand() throws {
            try withRedis { url in
                let output = try redisClient(["--url", url, "INCR-PIPELINE", "counter", "1000"])
                #expect(output == "(integer) 1000\n")
                let value = try redisClient(["--url", url, "GET", "counter"])
                #expect(value == "1000\n")
            }
        }

        @Test func demoRunsTheTour() throws {
            try withRedis { url in
                let output = try redisClient(["--url", url, "demo"])
                #expect(output.contains("PING → PONG"))
                #expect(output.contains("1 MiB value: identical"))
                #expect(output.contains("replies 1…10000"))
                #expect(output.contains("DEL of the demo's keys → 3"))
            }
        }

        @Test func anErrorReplyExitsOne() throws {
            try withRedis { url in
                // A real error reply from the server: INCR on a key that holds text.
                try redisClient(["--url", url, "SET", "text", "not a number"])
                let client = try ChildProcess(try TestEnvironment.example("redis-client"), ["--url", url, "INCR-PIPELINE", "text", "3"])
                defer { client.stop() }
                let status = try client.waitForExit(timeout: .seconds(30))
                #expect(status == 1)
                #expect(client.standardErrorText.contains("ERR value is not an integer"), "stderr: \(client.standardErrorText)")
            }
        }

        /// Runs redis-client to completion and returns its standard output; fails unless it
        /// exits with 0.
        @discardableResult
        private func redisClient(_ arguments: [String]) throws -> String {
            try runToCompletion(try TestEnvironment.example("redis-client"), arguments)
        }

        /// Starts a private `redis-server` on 127.0.0.1 (no persistence), runs `body` with its
        /// URL, and stops the server whatever happens.
        private func withRedis(_ body: (String) throws -> Void) throws {
            let redisServer = try TestEnvironment.daemon("redis-server", package: "redis-server")
            let directory = try TemporaryDirectory("asynccurl-redis")
            defer { directory.remove() }
            let (server, port) = try startDaemon { port in
                try ChildProcess(redisServer, [
                    "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--dir", directory.path,
                ], currentDirectory: directory.path)
            }
            defer { server.stop() }
            try body("tcp://127.0.0.1:\(port)")
        }
    }
}
