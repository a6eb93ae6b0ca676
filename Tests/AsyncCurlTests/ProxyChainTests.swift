import AsyncCurl
import HTTPTypes
import LoopbackServer
import Synchronization
import Testing
@testable import TestPeers

/// Proxy chains, headers for the proxy only, and the HAProxy PROXY protocol header: each against
/// real proxies (microsocks, tinyproxy) or an in-test peer that records exactly what it got.
extension AsyncCurlTests {
    @Suite struct ProxyChainTests {
        /// client → microsocks (SOCKS5) → tinyproxy (HTTP CONNECT) → echo peer.
        @Test(.requires(.microsocks, .tinyproxy))
        func socksPreProxyInFrontOfAnHTTPProxy() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let socks = try await MicrosocksPeer()
            let proxy = try await TinyproxyPeer()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.preProxy = "socks5://\(socks.address)"
            options.proxy = proxy.url
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyConnectStatus == 200)
            #expect(info.remotePort == socks.port, "the socket goes to the first proxy of the chain: \(info)")
            #expect(await eventually { proxy.requests.contains("CONNECT 127.0.0.1:\(echo.port) HTTP/1.1") }, "tinyproxy saw: \(proxy.requests)")
            // The CONNECT to tinyproxy travelled through the SOCKS tunnel: curl says so.
            #expect(trace.text.contains("SOCKS5"), "\(trace.text)")
            #expect(trace.text.contains("> CONNECT 127.0.0.1:\(echo.port)"), "\(trace.text)")
            #expect(await multi.diagnostics == .idle)
        }

        /// A pre-proxy that is down fails the connect as the proxy being unreachable.
        @Test(.requires(.tinyproxy))
        func aDeadPreProxyFailsTheConnect() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer()
            var options = peerOptions()
            options.preProxy = "socks5://127.0.0.1:\(try freeLoopbackPort())"
            options.proxy = proxy.url
            let multi = CurlMulti()
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error.map { [.couldNotConnect, .proxy].contains($0.code) } == true, "\(String(describing: error))")
            #expect(proxy.requests.isEmpty)
            #expect(await multi.diagnostics == .idle)
        }

        /// `proxyHeaders` go in the CONNECT request and nowhere else: the recording proxy (which
        /// is also the tunnel's far end) sees them in the request, and then only the
        /// application's bytes. A line break in a value cannot add a line: HTTPTypes made it spaces.
        @Test func proxyHeadersReachTheProxyOnly() async throws {
            let proxy = try RecordingPeer(actsAsProxy: true)
            defer { proxy.stop() }
            var options = peerOptions()
            options.proxy = "http://127.0.0.1:\(proxy.port)"
            let tenant = try #require(HTTPField.Name("X-Tenant"))
            let proxyConnection = try #require(HTTPField.Name("Proxy-Connection"))
            let note = try #require(HTTPField.Name("X-Note"))
            options.proxyHeaders = [tenant: "blue", .userAgent: "asynccurl-tests/1", proxyConnection: "",
                                    note: "a\r\nInjected: 1"]
            let multi = CurlMulti()
            try await multi.withConnection(to: "tcp://backend.test:7000", options: options) { connection in
                try await expectEcho(connection, "hello\r\n")
            }
            let request = try #require(proxy.preamble)
            #expect(request.hasPrefix("CONNECT backend.test:7000 HTTP/1.1\r\n"), "\(request)")
            #expect(request.contains("\r\nX-Tenant: blue\r\n"), "\(request)")
            #expect(request.contains("\r\nUser-Agent: asynccurl-tests/1\r\n"), "replaces curl's own: \(request)")
            #expect(!request.lowercased().contains("proxy-connection"), "an empty value removes curl's header: \(request)")
            #expect(request.contains("\r\nX-Note: a  Injected: 1\r\n"), "\(request)")
            #expect(!request.contains("\nInjected"), "\(request)")
            #expect(proxy.firstBytes == "hello\r\n", "through the tunnel only the application's bytes")
            #expect(await multi.diagnostics == .idle)
        }

        /// The PROXY v1 line names the connection's real source and destination.
        @Test func haproxyProtocolHeaderComesFirst() async throws {
            let peer = try RecordingPeer(expectsProxyProtocol: true)
            defer { peer.stop() }
            var options = peerOptions()
            options.haproxyProtocol = true
            let multi = CurlMulti()
            let info = try await multi.withConnection(to: "tcp://127.0.0.1:\(peer.port)", options: options) { connection in
                try await expectEcho(connection, "after the header\r\n")
                return connection.info
            }
            let line = try #require(peer.preamble)
            let localPort = try #require(info.localPort)
            #expect(line == "PROXY TCP4 127.0.0.1 127.0.0.1 \(localPort) \(peer.port)\r\n", "\(line)")
            #expect(peer.firstBytes == "after the header\r\n")
            #expect(await multi.diagnostics == .idle)
        }

        /// Through an https:// proxy the socket carries TLS to the proxy: no half-close.
        @Test(.requires(.tinyproxy, .stunnel, .openssl))
        func noHalfCloseThroughAnHTTPSProxy() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
            var options = peerOptions()
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.proxyCAFile
            let multi = CurlMulti()
            try await multi.withConnection(to: echo.url, options: options) { connection in
                let error = await expectCurlError { try await connection.finishSending() }
                #expect(error?.code == .unsupportedProtocol && error?.message.contains("https:// proxy") == true, "\(String(describing: error))")
                // The connection is untouched.
                try await expectEcho(connection)
            }
            #expect(await multi.diagnostics == .idle)
        }

        @Test func noHAProxyHeaderByDefault() async throws {
            let peer = try RecordingPeer()
            defer { peer.stop() }
            let multi = CurlMulti()
            try await multi.withConnection(to: "tcp://127.0.0.1:\(peer.port)", options: peerOptions()) { connection in
                try await expectEcho(connection, "PING\r\n")
            }
            #expect(peer.firstBytes == "PING\r\n")
            #expect(await multi.diagnostics == .idle)
        }
    }
}

