import AsyncCurl

/// A WebSocket client connection (RFC 6455), opened with
/// ``AsyncCurl/CurlMulti/webSocket(to:options:configuration:)``.
public final class WebSocket: Sendable {
    /// A complete message.
    public enum Message: Sendable, Hashable {
        /// A text message: valid UTF-8.
        case text(String)
        /// A binary message.
        case binary([UInt8])
    }
}
