import AsyncCurl
import Testing
@testable import TestPeers

/// Logs in with a wrong password (PLAIN) to the URL `url` picks of a fresh Dovecot, and checks
/// the outcome: `loginDenied` quoting `serverWords`, Dovecot's answer, within 5 seconds, and
/// nothing left open. A Dovecot of its own, because after a failed login Dovecot delays the
/// next one from the same address by seconds.
func expectDovecotRefusesWrongPassword(url: KeyPath<DovecotPeer, String>, serverWords: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let dovecot = try await DovecotPeer(tls: TestCertificates.shared().server)
    let multi = CurlMulti()
    let (result, elapsed) = await measured {
        try await multi.withConnection(to: dovecot[keyPath: url], options: MailPeer.login(password: "wrong", loginOptions: "AUTH=PLAIN")) { _ async throws in }
    }
    #expect(outcome(result) == "CurlError.loginDenied", sourceLocation: sourceLocation)
    if case .failure(let error as CurlError) = result {
        #expect(error.message.contains(serverWords), "\(error)", sourceLocation: sourceLocation)
    }
    #expect(elapsed < .seconds(5), "\(elapsed)", sourceLocation: sourceLocation)
    #expect(await eventually { dovecot.log.contains("Password mismatch") }, "\(dovecot.log)", sourceLocation: sourceLocation)
    #expect(await multi.diagnostics == .idle, sourceLocation: sourceLocation)
}
