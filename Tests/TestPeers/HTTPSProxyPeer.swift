/// An HTTPS proxy made of two real daemons: stunnel, with the TLS configuration the test asks
/// for, in front of tinyproxy, which answers `CONNECT`. Both stop when it is released.
final class HTTPSProxyPeer: Sendable {
    let tinyproxy: TinyproxyPeer
    let stunnel: StunnelPeer

    /// `configuration` is stunnel's: typically `.init(certificates.proxy)`, a certificate for
    /// localhost from the proxy CA.
    init(_ configuration: StunnelPeer.Configuration) async throws {
        let tinyproxy = try await TinyproxyPeer()
        stunnel = try await StunnelPeer(configuration, forwardingTo: tinyproxy.port)
        self.tinyproxy = tinyproxy
    }

    /// The proxy's TLS port on 127.0.0.1.
    var port: Int { stunnel.port }

    /// `https://localhost:<port>`, for ``ConnectionOptions/proxy``.
    var url: String { "https://localhost:\(port)" }
}
