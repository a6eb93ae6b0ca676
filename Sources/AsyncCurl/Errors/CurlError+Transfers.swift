import CCurl

extension CurlError.Code {
    /// A problem in the HTTP/2 framing layer (the connection failed or the server broke the
    /// protocol).
    public static let http2 = CurlError.Code(CURLE_HTTP2)
    /// The server reset this HTTP/2 stream (`RST_STREAM`) or went away before its end.
    public static let http2Stream = CurlError.Code(CURLE_HTTP2_STREAM)
    /// The body was shorter than announced: a `Content-Length` or a chunked encoding that
    /// ended early, or a connection closed mid-body.
    public static let partialFile = CurlError.Code(CURLE_PARTIAL_FILE)
    /// The response body could not be handed out (its consumer went away).
    public static let writeError = CurlError.Code(CURLE_WRITE_ERROR)
    /// The request body could not be read (a file that cannot be opened or read).
    public static let readError = CurlError.Code(CURLE_READ_ERROR)
    /// The transfer was stopped by the application: a streamed request body's sequence threw
    /// (the message says what it threw).
    public static let abortedByCallback = CurlError.Code(CURLE_ABORTED_BY_CALLBACK)
    /// More redirects than ``RedirectPolicy/follow(max:)`` allows (a redirect loop, say).
    public static let tooManyRedirects = CurlError.Code(CURLE_TOO_MANY_REDIRECTS)
    /// A compressed body did not decode (``TransferOptions/decompresses``).
    public static let badContentEncoding = CurlError.Code(CURLE_BAD_CONTENT_ENCODING)
    /// libcurl had to send the request body again (a 307 or 308 redirect, an authentication
    /// round) and it could not be rewound: a stream already partly sent.
    public static let sendFailRewind = CurlError.Code(CURLE_SEND_FAIL_REWIND)
    /// An FTP (or similar) upload was refused by the server.
    public static let uploadFailed = CurlError.Code(CURLE_UPLOAD_FAILED)
    /// The remote file does not exist (FTP, SFTP, SMB…).
    public static let remoteFileNotFound = CurlError.Code(CURLE_REMOTE_FILE_NOT_FOUND)
    /// An FTP server refused to send the file (`RETR` failed).
    public static let ftpCouldNotRetrieveFile = CurlError.Code(CURLE_FTP_COULDNT_RETR_FILE)

    static let transferNames: [CurlError.Code: String] = [
        .http2: "http2", .http2Stream: "http2Stream", .partialFile: "partialFile", .writeError: "writeError",
        .readError: "readError", .abortedByCallback: "abortedByCallback", .tooManyRedirects: "tooManyRedirects",
        .badContentEncoding: "badContentEncoding", .sendFailRewind: "sendFailRewind", .uploadFailed: "uploadFailed",
        .remoteFileNotFound: "remoteFileNotFound", .ftpCouldNotRetrieveFile: "ftpCouldNotRetrieveFile",
    ]
}
