#if canImport(Glibc)
import Glibc
#endif

extension ResponseBody {
    /// Writes the whole body to the file at `path` (created, or truncated, with mode 0644;
    /// `/dev/null` works) as it arrives, and returns how many bytes were written. The file's
    /// writes back-pressure the transfer like any slow consumer.
    ///
    /// - Throws: ``CurlError/Code/writeError`` if the file cannot be opened or written (the
    ///   transfer is then cancelled), or the transfer's error.
    @discardableResult
    public func write(toFile path: String) async throws -> Int64 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CurlError(code: .writeError, message: "cannot open '\(path)' for writing: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var written: Int64 = 0
        for try await chunk in self {
            let failure = chunk.withUnsafeBytes { bytes -> Int32? in
                var offset = 0
                while offset < bytes.count, let base = bytes.baseAddress {
                    let n = Glibc.write(descriptor, base + offset, bytes.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += n
                }
                return nil
            }
            if let failure {
                owner.stream.consumerGone()
                throw CurlError(code: .writeError, message: "cannot write to '\(path)': \(String(cString: strerror(failure)))")
            }
            written += Int64(chunk.count)
        }
        return written
    }
}
