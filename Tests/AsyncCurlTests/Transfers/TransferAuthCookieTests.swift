import AsyncCurl
import HTTPTypes
import Testing
@testable import TestPeers

/// Server authentication (nginx's Basic, a Python Digest server), error statuses returned as
/// responses, repeated header fields, and a cookie jar shared by transfers.
extension AsyncCurlTests {
    @Suite struct TransferAuthCookieTests {
        @Test(.requires(.nginx, .openssl))
        func basicAuthenticationAndRefusalsAreResponses() async throws {
            let server = try await NginxHTTPServer()
            let base = ResponseSide.options(caFile: server.caFile)
            let before = server.accessLog.count
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: base) { multi in
                for (methods, scheme) in [(AuthMethods.basic, NginxHTTPServer.Scheme.http), (.any, .http), (.any, .https)] {
                    var options = base
                    options.credentials = Credentials(username: NginxHTTPServer.basicUser, password: NginxHTTPServer.basicPassword)
                    options.serverAuthMethods = methods
                    let granted = try await ResponseSide.get(multi, server.url("/basic/", scheme: scheme), options: options)
                    #expect(granted.status == 200, "\(methods) over \(scheme)")
                    #expect(granted.body == NginxHTTPServer.basicBody)

                    // A wrong password: the 401 is the response, with its body, not an error.
                    options.credentials?.password = "wrong"
                    let refused = try await ResponseSide.get(multi, server.url("/basic/", scheme: scheme), options: options)
                    #expect(refused.status == 401, "\(methods) over \(scheme)")
                    #expect(refused.head.headerFields[.wwwAuthenticate] == "Basic realm=\"asynccurl-nginx\"")
                    #expect(refused.text.contains("401 Authorization Required"), "\(refused.text)")
                    #expect(refused.facts.responseCode == 401)
                }
                // No credentials at all: the 401 as well.
                let anonymous = try await ResponseSide.get(multi, server.url("/basic/"), options: base)
                #expect(anonymous.status == 401)
            }
            let log = try await server.waitForAccessLog(before + 1 + 11).dropFirst(before + 1)
            // .basic sends the credentials at once; .any asks first (401), then sends them.
            #expect(log.map(\.status) == [200, 401, 401, 200, 401, 401, 401, 200, 401, 401, 401], "\(log.map(\.status))")
            #expect(log.filter { $0.status == 200 }.allSatisfy { $0.remoteUser == NginxHTTPServer.basicUser })
        }

        @Test(.requires(.python3))
        func digestAuthentication() async throws {
            let server = try await DigestHTTPServer()
            let base = ResponseSide.options()
            try await ResponseSide.checkingLeaks(warmUp: server.url("/absent"), options: base) { multi in
                for methods in [AuthMethods.digest, .any] {
                    for path in ["/digest", "/digest-sha256"] {
                        var options = base
                        options.credentials = Credentials(username: DigestHTTPServer.user, password: DigestHTTPServer.password)
                        options.serverAuthMethods = methods
                        let granted = try await ResponseSide.get(multi, server.url(path), options: options)
                        #expect(granted.status == 200, "\(methods) \(path)")
                        #expect(granted.body == DigestHTTPServer.body)
                    }
                }
                var wrong = base
                wrong.credentials = Credentials(username: DigestHTTPServer.user, password: "wrong")
                wrong.serverAuthMethods = .digest
                let refused = try await ResponseSide.get(multi, server.url(), options: wrong)
                #expect(refused.status == 401)
                #expect(refused.text == "unauthorized\n")
                #expect(refused.head.headerFields[.wwwAuthenticate]?.hasPrefix("Digest realm=\"\(DigestHTTPServer.realm)\"") == true)

                // Basic alone against a Digest-only server: its 401, returned.
                wrong.credentials?.password = DigestHTTPServer.password
                wrong.serverAuthMethods = .basic
                #expect(try await ResponseSide.get(multi, server.url(), options: wrong).status == 401)
            }
            let expected = ["alice /digest accepted", "alice /digest-sha256 accepted", "alice /digest accepted",
                            "alice /digest-sha256 accepted", "alice /digest refused"]
            #expect(await eventually { server.logins == expected }, "\(server.logins)")
        }

