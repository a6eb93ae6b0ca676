import Dispatch
import Testing
// The shared peers (the Python websockets server, tinyproxy, the test CA). This module's own
// helpers of the same names (TemporaryDirectory, freeLoopbackPort, DeadlineExceeded) shadow
// TestPeers' in this file; the tests here use only the peers.
@testable import TestPeers

extension ExamplesTests {
    /// `wscat` against the real Python `websockets` server (Debian's python3-websockets).
    ///
    /// The echo tests write their lines, wait for the echoes and only then end standard input:
    /// at the end of input wscat closes at once, and websockets answers a close frame before it
    /// echoes what it had still queued, so an echo sent after the close would be lost (which
    /// is what `--wait` is for).
    @Suite(.requires(.pythonWebsockets))
    struct WscatTests {
        @Test func echoesLinesAndExitsZeroAtEndOfInput() async throws {
            let server = try await WebSocketsServer()
            let wscat = try startWscat([server.url("/echo")])
            let lines = "hello\nwörld with CRLF\r\n\n{\"json\": true}\n"
            let expected = "hello\nwörld with CRLF\n\n{\"json\": true}\n"
            wscat.writeInput(Array(lines.utf8))
            try await offPool { try wscat.waitForOutput(count: expected.utf8.count, timeout: .seconds(30)) }
            #expect(wscat.standardOutputText == expected)
            #expect(!wscat.hasExited, "wscat keeps running while standard input is open")

            // A last line without a newline is sent at the end of input, just before the close
            // frame; its echo may or may not beat the server's close (see the suite's comment).
            wscat.writeInputAndClose(Array("no newline".utf8))
            let status = try await offPool { try wscat.waitForExit(timeout: .seconds(30)) }
            #expect(status == 0, "stderr: \(wscat.standardErrorText)")
            #expect([expected, expected + "no newline\n"].contains(wscat.standardOutputText))
            #expect(wscat.standardErrorText.isEmpty)
        }

        @Test func waitKeepsPrintingAfterTheEndOfInput() async throws {
            let server = try await WebSocketsServer()
            // Input ends at once; without --wait the echoes would race the close frame.
            let wscat = try startWscat(["--wait", "1", server.url("/echo")])
            wscat.writeInputAndClose(Array("one\ntwo\nthree without newline".utf8))
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
            #expect(wscat.standardOutputText == "one\ntwo\nthree without newline\n")
        }

        @Test func compressionIsNegotiatedAndVerboseShowsTheHandshake() async throws {
            let server = try await WebSocketsServer()
            let wscat = try startWscat(["-v", "--compression", "--subprotocol", "nope", "--subprotocol", "chat",
                                        server.url("/echo")])
            // 90 000 bytes that deflate to a few hundred: compressed both ways.
            let long = String(repeating: "compress me ", count: 7500)
            try await converse(wscat, send: "short\n\(long)\n", expect: "short\n\(long)\n")
            let status = try await offPool { try wscat.waitForExit(timeout: .seconds(30)) }
            #expect(status == 0, "stderr: \(wscat.standardErrorText)")
            let trace = wscat.standardErrorText
            for line in ["< HTTP/1.1 101 Switching Protocols", "< Upgrade: websocket", "* extensions: permessage-deflate",
                         "* subprotocol: chat", "* closed: the server answered with code 1000"] {
                #expect(trace.contains(line), "wscat -v: \(trace)")
            }
        }

        @Test func withoutCompressionVerboseSaysNone() async throws {
            let server = try await WebSocketsServer()
            let wscat = try startWscat(["-v", server.url("/echo")])
            try await converse(wscat, send: "plain\n", expect: "plain\n")
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0)
            #expect(wscat.standardErrorText.contains("* extensions: none"), "\(wscat.standardErrorText)")
            #expect(wscat.standardErrorText.contains("* subprotocol: none"), "\(wscat.standardErrorText)")
        }

        @Test(.requires(.openssl)) func wssIsVerifiedWithCACert() async throws {
            let server = try await WebSocketsServer(tls: true)
            let caFile = try TestCertificates.shared().caFile
            // The certificate names localhost as well as 127.0.0.1.
            let wscat = try startWscat(["--cacert", caFile, server.url("/echo", secure: true, host: "localhost")])
            try await converse(wscat, send: "over TLS\n", expect: "over TLS\n")
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
        }

