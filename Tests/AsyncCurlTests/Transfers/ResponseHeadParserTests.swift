@testable import AsyncCurl
import HTTPTypes
import Testing

/// The header callback's lines as `HTTPResponse`s: status lines, fields, folding, interim and
/// redirect blocks, trailers; nothing a server sends traps.
extension AsyncCurlTests {
    @Suite struct ResponseHeadParserTests {
        static func status(_ line: String) -> HTTPResponse.Status? {
            Array(line.utf8).withUnsafeBytes { ResponseHeadParser.statusLine($0) }
        }

        /// Feeds each line (raw bytes, line ending included) and returns the events other than `.none`.
        static func feed(_ parser: inout ResponseHeadParser, _ lines: [[UInt8]]) -> [ResponseHeadParser.Event] {
            var events: [ResponseHeadParser.Event] = []
            for line in lines {
                let event = line.withUnsafeBytes { parser.feed($0) }
                if event != .none { events.append(event) }
            }
            return events
        }

        static func feed(_ parser: inout ResponseHeadParser, _ lines: [String], ending: String = "\r\n") -> [ResponseHeadParser.Event] {
            feed(&parser, lines.map { Array(($0 + ending).utf8) })
        }

        static func heads(_ events: [ResponseHeadParser.Event]) -> [HTTPResponse] {
            events.compactMap { if case .head(let head) = $0 { return head } else { return nil } }
        }

        static func valueBytes(_ fields: HTTPFields, _ name: String) -> [UInt8]? {
            guard let name = HTTPField.Name(name) else { return nil }
            return fields.first { $0.name == name }?.withUnsafeBytesOfValue { Array($0) }
        }

        @Test func validStatusLines() throws {
            let ok = try #require(Self.status("HTTP/1.1 200 OK"))
            #expect(ok.code == 200)
            #expect(ok.reasonPhrase == "OK")
            let h2 = try #require(Self.status("HTTP/2 200"))
            #expect(h2.code == 200)
            #expect(h2.reasonPhrase == "")
            let notFound = try #require(Self.status("HTTP/1.0 404 Not Found"))
            #expect(notFound.code == 404)
            #expect(notFound.reasonPhrase == "Not Found")
            #expect(Self.status("HTTP/1.1 204 ")?.reasonPhrase == "")
            #expect(Self.status("HTTP/3 103")?.code == 103)
            #expect(Self.status("HTTP/1.1 999 Odd")?.code == 999)
            #expect(Self.status("HTTP/1.1  301  Moved")?.reasonPhrase == "Moved")
        }

        @Test(arguments: [
            "HTTP/1.1 20 OK", "HTTP/1.1 20", "HTTP/1.1 2000 OK", "HTTP/1.1 2000", "HTTP/1.1 abc OK", "HTTP/1.1 20a",
            "HTTP/1.1 200OK", "HTTP/1.1", "HTTP/1.1 ", "HTTP/1.1    ", "http/1.1 200 OK", "HTTPS/1.1 200 OK", "ICY 200 OK",
            "", "HTTP/", "X-Field: HTTP/1.1 200 OK",
        ])
        func malformedStatusLinesAreNotStatusLines(line: String) {
            #expect(Self.status(line) == nil)
        }

        @Test func nonUTF8ReasonPhraseDoesNotTrap() throws {
            var line = Array("HTTP/1.1 200 ".utf8)
            line += [0xE9, 0x74, 0xE9, 0x01, 0x00]
            let status = try #require(line.withUnsafeBytes { ResponseHeadParser.statusLine($0) })
            #expect(status.code == 200)
            #expect(HTTPResponse.Status(code: 200, reasonPhrase: status.reasonPhrase).reasonPhrase == status.reasonPhrase)
        }

