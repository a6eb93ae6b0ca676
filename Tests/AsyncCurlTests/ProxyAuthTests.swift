import AsyncCurl
import Foundation
import LoopbackServer
import Testing
@testable import TestPeers

/// Proxy authentication (`proxyAuthMethods`, `CURLOPT_PROXYAUTH`) against a real squid 5 that
/// demands it for `CONNECT`: Basic, Digest, NTLM and Negotiate (Kerberos, with a throw-away
/// KDC), alone and offered together, through an `http://` and an `https://` proxy. Each success
/// proves bytes cross the tunnel to a real echo server and that squid logged the user; each
/// failure is a `CurlError` with the proxy's 407 and a message that says what to change.
extension AsyncCurlTests {
    @Suite struct ProxyAuthTests {
        // MARK: One method at a time, chosen by libcurl (.any) and named explicitly

        @Test(.requires(.squid, .openssl))
        func basicThroughSquid() async throws {
            try await expectTunnels(offering: [.basic], use: .basic, scheme: "Basic")
        }

        @Test(.requires(.squid))
        func digestThroughSquid() async throws {
            try await expectTunnels(offering: [.digest], use: .digest, scheme: "Digest")
        }

        /// squid's ntlm_fake_auth runs the real three-message NTLM handshake (negotiate,
        /// challenge, authenticate: two 407s on one connection) but checks no password.
        @Test(.requires(.squid))
        func ntlmThroughSquid() async throws {
            let trace = try await expectTunnels(offering: [.ntlm], use: .ntlm, scheme: "NTLM")
            #expect(trace.contains("Proxy-Authenticate: NTLM TlRMTVNT"), "squid's NTLM challenge: \(trace.text)")
        }

        // MARK: Several methods offered at once

        /// squid offers Digest, NTLM and Basic; libcurl takes the strongest allowed one
        /// (Digest before NTLM before Basic), and exactly the one named when only one is allowed.
        @Test(.requires(.squid, .openssl))
        func theStrongestAllowedOfSeveralOfferedMethods() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let squid = try await SquidPeer(schemes: [.ntlm, .digest, .basic])
            let multi = CurlMulti()
            let cases: [(allowed: AuthMethods, used: AuthMethods, scheme: String)] = [
                (.any, .digest, "Digest"), (.anySafe, .digest, "Digest"), ([.ntlm, .basic], .ntlm, "NTLM"),
                (.ntlm, .ntlm, "NTLM"), (.basic, .basic, "Basic"),
            ]
            for (allowed, used, scheme) in cases {
                let trace = TraceRecorder()
                var options = squid.options(trace: trace)
                options.proxyAuthMethods = allowed
                let info = try await connectAndEcho(multi, to: echo.url, options: options)
                #expect(info.proxyAuthMethod == used, "allowed \(allowed): \(info)")
                #expect(trace.contains("Proxy-Authorization: \(scheme) "), "allowed \(allowed): \(trace.text)")
                for other in ["Basic", "Digest", "NTLM"] where other != scheme {
                    #expect(!trace.contains("Proxy-Authorization: \(other) "), "allowed \(allowed), sent \(other): \(trace.text)")
                }
            }
            #expect(await eventually { squid.tunnels(for: "pxuser").count == cases.count }, "\(squid.accessLog)")
            #expect(await multi.diagnostics == .idle)
        }

