#if canImport(Glibc)
import Glibc
#endif

/// The one error type of this module: which call failed, and the `errno` it failed with.
public struct LoopbackServerError: Error, CustomStringConvertible, Sendable {
    /// The system call or operation that failed, such as `"bind"` or `"read(exactly:)"`.
    public let operation: String
    /// The `errno` value, or 0 when the failure is not an OS error (an early EOF, for example).
    public let code: Int32
    /// Human-readable text: `strerror(code)`, or a description of a non-OS failure.
    public let message: String

    /// An OS error; the message is the C library's text for `code`.
    init(_ operation: String, errno code: Int32) {
        self.operation = operation
        self.code = code
        // glibc's strerror returns static strings for known codes, so reading it right away is safe.
        self.message = String(cString: strerror(code))
    }

    /// A failure that has no `errno`, such as a peer closing before enough bytes arrived.
    init(_ operation: String, message: String) {
        self.operation = operation
        self.code = 0
        self.message = message
    }

    public var description: String {
        code == 0
            ? "LoopbackServer: \(operation) failed: \(message)"
            : "LoopbackServer: \(operation) failed: \(message) (errno \(code))"
    }
}
