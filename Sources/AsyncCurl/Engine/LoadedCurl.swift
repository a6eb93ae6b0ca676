import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// What the loaded libcurl can do, read once at run time (`curl_version_info`).
enum LoadedCurl {
    static let versionNumber: Int = Int(curl_version_info(CURLVERSION_TENTH).pointee.version_num)

    static var version: String {
        "\(versionNumber >> 16).\((versionNumber >> 8) & 0xff).\(versionNumber & 0xff)"
    }

    /// `CURLOPT_CONNECT_ONLY = 2` exists since libcurl 7.86.0.
    static var supportsHTTPHandOver: Bool { versionNumber >= 0x07_56_00 }

    /// libcurl 7.88.0 to 7.88.1 cannot reuse an HTTP/2 prior-knowledge (h2c) connection
    /// (curl#10634, fixed in 8.0.0).
    static var reusesPriorKnowledgeHTTP2: Bool { versionNumber < 0x07_58_00 || versionNumber >= 0x08_00_00 }

    /// Whether the libcurl's built-in default CA bundle (`CURLOPT_CAINFO`'s default, Debian's
    /// `/etc/ssl/certs/ca-certificates.crt`) is there to read: only then may a connection without
    /// ``TLSOptions/caFile`` drop the default CA directory (see ``TLSOptions/caDirectory``).
    static let hasDefaultCAFile: Bool = {
        let info = curl_version_info(CURLVERSION_TENTH).pointee
        // `cainfo` exists in the struct from CURLVERSION_SEVENTH (libcurl 7.70.0) on.
        guard info.age.rawValue >= CURLVERSION_SEVENTH.rawValue, let path = info.cainfo else { return false }
        return access(path, R_OK) == 0
    }()
}
