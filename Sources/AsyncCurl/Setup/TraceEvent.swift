/// One entry of libcurl's verbose trace, given to ``ConnectionOptions/trace``.
public struct TraceEvent: Sendable, Hashable, CustomStringConvertible {
    /// What kind of trace entry this is.
    public enum Kind: Sendable, Hashable {
        /// Informational text from libcurl, such as `"Connected to 127.0.0.1 (127.0.0.1) port 80"`.
        case text
        /// A header line received, such as a proxy's CONNECT reply.
        case headerIn
        /// A header line sent, such as the CONNECT request to a proxy.
        case headerOut
    }

    /// The kind of entry.
    public var kind: Kind
    /// The entry's text, without its line ending.
    public var text: String

    public var description: String {
        switch kind {
        case .text: return "* \(text)"
        case .headerIn: return "< \(text)"
        case .headerOut: return "> \(text)"
        }
    }
}