/// An in-test peer that records the preamble it expects — an HTTP CONNECT request (acting as a
/// proxy: it answers 200 and then tunnels to itself, echoing) or a PROXY protocol line — and the
/// first bytes after it, then echoes everything.
final class RecordingPeer: Sendable {
    private final class Recorded: Sendable {
        let state = Mutex<(preamble: String?, firstBytes: String?)>((nil, nil))
    }

    private let server: LoopbackServer
    private let recorded = Recorded()

    var port: Int { server.port }
    /// The CONNECT request (up to its blank line) or the PROXY line, as received.
    var preamble: String? { recorded.state.withLock { $0.preamble } }
    /// The first bytes received after the preamble.
    var firstBytes: String? { recorded.state.withLock { $0.firstBytes } }

    init(actsAsProxy: Bool = false, expectsProxyProtocol: Bool = false) throws {
        let recorded = self.recorded
        server = try LoopbackServer(mode: .handler { socket in
            var buffered: [UInt8] = []
            func readUntil(_ terminator: [UInt8]) -> [UInt8]? {
                while true {
                    if let end = buffered.firstRange(of: terminator) {
                        let head = Array(buffered[..<end.upperBound])
                        buffered.removeSubrange(..<end.upperBound)
                        return head
                    }
                    guard buffered.count < 16_384, let more = try? socket.read() else { return nil }
                    buffered += more
                }
            }
            if actsAsProxy || expectsProxyProtocol {
                guard let head = readUntil(Array((actsAsProxy ? "\r\n\r\n" : "\r\n").utf8)) else { return }
                recorded.state.withLock { $0.preamble = String(decoding: head, as: UTF8.self) }
                if actsAsProxy {
                    guard (try? socket.write("HTTP/1.1 200 Connection established\r\n\r\n")) != nil else { return }
                }
            }
            if buffered.isEmpty {
                guard let more = try? socket.read() else { return }
                buffered = more
            }
            recorded.state.withLock { $0.firstBytes = String(decoding: buffered, as: UTF8.self) }
            guard (try? socket.write(buffered)) != nil else { return }
            while let more = try? socket.read() {
                guard (try? socket.write(more)) != nil else { return }
            }
        })
    }

    func stop() {
        server.stop()
    }
}
