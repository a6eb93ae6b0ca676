/// A WebSocket compression extension to offer in the opening handshake: RFC 7692's
/// permessage-deflate and its parameters.
///
/// The client offers the extension in `Sec-WebSocket-Extensions`; the server either declines
/// (the connection is then uncompressed) or accepts with the parameters it settles on. A response
/// that breaks RFC 7692's rules (an unknown or duplicated parameter, a window size out of range
/// or larger than offered, an extension that was not offered) fails the handshake.
///
/// ```swift
/// var compression = WebSocketCompression.permessageDeflate
/// compression.serverMaxWindowBits = 12        // ask the server to use a 4 KiB window
/// compression.clientNoContextTakeover = true  // compress each message on its own
/// configuration.compression = compression
/// ```
public struct WebSocketCompression: Sendable, Hashable {
    /// RFC 7692's permessage-deflate with its default parameters: full 32 KiB windows, context
    /// takeover both ways, and `client_max_window_bits` offered without a value so the server
    /// may choose the window the client compresses with.
    public static let permessageDeflate = WebSocketCompression()

    /// The largest LZ77 window, in bits (8–15), the client will compress with, offered as
    /// `client_max_window_bits=N`; `nil` (the default) offers `client_max_window_bits` without a
    /// value, which lets the server pick any size and promises nothing.
    ///
    /// Either way the client then uses the size the server answers (at most the offered one).
    /// Values outside 8–15 are clamped. A smaller window saves memory (2^N bytes a connection)
    /// and compresses less well.
    public var clientMaxWindowBits: Int?

    /// The largest LZ77 window, in bits (8–15), the server may compress with, requested as
    /// `server_max_window_bits=N`; `nil` (the default) leaves it to the server (up to 15).
    /// A smaller window bounds the memory the client needs to inflate (2^N bytes).
    /// Values outside 8–15 are clamped.
    public var serverMaxWindowBits: Int?

    /// Whether the client compresses each message on its own, dropping the window between
    /// messages (offered as `client_no_context_takeover`): less memory kept between messages,
    /// worse compression of similar messages. The server may also require it. Default `false`.
    public var clientNoContextTakeover: Bool

    /// Whether to ask the server to compress each message on its own
    /// (`server_no_context_takeover`), so the client can drop its inflate window between
    /// messages. Default `false`.
    public var serverNoContextTakeover: Bool

    /// zlib's compression level for messages the client sends: 0 (store only) to 9 (smallest,
    /// slowest); the default, 6, is zlib's. Values outside 0–9 are clamped.
    public var compressionLevel: Int

    /// Messages shorter than this many bytes are sent uncompressed (RSV1 clear), where deflate
    /// would gain little for its cost. Default 0: every message is compressed.
    public var minimumMessageSize: Int

    /// A permessage-deflate offer with these parameters; by default the same as
    /// ``permessageDeflate``.
    public init(
        clientMaxWindowBits: Int? = nil,
        serverMaxWindowBits: Int? = nil,
        clientNoContextTakeover: Bool = false,
        serverNoContextTakeover: Bool = false,
        compressionLevel: Int = 6,
        minimumMessageSize: Int = 0
    ) {
        self.clientMaxWindowBits = clientMaxWindowBits
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverNoContextTakeover = serverNoContextTakeover
        self.compressionLevel = compressionLevel
        self.minimumMessageSize = minimumMessageSize
    }
}
