import AsyncCurl
import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The command line of `fetch`, parsed by hand so the example needs no package but AsyncCurl
/// and HTTPTypes.
struct Arguments {
    /// What `-d` sends.
    enum Data {
        /// `-d text`: the text's UTF-8 bytes.
        case text(String)
        /// `-d @file`: the file's bytes, unchanged.
        case file(String)
        /// `-d @-`: standard input's bytes, unchanged.
        case standardInput
    }

    var url = ""
    var output: String?
    var proxy: String?
    var caFile: String?
    var http2 = false
    var method: HTTPRequest.Method?
    var headerFields = HTTPFields()
    var data: Data?
    var followsRedirects = false
    var insecure = false
    var user: Credentials?
    var verbose = false
    var maxTime: Duration?
    var fail = false

    enum Outcome {
        case run(Arguments)
        case help
        case usageError(String)
    }

    static let usage = """
        usage: fetch [options] URL

        Fetches URL (http://, https://, ftp://, …) with AsyncCurl's transfers, the body going to
        standard output or to a file: a small curl.

        options:
          -o, --output FILE      write the body to FILE (created or truncated; /dev/null works)
                                 instead of standard output
          -X, --request METHOD   the request method (default: GET, or POST with -d)
          -H, --header 'N: V'    send the header field N with value V; repeatable
          -d, --data DATA        send DATA as the request body; @FILE sends FILE's bytes unchanged,
                                 @- standard input's (no Content-Type is added: give one with -H)
          -u, --user USER:PASS   the server's user name and password (HTTP authentication, FTP login)
          -L, --location         follow redirects (20 at most)
          --http2                HTTP/2: over TLS for https:// (HTTP/1.1 if the server offers only
                                 that), with prior knowledge for http://; without it, HTTP/1.1
          --proxy URL            go through a proxy (http://, https://, socks5h://, …)
          --cacert FILE          verify the server's certificate with the CA certificates in the
                                 PEM file FILE instead of the system's bundle
          -k, --insecure         do not verify the server's certificate nor its name
          --max-time SECONDS     give up when the whole transfer takes longer
          -f, --fail             for an HTTP status of 400 or more, write no body and exit 22
          -v, --verbose          write the response's status, header fields and transfer facts to
                                 standard error
          -h, --help             print this help and exit

        When standard error is a terminal, a progress line is shown there (not when the body
        goes to that terminal).

        exit status:
          0    the transfer completed (whatever the HTTP status, without --fail)
          2    bad arguments
          22   an HTTP status of 400 or more, with --fail
          N    libcurl's error code N for a failed transfer (as curl's exit codes: 6 the host
               name did not resolve, 7 the connection failed, 28 timeout, 60 the certificate
               did not verify, …), 1 for any other failure

        examples:
          fetch https://example.com/
          fetch -L -o page.html --http2 https://example.com/
          fetch -X PUT -d @photo.jpg -H 'Content-Type: image/jpeg' https://dav.example.com/photo.jpg

        """

    static func parse(_ arguments: [String]) -> Outcome {
        var result = Arguments()
        var positional: [String] = []
        var index = 0

        func value() -> String? {
            index += 1
            return index < arguments.count ? arguments[index] : nil
        }

        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help":
                return .help
            case "-o", "--output":
                guard let file = value(), !file.isEmpty else { return .usageError("\(argument) needs a file") }
                result.output = file
            case "-X", "--request":
                guard let name = value(), let method = HTTPRequest.Method(name) else {
                    return .usageError("\(argument) needs a method, such as PUT")
                }
                result.method = method
            case "-H", "--header":
                guard let line = value(), let field = headerField(line) else {
                    return .usageError("\(argument) needs 'Name: value'")
                }
                result.headerFields.append(field)
            case "-d", "--data", "--data-binary":
                guard let data = value() else { return .usageError("\(argument) needs data, @FILE or @-") }
                if data == "@-" {
                    result.data = .standardInput
                } else if data.hasPrefix("@") {
                    result.data = .file(String(data.dropFirst()))
                } else {
                    result.data = .text(data)
                }
            case "-u", "--user":
                guard let text = value(), let colon = text.firstIndex(of: ":") else {
                    return .usageError("\(argument) needs USER:PASSWORD")
                }
                result.user = Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
            case "-L", "--location":
                result.followsRedirects = true
            case "--http2":
                result.http2 = true
            case "--proxy":
                guard let proxy = value(), !proxy.isEmpty else { return .usageError("--proxy needs a proxy URL") }
                result.proxy = proxy
            case "--cacert":
                guard let file = value(), !file.isEmpty else { return .usageError("--cacert needs a PEM file") }
                result.caFile = file
            case "-k", "--insecure":
                result.insecure = true
            case "-m", "--max-time":
                guard let text = value(), let seconds = Double(text), seconds > 0, seconds < 1_000_000 else {
                    return .usageError("\(argument) needs a positive number of seconds")
                }
                result.maxTime = .milliseconds(Int64((seconds * 1000).rounded(.up)))
            case "-f", "--fail":
                result.fail = true
            case "-v", "--verbose":
                result.verbose = true
            default:
                if argument.hasPrefix("-") && argument.count > 1 {
                    return .usageError("unknown option '\(argument)'")
                }
                positional.append(argument)
            }
            index += 1
        }
        guard positional.count == 1 else {
            return .usageError(positional.isEmpty ? "missing the URL" : "expected one URL, got \(positional.count) arguments")
        }
        result.url = positional[0]
        return .run(result)
    }

    /// `Name: value` as a field: a token for the name, the value without the spaces around it.
    static func headerField(_ line: String) -> HTTPField? {
        guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else { return nil }
        let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        return HTTPField(name: name, value: String(value))
    }

    /// The transfer options these arguments ask for.
    func transferOptions() -> TransferOptions {
        var options = TransferOptions()
        if http2 {
            options.httpVersion = url.lowercased().hasPrefix("http://") ? .http2PriorKnowledge : .http2
        } else {
            options.httpVersion = .http1_1
        }
        if followsRedirects { options.redirects = .follow(max: 20) }
        options.connection.proxy = proxy
        if let caFile { options.connection.tls.caFile = caFile }
        if insecure {
            options.connection.tls.verifyPeer = false
            options.connection.tls.verifyHost = false
        }
        options.credentials = user
        options.timeout = maxTime
        return options
    }
}

/// A problem with what the user gave, found after parsing (exit status 2).
struct UsageFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
