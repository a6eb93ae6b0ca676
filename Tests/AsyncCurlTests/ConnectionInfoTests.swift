import AsyncCurl
import Glibc
import LoopbackServer
import Synchronization
import Testing
@testable import TestPeers

/// `AsyncConnection.info`: addresses, ports, TLS and proxy facts and set-up timings, checked
/// against what the real peer saw.
extension AsyncCurlTests {
    @Suite struct ConnectionInfoTests {
        @Test func directTCP() async throws {
            // The server records the client's port as it sees it (getpeername).
            let clientPort = Mutex<Int?>(nil)
            let server = try LoopbackServer(mode: .handler { peer in
                clientPort.withLock { $0 = remotePort(of: peer.fd) }
                while let bytes = try? peer.read(), !bytes.isEmpty {
                    try? peer.write(bytes)
                }
            })
            defer { server.stop() }
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: server.url, options: peerOptions())
            #expect(info.remoteAddress == "127.0.0.1")
            #expect(info.remotePort == server.port)
            #expect(info.localAddress == "127.0.0.1")
            let localPort = try #require(info.localPort)
            #expect(localPort != 0 && localPort != server.port)
            #expect(clientPort.withLock { $0 } == localPort, "the server saw the connection come from info.localPort")
            #expect(!info.usesTLS)
            #expect(info.proxyConnectStatus == nil)
            #expect(info.timings.nameLookup >= .zero)
            #expect(info.timings.connected >= info.timings.nameLookup)
            #expect(info.timings.connected < .seconds(15))
            #expect(info.timings.tlsEstablished == nil, "no TLS: \(info.timings)")
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.openssl, .stunnel))
        func tls() async throws {
            let tls = try await TLSEcho()
            let options = tls.options()
            let info = try await connectAndEcho(CurlMulti(), to: tls.url, options: options)
            #expect(info.usesTLS)
            #expect(info.remoteAddress == "127.0.0.1")
            #expect(info.remotePort == tls.port)
            #expect(info.localPort.map { $0 > 0 } == true)
            #expect(info.proxyConnectStatus == nil)
            let established = try #require(info.timings.tlsEstablished, "TLS has a handshake time: \(info.timings)")
            #expect(info.timings.nameLookup >= .zero)
            #expect(info.timings.connected >= info.timings.nameLookup)
            #expect(established >= info.timings.connected, "cumulative times: \(info.timings)")
        }

        /// Through an HTTP proxy the socket's far end is the proxy, and the CONNECT status is kept.
        @Test(.requires(.tinyproxy))
        func throughHTTPProxy() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer()
            var options = peerOptions()
            options.proxy = proxy.url
            let info = try await connectAndEcho(CurlMulti(), to: echo.url, options: options)
            #expect(info.proxyConnectStatus == 200)
            #expect(info.remoteAddress == "127.0.0.1")
            #expect(info.remotePort == proxy.port)
            #expect(info.localPort.map { $0 > 0 } == true)
            #expect(!info.usesTLS)
        }
    }
}

/// The remote port of a connected socket.
private func remotePort(of fd: Int32) -> Int? {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
    }
    return ok ? Int(UInt16(bigEndian: address.sin_port)) : nil
}
