#if canImport(Glibc)
import Glibc
#endif

/// What a transfer sends: bytes, a file, or an `AsyncSequence` of chunks streamed as libcurl
/// asks for them (with back-pressure: the sequence is iterated only as fast as the upload goes).
///
/// A body of known length goes with a `Content-Length`; a stream of unknown length goes with
/// HTTP/1.1's chunked encoding (HTTP/2 frames need neither).
///
/// ```swift
/// let upload = RequestBody.file("/var/backups/db.tar")
/// let events = RequestBody.stream(lines.map { Array($0.utf8) })
/// ```
public struct RequestBody: Sendable {
    enum Content: Sendable {
        case bytes([UInt8])
        case file(path: String)
        case stream(length: Int?, start: @Sendable (RequestBodyStream) -> Task<Void, Never>)
    }

    let content: Content

    /// These bytes.
    public static func bytes(_ bytes: [UInt8]) -> RequestBody {
        RequestBody(content: .bytes(bytes))
    }

    /// The UTF-8 bytes of `text`.
    public static func text(_ text: String) -> RequestBody {
        RequestBody(content: .bytes(Array(text.utf8)))
    }

    /// The bytes of the file at `path`, read as libcurl sends them; its size is the length.
    /// A file that cannot be opened fails the transfer before any I/O with
    /// ``CurlError/Code/readError``.
    public static func file(_ path: String) -> RequestBody {
        RequestBody(content: .file(path: path))
    }

    /// The chunks of `sequence`, iterated by a task of the transfer's own as libcurl sends
    /// them (at most ``TransferOptions/requestBufferSize`` bytes ahead). With `length`, exactly
    /// that many bytes must come (a `Content-Length`): a sequence that ends early or yields more
    /// fails the transfer with ``CurlError/Code/abortedByCallback``; without it, HTTP/1.1 uses
    /// chunked encoding. If the sequence throws, the transfer fails with
    /// ``CurlError/Code/abortedByCallback`` and the sequence's error as the message; the
    /// iteration is cancelled when the transfer ends early.
    public static func stream<Chunks: AsyncSequence & Sendable>(_ sequence: Chunks, length: Int? = nil) -> RequestBody
    where Chunks.Element == [UInt8] {
        RequestBody(content: .stream(length: length, start: { stream in
            Task {
                do {
                    var total = 0
                    for try await chunk in sequence {
                        total += chunk.count
                        // libcurl 7.88.1 sends whatever the read callback gives, and a sequence
                        // that ends early leaves the server waiting for the rest.
                        if let length, total > length { throw StreamLengthMismatch(length: length, produced: total, ended: false) }
                        guard try await stream.push(chunk) else { return }
                    }
                    if let length, total != length { throw StreamLengthMismatch(length: length, produced: total, ended: true) }
                    stream.finish(nil)
                } catch {
                    stream.finish(error)
                }
            }
        }))
    }
}

/// A streamed body's sequence did not yield the length it was given.
struct StreamLengthMismatch: Error, CustomStringConvertible {
    let length: Int
    let produced: Int
    /// The sequence ended (`produced < length`), or went past the length.
    let ended: Bool

    var description: String {
        ended ? "the sequence ended after \(produced) of its \(length) bytes"
            : "the sequence yielded more than its length of \(length) bytes"
    }
}