        /// A proxy that closes the connection after its 407 (tinyproxy answers HTTP/1.0 with
        /// `Connection: close`): libcurl 7.88.1 connects again ("Connect me again please") and
        /// sends the credentials on the new connection; the engine follows the socket change.
        @Test(.requires(.tinyproxy))
        func anyReconnectsWhenTheProxyClosesAfterIts407() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let proxy = try await TinyproxyPeer(basicAuth: ("proxyuser", "proxy-secret"))
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.proxy = proxy.url
            options.proxyUsername = "proxyuser"
            options.proxyPassword = "proxy-secret"
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyAuthMethod == .basic, "\(info)")
            #expect(trace.contains("Connect me again please"), "\(trace.text)")
            let connects = trace.text.components(separatedBy: "Connected to ").count - 1
            #expect(connects == 2, "the credentials go on a second connection: \(trace.text)")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: Refusals

        /// Wrong credentials: the proxy's 407 in `proxyStatusCode`, and a message saying it
        /// refused the credentials and which methods it offers. Nothing reaches the peer.
        @Test(.requires(.squid, .openssl))
        func wrongCredentialsAre407SayingWhatTheProxyOffers() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let squid = try await SquidPeer(schemes: [.digest, .basic])
            let multi = CurlMulti()
            for allowed in [AuthMethods.any, .digest, .basic] {
                var options = squid.options()
                options.proxyPassword = "not the password"
                options.proxyAuthMethods = allowed
                let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
                #expect(error?.proxyStatusCode == 407, "allowed \(allowed): \(String(describing: error))")
                #expect(error?.code == .recvError, "allowed \(allowed): \(String(describing: error))")
                #expect(error?.message.contains("CONNECT tunnel failed, response 407") == true, "\(String(describing: error))")
                #expect(error?.message.contains("the proxy refused the credentials") == true, "\(String(describing: error))")
                #expect(error?.message.contains("offers [basic, digest]") == true, "\(String(describing: error))")
            }

            // No credentials at all: the message says to give some.
            var anonymous = squid.options()
            anonymous.proxyUsername = nil
            anonymous.proxyPassword = nil
            let missing = await expectCurlError { _ = try await multi.connect(to: echo.url, options: anonymous) }
            #expect(missing?.proxyStatusCode == 407, "\(String(describing: missing))")
            #expect(missing?.message.contains("set proxyUsername and proxyPassword") == true, "\(String(describing: missing))")

            #expect(echo.acceptedCount == 0, "nothing reached the peer")
            #expect(squid.tunnels(for: "pxuser").isEmpty, "\(squid.accessLog)")
            #expect(await multi.diagnostics == .idle)
        }

        /// `.basic` alone against a Digest-only proxy: libcurl sends Basic at once, the proxy
        /// answers 407 offering Digest, and the message says proxyAuthMethods is the problem.
        @Test(.requires(.squid))
        func basicAloneAgainstADigestOnlyProxyIs407() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let squid = try await SquidPeer(schemes: [.digest])
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = squid.options(trace: trace)
            options.proxyAuthMethods = .basic
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.proxyStatusCode == 407, "\(String(describing: error))")
            #expect(error?.message.contains("offers [digest], but proxyAuthMethods allows only [basic]") == true,
                    "\(String(describing: error))")
            #expect(trace.contains("Proxy-Authorization: Basic "), "\(trace.text)")
            #expect(!trace.contains("Proxy-Authorization: Digest "), "\(trace.text)")

            // The same options with Digest allowed work.
            options.proxyAuthMethods = [.basic, .digest]
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyAuthMethod == .digest, "\(info)")
            #expect(await multi.diagnostics == .idle)
        }

        /// `.anySafe` never sends the password as Basic: a Basic-only proxy then fails (the
        /// trace shows no Basic credentials went out), one that also offers Digest gets Digest.
        @Test(.requires(.squid, .openssl))
        func anySafeNeverSendsBasic() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let basicOnly = try await SquidPeer(schemes: [.basic])
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = basicOnly.options(trace: trace)
            options.proxyAuthMethods = .anySafe
            let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(error?.proxyStatusCode == 407, "\(String(describing: error))")
            #expect(error?.message.contains("offers [basic], but proxyAuthMethods allows only anySafe") == true,
                    "\(String(describing: error))")
            #expect(trace.contains("Proxy-Authenticate: Basic"), "the proxy offered Basic: \(trace.text)")
            #expect(!trace.contains("Proxy-Authorization"), "no credentials at all were sent: \(trace.text)")
            #expect(basicOnly.tunnels(for: "pxuser").isEmpty, "\(basicOnly.accessLog)")
            #expect(echo.acceptedCount == 0)
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: HTTPS proxy

        /// Basic inside TLS to the proxy (stunnel with the proxy CA's certificate in front of
        /// squid): where Basic is safe to use.
        @Test(.requires(.squid, .stunnel, .openssl))
        func basicThroughAnHTTPSProxy() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let squid = try await SquidPeer(schemes: [.digest, .basic])
            let proxyTLS = try await StunnelPeer(.init(certificates.proxy), forwardingTo: squid.port)
            let multi = CurlMulti()
            let trace = TraceRecorder()
            var options = squid.options(trace: trace)
            options.proxy = "https://localhost:\(proxyTLS.port)"
            options.proxyTLS.caFile = certificates.proxyCAFile
            options.proxyAuthMethods = .basic
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(info.proxyAuthMethod == .basic, "\(info)")
            #expect(info.remotePort == proxyTLS.port, "\(info)")
            #expect(trace.contains("Proxy-Authorization: Basic "), "\(trace.text)")

            options.proxyAuthMethods = .any
            let chosen = try await connectAndEcho(multi, to: echo.url, options: options)
            #expect(chosen.proxyAuthMethod == .digest, "\(chosen)")

            options.proxyPassword = "not the password"
            let wrong = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            #expect(wrong?.proxyStatusCode == 407, "\(String(describing: wrong))")
            #expect(wrong?.message.contains("the proxy refused the credentials") == true, "\(String(describing: wrong))")
            #expect(await eventually { squid.tunnels(for: "pxuser").count == 2 }, "\(squid.accessLog)")
            #expect(await multi.diagnostics == .idle)
        }

        // MARK: Negotiate

        /// SPNEGO with a real Kerberos ticket: a KDC on loopback, `kinit` into a file cache,
        /// squid's negotiate_kerberos_auth with the `HTTP/localhost` keytab. The proxy URL names
        /// `localhost`, so libcurl asks GSS-API for `HTTP@localhost`; the credentials come from
        /// the ticket cache (`KRB5CCNAME`), the empty user name only lets libcurl start.
        @Test(.requires(.squid, .krb5kdc, .kadminLocal, .kinit))
        func negotiateThroughSquidWithAKerberosTicket() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let realm = try await KerberosRealm()
            let squid = try await SquidPeer(schemes: [realm.squidScheme])
            let multi = CurlMulti()
            var options = peerOptions()
            options.proxy = "http://localhost:\(squid.port)"
            options.proxyUsername = ""
            options.proxyPassword = ""
            try await realm.withClientEnvironment {
                for allowed in [AuthMethods.negotiate, .any] {
                    let trace = TraceRecorder()
                    options.trace = trace.handler
                    options.proxyAuthMethods = allowed
                    let info = try await connectAndEcho(multi, to: echo.url, options: options)
                    #expect(info.proxyAuthMethod == .negotiate, "allowed \(allowed): \(info)")
                    #expect(trace.contains("Proxy-Authorization: Negotiate "), "\(trace.text)")
                }
            }
            #expect(await eventually { squid.tunnels(for: KerberosRealm.clientPrincipal).count == 2 }, "\(squid.accessLog)")
            #expect(realm.kdcLog.contains("TGS_REQ"), "the client asked the KDC for the proxy's ticket: \(realm.kdcLog)")

            // Without a ticket GSS-API has nothing to offer: the proxy's 407 stands.
            let error = await realm.withClientEnvironment(credentialCache: realm.emptyCredentialCache) {
                await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
            }
            #expect(error?.proxyStatusCode == 407, "\(String(describing: error))")
            #expect(error?.message.contains("it offers [negotiate]") == true, "\(String(describing: error))")
            #expect(error?.message.contains("Kerberos ticket cache (kinit, KRB5CCNAME)") == true, "\(String(describing: error))")
            #expect(await multi.diagnostics == .idle)
        }
    }
}

