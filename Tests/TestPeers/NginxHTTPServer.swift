import Foundation

/// Debian's nginx (1.22 here) as a real HTTP origin for transfer tests: HTTP/1.1, HTTPS with
/// HTTP/2 (ALPN `h2`, and `http/1.1`), and cleartext HTTP/2 with prior knowledge, each on its own
/// free TCP port of 127.0.0.1, all three serving the same paths.
///
/// Like `NginxPeer` it runs as one process in the foreground (`master_process off`), with every
/// path inside a temporary directory, so stopping that one process leaves nothing behind.
///
/// Paths (`url(_:scheme:)` makes the URLs):
/// - `/hello.txt`: ``helloText``.
/// - `/bytes/1m`, `/bytes/16m` and, with `largeFiles`, `/bytes/64m`: the first 1, 16 and 64 MiB
///   of ``bytes(count:)`` (application/octet-stream; byte ranges work as for any static file).
/// - `/gzip/text.txt`: ``gzipText`` as text/plain, gzip-compressed for a client that accepts it.
/// - `/redirect`: 302 to `/hello.txt` (absolute: `<scheme>://<Host header>:<port>/hello.txt`);
///   `/redirect2`: 301 to `/redirect` (a relative `Location`); `/loop`: 302 to itself;
///   `/to-ftp`: 302 to `ftp://127.0.0.1:1/x`. On the HTTPS port only, `/to-http`: 302 to
///   `http://127.0.0.1:<httpPort>/hello.txt` (a downgrade).
/// - `/basic/`: Basic authentication (``basicUser``, ``basicPassword``); ``basicBody`` when it
///   succeeds, 401 otherwise.
/// - `/upload/<path>`: WebDAV `PUT` (any size, intermediate directories created: 201, or 204 when
///   it replaced a file); the file lands in ``uploadDirectory`` (``uploadedFile(named:)``) and a
///   `GET` of the same path serves it back. nginx renames the finished file into place before it
///   answers, so it is complete once the client has the answer.
/// - `/echo-length`: a request body of any size and method (POST, PUT, chunked or not, over any
///   port) is read in full and answered 200 with its length in decimal and `\n`. nginx keeps
///   that body in a file of its own, named by the answer's `X-Body-File` header and by the
///   access log's ``AccessLogEntry/requestBodyFile`` (``requestBody(of:)`` reads it).
/// - `/status/404`, `/status/500`: those statuses with ``notFoundBody`` and ``serverErrorBody``.
/// - `/headers`: 200 ``headersBody`` with `X-Test: one`, `X-Test-Other: two` and two
///   `Set-Cookie` headers (`a=1; Path=/`, `b=2; Path=/`).
/// - `/cookie/set`: 200 with `Set-Cookie: session=abc; Path=/`; `/cookie/check`: 200
///   ``cookieOKBody`` with the cookie `session=abc`, 403 ``noCookieBody`` without.
///
/// Connections: `keepalive_requests 100000`, `keepalive_timeout 60s`,
/// `http2_max_concurrent_streams 128` (100 concurrent streams fit on one connection),
/// `worker_connections 4096`, no limit on request bodies (`client_max_body_size 0`; a POST to a
/// static file is still 405). Every request is in ``accessLog`` (tab-separated fields of
/// nginx's, parsed into ``AccessLogEntry``).
///
/// What nginx cannot do: echo a request body's bytes in its answer (`return` discards the body
/// and nothing in Debian's nginx writes it back), hence `/echo-length` and its body file.
final class NginxHTTPServer: Sendable {
    enum Scheme: Sendable {
        /// HTTP/1.1 on ``httpPort``.
        case http
        /// TLS on ``httpsPort``, offering `h2` and `http/1.1` by ALPN.
        case https
        /// Cleartext HTTP/2 with prior knowledge (no HTTP/1.1) on ``h2cPort``. nginx offers no
        /// `Upgrade: h2c` on any port: ``httpPort`` answers such a request with HTTP/1.1.
        case h2c
    }

    let httpPort: Int
    let httpsPort: Int
    let h2cPort: Int
    let daemon: Daemon
    /// The test CA's file, which issued the HTTPS port's certificate (for 127.0.0.1 and
    /// `localhost`): what a client needs as `caFile`.
    let caFile: String
    /// Where `PUT /upload/<path>` writes `<path>`.
    let uploadDirectory: String
    private let directory: TemporaryDirectory

