/// A WebSocket compression extension to offer in the opening handshake.
public struct WebSocketCompression: Sendable, Hashable {
    /// RFC 7692's permessage-deflate with its default parameters.
    public static let permessageDeflate = WebSocketCompression()
}
