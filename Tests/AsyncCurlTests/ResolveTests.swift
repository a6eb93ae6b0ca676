import AsyncCurl
import Foundation
import LoopbackServer
import Testing
@testable import TestPeers

/// Name resolution as libcurl does it, against real peers: fixed addresses (`resolve`), another
/// destination for a host and port (`connectTo`), the IP version, and timeouts. The name is
/// `svc.example.test`, which no DNS server answers (`.test` is reserved), behind stunnel with a
/// certificate for that name only: a connection that verifies it reached the peer by that name.
/// DNS-over-HTTPS is in ``DNSOverHTTPSTests``.
extension AsyncCurlTests {
    @Suite struct ResolveTests {
        static let name = "svc.example.test"

        /// stunnel with the `svc.example.test` certificate, in front of an echo server; its URL is
        /// `tls://svc.example.test:<stunnel's port>`.
        static func servicePeer() async throws -> TLSEcho {
            try await TLSEcho(host: name) { .init($0.service) }
        }

        @Test(.requires(.stunnel, .openssl))
        func resolveEntryReachesTheNameAndVerifiesIt() async throws {
            let peer = try await Self.servicePeer()
            defer { peer.stop() }
            let trace = TraceRecorder()
            var options = peer.options(trace: trace)
            options.resolve = [ResolveEntry(host: Self.name, port: peer.port, addresses: ["127.0.0.1"])]
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: peer.url, options: options)
            #expect(info.usesTLS)
            #expect(info.host == Self.name)
            #expect(info.remoteAddress == "127.0.0.1" && info.remotePort == peer.port, "\(info)")
            #expect(trace.contains("Added \(Self.name):\(peer.port):127.0.0.1 to DNS cache"), "\(trace.text)")
            #expect(await multi.diagnostics == .idle)

            // Without the entry, the name does not resolve at all (on a fresh engine: see below).
            let unresolved = await expectCurlError { _ = try await CurlMulti().connect(to: peer.url, options: peer.options()) }
            #expect(unresolved?.code == .couldNotResolveHost, "\(String(describing: unresolved))")
        }

        /// The certificate is checked against the URL's name, not the address: an entry that
        /// sends `other.example.test` to the `svc.example.test` peer fails verification.
        @Test(.requires(.stunnel, .openssl))
        func resolveEntryStillVerifiesTheURLsHost() async throws {
            let peer = try await Self.servicePeer()
            defer { peer.stop() }
            var options = peer.options()
            options.resolve = [ResolveEntry(host: "other.example.test", port: peer.port, addresses: ["127.0.0.1"])]
            let multi = CurlMulti()
            let error = await expectCurlError {
                _ = try await multi.connect(to: "tls://other.example.test:\(peer.port)", options: options)
            }
            #expect(error?.code == .peerFailedVerification, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }

        /// libcurl 7.88.1 stores `CURLOPT_RESOLVE` entries as permanent entries of the DNS cache
        /// in use: in the multi handle's, a later connection of the same engine to that host and
        /// port would still get the entry's addresses without asking for them. A connection with
        /// entries has a DNS cache of its own, gone with it.
        @Test(.requires(.stunnel, .openssl))
        func resolveEntriesDoNotOutliveTheirConnection() async throws {
            let peer = try await Self.servicePeer()
            defer { peer.stop() }
            var options = peer.options()
            options.resolve = [ResolveEntry(host: Self.name, port: peer.port, addresses: ["127.0.0.1"])]
            let multi = CurlMulti()
            let pinned = try await multi.connect(to: peer.url, options: options)
            try await expectEcho(pinned)
            #expect(await multi.diagnostics.connectionCaches == 1)
            // While it is open, as after it closed, other connections do not see its entry.
            let during = await expectCurlError { _ = try await multi.connect(to: peer.url, options: peer.options()) }
            #expect(during?.code == .couldNotResolveHost, "\(String(describing: during))")
            await pinned.close()
            let after = await expectCurlError { _ = try await multi.connect(to: peer.url, options: peer.options()) }
            #expect(after?.code == .couldNotResolveHost, "\(String(describing: after))")
            // Two connections with entries, open at once, each have their own.
            var other = peer.options()
            other.resolve = [ResolveEntry(host: Self.name, port: peer.port, addresses: ["127.0.0.2"])]
            let first = try await multi.connect(to: peer.url, options: options)
            let second = await expectCurlError { _ = try await multi.connect(to: peer.url, options: other) }
            #expect(second?.code == .couldNotConnect, "127.0.0.2, where nobody listens: \(String(describing: second))")
            await first.close()
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.stunnel, .openssl))
        func connectToSendsTheConnectionElsewhereAndVerifiesTheURLsHost() async throws {
            let peer = try await Self.servicePeer()
            defer { peer.stop() }
            let trace = TraceRecorder()
            var options = peer.options(trace: trace)
            // The URL names port 443; the connection goes to stunnel's port on 127.0.0.1.
            options.connectTo = [ConnectToEntry(host: Self.name, port: 443, connectHost: "127.0.0.1", connectPort: peer.port)]
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: "tls://\(Self.name):443", options: options)
            #expect(info.usesTLS)
            #expect(info.remoteAddress == "127.0.0.1" && info.remotePort == peer.port, "\(info)")
            #expect(trace.contains("Connecting to hostname: 127.0.0.1"), "\(trace.text)")