    static let helloText = Array("hello from nginx\n".utf8)
    /// About 60 KiB of repetitive text, which gzip shrinks to a small fraction.
    static let gzipText: [UInt8] = Array((1...1000).map {
        "line \($0): the quick brown fox jumps over the lazy dog, again and again.\n"
    }.joined().utf8)
    static let basicUser = "alice"
    static let basicPassword = "wonderland"
    static let basicBody = Array("basic ok\n".utf8)
    static let headersBody = Array("headers\n".utf8)
    static let cookieOKBody = Array("cookie ok\n".utf8)
    static let noCookieBody = Array("no cookie\n".utf8)
    static let notFoundBody = Array("not found\n".utf8)
    static let serverErrorBody = Array("server error\n".utf8)

    /// The files under `/bytes/` and their sizes: each is the first `size` bytes of
    /// ``bytes(count:)``.
    static let byteFiles: [(path: String, size: Int)] = [("/bytes/1m", 1 << 20), ("/bytes/16m", 16 << 20), ("/bytes/64m", 64 << 20)]

    /// Starts nginx on three free ports; returns once all three accept connections. `largeFiles`
    /// also writes `/bytes/64m` (which takes a moment longer to start).
    init(largeFiles: Bool = false) async throws {
        let executable = try PeerProgram.nginx.executable()
        let certificates = try TestCertificates.shared()
        let identity = certificates.server
        caFile = certificates.caFile
        let directory = try TemporaryDirectory("nginx-http")
        let d = directory.path
        uploadDirectory = directory.file("uploads")
        try Self.writeContent(in: directory, largeFiles: largeFiles)
        let hash = try runCommand(try PeerProgram.openssl.executable(), ["passwd", "-apr1", Self.basicPassword])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try directory.write("htpasswd", "\(Self.basicUser):\(hash)\n")
        try directory.write("locations.conf", Self.locations(in: directory))

        let (daemon, ports) = try await Daemon.startListening(portCount: 3) { attempt, ports in
            let config = try directory.write("nginx-\(attempt).conf", Self.config(in: directory, identity: identity, ports: ports))
            return try Daemon(name: "nginx", executable: executable,
                              arguments: ["-p", d, "-c", config, "-e", directory.file("error.log"), "-g", "daemon off;"],
                              logPath: directory.file("nginx-\(attempt).out"))
        }
        self.daemon = daemon
        httpPort = ports[0]
        httpsPort = ports[1]
        h2cPort = ports[2]
        self.directory = directory
    }

    deinit {
        daemon.stop()
    }

    func port(_ scheme: Scheme) -> Int {
        switch scheme {
        case .http: httpPort
        case .https: httpsPort
        case .h2c: h2cPort
        }
    }

    /// `http://127.0.0.1:<httpPort><path>`, `https://127.0.0.1:<httpsPort><path>` or
    /// `http://127.0.0.1:<h2cPort><path>`. `host` may also be `localhost` (in the certificate too).
    func url(_ path: String, scheme: Scheme = .http, host: String = "127.0.0.1") -> String {
        "\(scheme == .https ? "https" : "http")://\(host):\(port(scheme))\(path)"
    }

    /// The bytes of `uploadDirectory/name`, or `nil` if there is no such file.
    func uploadedFile(named name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(uploadDirectory)/\(name)").map(Array.init)
    }

    /// The body nginx kept for a request to `/echo-length`, or `nil` if it kept none.
    func requestBody(of entry: AccessLogEntry) -> [UInt8]? {
        entry.requestBodyFile.flatMap { FileManager.default.contents(atPath: $0) }.map(Array.init)
    }

