import Testing
@testable import AsyncCurl

@Test func smoke() async throws {
    let multi = CurlMulti()
    let reply = try await multi.withConnection(to: "tcp://127.0.0.1:19999") { conn in
        try await conn.send("PING\r\n")
        return try await conn.receive(maxLength: 64)
    }
    #expect(reply == Array("PING\r\n".utf8))
    let d = await multi.diagnostics
    #expect(d.easyHandles == 0, "\(d)")
    do {
        _ = try await multi.connect(to: "tcp://127.0.0.1:1")
        Issue.record("should fail")
    } catch let e as CurlError {
        print(e)
        #expect(e.code == .couldNotConnect)
    }
}
