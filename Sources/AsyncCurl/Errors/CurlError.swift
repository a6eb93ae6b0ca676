import CCurl

/// An error reported by libcurl: while connecting (DNS, TCP, proxy, TLS) or while sending and
/// receiving on an established connection.
///
/// Match on ``code`` to handle a kind of failure, and show ``description`` (or ``message``) to
/// people:
///
/// ```swift
/// do {
///     let connection = try await multi.connect(to: "tcp://127.0.0.1:9")
/// } catch let error as CurlError where error.code == .couldNotConnect {
///     print("nobody listens there:", error.message)
/// }
/// ```
public struct CurlError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is: a libcurl `CURLcode`.
    public var code: Code

    /// The detailed text libcurl wrote to its `CURLOPT_ERRORBUFFER` for this failure, such as
    /// `"Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server"`.
    /// Falls back to libcurl's generic text for ``code`` when curl gave no details.
    public var message: String

    /// The HTTP status with which an HTTP or HTTPS proxy answered the `CONNECT` request, when
    /// it refused the tunnel: 403 (forbidden target), 407 (authentication required), … `nil`
    /// when no proxy answered with an error.
    public var proxyStatusCode: Int?

    /// Creates an error from a code and curl's message; an empty message becomes the code's
    /// generic text.
    public init(code: Code, message: String = "", proxyStatusCode: Int? = nil) {
        self.code = code
        self.message = message.isEmpty ? code.summary : message
        self.proxyStatusCode = proxyStatusCode
    }

    public var description: String {
        let proxy = proxyStatusCode.map { " (proxy answered HTTP \($0))" } ?? ""
        return "CurlError.\(code.name) (curl error \(code.rawValue)): \(message)\(proxy)"
    }
}

extension CurlError {
    /// A libcurl `CURLcode`, with named values for the failures a connection can meet.
    ///
    /// Every `CURLcode` can be represented; the named ones are those AsyncCurl users handle.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric `CURLcode`, as listed in libcurl's `libcurl-errors(3)`.
        public let rawValue: Int

        public init(rawValue: Int) {
            self.rawValue = rawValue
        }

        init(_ code: CURLcode) {
            self.rawValue = Int(code.rawValue)
        }

