// http-get: a raw HTTP/1.1 GET over a tcp:// or tls:// connection. See `http-get --help`.
import AsyncCurl
#if canImport(Glibc)
import Glibc
#endif

@main
struct HTTPGet {
    static let usage = """
        usage: http-get [options] tls://HOST:PORT/PATH
               http-get [options] tcp://HOST:PORT/PATH

        Sends "GET /PATH HTTP/1.1" with "Connection: close" over a raw connection that libcurl
        set up (TCP, TLS, proxies), then prints the response's status line and header fields
        and the size of its body. The HTTP is spoken by this program, not by libcurl.
        https://HOST[:PORT]/PATH and http://HOST[:PORT]/PATH are accepted too (ports 443 and 80).

        options:
          --cacert FILE          verify the server's certificate with the CA certificates in the
                                 PEM file FILE instead of the system's bundle
          -k, --insecure         do not verify the server's certificate or host name
          --proxy URL            connect through a proxy (http://, https://, socks4://, socks4a://,
                                 socks5://, socks5h://; credentials as http://user:password@host:port)
          --connect-timeout S    give up when setting up the connection takes longer than S seconds
          -o, --output FILE      also write the body to FILE
          -v, --verbose          write libcurl's connection trace to standard error
          -h, --help             print this help and exit

        exit status: 0 when a complete response arrived (whatever its status code), 1 on a
        connection, TLS or protocol error, 2 on bad arguments

        """

    static func main() async {
        var options = ConnectionOptions()
        var outputPath: String?
        var verbose = false
        var positional: [String] = []
        var arguments = CommandLine.arguments.dropFirst()[...]
        while let argument = arguments.popFirst() {
            switch argument {
            case "-h", "--help":
                print(usage, terminator: "")
                exit(0)
            case "--cacert":
                guard let file = arguments.popFirst() else { usageError("--cacert needs a PEM file") }
                options.tls.caFile = file
            case "-k", "--insecure":
                options.tls.verifyPeer = false
                options.tls.verifyHost = false
            case "--proxy":
                guard let proxy = arguments.popFirst() else { usageError("--proxy needs a proxy URL") }
                options.proxy = proxy
            case "--connect-timeout":
                guard let value = arguments.popFirst().flatMap(Double.init), value > 0, value < 1_000_000 else {
                    usageError("--connect-timeout needs a positive number of seconds")
                }
                options.connectTimeout = .milliseconds(Int64((value * 1000).rounded(.up)))
            case "-o", "--output":
                guard let path = arguments.popFirst() else { usageError("--output needs a file name") }
                outputPath = path
            case "-v", "--verbose":
                verbose = true
                options.trace = { event in printError("\(event)") }
            default:
                if argument.hasPrefix("-") { usageError("unknown option '\(argument)'") }
                positional.append(argument)
            }
        }
        guard positional.count == 1 else {
            usageError(positional.isEmpty ? "missing the URL" : "expected one URL, got \(positional.count) arguments")
        }
        let target: RequestTarget
        do {
            target = try RequestTarget(parsing: positional[0])
        } catch {
            usageError("\(error)")
        }

        do {
            try await get(target, options: options, outputPath: outputPath, verbose: verbose)
            exit(0)
        } catch {
            printError("http-get: \(error)")
            exit(1)
        }
    }

    static func get(_ target: RequestTarget, options: ConnectionOptions, outputPath: String?, verbose: Bool) async throws {
        let output = try outputPath.map { try OutputFile(path: $0) }
        defer { output?.close() }

        try await CurlMulti.shared.withConnection(to: target.connectionURL, options: options) { connection in
            if verbose {
                printError("* connection: \(connection.info)")
            }
            let request = "GET \(target.path) HTTP/1.1\r\n"
                + "Host: \(target.hostHeader)\r\n"
                + "User-Agent: AsyncCurl-http-get\r\n"
                + "Accept: */*\r\n"
                + "Connection: close\r\n"
                + "\r\n"
            try await connection.send(request)

            let reader = HTTPResponseReader(connection)
            let head = try await reader.readHead()
            print(head.statusLine)
            for (name, value) in head.headers {
                print("\(name): \(value)")
            }
            print()
            let framing = try HTTPResponseReader.framing(of: head)
            let size = try await reader.readBody(framing) { piece in
                try output?.write(piece)
            }
            print("body: \(size) bytes (\(framing))")
        }
    }

    static func usageError(_ message: String) -> Never {
        printError("http-get: \(message)\n\n\(usage)")
        exit(2)
    }
}

/// Where to connect and what to ask for, from `tls://host:port/path` and friends.
///
/// AsyncCurl's URLs name a connection, not a resource (`tls://host:port` has no path), so the
/// path is split off here and only `scheme://host:port` goes to `connect`.
struct RequestTarget {
    /// `tcp://host:port` or `tls://host:port`, for ``CurlMulti/connect(to:options:)``.
    var connectionURL: String
    /// The request target: `/path?query`.
    var path: String
    /// The `Host` header: the host, with the port when it is not the scheme's default.
    var hostHeader: String

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(parsing url: String) throws {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw Invalid(description: "'\(url)' is not a URL: expected tls://HOST:PORT/PATH")
        }
        let scheme = parts[0].lowercased()
        let connectionScheme: String
        let defaultPort: Int
        switch scheme {
        case "tcp", "http": connectionScheme = "tcp"; defaultPort = 80
        case "tls", "https": connectionScheme = "tls"; defaultPort = 443
        default: throw Invalid(description: "unsupported scheme '\(scheme)': use tls://, tcp://, https:// or http://")
        }
        var rest = parts[1]
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        let pathStart = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<pathStart]
        var path = String(rest[pathStart...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        guard path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw Invalid(description: "the path \(path.debugDescription) has spaces or characters that need percent-encoding")
        }

        // host, host:port, [v6], [v6]:port
        let host: Substring
        var port: Int?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = Int(after.dropFirst()) ?? -1 } else if !after.isEmpty { port = -1 }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = Int(authority[authority.index(after: colon)...]) ?? -1
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw Invalid(description: "'\(url)' has no host") }
        if let port, !(1...65535).contains(port) {
            throw Invalid(description: "'\(url)' has a bad port: expected a number from 1 to 65535")
        }
        if port == nil && (scheme == "tcp" || scheme == "tls") {
            throw Invalid(description: "'\(url)' has no port: \(scheme):// needs one, as in \(scheme)://\(host):8443/")
        }
        let resolvedPort = port ?? defaultPort
        self.connectionURL = "\(connectionScheme)://\(host):\(resolvedPort)"
        self.path = path
        self.hostHeader = resolvedPort == defaultPort ? String(host) : "\(host):\(resolvedPort)"
    }
}

/// The body's destination for `--output`: a file written with plain `write(2)`.
final class OutputFile {
    private let fd: Int32
    private let path: String

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HTTPError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    func write(_ bytes: ArraySlice<UInt8>) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written >= 0 {
                    offset += written
                } else if errno != EINTR {
                    throw HTTPError(message: "cannot write \(path): \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    func close() {
        _ = Glibc.close(fd)
    }
}

/// Writes a line to standard error, unbuffered.
func printError(_ message: String) {
    var bytes = Array(message.utf8)
    if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return
        }
    }
}