        @Test(.requires(.openssl)) func anUnknownCAFailsAndInsecureSkipsVerification() async throws {
            let server = try await WebSocketsServer(tls: true)
            let refused = try startWscat([server.url("/echo", secure: true)])
            #expect(try await offPool { try refused.waitForExit(timeout: .seconds(30)) } == 1)
            #expect(refused.standardErrorText.contains("peerFailedVerification"), "\(refused.standardErrorText)")
            #expect(refused.standardOutputText.isEmpty)

            let insecure = try startWscat(["--insecure", server.url("/echo", secure: true)])
            try await converse(insecure, send: "unverified\n", expect: "unverified\n")
            #expect(try await offPool { try insecure.waitForExit(timeout: .seconds(30)) } == 0, "\(insecure.standardErrorText)")
        }

        @Test(.requires(.tinyproxy)) func goesThroughAnHTTPProxy() async throws {
            let server = try await WebSocketsServer()
            let proxy = try await TinyproxyPeer()
            let wscat = try startWscat(["--proxy", proxy.url, server.url("/echo")])
            try await converse(wscat, send: "through the tunnel\n", expect: "through the tunnel\n")
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
            let connect = "CONNECT 127.0.0.1:\(server.port) HTTP/1.1"
            #expect(await eventually { proxy.requests.contains(connect) }, "tinyproxy saw \(proxy.requests)")
        }

        @Test(.requires(.tinyproxy)) func proxyUserAuthenticatesToTheProxy() async throws {
            let server = try await WebSocketsServer()
            let proxy = try await TinyproxyPeer(basicAuth: (user: "wsuser", password: "proxy-secret"))
            let refused = try startWscat(["--proxy", proxy.url, server.url("/echo")])
            #expect(try await offPool { try refused.waitForExit(timeout: .seconds(30)) } == 1)
            #expect(refused.standardErrorText.contains("407"), "\(refused.standardErrorText)")

            let wscat = try startWscat(["--proxy", proxy.url, "--proxy-user", "wsuser:proxy-secret", server.url("/echo")])
            try await converse(wscat, send: "authenticated\n", expect: "authenticated\n")
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
        }

