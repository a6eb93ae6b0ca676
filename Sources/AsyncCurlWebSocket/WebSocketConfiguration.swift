import AsyncCurl

/// How ``CurlMulti/webSocket(to:options:configuration:)`` opens a WebSocket: the extensions it
/// offers, sub-protocols, extra request headers, size limits and timing.
public struct WebSocketConfiguration: Sendable {
    /// The compression extension to offer, or `nil` (the default) to offer none.
    public var compression: WebSocketCompression?

    /// A configuration with the defaults.
    public init() {}
}
