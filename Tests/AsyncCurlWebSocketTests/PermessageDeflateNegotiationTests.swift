import Testing
@testable import AsyncCurlWebSocket

extension AsyncCurlWebSocketTests {
    @Suite struct PermessageDeflateNegotiationTests {
        @Test func offers() {
            #expect(WebSocketCompression.permessageDeflate.offerHeaderValue() == "permessage-deflate; client_max_window_bits")
            let all = WebSocketCompression(clientMaxWindowBits: 10, serverMaxWindowBits: 12, clientNoContextTakeover: true, serverNoContextTakeover: true)
            #expect(all.offerHeaderValue() == "permessage-deflate; client_max_window_bits=10; server_max_window_bits=12; client_no_context_takeover; server_no_context_takeover")
            #expect(WebSocketCompression(clientMaxWindowBits: 3, serverMaxWindowBits: 99).offerHeaderValue() == "permessage-deflate; client_max_window_bits=8; server_max_window_bits=15")
        }

        static func negotiated(_ server: Int, _ client: Int, serverNo: Bool = false, clientNo: Bool = false) -> NegotiatedDeflate {
            NegotiatedDeflate(serverMaxWindowBits: server, clientMaxWindowBits: client, serverNoContextTakeover: serverNo, clientNoContextTakeover: clientNo)
        }

        static let accepted: [(WebSocketCompression, String, NegotiatedDeflate?)] = [
            (.permessageDeflate, "", nil),
            (.permessageDeflate, "permessage-deflate", negotiated(15, 15)),
            (.permessageDeflate, "Permessage-Deflate; Client_Max_Window_Bits=10", negotiated(15, 10)),
            (.permessageDeflate, "permessage-deflate; server_max_window_bits=9", negotiated(9, 15)),
            (.permessageDeflate, "permessage-deflate;client_max_window_bits=8;server_max_window_bits=8", negotiated(8, 8)),
            (.permessageDeflate, "permessage-deflate; client_max_window_bits=\"12\"", negotiated(15, 12)),
            (.permessageDeflate, " , permessage-deflate ; server_no_context_takeover ; client_no_context_takeover ,", negotiated(15, 15, serverNo: true, clientNo: true)),
            (WebSocketCompression(clientMaxWindowBits: 11), "permessage-deflate", negotiated(15, 11)),
            (WebSocketCompression(clientMaxWindowBits: 11), "permessage-deflate; client_max_window_bits=9", negotiated(15, 9)),
            (WebSocketCompression(serverMaxWindowBits: 10), "permessage-deflate; server_max_window_bits=10", negotiated(10, 15)),
            (WebSocketCompression(serverMaxWindowBits: 10), "permessage-deflate; server_max_window_bits=8", negotiated(8, 15)),
            (WebSocketCompression(clientNoContextTakeover: true), "permessage-deflate", negotiated(15, 15, clientNo: true)),
            (WebSocketCompression(serverNoContextTakeover: true), "permessage-deflate; server_no_context_takeover", negotiated(15, 15, serverNo: true)),
        ]

        static let rejected: [(WebSocketCompression, String)] = [
            (.permessageDeflate, "x-webkit-deflate-frame"),  // not offered
            (.permessageDeflate, "permessage-deflate, permessage-deflate"),  // twice
            (.permessageDeflate, "permessage-deflate; mystery"),  // unknown parameter
            (.permessageDeflate, "permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            (.permessageDeflate, "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10"),
            (.permessageDeflate, "permessage-deflate; server_max_window_bits=7"),
            (.permessageDeflate, "permessage-deflate; server_max_window_bits=16"),
            (.permessageDeflate, "permessage-deflate; server_max_window_bits=010"),
            (.permessageDeflate, "permessage-deflate; server_max_window_bits"),
            (.permessageDeflate, "permessage-deflate; client_max_window_bits"),  // a value is required in a response
            (.permessageDeflate, "permessage-deflate; client_max_window_bits=abc"),
            (.permessageDeflate, "permessage-deflate; server_no_context_takeover=1"),
            (WebSocketCompression(clientMaxWindowBits: 10), "permessage-deflate; client_max_window_bits=11"),
            (WebSocketCompression(serverMaxWindowBits: 10), "permessage-deflate; server_max_window_bits=11"),
            (WebSocketCompression(serverMaxWindowBits: 10), "permessage-deflate"),  // requested, not answered
            (WebSocketCompression(serverNoContextTakeover: true), "permessage-deflate"),
            (.permessageDeflate, "permessage-deflate; client_max_window_bits=\"1"),  // unterminated quote
            (.permessageDeflate, "permessage-deflate client_max_window_bits"),  // missing ';'
            (.permessageDeflate, "permessage-deflate; =10"),
        ]

        @Test func acceptedResponses() throws {
            for (offer, response, expected) in Self.accepted {
                #expect(try WebSocketCompression.negotiate(offer: offer, responseHeaderValue: response) == expected, "\(response)")
            }
        }

        @Test func rejectedResponses() {
            for (offer, response) in Self.rejected {
                #expect(throws: WebSocketExtensionNegotiationError.self, "\(response)") {
                    try WebSocketCompression.negotiate(offer: offer, responseHeaderValue: response)
                }
            }
        }

        @Test func severalHeaderLines() throws {
            #expect(try WebSocketCompression.negotiate(offer: .permessageDeflate, responseHeaderValues: ["", "permessage-deflate; server_max_window_bits=12"]) == Self.negotiated(12, 15))
            #expect(throws: WebSocketExtensionNegotiationError.self) {
                try WebSocketCompression.negotiate(offer: .permessageDeflate, responseHeaderValues: ["permessage-deflate", "permessage-deflate"])
            }
        }

        @Test func headerParser() throws {
            let header = try WebSocketExtensionHeader(parsing: "foo; a=1;b=\"x\\\"y\" , bar ;c\t, , baz")
            #expect(header.extensions.map(\.name) == ["foo", "bar", "baz"])
            #expect(header.extensions[0].parameters.map(\.name) == ["a", "b"])
            #expect(header.extensions[0].parameters.map(\.value) == ["1", "x\"y"])
            #expect(header.extensions[1].parameters.map(\.value) == [nil])
            #expect(throws: WebSocketExtensionHeader.SyntaxError.self) { try WebSocketExtensionHeader(parsing: "foo bar") }
        }

        @Test func negotiatedParametersMakeWorkingCodecs() throws {
            let agreed = try #require(try WebSocketCompression.negotiate(offer: .permessageDeflate, responseHeaderValue: "permessage-deflate; client_max_window_bits=8; server_max_window_bits=8"))
            let deflater = try #require(agreed.makeDeflater())
            #expect(deflater.windowBits == 9)  // zlib: 8 is compressed with 9
            let inflater = try #require(agreed.makeInflater())
            let message = Array(String(repeating: "abc", count: 1000).utf8)
            var output: [UInt8] = []
            try inflater.inflate(deflater.compress(message), limit: 1 << 20, into: &output)
            try inflater.finishMessage(limit: 1 << 20, into: &output)
            #expect(output == message)
        }
    }
}
