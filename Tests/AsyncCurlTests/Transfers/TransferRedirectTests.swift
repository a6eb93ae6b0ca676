import AsyncCurl
import HTTPTypes
import Testing
@testable import TestPeers

/// Redirects against a real nginx: `.none` hands out the 3xx itself, `.follow(max:)` follows up
/// to its limit, a loop fails with `tooManyRedirects` in good time, and redirects to another
/// scheme or from https to http are refused with `unsupportedProtocol`.
extension AsyncCurlTests {
    @Suite struct TransferRedirectTests {
        @Test(.requires(.nginx, .openssl))
        func noneReturnsTheRedirectAsItIs() async throws {
            let server = try await NginxHTTPServer()
            let options = ResponseSide.options(caFile: server.caFile)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: options) { multi in
                let found = try await ResponseSide.get(multi, server.url("/redirect"), options: options)
                #expect(found.status == 302)
                #expect(found.head.headerFields[.location] == server.url("/hello.txt"))
                #expect(found.text.contains("302 Found"), "nginx's own page: \(found.text)")
                #expect(found.facts.redirectCount == 0)
                #expect(found.facts.effectiveURL == server.url("/redirect"))

                let moved = try await ResponseSide.get(multi, server.url("/redirect2", scheme: .h2c),
                                                       options: ResponseSide.options(.http2PriorKnowledge))
                #expect(moved.status == 301)
                #expect(moved.head.headerFields[.location] == "/redirect")
                #expect(moved.facts.httpVersion == "2")

                // A loop is just one 302 when not followed.
                let loop = try await ResponseSide.get(multi, server.url("/loop"), options: options)
                #expect(loop.status == 302)
            }
        }

        @Test(.requires(.nginx, .openssl))
        func followGoesToTheEndWithinItsLimit() async throws {
            let server = try await NginxHTTPServer()
            var options = ResponseSide.options(caFile: server.caFile)
            options.redirects = .follow(max: 5)
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: options) { multi in
                for scheme in [NginxHTTPServer.Scheme.http, .https] {
                    let twice = try await ResponseSide.get(multi, server.url("/redirect2", scheme: scheme), options: options)
                    #expect(twice.status == 200, "\(scheme)")
                    #expect(twice.body == NginxHTTPServer.helloText, "\(scheme): \(twice.text)")
                    #expect(twice.head.headerFields[.location] == nil, "the final head, not a redirect's")
                    #expect(twice.facts.redirectCount == 2)
                    #expect(twice.facts.effectiveURL == server.url("/hello.txt", scheme: scheme))
                    #expect(twice.facts.redirectTime > .zero && twice.facts.redirectTime <= twice.facts.totalTime, "\(twice.facts)")
                    #expect(twice.facts.bytesDownloaded == Int64(NginxHTTPServer.helloText.count),
                            "the redirects' bodies are not counted: \(twice.facts)")

                    let once = try await ResponseSide.get(multi, server.url("/redirect", scheme: scheme), options: options)
                    #expect(once.body == NginxHTTPServer.helloText)
                    #expect(once.facts.redirectCount == 1)
                }

                // Exactly at the limit: 2 redirects with max 2 work, with max 1 they fail.
                var tight = options
                tight.redirects = .follow(max: 2)
                #expect(try await ResponseSide.get(multi, server.url("/redirect2"), options: tight).status == 200)
                tight.redirects = .follow(max: 1)
                let error = await expectCurlError { _ = try await ResponseSide.get(multi, server.url("/redirect2"), options: tight) }
                #expect(error?.code == .tooManyRedirects, "\(String(describing: error))")

                // A POST with a body, redirected by a 302, becomes a GET without it.
                let posted = try await multi.execute(server.url("/redirect"), method: .post, body: .text("x=1"), options: options)
                #expect(posted.status == .ok)
                #expect(try await posted.body.collect(upTo: 1 << 10) == NginxHTTPServer.helloText)
            }
            // warm-up 1, (3 + 2) × 2, 3 with max 2, 2 with max 1, 2 for the POST.
            let afterPost = try await server.waitForAccessLog(18).suffix(2)
            #expect(afterPost.map(\.method) == ["POST", "GET"], "\(afterPost)")
        }

        /// `/loop` redirects to itself forever: the transfer fails with `tooManyRedirects` after
        /// the limit, quickly, having made max + 1 requests.
        @Test(.requires(.nginx, .openssl))
        func aLoopFailsWithTooManyRedirectsInGoodTime() async throws {
            let server = try await NginxHTTPServer()
            var following = ResponseSide.options(caFile: server.caFile)
            following.redirects = .follow(max: 5)
            let options = following
            let before = server.accessLog.count
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: options) { multi in
                for scheme in [NginxHTTPServer.Scheme.http, .https] {
                    let started = ContinuousClock.now
                    let error = await expectCurlError {
                        _ = try await withDeadline(.seconds(10), "the redirect loop to fail") {
                            try await multi.execute(server.url("/loop", scheme: scheme), options: options)
                        }
                    }
                    #expect(error?.code == .tooManyRedirects, "\(scheme): \(String(describing: error))")
                    #expect(ContinuousClock.now - started < .seconds(5))
                }
            }
            let loops = try await server.waitForAccessLog(before + 13).filter { $0.uri == "/loop" }
            #expect(loops.count == 12, "the first request and 5 redirects, twice: \(loops.count)")
        }

        /// Only http and https are followed, and from https only https: a redirect to ftp:// and
        /// one from https to http fail with `unsupportedProtocol` before any request goes there.
        @Test(.requires(.nginx, .openssl))
        func otherSchemesAndDowngradesAreRefused() async throws {
            let server = try await NginxHTTPServer()
            var options = ResponseSide.options(caFile: server.caFile)
            options.redirects = .follow(max: 5)
            let before = server.accessLog.count
            try await ResponseSide.checkingLeaks(warmUp: server.url("/hello.txt"), options: options) { multi in
                for url in [server.url("/to-ftp"), server.url("/to-ftp", scheme: .https)] {
                    let error = await expectCurlError { _ = try await ResponseSide.get(multi, url, options: options) }
                    #expect(error?.code == .unsupportedProtocol, "\(url): \(String(describing: error))")
                    #expect(error?.message.contains("a redirect may go only to http or https") == true, "\(String(describing: error))")
                }
                let downgrade = await expectCurlError {
                    _ = try await ResponseSide.get(multi, server.url("/to-http", scheme: .https), options: options)
                }
                #expect(downgrade?.code == .unsupportedProtocol, "\(String(describing: downgrade))")

                // Not followed, the same redirect is just a 302.
                var none = options
                none.redirects = .none
                let shown = try await ResponseSide.get(multi, server.url("/to-http", scheme: .https), options: none)
                #expect(shown.status == 302)
                #expect(shown.head.headerFields[.location] == server.url("/hello.txt"))
            }
            let log = try await server.waitForAccessLog(before + 5).dropFirst(before + 1)
            #expect(log.map(\.uri) == ["/to-ftp", "/to-ftp", "/to-http", "/to-http"], "nothing went to the http port: \(log)")
        }
    }
}
