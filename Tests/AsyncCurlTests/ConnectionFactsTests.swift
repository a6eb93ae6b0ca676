import AsyncCurl
import Foundation
import LoopbackServer
import Logging
import Synchronization
import Testing
@testable import TestPeers

/// What a connection tells about itself after set-up — the peer's certificates, the TLS version,
/// cipher and resumption — and the events a swift-log `Logger` receives.
extension AsyncCurlTests {
    @Suite struct ConnectionFactsTests {
        @Test(.requires(.openssl, .stunnel))
        func peerCertificatesAreTheServersChain() async throws {
            let tls = try await TLSEcho()
            let certificates = tls.certificates
            var options = tls.options()
            options.collectsPeerCertificates = true
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: tls.url, options: options)
            let leaf = try #require(info.peerCertificates.first, "\(info)")
            #expect(leaf.subject.contains("AsyncCurl test server"), "\(leaf.subject)")
            #expect(leaf.issuer.contains("AsyncCurl test ca"), "\(leaf.issuer)")
            #expect(!leaf.serialNumber.isEmpty)
            #expect(leaf.pem.hasPrefix("-----BEGIN CERTIFICATE-----"), "\(leaf.pem)")
            // The same certificate the server presents, byte for byte.
            let served = try String(contentsOfFile: certificates.server.certificate, encoding: .utf8)
            #expect(normalizedPEM(served) == normalizedPEM(leaf.pem))
            // Issued yesterday, valid for a week (TestCertificates).
            let now = Int(Date().timeIntervalSince1970)
            let notBefore = try #require(leaf.notBeforeSecondsSince1970, "\(leaf.notBefore)")
            let notAfter = try #require(leaf.notAfterSecondsSince1970, "\(leaf.notAfter)")
            #expect(notBefore < now && now < notAfter)
            #expect((notAfter - notBefore) / 86_400 == 8, "\(leaf.notBefore) – \(leaf.notAfter)")
            #expect(leaf.fields.contains { $0.name == "X509v3 Subject Alternative Name" && $0.value.contains("localhost") })

            // Off by default.
            var plain = peerOptions()
            plain.tls.caFile = certificates.caFile
            #expect(try await connectAndEcho(multi, to: tls.url, options: plain).peerCertificates.isEmpty)
            #expect(await multi.diagnostics == .idle)
        }

        @Test(.requires(.openssl, .stunnel))
        func tlsVersionAndCipherAreReported() async throws {
            let certificates = try TestCertificates.shared()
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let tls13 = try await StunnelPeer(.init(certificates.server, minimumVersion: "TLSv1.3"), forwardingTo: echo.port)
            let tls12 = try await StunnelPeer(.init(certificates.server, maximumVersion: "TLSv1.2"), forwardingTo: echo.port)
            var options = peerOptions()
            options.tls.caFile = certificates.caFile
            options.tls.tls13CipherSuites = "TLS_CHACHA20_POLY1305_SHA256"
            let multi = CurlMulti()
            let info13 = try await connectAndEcho(multi, to: tls13.url, options: options)
            #expect(info13.tlsVersion == "TLSv1.3", "\(info13)")
            #expect(info13.tlsCipher == "TLS_CHACHA20_POLY1305_SHA256", "\(info13)")
            #expect(info13.tlsSessionResumed == false)
            #expect(info13.description.contains("TLSv1.3"), "\(info13)")

            options.tls.cipherList = "ECDHE-ECDSA-AES128-GCM-SHA256"
            let info12 = try await connectAndEcho(multi, to: tls12.url, options: options)
            #expect(info12.tlsVersion == "TLSv1.2", "\(info12)")
            #expect(info12.tlsCipher == "ECDHE-ECDSA-AES128-GCM-SHA256", "\(info12)")

            // Nothing about TLS on a plain connection.
            let plain = try await connectAndEcho(multi, to: echo.url, options: peerOptions())
            #expect(plain.tlsVersion == nil && plain.tlsCipher == nil && plain.tlsSessionResumed == nil)
            #expect(await multi.diagnostics == .idle)
        }

