import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// TCP Fast Open, address shuffling, SOCKS5 authentication methods and the proxy's Kerberos
/// service name, against real peers.
extension AsyncCurlTests.MoreSetupOptionsTests {
    // MARK: Socket and DNS

    /// A connect with `tcpFastOpen` (CURLOPT_TCP_FASTOPEN, Linux's TCP_FASTOPEN_CONNECT) carries
    /// bytes both ways, twice (the second connect may use the cookie from the first). The test
    /// cannot see whether data rode in the SYN: the loopback server does not enable Fast Open
    /// on its listener, so the kernel falls back to an ordinary handshake, as with most servers.
    @Test func tcpFastOpenConnectionWorks() async throws {
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let multi = CurlMulti()
        var options = peerOptions()
        options.tcpFastOpen = true
        for _ in 0..<2 {
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.remotePort == echo.port)
        }
        #expect(await multi.diagnostics == .idle)
    }

    /// A name with two addresses, of which only 127.0.0.1 listens (127.0.0.2 refuses at once).
    /// In the given order libcurl always tries 127.0.0.2 first; with `dnsShuffleAddresses` the
    /// first address tried varies between connects (each connect loads the `resolve` entry into
    /// the DNS cache anew, shuffled). Every connect ends on 127.0.0.1. Twenty shuffled connects
    /// all starting alike: chance 2^-19.
    ///
    /// Two addresses, not more: libcurl 7.88.1 starts the next address of the same family after
    /// a refused one only when one of its timers fires (the happy-eyeballs timer, 200 ms, the
    /// first time; then the attempt's own timeout, half the time left), so a third address
    /// would cost half the connect timeout per connect here (see the report on issue 13).
    @Test func dnsShuffleAddressesVariesTheFirstAddressTried() async throws {
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let multi = CurlMulti()
        var options = peerOptions()
        options.resolve = [ResolveEntry(host: "shuffle.test", port: echo.port, addresses: ["127.0.0.2", "127.0.0.1"])]
        let url = "tcp://shuffle.test:\(echo.port)"

        func firstAddressesTried(connects: Int) async throws -> [String] {
            var firsts: [String] = []
            for _ in 0..<connects {
                let trace = TraceRecorder()
                options.trace = trace.handler
                let info = try await connectAndEcho(multi, to: url, options: options)
                #expect(info.remoteAddress == "127.0.0.1", "\(info)")
                let first = trace.text.split(separator: "\n").first { $0.contains("Trying ") }
                firsts.append(first.map { String($0.split(separator: " ").last ?? "") } ?? "none:\n\(trace.text)")
            }
            return firsts
        }

        let ordered = try await firstAddressesTried(connects: 2)
        #expect(ordered == Array(repeating: "127.0.0.2:\(echo.port)...", count: 2), "\(ordered)")
        options.dnsShuffleAddresses = true
        let shuffled = try await firstAddressesTried(connects: 20)
        #expect(Set(shuffled).count > 1, "\(shuffled)")
        #expect(Set(shuffled) == ["127.0.0.1:\(echo.port)...", "127.0.0.2:\(echo.port)..."], "\(shuffled)")
        #expect(await multi.diagnostics == .idle)
    }

    // MARK: SOCKS5 authentication methods

    /// microsocks demanding a password: `.usernamePassword` (alone, or with `.gssapi` as by
    /// default) passes; `.gssapi` alone or `[]` withholds the password, so microsocks accepts
    /// none of the offered methods: CURLE_PROXY (97), "No authentication method was acceptable".
    @Test(.requires(.microsocks))
    func socks5AuthMethodsWithAPasswordProxy() async throws {
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let socks = try await MicrosocksPeer(username: "sockuser", password: "sock-secret")
        let multi = CurlMulti()
        var options = peerOptions()
        options.proxy = "socks5://\(socks.address)"
        options.proxyUsername = "sockuser"
        options.proxyPassword = "sock-secret"
        #expect(options.socks5AuthMethods == [.usernamePassword, .gssapi])
        for methods in [SOCKS5AuthMethods.all, .usernamePassword] {
            options.socks5AuthMethods = methods
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.remotePort == socks.port, "\(methods)")
        }
        for methods in [SOCKS5AuthMethods.gssapi, []] {
            options.socks5AuthMethods = methods
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.code == .proxy, "\(methods): \(String(describing: error))")
            #expect(error?.message.contains("No authentication method was acceptable") == true, "\(methods): \(String(describing: error))")
        }
        #expect(await multi.diagnostics == .idle)
    }

    /// `[]` offers only "no authentication": enough for a proxy that asks for nothing.
    @Test(.requires(.microsocks))
    func socks5WithNoMethodsToAnOpenProxy() async throws {
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let socks = try await MicrosocksPeer()
        var options = peerOptions()
        options.proxy = "socks5h://\(socks.address)"
        options.socks5AuthMethods = []
        let multi = CurlMulti()
        try await connectAndEcho(multi, to: "tcp://localhost:\(echo.port)", options: options)
        #expect(await multi.diagnostics == .idle)
    }

    // MARK: Kerberos service name, delegation

    /// squid accepts only `proxy/localhost` (its keytab holds nothing else): libcurl's default
    /// service name asks for a ticket to `HTTP/localhost`, which squid cannot accept (407);
    /// `proxyServiceName = "proxy"` asks for `proxy/localhost` and gets through.
    ///
    /// Delegation, seen in the KDC's log: to delegate, GSS-API asks the KDC for a forwarded
    /// ticket-granting ticket (a TGS_REQ for `krbtgt/…`, the client's ticket is forwardable).
    /// `.none` asks for none; `.policyFlag` neither, since `proxy/localhost` lacks the
    /// OK-AS-DELEGATE flag; `.always` does.
    @Test(.requires(.squid, .krb5kdc, .kadminLocal, .kinit))
    func proxyServiceNameChoosesTheKerberosPrincipal() async throws {
        let echo = try LoopbackServer(mode: .echo)
        defer { echo.stop() }
        let realm = try await KerberosRealm()
        let squid = try await SquidPeer(schemes: [.negotiate(keytab: realm.proxyServiceKeytab,
                                                             principal: KerberosRealm.proxyServicePrincipal,
                                                             kerberosConfig: realm.configFile)])
        let multi = CurlMulti()
        var options = peerOptions()
        options.proxy = "http://localhost:\(squid.port)"
        options.proxyUsername = ""
        options.proxyPassword = ""
        options.proxyAuthMethods = .negotiate
        try await realm.withClientEnvironment {
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.proxyStatusCode == 407, "\(String(describing: error))")
            #expect(realm.kdcLog.contains("for HTTP/localhost@\(KerberosRealm.realm)"), "\(realm.kdcLog)")

            options.proxyServiceName = "proxy"
            for (delegation, forwards) in [(GSSAPIDelegation.none, false), (.policyFlag, false), (.always, true)] {
                let before = forwardedTicketRequests(realm.kdcLog)
                options.gssapiDelegation = delegation
                let info = try await connectAndEcho(multi, to: echo.url, options: options)
                #expect(info.proxyAuthMethod == .negotiate, "\(delegation): \(info)")
                // The KDC logs a request once it has answered it, before the client goes on.
                let after = forwardedTicketRequests(realm.kdcLog)
                #expect((after > before) == forwards, "\(delegation): \(before) -> \(after)\n\(realm.kdcLog)")
            }
        }
        #expect(realm.kdcLog.contains("for proxy/localhost@\(KerberosRealm.realm)"), "\(realm.kdcLog)")
        #expect(await eventually { squid.tunnels(for: KerberosRealm.clientPrincipal).count == 3 }, "\(squid.accessLog)")
        #expect(await multi.diagnostics == .idle)
    }

    /// The KDC's TGS_REQ lines for a ticket-granting ticket: forwarded tickets, for delegation.
    private func forwardedTicketRequests(_ log: String) -> Int {
        log.split(separator: "\n").filter { $0.contains("TGS_REQ") && $0.contains("for krbtgt/") }.count
    }

    /// Bad values fail before any connection, naming the property.
    @Test func badProxyAuthSettingsAreRefusedBeforeConnecting() async throws {
        let multi = CurlMulti()
        for name in ["", "HTTP@localhost", "HTTP/localhost", "has space"] {
            var options = peerOptions()
            options.proxyServiceName = name
            let error = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:1", options: options) }
            #expect(error?.code == .badFunctionArgument, "'\(name)'")
            #expect(error?.message.contains("proxyServiceName") == true, "\(String(describing: error))")
        }
        var options = peerOptions()
        options.socks5AuthMethods = SOCKS5AuthMethods(rawValue: 8)
        let error = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:1", options: options) }
        #expect(error?.code == .badFunctionArgument)
        #expect(error?.message.contains("socks5AuthMethods") == true, "\(String(describing: error))")
        #expect(await multi.diagnostics == .idle)
    }
}