            // An entry for another port does not apply: the URL's host is looked up as usual.
            options.connectTo = [ConnectToEntry(host: Self.name, port: 8443, connectHost: "127.0.0.1", connectPort: peer.port)]
            let skipped = await expectCurlError { _ = try await multi.connect(to: "tls://\(Self.name):443", options: options) }
            #expect(skipped?.code == .couldNotResolveHost, "\(String(describing: skipped))")

            // Only the port changes: a nil host and port match any URL, a nil connectHost keeps
            // the URL's host, which the resolve entry for the new port then resolves.
            var portOnly = peer.options()
            portOnly.connectTo = [ConnectToEntry(connectPort: peer.port)]
            portOnly.resolve = [ResolveEntry(host: Self.name, port: peer.port, addresses: ["127.0.0.1"])]
            let onlyPort = try await connectAndEcho(multi, to: "tls://\(Self.name):443", options: portOnly)
            #expect(onlyPort.remotePort == peer.port)
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.python3))
        func ipVersionPicksTheFamily() async throws {
            // One port on both 127.0.0.1 and ::1; the name resolves to both.
            let echo = try await PythonPeer.dualStackEcho()
            let multi = CurlMulti()
            var options = peerOptions()
            options.resolve = [ResolveEntry(host: "dual.example.test", port: echo.port, addresses: ["::1", "127.0.0.1"])]
            let url = "tcp://dual.example.test:\(echo.port)"

            options.ipVersion = .v6
            let v6 = try await connectAndEcho(multi, to: url, options: options)
            #expect(v6.remoteAddress == "::1", "\(v6)")
            options.ipVersion = .v4
            let v4 = try await connectAndEcho(multi, to: url, options: options)
            #expect(v4.remoteAddress == "127.0.0.1", "\(v4)")

            // A name with IPv4 addresses only cannot be reached over IPv6.
            var v4Only = peerOptions()
            v4Only.resolve = [ResolveEntry(host: "v4only.example.test", port: echo.port, addresses: ["127.0.0.1"])]
            v4Only.ipVersion = .v6
            let none = await expectCurlError { _ = try await multi.connect(to: "tcp://v4only.example.test:\(echo.port)", options: v4Only) }
            #expect(none?.code == .couldNotResolveHost, "\(String(describing: none))")
            #expect(await multi.diagnostics == .idle)
        }

        /// `happyEyeballsTimeout`: the name resolves to `::1` first, where connection attempts
        /// hang, then 127.0.0.1, which answers. libcurl tries the first address's family (IPv6)
        /// and starts the other only after the happy eyeballs timeout, so the connect takes
        /// about that long.
        @Test(.requires(.python3))
        func happyEyeballsTimeoutDecidesWhenIPv4IsTried() async throws {
            let peer = try await HappyEyeballsPeer()
            let multi = CurlMulti()
            let url = "tcp://eyeballs.example.test:\(peer.port)"
            func connect(after timeout: Duration, addresses: [String] = ["::1", "127.0.0.1"]) async throws -> (ConnectionInfo, Duration) {
                var options = peerOptions()
                options.resolve = [ResolveEntry(host: "eyeballs.example.test", port: peer.port, addresses: addresses)]
                options.happyEyeballsTimeout = timeout
                let start = ContinuousClock.now
                let info = try await connectAndEcho(multi, to: url, options: options)
                return (info, ContinuousClock.now - start)
            }
            let (quick, quickTime) = try await connect(after: .milliseconds(20))
            let (slow, slowTime) = try await connect(after: .milliseconds(1200))
            #expect(quick.remoteAddress == "127.0.0.1" && slow.remoteAddress == "127.0.0.1", "\(quick) \(slow)")
            #expect(quickTime < .milliseconds(800), "20 ms happy eyeballs took \(quickTime)")
            #expect(slowTime >= .milliseconds(1150), "1200 ms happy eyeballs took only \(slowTime)")
            // The family of the first address goes first, not always IPv6.
            let (_, ipv4FirstTime) = try await connect(after: .milliseconds(1200), addresses: ["127.0.0.1", "::1"])
            #expect(ipv4FirstTime < .milliseconds(800), "IPv4 listed first took \(ipv4FirstTime)")
            print("ResolveTests: happy eyeballs 20 ms -> connected in \(quickTime), 1200 ms -> \(slowTime)")
            #expect(await multi.diagnostics == .idle)
        }

        @Test func malformedEntriesFailBeforeAnyIO() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let multi = CurlMulti()
            var options = peerOptions()
            options.resolve = [ResolveEntry(host: Self.name, port: echo.port, addresses: ["not-an-ip"])]
            let badAddress = await expectCurlError { _ = try await multi.connect(to: "tcp://\(Self.name):\(echo.port)", options: options) }
            #expect(badAddress?.code == .badFunctionArgument, "\(String(describing: badAddress))")
            #expect(badAddress?.message.contains("resolve") == true && badAddress?.message.contains("not-an-ip") == true,
                    "\(String(describing: badAddress))")

            options.resolve = [ResolveEntry(host: Self.name, port: 0, addresses: ["127.0.0.1"])]
            let badPort = await expectCurlError { _ = try await multi.connect(to: "tcp://\(Self.name):\(echo.port)", options: options) }
            #expect(badPort?.code == .badFunctionArgument, "\(String(describing: badPort))")
            #expect(badPort?.message.contains("resolve") == true, "\(String(describing: badPort))")

            options.resolve = [ResolveEntry(host: Self.name, port: echo.port, addresses: [])]
            let noAddress = await expectCurlError { _ = try await multi.connect(to: "tcp://\(Self.name):\(echo.port)", options: options) }
            #expect(noAddress?.message.contains("resolve") == true, "\(String(describing: noAddress))")

            options.resolve = []
            options.connectTo = [ConnectToEntry(host: Self.name, connectHost: "bad host")]
            let badConnectTo = await expectCurlError { _ = try await multi.connect(to: "tcp://\(Self.name):\(echo.port)", options: options) }
            #expect(badConnectTo?.message.contains("connectTo") == true, "\(String(describing: badConnectTo))")

            options.connectTo = []
            options.dnsCacheTimeout = .seconds(-1)
            let negative = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(negative?.message.contains("dnsCacheTimeout") == true, "\(String(describing: negative))")

            #expect(echo.acceptedCount == 0, "nothing reached the network")
            #expect(await multi.diagnostics == .idle)
        }
    }
}
