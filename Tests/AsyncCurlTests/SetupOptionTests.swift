@testable import AsyncCurl
import LoopbackServer
import Testing
@testable import TestPeers

/// The set-up options' own logic, without sockets, and bad input to them: each is a typed
/// `CurlError` naming the option, before any I/O, and the engine stays healthy.
extension AsyncCurlTests {
    @Suite struct SetupOptionTests {
        @Test func authMethodsParseAndPrint() throws {
            #expect(try AuthMethods(parsing: "digest") == .digest)
            #expect(try AuthMethods(parsing: " Basic , NTLM") == [.basic, .ntlm])
            #expect(try AuthMethods(parsing: "any") == .any)
            #expect(try AuthMethods(parsing: "AnySafe") == .anySafe)
            #expect(!AuthMethods.anySafe.contains(.basic))
            #expect(AuthMethods.any.isSuperset(of: [.basic, .digest, .ntlm, .negotiate]))
            #expect(AuthMethods.any.description == "any")
            #expect(AuthMethods([.digest, .basic]).description == "[basic, digest]")
            for bad in ["kerberos", "", ",", "basic,bogus"] {
                #expect(throws: CurlError.self, "'\(bad)'") { try AuthMethods(parsing: bad) }
            }
            do {
                _ = try AuthMethods(parsing: "kerberos")
            } catch {
                #expect(error.code == .badFunctionArgument)
                #expect(error.message.contains("proxyAuthMethods") && error.message.contains("'kerberos'"), "\(error)")
            }
        }

        /// libcurl 7.88.1's `pickoneauth` order: Negotiate, Digest, NTLM, Basic.
        @Test func pickingFollowsLibcurlsOrder() {
            #expect(AuthMethods.any.pick(from: [.basic, .digest]) == .digest)
            #expect(AuthMethods.any.pick(from: [.ntlm, .basic]) == .ntlm)
            #expect(AuthMethods.any.pick(from: [.negotiate, .ntlm]) == .negotiate)
            #expect(AuthMethods.anySafe.pick(from: [.basic]) == nil)
            #expect(AuthMethods.basic.pick(from: [.digest]) == nil)
        }

