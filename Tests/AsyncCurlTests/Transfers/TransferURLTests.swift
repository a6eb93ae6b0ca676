@testable import AsyncCurl
import CCurl
import HTTPTypes
import Testing

/// The URL check before libcurl sees a transfer's URL, and which heads the header callback can
/// hand out at once.
extension AsyncCurlTests {
    @Suite struct TransferURLTests {
        /// The code `TransferURL` refuses `url` with, or `nil` if it takes it.
        static func refusal(_ url: String) -> CurlError.Code? {
            do {
                _ = try TransferURL(url)
                return nil
            } catch {
                return error.code
            }
        }

        @Test(arguments: ["\r", "\n", "\r\n", " ", "\u{0}", "\u{7F}", "\t", "\u{1B}"])
        func controlCharactersAndSpacesAreRefused(character: String) {
            #expect(Self.refusal("http://127.0.0.1/a\(character)b") == .urlMalformat)
            #expect(Self.refusal("http://127.0.0.1/\(character)") == .urlMalformat)
            #expect(Self.refusal("\(character)http://127.0.0.1/") == .urlMalformat)
            #expect(Self.refusal("http://127.0.0.1/a?q=1\(character)Host: evil") == .urlMalformat)
        }

        @Test(arguments: ["", "127.0.0.1/x", "localhost:8080/x", "mailto:someone@example.com", "http:/127.0.0.1/", "http//127.0.0.1/", "http:"])
        func urlsWithoutASchemeAreRefused(url: String) {
            #expect(Self.refusal(url) == .urlMalformat)
        }

        @Test func emptySchemeIsRefused() {
            #expect(Self.refusal("://127.0.0.1/") != nil)
        }

        @Test(arguments: ["file:///etc/passwd", "ldap://127.0.0.1/", "telnet://127.0.0.1/", "rtsp://127.0.0.1/", "ws://127.0.0.1/", "mqtt://127.0.0.1/", "x-custom://a"])
        func unknownSchemesAreUnsupported(url: String) {
            #expect(Self.refusal(url) == .unsupportedProtocol)
        }

        @Test func uppercaseSchemeIsLowercased() throws {
            let url = try TransferURL("HTTP://127.0.0.1/Path")
            #expect(url.scheme == "http")
            #expect(url.string == "HTTP://127.0.0.1/Path")
            #expect(url.isHTTP)
            #expect(try TransferURL("FtP://127.0.0.1/").scheme == "ftp")
            #expect(try TransferURL("Https://127.0.0.1/").isHTTP)
        }

        @Test func everyListedSchemeIsAccepted() throws {
            #expect(TransferOptions.schemes.count >= 16)
            for scheme in TransferOptions.schemes.sorted() {
                let url = try TransferURL("\(scheme)://127.0.0.1/x")
                #expect(url.scheme == scheme)
                #expect(url.isHTTP == (scheme == "http" || scheme == "https"))
                #expect(try TransferURL("\(scheme.uppercased())://127.0.0.1/x").scheme == scheme)
            }
        }

        @Test func nonASCIIBytesAreLeftToLibcurl() throws {
            #expect(try TransferURL("http://127.0.0.1/caf\u{E9}").string == "http://127.0.0.1/caf\u{E9}")
        }
    }

    @Suite struct TransferRecordTests {
        /// Runs `body` with a record over a fresh easy handle, freed afterwards.
        static func withRecord(followsRedirects: Bool, server: Bool = false, proxy: Bool = false,
                               _ body: (TransferRecord) throws -> Void) throws {
            let easy = try #require(curl_easy_init())
            let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
            errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
            let record = TransferRecord(id: ConnectionID(rawValue: 1), easy: easy, errorBuffer: errorBuffer,
                                        stream: ResponseStream(limit: 16, resumeTransfer: {}, cancelTransfer: {}),
                                        resumeSending: {}, isHTTP: true, followsRedirects: followsRedirects,
                                        mayAuthenticate: (server: server, proxy: proxy))
            defer { record.free() }
            try body(record)
        }

        static func head(_ code: Int, location: String? = nil) -> HTTPResponse {
            var fields = HTTPFields()
            if let location { fields[.location] = location }
            return HTTPResponse(status: .init(code: code), headerFields: fields)
        }

        @Test func interimHeadsAreNeverFinal() throws {
            try Self.withRecord(followsRedirects: false) { record in
                for code in [100, 101, 102, 103, 199] { #expect(!record.isSurelyFinal(Self.head(code)), "\(code)") }
            }
        }

        @Test func plainHeadsAreFinal() throws {
            try Self.withRecord(followsRedirects: true, server: true, proxy: true) { record in
                for code in [200, 204, 206, 400, 403, 404, 408, 500, 503, 599, 0, 999] {
                    #expect(record.isSurelyFinal(Self.head(code)), "\(code)")
                }
            }
        }

        @Test func redirectsAreFinalUnlessFollowedWithALocation() throws {
            try Self.withRecord(followsRedirects: true) { record in
                for code in [301, 302, 303, 307, 308] { #expect(!record.isSurelyFinal(Self.head(code, location: "/next")), "\(code)") }
                #expect(record.isSurelyFinal(Self.head(302)))
                #expect(record.isSurelyFinal(Self.head(304)))
            }
            try Self.withRecord(followsRedirects: false) { record in
                #expect(record.isSurelyFinal(Self.head(302, location: "/next")))
                #expect(record.isSurelyFinal(Self.head(301, location: "http://elsewhere/")))
            }
        }

        @Test func authenticationChallengesDependOnCredentials() throws {
            try Self.withRecord(followsRedirects: false) { record in
                #expect(record.isSurelyFinal(Self.head(401)))
                #expect(record.isSurelyFinal(Self.head(407)))
            }
            try Self.withRecord(followsRedirects: false, server: true) { record in
                #expect(!record.isSurelyFinal(Self.head(401)))
                #expect(record.isSurelyFinal(Self.head(407)))
            }
            try Self.withRecord(followsRedirects: false, proxy: true) { record in
                #expect(record.isSurelyFinal(Self.head(401)))
                #expect(!record.isSurelyFinal(Self.head(407)))
            }
        }

        @Test func fallbackHeadIsTheLastParsedHeadOrTheReplyCode() throws {
            try Self.withRecord(followsRedirects: true) { record in
                // No head parsed, no transfer done: libcurl's reply code is 0.
                #expect(record.fallbackHead().status.code == 0)
                for line in ["HTTP/1.1 302 Found\r\n", "Location: /x\r\n", "\r\n"] {
                    _ = Array(line.utf8).withUnsafeBytes { record.parser.feed($0) }
                }
                let head = record.fallbackHead()
                #expect(head.status.code == 302)
                #expect(head.headerFields[.location] == "/x")
            }
        }

        @Test func deliverHeadSwitchesTheParserToTrailersOnce() throws {
            try Self.withRecord(followsRedirects: false) { record in
                record.deliverHead(Self.head(200))
                #expect(record.headDelivered)
                record.deliverHead(Self.head(500))
                // Field lines now make trailers, and a status line is not taken as one.
                var events: [ResponseHeadParser.Event] = []
                for line in ["HTTP/1.1 200 OK\r\n", "X-Trailer: t\r\n", "\r\n"] {
                    events.append(Array(line.utf8).withUnsafeBytes { record.parser.feed($0) })
                }
                #expect(events.last == .trailers([HTTPField.Name("X-Trailer")!: "t"]))
            }
        }
    }
}
