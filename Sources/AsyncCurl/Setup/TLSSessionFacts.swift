import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// What OpenSSL knows about a connection's TLS session: version, cipher, resumption.
///
/// libcurl exposes the OpenSSL `SSL *` (`CURLINFO_TLS_SSL_PTR`) but none of these facts. The
/// OpenSSL functions are looked up at run time in the process (libcurl has loaded libssl), so
/// AsyncCurl needs neither OpenSSL's headers nor a link against it; if they are missing (a libcurl
/// with another TLS library), the facts are `nil`.
enum OpenSSLFunctions {
    typealias StringOfSSL = @convention(c) (UnsafeRawPointer?) -> UnsafePointer<CChar>?
    typealias PointerOfSSL = @convention(c) (UnsafeRawPointer?) -> UnsafeRawPointer?
    typealias IntOfSSL = @convention(c) (UnsafeRawPointer?) -> Int32

    struct Table: Sendable {
        let version: StringOfSSL
        let currentCipher: PointerOfSSL
        let cipherName: StringOfSSL
        let sessionReused: IntOfSSL
    }

    /// `nil` if any function is missing.
    static let table: Table? = {
        let process = dlopen(nil, RTLD_NOW)
        defer { if let process { dlclose(process) } }
        func find<T>(_ name: String, as type: T.Type) -> T? {
            guard let symbol = dlsym(process, name) else { return nil }
            return unsafeBitCast(symbol, to: type)
        }
        guard let version = find("SSL_get_version", as: StringOfSSL.self),
              let currentCipher = find("SSL_get_current_cipher", as: PointerOfSSL.self),
              let cipherName = find("SSL_CIPHER_get_name", as: StringOfSSL.self),
              let sessionReused = find("SSL_session_reused", as: IntOfSSL.self) else { return nil }
        return Table(version: version, currentCipher: currentCipher, cipherName: cipherName, sessionReused: sessionReused)
    }()
}

extension EasyHandle {
    /// Adds the TLS session facts of the peer's TLS layer to `info`. Call it holding the engine's
    /// libcurl lock while the connection is attached to this handle (after its first
    /// `curl_easy_recv`), and before anyone else uses the connection.
    func addTLSFacts(to info: inout ConnectionInfo) {
        guard info.usesTLS, let functions = OpenSSLFunctions.table else { return }
        var pointer: UnsafeMutableRawPointer?
        guard ac_easy_getinfo_pointer(raw, CURLINFO_TLS_SSL_PTR, &pointer) == CURLE_OK, let pointer else { return }
        let session = pointer.assumingMemoryBound(to: curl_tlssessioninfo.self).pointee
        guard session.backend == CURLSSLBACKEND_OPENSSL, let ssl = session.internals else { return }
        let handle = UnsafeRawPointer(ssl)
        info.tlsVersion = functions.version(handle).map { String(cString: $0) }
        if let cipher = functions.currentCipher(handle) {
            info.tlsCipher = functions.cipherName(cipher).map { String(cString: $0) }
        }
        info.tlsSessionResumed = functions.sessionReused(handle) == 1
    }
}
