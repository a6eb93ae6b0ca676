@testable import AsyncCurl
import Testing
@testable import TestPeers

extension AsyncCurlTests {
    @Suite struct ConnectionTargetTests {
        @Test(arguments: [
            ("tcp://127.0.0.1:6379", "http://127.0.0.1:6379/", false, "127.0.0.1", 6379),
            ("tls://localhost:443/", "https://localhost:443/", true, "localhost", 443),
            ("TCP://[::1]:7", "http://[::1]:7/", false, "::1", 7),
            ("http://example.com", "http://example.com:80", false, "example.com", 80),
            ("https://example.com/path?x=1", "https://example.com:443/path?x=1", true, "example.com", 443),
            ("smtp://mail.example.com", "smtp://mail.example.com:25", false, "mail.example.com", 25),
            ("smtp://127.0.0.1:2525/client.example.org", "smtp://127.0.0.1:2525/client.example.org", false, "127.0.0.1", 2525),
            ("SMTPS://mail.example.com", "smtps://mail.example.com:465", true, "mail.example.com", 465),
            ("imap://[::1]", "imap://[::1]:143", false, "::1", 143),
            ("imaps://mail.example.com/", "imaps://mail.example.com:993/", true, "mail.example.com", 993),
            ("pop3://mail.example.com:1110", "pop3://mail.example.com:1110", false, "mail.example.com", 1110),
            ("pop3s://mail.example.com", "pop3s://mail.example.com:995", true, "mail.example.com", 995),
        ])
        func parsesValidURLs(url: String, curlURL: String, usesTLS: Bool, host: String, port: Int) throws {
            let target = try ConnectionTarget(parsing: url)
            #expect(target.curlURL == curlURL)
            #expect(target.usesTLS == usesTLS)
            #expect(target.host == host)
            #expect(target.port == port)
        }

        @Test(arguments: [
            ("127.0.0.1:6379", CurlError.Code.urlMalformat),
            ("tcp://127.0.0.1", .urlMalformat),
            ("tls://localhost", .urlMalformat),
            ("tcp://:80", .urlMalformat),
            ("tcp://127.0.0.1:0", .urlMalformat),
            ("tcp://127.0.0.1:65536", .urlMalformat),
            ("tcp://127.0.0.1:80x", .urlMalformat),
            ("tcp://127.0.0.1:80/path", .urlMalformat),
            ("tcp://user@127.0.0.1:80", .urlMalformat),
            ("tcp://[::1:80", .urlMalformat),
            ("tcp://bad host:80", .urlMalformat),
            ("ftp://127.0.0.1:21", .unsupportedProtocol),
            ("imaps://127.0.0.1:993/INBOX", .urlMalformat),
            ("pop3://127.0.0.1/1", .urlMalformat),
            ("smtp://127.0.0.1/bad name", .urlMalformat),
            ("smtp://user@127.0.0.1", .urlMalformat),
            ("ldap://127.0.0.1:389", .unsupportedProtocol),
            ("://127.0.0.1:1", .urlMalformat),
        ])
        func rejectsBadURLs(url: String, code: CurlError.Code) {
            #expect {
                try ConnectionTarget(parsing: url)
            } throws: { error in
                guard let error = error as? CurlError else { return false }
                return error.code == code && !error.message.isEmpty
            }
        }

        @Test func badURLsFailBeforeAnyIO() async throws {
            let multi = CurlMulti()
            for url in ["tcp://127.0.0.1", "tcp//127.0.0.1:1", "gopher://127.0.0.1:70"] {
                await #expect(throws: CurlError.self) {
                    _ = try await multi.connect(to: url)
                }
            }
            let error = await #expect(throws: CurlError.self) {
                _ = try await multi.connect(to: "tcp://127.0.0.1")
            }
            #expect(error?.code == .urlMalformat)
            #expect(error?.description.contains("no port") == true)
            #expect(await multi.diagnostics == .idle)
        }
    }
}