        @Test(arguments: [(4001, 1), (1000, 0), (1001, 0), (1011, 1)])
        func theServerClosingFirstSetsTheExitStatus(code: Int, expectedStatus: Int32) async throws {
            let server = try await WebSocketsServer()
            // Standard input stays open: the server's close alone ends wscat.
            let wscat = try startWscat([server.url("/close/\(code)")])
            let status = try await offPool { try wscat.waitForExit(timeout: .seconds(30)) }
            #expect(status == expectedStatus, "stderr: \(wscat.standardErrorText)")
            #expect(wscat.standardErrorText.contains("the server closed the WebSocket with code \(code) (reason: server says bye)"),
                    "stderr: \(wscat.standardErrorText)")
            #expect(wscat.standardOutputText.isEmpty)
        }

        @Test func serverPingsAreAnsweredWhileTheKeepAliveRuns() async throws {
            let server = try await WebSocketsServer()
            // /ping: the server pings, waits for the pong, then says so.
            let wscat = try startWscat(["--ping-interval", "0.5", server.url("/ping")])
            try await converse(wscat, send: "after the ping\n", expect: "pong received\nafter the ping\n")
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
        }

        @Test func closeCodeAndReasonGoToTheServer() async throws {
            let server = try await WebSocketsServer()
            // websockets answers a close frame with the same code and reason.
            let wscat = try startWscat(["-v", "--close-code", "4000", "--close-reason", "done here", server.url("/echo")])
            wscat.writeInputAndClose([])
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
            #expect(wscat.standardErrorText.contains("* closed: the server answered with code 4000 (reason: done here)"),
                    "\(wscat.standardErrorText)")
        }

        @Test func headersReachTheServerAndBinaryIsPrintedAsCountOrHex() async throws {
            let server = try await WebSocketsServer()
            let wscat = try startWscat(["-H", "X-Wscat-Test: yes please", "--header", "Origin: http://127.0.0.1", server.url("/headers")])
            try await offPool { try wscat.waitForOutput(count: 1, timeout: .seconds(30)) }
            wscat.writeInputAndClose([])
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0, "\(wscat.standardErrorText)")
            #expect(wscat.standardOutputText.contains(#"["X-Wscat-Test", "yes please"]"#), "\(wscat.standardOutputText)")
            #expect(wscat.standardOutputText.contains(#"["Origin", "http://127.0.0.1"]"#), "\(wscat.standardOutputText)")

            // /burst/2/5 sends two binary messages of bytes 0, 1, 2, 3, 4.
            for (arguments, line) in [([String](), "<binary 5 bytes>\n"), (["--binary-hex"], "0001020304\n")] {
                let burst = try startWscat(arguments + [server.url("/burst/2/5")])
                try await converse(burst, send: "", expect: line + line)
                #expect(try await offPool { try burst.waitForExit(timeout: .seconds(30)) } == 0, "\(burst.standardErrorText)")
            }
        }

        @Test func aBadURLIsAClearError() async throws {
            // Not a WebSocket URL at all: a usage error.
            let http = try startWscat(["http://127.0.0.1:1/"])
            #expect(try await offPool { try http.waitForExit(timeout: .seconds(30)) } == 2)
            #expect(http.standardErrorText.contains("'http://127.0.0.1:1/' is not a ws:// or wss:// URL"), "\(http.standardErrorText)")

            // A ws:// URL the client rejects before any I/O.
            let fragment = try startWscat(["ws://127.0.0.1:1/path#fragment"])
            #expect(try await offPool { try fragment.waitForExit(timeout: .seconds(30)) } == 1)
            #expect(fragment.standardErrorText.contains("invalidURL"), "\(fragment.standardErrorText)")
            #expect(fragment.standardOutputText.isEmpty)
        }

        @Test func aRefusedConnectionIsAnError() async throws {
            let refusing = try RefusingPort()
            defer { refusing.close() }
            let wscat = try startWscat(["--connect-timeout", "10", "ws://127.0.0.1:\(refusing.port)/"])
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 1)
            #expect(wscat.standardErrorText.contains("couldNotConnect"), "\(wscat.standardErrorText)")
        }

        @Test(arguments: [
            [],
            ["--bogus", "ws://127.0.0.1:1/"],
            ["-H", "no colon", "ws://127.0.0.1:1/"],
            ["--close-code", "1006", "ws://127.0.0.1:1/"],
            ["--ping-interval", "0", "ws://127.0.0.1:1/"],
            ["--wait", "-1", "ws://127.0.0.1:1/"],
            ["--proxy-user", "nopassword", "ws://127.0.0.1:1/"],
            ["ws://127.0.0.1:1/", "ws://127.0.0.1:2/"],
        ])
        func badArgumentsPrintUsageAndExitTwo(arguments: [String]) async throws {
            let wscat = try startWscat(arguments)
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 2)
            #expect(wscat.standardErrorText.contains("usage: wscat"))
        }

        @Test func helpExplainsTheTool() async throws {
            let wscat = try startWscat(["--help"])
            #expect(try await offPool { try wscat.waitForExit(timeout: .seconds(30)) } == 0)
            for word in ["usage: wscat", "ws://HOST", "wss://HOST", "--proxy", "--proxy-user", "--cacert", "--insecure",
                         "--compression", "--header", "--subprotocol", "--ping-interval", "--connect-timeout",
                         "--close-code", "--close-reason", "--wait", "--binary-hex", "exit status"] {
                #expect(wscat.standardOutputText.contains(word), "--help mentions \(word)")
            }
        }

        // MARK: Helpers

        /// Starts the built `wscat` with a standard input pipe the test writes to.
        private func startWscat(_ arguments: [String]) throws -> ChildProcess {
            try ChildProcess(try TestEnvironment.example("wscat"), arguments, withInput: true)
        }

        /// Writes `send`, waits for `expect` on standard output, checks it, then ends standard
        /// input (so wscat runs the closing handshake).
        private func converse(_ wscat: ChildProcess, send: String, expect: String,
                              sourceLocation: SourceLocation = #_sourceLocation) async throws {
            // Past 64 KiB the pipe is full until wscat reads: not on the cooperative pool either.
            try await offPool { wscat.writeInput(Array(send.utf8)) }
            try await offPool { try wscat.waitForOutput(count: expect.utf8.count, timeout: .seconds(30)) }
            #expect(wscat.standardOutputText == expect, sourceLocation: sourceLocation)
            wscat.writeInputAndClose([])
        }

        /// Runs one of ChildProcess's blocking waits on a Dispatch thread, so that it does not
        /// hold one of the cooperative pool's few threads.
        private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result(catching: body)) }
            }
        }
    }
}
