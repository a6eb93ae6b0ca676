import Foundation
import LoopbackServer
import Testing

extension ExamplesTests {
    @Suite struct CurlcatTests {
        static let payload = seededBytes(count: 4 << 20, seed: 0xC0FFEE)

        @Test func copiesFourMebibytesThroughAnEchoServerByteForByte() throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            try echoPayload(through: echo, arguments: [echo.url])
        }

        @Test(.enabled(if: TestEnvironment.canTry("tinyproxy"), "tinyproxy is not installed (Debian package tinyproxy)"))
        func copiesFourMebibytesThroughAnHTTPConnectProxy() throws {
            let tinyproxy = try TestEnvironment.daemon("tinyproxy", package: "tinyproxy")
            let directory = try TemporaryDirectory("asynccurl-tinyproxy")
            defer { directory.remove() }
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }

            let (proxy, proxyPort) = try startDaemon { port in
                try directory.write("tinyproxy.conf", """
                    Port \(port)
                    Listen 127.0.0.1
                    Timeout 600
                    MaxClients 100
                    Allow 127.0.0.1
                    LogLevel Info
                    LogFile "\(directory.file("tinyproxy.log"))"

                    """)
                // -d: stay in the foreground, so this test owns the process and can stop it.
                return try ChildProcess(tinyproxy, ["-d", "-c", directory.file("tinyproxy.conf")])
            }
            defer { proxy.stop() }

            // -v prints the connection's facts, including the proxy's answer to CONNECT, which
            // libcurl records (CURLINFO_HTTP_CONNECTCODE): proof the bytes went through the tunnel.
            let trace = try echoPayload(through: echo, arguments: ["-v", "--proxy", "http://127.0.0.1:\(proxyPort)", echo.url])
            #expect(trace.contains("proxy CONNECT 200"), "curlcat -v: \(trace)")
        }

        /// Pipes ``payload`` through curlcat to the echo server and checks the echo. Directly,
        /// curlcat half-closes when its input ends, so the echo server reads end of stream, sends
        /// the rest and closes: that is what ends curlcat, with status 0, while the server still
        /// runs. Through a proxy it does not half-close, so stopping the server ends it.
        /// Returns what curlcat wrote to standard error, which must be empty unless `-v` is given.
        @discardableResult
        private func echoPayload(through echo: LoopbackServer, arguments: [String]) throws -> String {
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), arguments, withInput: true)
            defer { curlcat.stop() }
            curlcat.writeInputAndClose(Self.payload)
            if arguments.contains("--proxy") {
                try curlcat.waitForOutput(count: Self.payload.count, timeout: .seconds(120))
                #expect(!curlcat.hasExited, "input ended, but curlcat keeps listening until the peer closes")
                echo.stop()
            }
            let status = try curlcat.waitForExit(timeout: .seconds(120))
            #expect(status == 0, "stderr: \(curlcat.standardErrorText)")
            if !arguments.contains("-v") {
                #expect(curlcat.standardErrorText.isEmpty)
            }
            let difference = firstDifference(curlcat.standardOutput, Self.payload)
            #expect(difference == nil, "\(difference ?? "")")
            return curlcat.standardErrorText
        }

        /// With --no-half-close the echo server never sees an end of stream: curlcat keeps
        /// listening until the server is stopped.
        @Test func noHalfCloseKeepsListeningUntilThePeerCloses() throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), ["--no-half-close", echo.url], withInput: true)
            defer { curlcat.stop() }
            curlcat.writeInputAndClose(Array("hello\n".utf8))
            try curlcat.waitForOutput(count: 6, timeout: .seconds(30))
            #expect(!curlcat.hasExited, "input ended, but curlcat keeps listening until the peer closes")
            #expect(echo.openClients == 1)
            echo.stop()
            #expect(try curlcat.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(curlcat.standardErrorText)")
            #expect(curlcat.standardOutputText == "hello\n")
        }

        /// A peer that answers only at end of input (as `wc -c` would) gets it from the half-close.
        @Test func halfCloseLetsAPeerThatWaitsForEndOfInputAnswer() throws {
            let counter = try LoopbackServer(mode: .handler { socket in
                guard let input = try? socket.readToEnd() else { return }
                try? socket.write("\(input.count) bytes\n")
                socket.close()
            })
            defer { counter.stop() }
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), [counter.url], withInput: true)
            defer { curlcat.stop() }
            curlcat.writeInputAndClose(Array(repeating: UInt8(ascii: "x"), count: 1000))
            #expect(try curlcat.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(curlcat.standardErrorText)")
            #expect(curlcat.standardOutputText == "1000 bytes\n")
        }

        @Test func quitAfterEndsWithoutThePeerClosing() throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), ["--no-half-close", "--quit-after", "0.2", echo.url], withInput: true)
            defer { curlcat.stop() }
            curlcat.writeInputAndClose(Array("hello\n".utf8))
            let status = try curlcat.waitForExit(timeout: .seconds(30))
            #expect(status == 0, "stderr: \(curlcat.standardErrorText)")
            // Whatever had come back by then was printed; the server is still running.
            #expect("hello\n".hasPrefix(curlcat.standardOutputText))
            #expect(echo.acceptedCount == 1)
        }

        @Test func helpExplainsTheToolAndExitsZero() throws {
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), ["--help"])
            defer { curlcat.stop() }
            #expect(try curlcat.waitForExit(timeout: .seconds(30)) == 0)
            let help = curlcat.standardOutputText
            for word in ["usage: curlcat", "tcp://HOST:PORT", "tls://HOST:PORT", "--proxy", "--cacert",
                         "--insecure", "--connect-timeout", "--quit-after", "--no-half-close", "half-closes",
                         "Over TLS", "exit status"] {
                #expect(help.contains(word), "--help mentions \(word)")
            }
            #expect(curlcat.standardErrorText.isEmpty)
        }

        @Test(arguments: [
            [],                                     // no URL
            ["--bogus", "tcp://127.0.0.1:1"],       // unknown option
            ["http://127.0.0.1:80"],                // not tcp:// or tls://
            ["--connect-timeout", "soon", "tcp://127.0.0.1:1"],
            ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"],
        ])
        func badArgumentsPrintUsageAndExitTwo(arguments: [String]) throws {
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), arguments)
            defer { curlcat.stop() }
            #expect(try curlcat.waitForExit(timeout: .seconds(30)) == 2)
            #expect(curlcat.standardErrorText.contains("usage: curlcat"))
            #expect(curlcat.standardOutputText.isEmpty)
        }

        @Test func aRefusedConnectionIsAnErrorOnStandardError() throws {
            let refusing = try RefusingPort()
            defer { refusing.close() }
            let curlcat = try ChildProcess(try TestEnvironment.example("curlcat"), ["tcp://127.0.0.1:\(refusing.port)"])
            defer { curlcat.stop() }
            let status = try curlcat.waitForExit(timeout: .seconds(30))
            #expect(status == 1)
            #expect(curlcat.standardErrorText.contains("couldNotConnect"), "stderr: \(curlcat.standardErrorText)")
            #expect(curlcat.standardOutputText.isEmpty)
        }
    }
}