        @Test(arguments: ["\r\n", "\n"])
        func headWithFields(ending: String) throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, [
                "HTTP/1.1 200 OK",
                "Content-Type: text/plain",
                "X-Spaces:    padded value   ",
                "X-Tabs:\t\tvalue\t",
                "X-Empty:",
                "X-Colons: a:b: c",
                "x-lower: kept",
                "",
            ], ending: ending)
            #expect(events.count == 1)
            let head = try #require(Self.heads(events).first)
            #expect(head.status == .ok)
            #expect(head.status.reasonPhrase == "OK")
            #expect(head.headerFields[.contentType] == "text/plain")
            #expect(head.headerFields[HTTPField.Name("X-Spaces")!] == "padded value")
            #expect(head.headerFields[HTTPField.Name("X-Tabs")!] == "value")
            #expect(head.headerFields[HTTPField.Name("X-Empty")!] == "")
            #expect(head.headerFields[HTTPField.Name("X-Colons")!] == "a:b: c")
            #expect(head.headerFields[HTTPField.Name("X-Lower")!] == "kept")
            #expect(head.headerFields.count == 6)
            #expect(parser.droppedFieldCount == 0)
            #expect(parser.lastHead?.headerFields == head.headerFields)
        }

        @Test func obsoleteFoldingJoinsWithOneSpace() throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, ["HTTP/1.1 200 OK", "X-Folded: first", "   second", "\tthird  ", "X-Next: n", ""])
            let head = try #require(Self.heads(events).first)
            #expect(head.headerFields[HTTPField.Name("X-Folded")!] == "first second third")
            #expect(head.headerFields[HTTPField.Name("X-Next")!] == "n")
            #expect(parser.droppedFieldCount == 0)
        }

        @Test func foldingKeepsNonUTF8Bytes() throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, [
                Array("HTTP/1.1 200 OK\r\n".utf8),
                Array("X-Latin: caf".utf8) + [0xE9] + Array("\r\n".utf8),
                Array(" cr".utf8) + [0xE8] + Array("me\r\n".utf8),
                Array("\r\n".utf8),
            ])
            let head = try #require(Self.heads(events).first)
            #expect(Self.valueBytes(head.headerFields, "X-Latin") == Array("caf".utf8) + [0xE9] + Array(" cr".utf8) + [0xE8] + Array("me".utf8))
        }

        @Test func invalidFieldNamesAreDroppedAndCounted() throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, [
                " fold before any field",
                "HTTP/1.1 200 OK",
                " fold right after the status line",
                "Bad Name: x",
                "(paren): y",
                ": empty name",
                "NoColonHere",
                "  fold after a dropped line",
                "Spaced : z",
                "X-Ok: 1",
                "",
            ])
            let head = try #require(Self.heads(events).first)
            #expect(head.headerFields.map(\.name.rawName) == ["X-Ok"])
            #expect(parser.droppedFieldCount == 8)
        }

        @Test func valueBytesAreKeptOrLegalized() throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, [
                Array("HTTP/1.1 200 OK\r\n".utf8),
                Array("X-Latin: caf".utf8) + [0xE9] + Array("\r\n".utf8),
                Array("X-Control: a".utf8) + [0x01] + Array("b".utf8) + [0x00] + Array("c\r\n".utf8),
                Array("\r\n".utf8),
            ])
            let head = try #require(Self.heads(events).first)
            // obs-text (0x80–0xFF) is kept as is; control bytes become spaces.
            #expect(Self.valueBytes(head.headerFields, "X-Latin") == Array("caf".utf8) + [0xE9])
            #expect(head.headerFields[HTTPField.Name("X-Control")!] == "a b c")
        }

        @Test func interimHeadsComeFirstAndAreNotTheLastHead() throws {
            var parser = ResponseHeadParser()
            var events = Self.feed(&parser, ["HTTP/1.1 100 Continue", "", "HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload", ""])
            #expect(Self.heads(events).map(\.status.code) == [100, 103])
            #expect(Self.heads(events).last?.headerFields[HTTPField.Name("Link")!] == "</a.css>; rel=preload")
            #expect(parser.lastHead == nil)
            events = Self.feed(&parser, ["HTTP/1.1 200 OK", "Content-Length: 5", ""])
            let head = try #require(Self.heads(events).first)
            #expect(head.status == .ok)
            #expect(head.headerFields[HTTPField.Name("Link")!] == nil, "the 103's fields must not leak into the 200")
            #expect(head.headerFields[.contentLength] == "5")
            #expect(parser.lastHead?.status == .ok)
        }

        @Test func redirectChainGivesOneHeadPerResponse() throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, [
                "HTTP/1.1 302 Found", "Location: /next", "Content-Length: 0", "",
                "HTTP/1.1 401 Unauthorized", "WWW-Authenticate: Basic realm=\"r\"", "",
                "HTTP/2 200", "content-type: text/html", "",
            ])
            let heads = Self.heads(events)
            #expect(heads.map(\.status.code) == [302, 401, 200])
            #expect(heads[0].headerFields[.location] == "/next")
            #expect(heads[1].headerFields[.location] == nil)
            #expect(heads[2].headerFields[.location] == nil)
            #expect(heads[2].headerFields[.wwwAuthenticate] == nil)
            #expect(heads[2].headerFields[.contentType] == "text/html")
            #expect(parser.lastHead?.status.code == 200)
            #expect(parser.lastHead?.headerFields.count == 1)
        }

        @Test func linesWithoutAStatusLineGiveNoHead() throws {
            var parser = ResponseHeadParser()
            var events = Self.feed(&parser, ["X-Stray: 1", "", ""])
            #expect(events.isEmpty)
            #expect(parser.lastHead == nil)
            events = Self.feed(&parser, ["HTTP/1.1 200 OK", ""])
            let head = try #require(Self.heads(events).first)
            #expect(head.headerFields.isEmpty, "a stray block's fields must not reach the next head")
        }

        @Test func malformedStatusLineGivesNoHead() {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, ["HTTP/1.1 20 OK", "X-A: 1", ""])
            #expect(events.isEmpty)
            #expect(parser.lastHead == nil)
            #expect(parser.droppedFieldCount == 1)
        }

        @Test(arguments: ["\r\n", "\n"])
        func trailersAfterTheHead(ending: String) throws {
            var parser = ResponseHeadParser()
            let events = Self.feed(&parser, ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked", ""], ending: ending)
            #expect(Self.heads(events).count == 1)
            parser.startTrailers()
            let trailers = Self.feed(&parser, ["X-Checksum: abc", "HTTP/1.1 200 OK", "Server-Timing: total;dur=5", "  folded", ""], ending: ending)
            guard trailers.count == 1, case .trailers(let fields) = trailers[0] else {
                Issue.record("expected one trailer section: \(trailers)")
                return
            }
            #expect(fields[HTTPField.Name("X-Checksum")!] == "abc")
            #expect(fields[HTTPField.Name("Server-Timing")!] == "total;dur=5 folded")
            #expect(fields.count == 2, "a status line is not taken as one in the trailers")
            #expect(parser.lastHead?.headerFields[.transferEncoding] == "chunked")
        }

        @Test func emptyTrailerSection() {
            var parser = ResponseHeadParser()
            _ = Self.feed(&parser, ["HTTP/2 200", ""])
            parser.startTrailers()
            #expect(Self.feed(&parser, [""]) == [.trailers([:])])
        }

        @Test func startTrailersDropsAHalfReadBlock() {
            var parser = ResponseHeadParser()
            _ = Self.feed(&parser, ["HTTP/1.1 200 OK", "X-Half: 1"])
            parser.startTrailers()
            #expect(Self.feed(&parser, ["X-T: 2", ""]) == [.trailers([HTTPField.Name("X-T")!: "2"])])
        }
    }
}
