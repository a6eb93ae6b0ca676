import AsyncCurl
import Foundation
import LoopbackServer
import Testing
@testable import TestPeers

/// Every kind of proxy libcurl offers, each through a real proxy server on 127.0.0.1: tinyproxy
/// (HTTP CONNECT), stunnel4 + tinyproxy (HTTPS proxy), microsocks (SOCKS5/5h), danted (SOCKS4)
/// and IO::Socket::Socks (SOCKS4a). Each test proves the bytes went through the proxy: the
/// connection's remote end is the proxy's port, and the proxy logged the request where it can.
extension AsyncCurlTests {
    @Suite struct ProxyTests {
        // MARK: HTTP CONNECT

        @Test(.requires(.tinyproxy))
        func httpConnectThroughTinyproxy() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.proxy = proxy.url
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyConnectStatus == 200)
            #expect(info.remotePort == proxy.port, "the socket goes to the proxy: \(info)")
            #expect(await eventually { proxy.requests.contains("CONNECT 127.0.0.1:\(echo.port) HTTP/1.1") }, "tinyproxy saw: \(proxy.requests)")
            #expect(trace.text.contains("> CONNECT 127.0.0.1:\(echo.port)"), "\(trace.text)")
            #expect(await multi.diagnostics == .idle)
        }

        /// TLS to the origin inside the CONNECT tunnel, verified against the origin's name.
        @Test(.requires(.tinyproxy, .stunnel, .openssl))
        func tlsThroughHTTPConnect() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let origin = try await StunnelPeer(.init(certificates.server), forwardingTo: echo.port)
            let proxy = try await TinyproxyPeer()
            var options = peerOptions()
            options.proxy = proxy.url
            options.tls.caFile = certificates.caFile
            let info = try await connectAndEcho(CurlMulti(), to: origin.url, options: options)
            #expect(info.usesTLS)
            #expect(info.proxyConnectStatus == 200)
            #expect(await eventually { proxy.requests.contains("CONNECT localhost:\(origin.port) HTTP/1.1") }, "tinyproxy saw: \(proxy.requests)")
        }

        @Test(.requires(.tinyproxy))
        func basicAuthWithTheRightCredentials() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer(basicAuth: ("proxyuser", "proxy-secret"))
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = proxy.url
            options.proxyUsername = "proxyuser"
            options.proxyPassword = "proxy-secret"
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyConnectStatus == 200)

            // Credentials in the proxy URL work too.
            var inURL = peerOptions()
            inURL.proxy = "http://proxyuser:proxy-secret@127.0.0.1:\(proxy.port)"
            try await connectAndEcho(multi, to: echo.url, options: inURL)
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.tinyproxy))
        func basicAuthMissingIs407WrongIsRefused() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer(basicAuth: ("proxyuser", "proxy-secret"))
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = proxy.url
            let missing = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(missing?.proxyStatusCode == 407, "\(String(describing: missing))")
            #expect(missing.map { [.recvError, .proxy, .loginDenied].contains($0.code) } == true, "\(String(describing: missing))")

            options.proxyUsername = "proxyuser"
            options.proxyPassword = "not the password"
            // tinyproxy 1.11 answers wrong credentials with 401, not 407 (the curl tool sees the same).
            let wrong = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(wrong?.proxyStatusCode == 401 || wrong?.proxyStatusCode == 407, "\(String(describing: wrong))")
            #expect(echo.acceptedCount == 0, "nothing reached the origin")
            #expect(await multi.diagnostics == .idle)
        }

        /// tinyproxy allows CONNECT only to the listed ports; anything else is 403.
        @Test(.requires(.tinyproxy))
        func refusedTargetIs403() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer(connectPorts: [443])
            var options = peerOptions()
            options.proxy = proxy.url
            let multi = CurlMulti()
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.proxyStatusCode == 403, "\(String(describing: error))")
            #expect(error.map { [.recvError, .proxy].contains($0.code) } == true, "\(String(describing: error))")
            #expect(error?.message.contains("403") == true, "\(String(describing: error))")
            #expect(echo.acceptedCount == 0)
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: HTTPS proxy

        /// TLS to the proxy (stunnel, certificate from a second CA, in front of tinyproxy), then
        /// CONNECT; and TLS to the origin inside that TLS.
        @Test(.requires(.tinyproxy, .stunnel, .openssl))
        func httpsProxy() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let origin = try await StunnelPeer(.init(certificates.server), forwardingTo: echo.port)
            let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
            let multi = CurlMulti()

            var options = peerOptions()
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.proxyCAFile
            let plain = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(plain.proxyConnectStatus == 200)
            #expect(plain.remotePort == proxy.port)
            #expect(!plain.usesTLS, "no TLS to the origin on a tcp:// URL")

            let trace = TraceRecorder()
            options.trace = trace.handler
            options.tls.caFile = certificates.caFile
            let nested = try await connectAndEcho(multi, to: origin.url, options: options)
            #expect(nested.usesTLS)
            #expect(nested.proxyConnectStatus == 200)
            #expect(await eventually { proxy.tinyproxy.requests.contains("CONNECT localhost:\(origin.port) HTTP/1.1") }, "tinyproxy saw: \(proxy.tinyproxy.requests)")
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.tinyproxy, .stunnel, .openssl))
        func httpsProxyWithTheWrongCAFails() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await HTTPSProxyPeer(.init(certificates.proxy))
            let multi = CurlMulti()

            var options = peerOptions()
            options.proxy = proxy.url
            options.proxyTLS.caFile = certificates.caFile  // did not sign the proxy's certificate
            let wrongCA = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(wrongCA?.code == .peerFailedVerification, "\(String(describing: wrongCA))")

            // The origin's TLS settings are not the proxy's: the right CA in `tls` does not help.
            options.proxyTLS.caFile = certificates.caFile
            options.tls.caFile = certificates.proxyCAFile
            let separate = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(separate?.code == .peerFailedVerification, "\(String(describing: separate))")
            #expect(proxy.tinyproxy.requests.isEmpty, "no CONNECT got through: \(proxy.tinyproxy.requests)")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: SOCKS

        @Test(.requires(.microsocks))
        func socks5ThroughMicrosocks() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let socks = try await MicrosocksPeer()
            var options = peerOptions()
            options.proxy = "socks5://\(socks.address)"
            let info = try await connectAndEcho(CurlMulti(), to: echo.url, options: options)
            #expect(info.remotePort == socks.port)
            #expect(info.proxyConnectStatus == nil, "no HTTP CONNECT with SOCKS: \(info)")
        }

        @Test(.requires(.microsocks))
        func socks5WithUsernameAndPassword() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let socks = try await MicrosocksPeer(username: "sockuser", password: "sock-secret")
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = "socks5://\(socks.address)"
            options.proxyUsername = "sockuser"
            options.proxyPassword = "sock-secret"
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.remotePort == socks.port)

            options.proxyPassword = "wrong"
            let wrong = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(wrong?.code == .proxy, "libcurl 7.88 reports SOCKS refusals as CURLE_PROXY: \(String(describing: wrong))")

            options.proxyUsername = nil
            options.proxyPassword = nil
            let none = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(none?.code == .proxy, "\(String(describing: none))")
            #expect(await multi.diagnostics == .idle)
        }

        /// socks5h: the proxy resolves `localhost`, not libcurl.
        @Test(.requires(.microsocks, .python3))
        func socks5hResolvesOnTheProxy() async throws {
            // Listens on both 127.0.0.1 and ::1: microsocks connects to whichever localhost
            // resolves to first.
            let echo = try await PythonPeer.dualStackEcho()
            let socks = try await MicrosocksPeer()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.proxy = "socks5h://\(socks.address)"
            let info = try await connectAndEcho(CurlMulti(), to: "tcp://localhost:\(echo.port)", options: options)
            #expect(info.remotePort == socks.port)
            #expect(trace.contains("remotely resolved"), "\(trace.text)")
            #expect(await eventually { socks.daemon.logTail().contains("connected to localhost:\(echo.port)") },
                    "microsocks resolved the name: \(socks.daemon.logTail())")
        }

        @Test(.requires(.danted))
        func socks4ThroughDante() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let socks = try await DantePeer()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.proxy = "socks4://\(socks.address)"
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.remotePort == socks.port)
            #expect(trace.contains("SOCKS4 request granted"), "\(trace.text)")
            // A host name is resolved by libcurl for socks4://.
            try await connectAndEcho(multi, to: "tcp://localhost:\(echo.port)", options: options)
            #expect(trace.contains("locally resolved"), "\(trace.text)")
            #expect(await multi.diagnostics == .idle)
        }

        /// danted refuses what its rules do not allow (here: anything outside 127.0.0.0/8).
        @Test(.requires(.danted))
        func socks4RefusalIsAnError() async throws {
            let socks = try await DantePeer()
            var options = peerOptions()
            options.proxy = "socks4://\(socks.address)"
            options.connectTimeout = .seconds(5)
            let multi = CurlMulti()
            let error = await expectCurlError { _ = try await multi.connect(to: "tcp://192.0.2.1:9", options: options) }
            #expect(error?.code == .proxy, "\(String(describing: error))")
            #expect(error?.message.contains("91") == true, "SOCKS4 reply 91, request rejected: \(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.perlSocks))
        func socks4aSendsTheHostName() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let socks = try await Socks4aPeer()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.proxy = "socks4a://\(socks.address)"
            let info = try await connectAndEcho(CurlMulti(), to: "tcp://localhost:\(echo.port)", options: options)
            #expect(info.remotePort == socks.port)
            #expect(trace.contains("SOCKS4a request granted"), "\(trace.text)")
            #expect(await eventually { socks.requests.contains("localhost:\(echo.port)") },
                    "the host name reached the proxy: \(socks.requests)")
        }

        // MARK: Choosing whether to use a proxy

        @Test func noProxyBypassesTheProxy() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let dead = try RefusingPort()
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = "http://127.0.0.1:\(dead.port)"
            options.noProxy = "127.0.0.1"
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.remotePort == echo.port)
            #expect(info.proxyConnectStatus == nil)

            // And without noProxy the dead proxy is really used.
            options.noProxy = nil
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.code == .couldNotConnect, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// `all_proxy` in the environment is ignored unless `useEnvironmentProxy` is set; then
        /// it is used (a real tinyproxy, which logs the CONNECT), and `no_proxy` is honoured.
        @Test(.requires(.tinyproxy))
        func environmentProxyOnlyWhenAskedFor() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer()
            let dead = try RefusingPort()
            let multi = CurlMulti()
            let saved = ProxyEnvironment.save()
            defer { saved.restore() }
            ProxyEnvironment.clear()

            setenv("all_proxy", "http://127.0.0.1:\(dead.port)", 1)
            let ignored = try await connectAndEcho(multi, to: echo.url, options: peerOptions())
            #expect(ignored.remotePort == echo.port, "by default the environment is ignored: \(ignored)")

            var options = peerOptions()
            options.useEnvironmentProxy = true
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.code == .couldNotConnect, "the dead proxy from the environment was used: \(String(describing: error))")

            setenv("all_proxy", proxy.url, 1)
            let proxied = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(proxied.remotePort == proxy.port, "\(proxied)")
            #expect(proxied.proxyConnectStatus == 200)
            #expect(await eventually { proxy.requests.contains("CONNECT 127.0.0.1:\(echo.port) HTTP/1.1") }, "tinyproxy saw: \(proxy.requests)")

            setenv("no_proxy", "127.0.0.1", 1)
            let bypassed = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(bypassed.remotePort == echo.port, "no_proxy from the environment: \(bypassed)")
            #expect(await multi.diagnostics == .idle)
        }
    }
}

/// The proxy variables libcurl reads, saved and restored around a test that sets them. setenv
/// changes the whole process: the suite is serialized, and the test restores them in a defer.
struct ProxyEnvironment {
    static let names = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"]
    private var values: [String: String?] = [:]

    static func save() -> ProxyEnvironment {
        var saved = ProxyEnvironment()
        for name in names {
            // updateValue keeps an unset variable as an explicit nil (a subscript assignment of nil
            // would drop the key), so restore() unsets it again.
            saved.values.updateValue(getenv(name).map { String(cString: $0) }, forKey: name)
        }
        return saved
    }

    static func clear() {
        for name in names { unsetenv(name) }
    }

    func restore() {
        for (name, value) in values {
            if let value { setenv(name, value, 1) } else { unsetenv(name) }
        }
    }
}