        @Test(.requires(.nginx, .openssl))
        func errorStatusesAndRepeatedFields() async throws {
            let server = try await NginxHTTPServer()
            let options = ResponseSide.options(caFile: server.caFile)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: options) { multi in
                for scheme in [NginxHTTPServer.Scheme.http, .https] {
                    let notFound = try await ResponseSide.get(multi, server.url("/status/404", scheme: scheme), options: options)
                    #expect(notFound.status == 404)
                    #expect(notFound.body == NginxHTTPServer.notFoundBody)
                    let failed = try await ResponseSide.get(multi, server.url("/status/500", scheme: scheme), options: options)
                    #expect(failed.status == 500)
                    #expect(failed.body == NginxHTTPServer.serverErrorBody)
                    #expect(failed.facts.responseCode == 500)
                    let missing = try await ResponseSide.get(multi, server.url("/no/such/file", scheme: scheme), options: options)
                    #expect(missing.status == 404)

                    let headers = try await ResponseSide.get(multi, server.url("/headers", scheme: scheme), options: options)
                    #expect(headers.body == NginxHTTPServer.headersBody)
                    let fields = headers.head.headerFields
                    #expect(fields[values: .setCookie] == ["a=1; Path=/", "b=2; Path=/"], "\(scheme): \(fields)")
                    #expect(fields[try #require(HTTPField.Name("X-Test"))] == "one")
                    #expect(fields[try #require(HTTPField.Name("X-Test-Other"))] == "two")
                }
                let head = try await multi.execute(server.url("/bytes/16m"), method: .head, options: options)
                #expect(head.status == .ok)
                #expect(head.headerFields[.contentLength] == "\(16 << 20)")
                #expect(try await head.body.collect(upTo: 0) == [])
            }
        }

        @Test(.requires(.nginx, .openssl))
        func aCookieJarSharedByTransfers() async throws {
            let server = try await NginxHTTPServer()
            let jar = CookieJar()
            var withJar = ResponseSide.options(caFile: server.caFile)
            withJar.cookies = jar
            let before = server.accessLog.count
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: ResponseSide.options()) { multi in
                let refused = try await ResponseSide.get(multi, server.url("/cookie/check"), options: withJar)
                #expect(refused.status == 403, "the jar starts empty")
                let set = try await ResponseSide.get(multi, server.url("/cookie/set"), options: withJar)
                #expect(set.head.headerFields[.setCookie] == "session=abc; Path=/")
                let checked = try await ResponseSide.get(multi, server.url("/cookie/check"), options: withJar)
                #expect(checked.status == 200)
                #expect(checked.body == NginxHTTPServer.cookieOKBody)

                // Without the jar, no cookie.
                let without = try await ResponseSide.get(multi, server.url("/cookie/check"), options: ResponseSide.options())
                #expect(without.status == 403)
                #expect(without.body == NginxHTTPServer.noCookieBody)

                // Cookies are per host: the same jar over https to 127.0.0.1 (another port, same
                // host) sends it too (RFC 6265 cookies ignore the port).
                let overTLS = try await ResponseSide.get(multi, server.url("/cookie/check", scheme: .https), options: withJar)
                #expect(overTLS.status == 200)
            }
            let lines = jar.cookieLines()
            #expect(lines.count == 1, "\(lines)")
            #expect(lines.first?.contains("\tsession\tabc") == true, "\(lines)")

            // The jar outlives the engine and works on another one.
            let other = CurlMulti()
            let again = try await ResponseSide.get(other, server.url("/cookie/check"), options: withJar)
            #expect(again.status == 200)
            jar.removeAll()
            #expect(jar.cookieLines().isEmpty)
            #expect(try await ResponseSide.get(other, server.url("/cookie/check"), options: withJar).status == 403)
            let log = try await server.waitForAccessLog(before + 8).dropFirst(before + 1)
            #expect(log.map(\.cookie) == [nil, nil, "session=abc", nil, "session=abc", "session=abc", nil], "\(log.map(\.cookie))")
        }
    }
}
