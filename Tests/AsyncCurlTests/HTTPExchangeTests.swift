@testable import AsyncCurl
import HTTPTypes
import Testing

/// The hand-over's response, built from header lines as libcurl delivers them, and request
/// fields turned into libcurl header lines: nothing a server sends can trap.
extension AsyncCurlTests {
    @Suite struct HTTPExchangeTests {
        static func response(_ lines: [String]) -> HTTPResponse {
            HTTPExchange.response(from: lines.map { Array($0.utf8) })
        }

        @Test func statusCodesOutsideThreeDigitsAreZero() {
            #expect(Self.response(["HTTP/1.1 999 Max"]).status.code == 999)
            #expect(Self.response(["HTTP/1.1 000 Zero"]).status.code == 0)
            #expect(Self.response(["HTTP/1.1 204"]).status == .noContent)
            #expect(Self.response(["HTTP/1.1 204 "]).status.reasonPhrase == "")
            for line in ["HTTP/1.1 2000 Too Long", "HTTP/1.1 20 Short", "HTTP/1.1 -12 Minus", "HTTP/1.1 +99 Plus",
                         "HTTP/1.1 99999999999999999999999 Huge", "HTTP/1.1", "HTTP/1.1 ", "HTTP/"] {
                #expect(Self.response([line]).status.code == 0, "\(line)")
            }
            #expect(Self.response(["HTTP/1.1 2000 Too Long"]).status.reasonPhrase == "2000 Too Long")
            #expect(Self.response([]).status.code == 0)
            #expect(Self.response(["X-Before: 1"]).headerFields.isEmpty, "no status line, no fields")
        }

        @Test func theLastStatusLineStartsTheResponse() throws {
            let response = Self.response(["HTTP/1.1 100 Continue", "", "HTTP/1.1 103 Early Hints", "Link: </a>", "",
                                          "HTTP/1.1 201 Created", "Location: /x", ""])
            #expect(response.status == .created)
            #expect(response.headerFields.count == 1)
            #expect(response.headerFields[.location] == "/x")
        }

        @Test func invalidNamesAndTheirFoldedLinesAreLeftOut() throws {
            let response = Self.response(["HTTP/1.1 200 OK", "Bad Name: x", " more", "no colon", ": empty name",
                                          "Good : space before colon", " \tfolded", "X-A: 1", "\t two ", "X-B:  3  "])
            #expect(response.headerFields.map(\.name.rawName) == ["X-A", "X-B"])
            #expect(response.headerFields[try #require(HTTPField.Name("x-a"))] == "1 two")
            #expect(response.headerFields[try #require(HTTPField.Name("x-b"))] == "3")
        }

        @Test func moreFieldsThanHTTPFieldsHoldsAreLeftOut() {
            let lines = ["HTTP/1.1 200 OK"] + Array(repeating: "a:", count: Int(UInt16.max) + 10)
            let response = Self.response(lines)
            #expect(response.headerFields.count == HTTPExchange.maximumFieldCount)
        }

        @Test func bytesAreKeptAndControlCharactersBecomeSpaces() throws {
            let lines: [[UInt8]] = [Array("HTTP/1.1 200 Caf".utf8) + [0xE9, 0x01],
                                    Array("X-Raw: ".utf8) + [0xFF, 0x00, 0x41, 0x0D]]
            let response = HTTPExchange.response(from: lines)
            #expect(response.status.reasonPhrase == "Caf\u{E9} ")
            let field = try #require(response.headerFields.first)
            #expect(field.withUnsafeBytesOfValue { Array($0) } == [0xFF, 0x20, 0x41])
        }

        @Test func headerLinesForLibcurl() throws {
            let note = try #require(HTTPField.Name("X-Note"))
            let fields: HTTPFields = [.accept: "", note: "a\r\nInjected: 1", .userAgent: "  padded  "]
            let lines = fields.curlHeaderLines.map { String(decoding: $0, as: UTF8.self) }
            #expect(lines == ["Accept:", "X-Note: a  Injected: 1", "User-Agent: padded"])
            var raw = HTTPFields()
            raw.append(HTTPField(name: note, value: [0x61, 0xFF, 0x62]))
            #expect(raw.curlHeaderLines == [Array("X-Note: a".utf8) + [0xFF, 0x62]])
        }
    }
}
