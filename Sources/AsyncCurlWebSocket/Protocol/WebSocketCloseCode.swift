/// A WebSocket close status code (RFC 6455 §7.4), sent and received in close frames.
///
/// The named codes are those of RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number"
/// registry. Any other value can be made with ``init(rawValue:)``: 3000–3999 are registered
/// by libraries and frameworks, 4000–4999 are for private use by applications.
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code's numeric value, as sent on the wire (big-endian, the first two payload bytes).
    public var rawValue: UInt16

    /// A code with this numeric value.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// 1000: the purpose for which the connection was established has been fulfilled.
    public static let normalClosure = WebSocketCloseCode(rawValue: 1000)
    /// 1001: an endpoint is going away, such as a server going down or a browser leaving a page.
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    /// 1002: an endpoint is terminating the connection because of a protocol error.
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    /// 1003: an endpoint received a type of data it cannot accept (for instance binary data
    /// when it understands only text).
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// 1005: no status code was present in the close frame. Never sent in a close frame;
    /// reported when the peer's close frame had an empty payload.
    public static let noStatusReceived = WebSocketCloseCode(rawValue: 1005)
    /// 1006: the connection was closed abnormally, without a close frame. Never sent in a
    /// close frame; reported when the connection was lost.
    public static let abnormalClosure = WebSocketCloseCode(rawValue: 1006)
    /// 1007: a message's data was not consistent with its type, such as a text message that
    /// is not valid UTF-8 (or compressed data that does not inflate).
    public static let invalidFramePayloadData = WebSocketCloseCode(rawValue: 1007)
    /// 1008: a message violates the endpoint's policy (a generic code when no other fits).
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    /// 1009: a message (or frame) is too big to process.
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    /// 1010: sent by a client because the server did not negotiate an extension the client
    /// requires.
    public static let mandatoryExtension = WebSocketCloseCode(rawValue: 1010)
    /// 1011: the server met an unexpected condition that prevented it from fulfilling the
    /// request.
    public static let internalServerError = WebSocketCloseCode(rawValue: 1011)
    /// 1012: the service is restarting; the client may reconnect (IANA registry).
    public static let serviceRestart = WebSocketCloseCode(rawValue: 1012)
    /// 1013: the service is overloaded; the client should try again later (IANA registry).
    public static let tryAgainLater = WebSocketCloseCode(rawValue: 1013)
    /// 1014: the server, acting as a gateway or proxy, received an invalid response from the
    /// upstream server (IANA registry).
    public static let badGateway = WebSocketCloseCode(rawValue: 1014)

    /// Whether the code may appear in a close frame: 1000–1003, 1007–1014 and 3000–4999.
    ///
    /// 1004 is reserved, 1005, 1006 and 1015 are only for reporting locally, and codes below
    /// 1000 or in 1016–2999 are unassigned or reserved for future protocol revisions. A peer
    /// sending any of these is failed with ``protocolError``.
    public var isSendable: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    /// The number and, for a named code, its name: "1000 (normal closure)".
    public var description: String {
        let name: String? = switch rawValue {
        case 1000: "normal closure"
        case 1001: "going away"
        case 1002: "protocol error"
        case 1003: "unsupported data"
        case 1005: "no status received"
        case 1006: "abnormal closure"
        case 1007: "invalid frame payload data"
        case 1008: "policy violation"
        case 1009: "message too big"
        case 1010: "mandatory extension"
        case 1011: "internal server error"
        case 1012: "service restart"
        case 1013: "try again later"
        case 1014: "bad gateway"
        default: nil
        }
        return name.map { "\(rawValue) (\($0))" } ?? "\(rawValue)"
    }
}