    /// One line of nginx's access log: one request it answered (written once the answer is
    /// sent, so possibly a moment after the client has it: see ``waitForAccessLog(_:timeout:)``).
    /// nginx writes `-` for a missing value (`nil` here) and `\xHH` for `"`, `\` and
    /// non-printable bytes (kept as written).
    struct AccessLogEntry: Sendable, Equatable {
        /// nginx's serial number of the connection (`$connection`): equal for requests that
        /// shared one connection, HTTP/2 streams included.
        let connection: Int
        /// How many requests that connection has had, this one included (`$connection_requests`).
        let connectionRequests: Int
        let status: Int
        let method: String
        /// The request target as sent (`$request_uri`).
        let uri: String
        /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0` (`$server_protocol`).
        let serverProtocol: String
        /// The port it came in on: which of ``httpPort``, ``httpsPort`` and ``h2cPort``.
        let serverPort: Int
        /// Bytes of request line, headers and body as received (`$request_length`).
        let requestLength: Int
        /// Bytes of response body sent (`$body_bytes_sent`).
        let bodyBytesSent: Int
        /// The request body's length (`$content_length`): the `Content-Length` header, or where
        /// nginx read a chunked body in full (`/echo-length`), the length it read.
        let contentLength: Int?
        /// The request's `Transfer-Encoding` header (`chunked`).
        let transferEncoding: String?
        /// The file nginx kept the request body in (`/echo-length`; for a `PUT` to `/upload/`
        /// the temporary file, renamed since).
        let requestBodyFile: String?
        /// The request's `Accept-Encoding` header.
        let acceptEncoding: String?
        /// The response's `Content-Encoding` (`gzip` when it compressed).
        let contentEncoding: String?
        /// The request's `Cookie` header.
        let cookie: String?
        /// The user name of a successful Basic authentication.
        let remoteUser: String?
        /// `TLSv1.3` and so on on the HTTPS port.
        let tlsProtocol: String?

        init?(_ line: Substring) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 17,
                  let connection = Int(fields[0]), let connectionRequests = Int(fields[1]), let status = Int(fields[2]),
                  let serverPort = Int(fields[6]), let requestLength = Int(fields[7]), let bodyBytesSent = Int(fields[8])
            else { return nil }
            func optional(_ index: Int) -> String? { fields[index] == "-" || fields[index].isEmpty ? nil : fields[index] }
            self.connection = connection
            self.connectionRequests = connectionRequests
            self.status = status
            method = fields[3]
            uri = fields[4]
            serverProtocol = fields[5]
            self.serverPort = serverPort
            self.requestLength = requestLength
            self.bodyBytesSent = bodyBytesSent
            contentLength = optional(9).flatMap { Int($0) }
            transferEncoding = optional(10)
            requestBodyFile = optional(11)
            acceptEncoding = optional(12)
            contentEncoding = optional(13)
            cookie = optional(14)
            remoteUser = optional(15)
            tlsProtocol = optional(16)
        }
    }

    /// The log format of ``AccessLogEntry``, tab-separated (nginx writes a tab in a value as `\x09`).
    private static let logFormat = [
        "$connection", "$connection_requests", "$status", "$request_method", "$request_uri", "$server_protocol",
        "$server_port", "$request_length", "$body_bytes_sent", "$content_length", "$http_transfer_encoding",
        "$request_body_file", "$http_accept_encoding", "$sent_http_content_encoding", "$http_cookie",
        "$remote_user", "$ssl_protocol",
    ].joined(separator: "\\t")

    /// Every complete line of the access log so far, in the order nginx wrote them.
    var accessLog: [AccessLogEntry] {
        let text = (try? String(contentsOfFile: directory.file("access.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap(AccessLogEntry.init)
    }

    /// Waits until the access log has at least `count` lines and returns them all.
    func waitForAccessLog(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [AccessLogEntry] {
        try await daemon.poll("logged no \(count) requests", timeout: timeout) {
            let entries = accessLog
            return entries.count >= count ? entries : nil
        }
    }

    /// The first `count` bytes of a fixed pseudo-random stream (SplitMix64 from a fixed seed,
    /// each 64-bit output stored in little-endian order): what `/bytes/…` serve and FTPServer's
    /// `/file.bin` holds. Any length is a prefix of every longer one. About 0.1 s for 64 MiB in
    /// a debug build.
    static func bytes(count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        let words = (count + 7) / 8
        var bytes = [UInt8](unsafeUninitializedCapacity: words * 8) { buffer, initialized in
            // A plain loop over a typed pointer: the generic forms (`>>`, `storeBytes`,
            // `littleEndian`) cost several times as much in a debug build.
            let pointer = UnsafeMutableRawPointer(buffer.baseAddress!).bindMemory(to: UInt64.self, capacity: words)
            var state: UInt64 = 0x4173_796E_6343_7572
            for index in 0..<words {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z &>> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z &>> 27)) &* 0x94D0_49BB_1331_11EB
                #if _endian(big)
                pointer[index] = (z ^ (z &>> 31)).byteSwapped
                #else
                pointer[index] = z ^ (z &>> 31)
                #endif
            }
            initialized = words * 8
        }
        bytes.removeLast(words * 8 - count)
        return bytes
    }

    /// The document root: `root/`, with the files the paths above serve.
    private static func writeContent(in directory: TemporaryDirectory, largeFiles: Bool) throws {
        let root = directory.file("root")
        for subdirectory in ["bytes", "gzip", "basic"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(subdirectory)", withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: directory.file("uploads"), withIntermediateDirectories: true)
        func write(_ path: String, _ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: root + path))
        }
        try write("/hello.txt", helloText)
        try write("/gzip/text.txt", gzipText)
        try write("/basic/secret.txt", basicBody)
        let sizes = byteFiles.filter { largeFiles || $0.size <= 16 << 20 }
        let largest = bytes(count: sizes.map(\.size).max()!)
        for file in sizes {
            try write(file.path, Array(largest.prefix(file.size)))
        }
    }

    /// The locations every server has (`include`d by each).
    private static func locations(in directory: TemporaryDirectory) -> String {
        let d = directory.path
        return """
            root \(d)/root;
            location = /redirect { return 302 /hello.txt; }
            location = /redirect2 { absolute_redirect off; return 301 /redirect; }
            location = /loop { return 302 /loop; }
            location = /to-ftp { return 302 ftp://127.0.0.1:1/x; }
            location /gzip/ {
                gzip on;
                gzip_types text/plain;
                gzip_min_length 0;
                gzip_vary on;
            }
            location /basic/ {
                auth_basic "asynccurl-nginx";
                auth_basic_user_file \(d)/htpasswd;
                index secret.txt;
            }
            location /upload/ {
                alias \(d)/uploads/;
                dav_methods PUT;
                create_full_put_path on;
            }
            location = /echo-length {
                # The proxy module reads the whole body (into a file that stays), then the
                # internal server answers with the length nginx sends it as Content-Length.
                client_body_in_file_only on;
                client_body_temp_path \(d)/bodies;
                proxy_pass http://unix:\(d)/internal.sock:/length;
                proxy_set_header X-Body-File $request_body_file;
            }
            location = /status/404 { return 404 "not found\\n"; }
            location = /status/500 { return 500 "server error\\n"; }
            location = /headers {
                add_header X-Test one always;
                add_header X-Test-Other two always;
                add_header Set-Cookie "a=1; Path=/" always;
                add_header Set-Cookie "b=2; Path=/" always;
                return 200 "headers\\n";
            }
            location = /cookie/set {
                add_header Set-Cookie "session=abc; Path=/" always;
                return 200 "cookie set\\n";
            }
            location = /cookie/check {
                if ($cookie_session = abc) { return 200 "cookie ok\\n"; }
                return 403 "no cookie\\n";
            }

            """
    }

    private static func config(in directory: TemporaryDirectory, identity: TestCertificates.Identity, ports: [Int]) -> String {
        let d = directory.path
        return """
            master_process off;
            worker_processes 1;
            pid \(d)/nginx.pid;
            error_log \(d)/error.log info;
            events { worker_connections 4096; }
            http {
                log_format transfers '\(logFormat)';
                access_log \(d)/access.log transfers;
                client_body_temp_path \(d)/client_body;
                proxy_temp_path \(d)/proxy;
                fastcgi_temp_path \(d)/fastcgi;
                uwsgi_temp_path \(d)/uwsgi;
                scgi_temp_path \(d)/scgi;
                types { text/plain txt; }
                default_type application/octet-stream;
                sendfile on;
                # No limit on request bodies, for every server, the internal one included.
                client_max_body_size 0;
                keepalive_requests 100000;
                keepalive_timeout 60s;
                http2_max_concurrent_streams 128;
                map $http_content_length $received_length { "" 0; default $http_content_length; }
                server {
                    listen 127.0.0.1:\(ports[0]);
                    include \(d)/locations.conf;
                }
                server {
                    listen 127.0.0.1:\(ports[1]) ssl http2;
                    ssl_certificate \(identity.certificate);
                    ssl_certificate_key \(identity.key);
                    include \(d)/locations.conf;
                    location = /to-http { return 302 http://127.0.0.1:\(ports[0])/hello.txt; }
                }
                server {
                    listen 127.0.0.1:\(ports[2]) http2;
                    include \(d)/locations.conf;
                }
                # /echo-length's second half, reachable only through its socket.
                server {
                    listen unix:\(d)/internal.sock;
                    access_log off;
                    location = /length {
                        add_header X-Body-File $http_x_body_file always;
                        return 200 "$received_length\\n";
                    }
                }
            }

            """
    }
}