        /// The URL's scheme is not one AsyncCurl can open a raw connection with.
        public static let unsupportedProtocol = Code(CURLE_UNSUPPORTED_PROTOCOL)
        /// libcurl could not set up the transfer (often: out of memory or file descriptors).
        public static let failedInit = Code(CURLE_FAILED_INIT)
        /// The URL is not well formed, or lacks something required such as the port.
        public static let urlMalformat = Code(CURLE_URL_MALFORMAT)
        /// The proxy's host name could not be resolved.
        public static let couldNotResolveProxy = Code(CURLE_COULDNT_RESOLVE_PROXY)
        /// The host name could not be resolved.
        public static let couldNotResolveHost = Code(CURLE_COULDNT_RESOLVE_HOST)
        /// The TCP connection (to the host or to the proxy) was refused or failed.
        public static let couldNotConnect = Code(CURLE_COULDNT_CONNECT)
        /// The peer or proxy answered with something libcurl could not make sense of; for a mail
        /// URL, also a server whose greeting is not one of the protocol (the message quotes it).
        public static let weirdServerReply = Code(CURLE_WEIRD_SERVER_REPLY)
        /// Memory could not be allocated.
        public static let outOfMemory = Code(CURLE_OUT_OF_MEMORY)
        /// A time limit, such as ``ConnectionOptions/connectTimeout``, ran out.
        public static let operationTimedOut = Code(CURLE_OPERATION_TIMEDOUT)
        /// A local interface or port given in the options could not be used.
        public static let interfaceFailed = Code(CURLE_INTERFACE_FAILED)
        /// The peer closed the connection without sending anything.
        public static let gotNothing = Code(CURLE_GOT_NOTHING)
        /// Writing to the socket failed (for example, the peer reset the connection).
        public static let sendError = Code(CURLE_SEND_ERROR)
        /// Reading from the socket failed (for example, the peer reset the connection), or a
        /// proxy refused the tunnel.
        public static let recvError = Code(CURLE_RECV_ERROR)
        /// The TLS handshake failed.
        public static let sslConnectError = Code(CURLE_SSL_CONNECT_ERROR)
        /// The client certificate or key could not be used.
        public static let sslCertificateProblem = Code(CURLE_SSL_CERTPROBLEM)
        /// The requested cipher list could not be used.
        public static let sslCipher = Code(CURLE_SSL_CIPHER)
        /// The peer's certificate or host name did not verify.
        public static let peerFailedVerification = Code(CURLE_PEER_FAILED_VERIFICATION)
        /// The CA file could not be read.
        public static let sslCACertificateBadFile = Code(CURLE_SSL_CACERT_BADFILE)
        /// The peer's public key did not match the pinned key.
        public static let sslPinnedPublicKeyMismatch = Code(CURLE_SSL_PINNEDPUBKEYNOTMATCH)
        /// The server asked for a client certificate and did not accept what was sent.
        public static let sslClientCertificate = Code(CURLE_SSL_CLIENTCERT)
        /// The proxy handshake failed (SOCKS or HTTP CONNECT).
        public static let proxy = Code(CURLE_PROXY)
        /// libcurl was called in a way it does not allow (an AsyncCurl bug if you see it).
        public static let badFunctionArgument = Code(CURLE_BAD_FUNCTION_ARGUMENT)
        /// A mail server refused the login (``ConnectionOptions/username``,
        /// ``ConnectionOptions/password``, ``ConnectionOptions/oauth2BearerToken``), offered no
        /// mechanism ``ConnectionOptions/loginOptions`` allows, or offered no login at all; the
        /// message ends with the server's own words. Also a refused FTP-style login to a proxy.
        public static let loginDenied = Code(CURLE_LOGIN_DENIED)
        /// A mail server did not upgrade to TLS while ``ConnectionOptions/tlsUpgrade`` is
        /// ``TLSUpgrade/required``: it offers no `STARTTLS` (`STLS` for POP3), or refused it.
        public static let useSSLFailed = Code(CURLE_USE_SSL_FAILED)
        /// A mail server refused the client before the login, such as an SMTP server that
        /// rejects the `EHLO` name.
        public static let remoteAccessDenied = Code(CURLE_REMOTE_ACCESS_DENIED)
        /// A feature is not built into the loaded libcurl, or an option has no variant for where
        /// it was set (such as curves for an HTTPS proxy in libcurl 7.88.1).
        public static let notBuiltIn = Code(CURLE_NOT_BUILT_IN)
        /// The CRL file (``TLSOptions/crlFile``) could not be read.
        public static let sslCRLBadFile = Code(CURLE_SSL_CRL_BADFILE)
        /// The peer stapled no OCSP response, or a bad one, while ``TLSOptions/verifyStatus``
        /// asked for a good one.
        public static let sslInvalidCertificateStatus = Code(CURLE_SSL_INVALIDCERTSTATUS)
        /// The peer's certificate was not issued by ``TLSOptions/issuerCertificateFile`` (or
        /// ``TLSOptions/issuerCertificate``), or that certificate could not be read.
        public static let sslIssuerError = Code(CURLE_SSL_ISSUER_ERROR)

        /// libcurl's one-line description of the code (`curl_easy_strerror`).
        public var summary: String {
            String(cString: curl_easy_strerror(CURLcode(UInt32(truncatingIfNeeded: rawValue))))
        }

        /// The Swift name of a named code, or `code<N>` for any other.
        public var name: String {
            Self.names[self] ?? Self.transferNames[self] ?? "code\(rawValue)"
        }

        public var description: String { name }

        private static let names: [Code: String] = [
            .unsupportedProtocol: "unsupportedProtocol", .failedInit: "failedInit",
            .urlMalformat: "urlMalformat", .couldNotResolveProxy: "couldNotResolveProxy",
            .couldNotResolveHost: "couldNotResolveHost", .couldNotConnect: "couldNotConnect",
            .weirdServerReply: "weirdServerReply", .outOfMemory: "outOfMemory",
            .operationTimedOut: "operationTimedOut", .interfaceFailed: "interfaceFailed",
            .gotNothing: "gotNothing", .sendError: "sendError", .recvError: "recvError",
            .sslConnectError: "sslConnectError", .sslCertificateProblem: "sslCertificateProblem",
            .sslCipher: "sslCipher", .peerFailedVerification: "peerFailedVerification",
            .sslCACertificateBadFile: "sslCACertificateBadFile",
            .sslPinnedPublicKeyMismatch: "sslPinnedPublicKeyMismatch",
            .sslClientCertificate: "sslClientCertificate", .proxy: "proxy",
            .badFunctionArgument: "badFunctionArgument", .loginDenied: "loginDenied",
            .notBuiltIn: "notBuiltIn", .sslCRLBadFile: "sslCRLBadFile",
            .sslInvalidCertificateStatus: "sslInvalidCertificateStatus",
            .sslIssuerError: "sslIssuerError", .useSSLFailed: "useSSLFailed",
            .remoteAccessDenied: "remoteAccessDenied",
        ]
    }
}
