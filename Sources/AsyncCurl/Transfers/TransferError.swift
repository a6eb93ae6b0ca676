/// An error about how a transfer's response was used rather than the network: network, TLS
/// and protocol failures are ``CurlError``s.
public struct TransferError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var code: Code
    /// Details for people.
    public var message: String

    public init(code: Code, message: String = "") {
        self.code = code
        self.message = message
    }

    /// The kinds of ``TransferError``.
    public enum Code: Hashable, Sendable {
        /// ``ResponseBody/collect(upTo:)`` (or a call built on it) met a body over its limit;
        /// the transfer was cancelled.
        case bodyTooLarge
        /// The body was already being iterated: a response body has one consumer.
        case bodyAlreadyConsumed
    }

    public var description: String {
        message.isEmpty ? "TransferError.\(code)" : "TransferError.\(code): \(message)"
    }
}