        @Test func resolveAndConnectToEntriesAreCurlsLines() throws {
            #expect(try ResolveEntry(host: "svc.example.test", port: 8443, addresses: ["127.0.0.1", "::1"]).curlEntry()
                    == "svc.example.test:8443:127.0.0.1,[::1]")
            #expect(try ConnectToEntry(host: "a.test", port: 443, connectHost: "127.0.0.1", connectPort: 8443).curlEntry()
                    == "a.test:443:127.0.0.1:8443")
            #expect(try ConnectToEntry(connectHost: "::1").curlEntry() == "::[::1]:")
            #expect(try ConnectToEntry(port: 80, connectPort: 8080).curlEntry() == ":80::8080")
        }

        @Test func certificateDatesAreRead() {
            #expect(PeerCertificate.secondsSince1970(opensslDate: "Jan  1 00:00:00 1970 GMT") == 0)
            #expect(PeerCertificate.secondsSince1970(opensslDate: "Dec  1 22:20:17 2026 GMT") == 1_796_163_617)
            #expect(PeerCertificate.secondsSince1970(opensslDate: "Feb 29 12:00:00 2024 GMT") == 1_709_208_000)
            #expect(PeerCertificate.secondsSince1970(opensslDate: "Foo  1 00:00:00 2026 GMT") == nil)
            #expect(PeerCertificate.secondsSince1970(opensslDate: "") == nil)
            let certificate = PeerCertificate(curlLines: ["Subject:CN = localhost", "Issuer:CN = Test CA",
                                                          "Start date:Jan  2 03:04:05 2025 GMT", "Cert:-----BEGIN…"])
            #expect(certificate.subject == "CN = localhost")
            #expect(certificate.issuer == "CN = Test CA")
            #expect(certificate.notBeforeSecondsSince1970 == 1_735_787_045)
            #expect(certificate.notAfterSecondsSince1970 == nil)
            #expect(certificate.fields.count == 4)
        }

        /// Every bad value is refused with a message that names its option, before any I/O: the
        /// port of the (echo) peer must never see a connection.
        @Test func badInputIsATypedErrorNamingTheOption() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let multi = CurlMulti()
            let fdsBefore = openFileDescriptorCount()
            var cases: [(String, CurlError.Code, ConnectionOptions)] = []
            func add(_ name: String, _ code: CurlError.Code, _ change: (inout ConnectionOptions) -> Void) {
                var options = peerOptions()
                change(&options)
                cases.append((name, code, options))
            }
            add("proxy", .unsupportedProtocol) { $0.proxy = "ftp://127.0.0.1:21" }
            add("proxy", .urlMalformat) { $0.proxy = "http://[::1" }
            add("preProxy", .unsupportedProtocol) { $0.preProxy = "http://127.0.0.1:3128" }
            add("preProxy", .urlMalformat) { $0.preProxy = "127.0.0.1:1080" }
            add("dnsOverHTTPS", .urlMalformat) { $0.dnsOverHTTPS = DNSOverHTTPS(url: "http://127.0.0.1/dns-query") }
            add("dnsOverHTTPS", .urlMalformat) { $0.dnsOverHTTPS = DNSOverHTTPS(url: "https://") }
            add("resolve", .badFunctionArgument) { $0.resolve = [ResolveEntry(host: "a.test", port: 80, addresses: ["not-an-ip"])] }
            add("resolve", .badFunctionArgument) { $0.resolve = [ResolveEntry(host: "a.test", port: 0, addresses: ["127.0.0.1"])] }
            add("resolve", .badFunctionArgument) { $0.resolve = [ResolveEntry(host: "a.test", port: 80, addresses: [])] }
            add("resolve", .badFunctionArgument) { $0.resolve = [ResolveEntry(host: "a b", port: 80, addresses: ["127.0.0.1"])] }
            add("connectTo", .badFunctionArgument) { $0.connectTo = [ConnectToEntry(host: "a.test", connectPort: 70000)] }
            add("unixSocketPath", .badFunctionArgument) { $0.unixSocketPath = String(repeating: "x", count: 200) }
            add("tls.clientCertificate", .badFunctionArgument) { $0.tls.clientCertificate = [] }
            add("proxyTLS.curves", .notBuiltIn) { $0.proxyTLS.curves = "P-256" }
            add("proxyTLS.verifyStatus", .notBuiltIn) { $0.proxyTLS.verifyStatus = true }
            add("dnsCacheTimeout", .badFunctionArgument) { $0.dnsCacheTimeout = .seconds(-1) }
            for (name, code, options) in cases {
                let error = await expectCurlError { _ = try await multi.connect(to: echo.url, options: options) }
                #expect(error?.code == code, "\(name): \(String(describing: error))")
                #expect(error?.message.contains(name) == true, "the message names \(name): \(String(describing: error))")
            }
            #expect(echo.acceptedCount == 0, "no bad option reached the network")
            #expect(await multi.diagnostics == .idle)
            // Not more than before (earlier tests' peers may still be closing theirs).
            #expect(openFileDescriptorCount() <= fdsBefore)
        }

        @Test func unixURLsAreChecked() throws {
            let target = try ConnectionTarget(parsing: "unix:///run/redis/redis.sock")
            #expect(target.unixSocketPath == "/run/redis/redis.sock")
            #expect(target.curlURL == "http://localhost/")
            #expect(!target.usesTLS)
            for bad in ["unix://run/redis.sock", "unix://", "unix:relative"] {
                #expect(throws: CurlError.self, "\(bad)") { try ConnectionTarget(parsing: bad) }
            }
        }
    }
}