        @Test func loggerReceivesConnectionEventsWithTheConnectionsNumber() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let records = LogRecords()
            var logger = Logger(label: "asynccurl.tests") { _ in RecordingLogHandler(records) }
            logger.logLevel = .debug
            var options = peerOptions()
            options.logger = logger
            let multi = CurlMulti()
            let info = try await connectAndEcho(multi, to: echo.url, options: options)
            _ = await expectCurlError { _ = try await multi.connect(to: "tcp://127.0.0.1:\(try freeLoopbackPort())", options: options) }

            let entries = records.entries
            let messages = entries.map(\.message)
            #expect(messages == ["connecting", "connected", "closed", "connecting", "connect failed"], "\(messages)")
            #expect(entries.allSatisfy { $0.level == .debug })
            let numbers = entries.map { $0.metadata["asynccurl.connection"].map { "\($0)" } ?? "" }
            #expect(numbers[0].hasPrefix("#") && numbers[0] == numbers[1] && numbers[1] == numbers[2], "\(numbers)")
            #expect(numbers[3] != numbers[0] && numbers[3] == numbers[4], "\(numbers)")
            #expect(numbers[0] == "#\(info.connectionNumber)", "the info names the logged connection")
            #expect(entries[4].metadata["asynccurl.error"].map { "\($0)".contains("couldNotConnect") } == true)
            // At debug level libcurl's verbose trace stays off.
            #expect(!entries.contains { $0.level == .trace })
            #expect(await multi.diagnostics == .idle)
        }

        @Test func loggerAtTraceLevelGetsLibcurlsTrace() async throws {
            let echo = try LoopbackServer(mode: .echo)
            defer { echo.stop() }
            let records = LogRecords()
            var logger = Logger(label: "asynccurl.tests") { _ in RecordingLogHandler(records) }
            logger.logLevel = .trace
            let trace = TraceRecorder()
            var options = peerOptions(trace: trace)
            options.logger = logger
            try await connectAndEcho(CurlMulti(), to: echo.url, options: options)
            let traced = records.entries.filter { $0.level == .trace }
            #expect(traced.contains { $0.message.contains("Connected to 127.0.0.1") }, "\(traced.map(\.message))")
            #expect(traced.allSatisfy { $0.metadata["asynccurl.connection"] != nil })
            // The trace closure still gets every line too.
            #expect(trace.contains("Connected to 127.0.0.1"))
        }
    }
}

private func normalizedPEM(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).filter { !$0.isEmpty }.joined(separator: "\n")
}

/// What a `RecordingLogHandler` was given.
final class LogRecords: Sendable {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    private let state = Mutex<[Entry]>([])

    var entries: [Entry] { state.withLock { $0 } }

    func append(_ entry: Entry) {
        state.withLock { $0.append(entry) }
    }
}

/// A swift-log handler that keeps every entry, for assertions.
struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(_ records: LogRecords) {
        self.records = records
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        records.append(.init(level: event.level, message: "\(event.message)", metadata: merged))
    }
}

extension AsyncCurlTests.ConnectionFactsTests {
    /// libcurl 7.88.1 offers `h2` by ALPN on every TLS connect and, when the server picks it,
    /// sends the HTTP/2 preface on a connect-only connection and reads the peer's bytes as
    /// HTTP/2 frames (found here: the first receive failed with curl error 18). A raw `tls://`
    /// connection offers no ALPN; an `https://` one offers only `http/1.1`.
    @Test(.requires(.openssl, .python3))
    func rawTLSNeverTurnsIntoHTTP2() async throws {
        let certificates = try TestCertificates.shared()
        let peer = try await PythonPeer.alpnEcho(certificates.server)
        var options = peerOptions()
        options.tls.caFile = certificates.caFile
        let multi = CurlMulti()
        try await connectAndEcho(multi, to: "tls://localhost:\(peer.port)", options: options)
        #expect(try await peer.daemon.waitForLine(startingWith: "ALPN ") == "None")
        try await connectAndEcho(multi, to: "https://localhost:\(peer.port)", options: options)
        #expect(await eventually { peer.daemon.logTail().contains("ALPN http/1.1") }, "\(peer.daemon.logTail())")
        #expect(!peer.daemon.logTail().contains("ALPN h2"))
        #expect(await multi.diagnostics == .idle)
    }
}