// MARK: - Helpers

extension SquidPeer {
    /// Peer options for this proxy with its user's credentials (and proxyAuthMethods `.any`).
    func options(trace: TraceRecorder? = nil) -> ConnectionOptions {
        var options = peerOptions(trace: trace)
        options.proxy = url
        options.proxyUsername = user
        options.proxyPassword = password
        return options
    }

    /// The tunnels squid logged for `user` (it logs one when it closes).
    func tunnels(for user: String) -> [AccessLogEntry] {
        accessLog.filter { $0.result == "TCP_TUNNEL/200" && $0.method == "CONNECT" && ($0.user?.contains(user) ?? false) }
    }
}

/// Through a squid offering only `schemes`: a tunnel with the default `.any` and one with `use`
/// alone, each proving bytes cross, reporting `use` as the method, sending `scheme` credentials
/// and, for `.any`, answering squid's 407 on the same connection (squid keeps it open). Returns
/// the trace of the `.any` connect.
@discardableResult
private func expectTunnels(offering schemes: [SquidPeer.Scheme], use method: AuthMethods, scheme: String,
                           sourceLocation: SourceLocation = #_sourceLocation) async throws -> TraceRecorder {
    let echo = try LoopbackServer(mode: .echo)
    defer { echo.stop() }
    let squid = try await SquidPeer(schemes: schemes)
    let multi = CurlMulti()
    var anyTrace = TraceRecorder()
    for allowed in [AuthMethods.any, method] {
        let trace = TraceRecorder()
        var options = squid.options(trace: trace)
        options.proxyAuthMethods = allowed
        let info = try await connectAndEcho(multi, to: echo.url, options: options, sourceLocation: sourceLocation)
        #expect(info.proxyConnectStatus == 200, "\(info)", sourceLocation: sourceLocation)
        #expect(info.proxyAuthMethod == method, "allowed \(allowed): \(info)", sourceLocation: sourceLocation)
        #expect(info.remotePort == squid.port, "\(info)", sourceLocation: sourceLocation)
        #expect(trace.contains("Proxy-Authorization: \(scheme) "), "\(trace.text)", sourceLocation: sourceLocation)
        if allowed == .any {
            anyTrace = trace
            #expect(trace.contains("HTTP/1.1 407 Proxy Authentication Required"), "the probe without credentials: \(trace.text)",
                    sourceLocation: sourceLocation)
            let connects = trace.text.components(separatedBy: "Connected to ").count - 1
            #expect(connects == 1, "the 407 is answered on the same connection: \(trace.text)", sourceLocation: sourceLocation)
        }
    }
    #expect(await eventually { squid.tunnels(for: "pxuser").count == 2 }, "\(squid.accessLog)", sourceLocation: sourceLocation)
    #expect(await multi.diagnostics == .idle, sourceLocation: sourceLocation)
    return anyTrace
}
