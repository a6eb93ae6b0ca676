/// The command line of `curlcat`, parsed by hand so the example needs no package but AsyncCurl.
struct Arguments {
    var url = ""
    var proxy: String?
    var caFile: String?
    var insecure = false
    var connectTimeout: Duration?
    var quitAfter: Duration?
    var verbose = false
    var halfClose = true

    enum Outcome {
        case run(Arguments)
        case help
        case usageError(String)
    }

    static let usage = """
        usage: curlcat [options] tcp://HOST:PORT
               curlcat [options] tls://HOST:PORT

        netcat on libcurl. Opens a TCP or TLS connection with libcurl (through a proxy if asked),
        then copies standard input to the connection and the connection to standard output, both
        at the same time.

        When standard input ends, curlcat half-closes a plain TCP connection (shuts down its
        sending side, as nc -N does), so the peer reads end of input, and goes on printing what
        the peer sends until the peer closes the connection; then it exits. Over TLS (tls://) it
        cannot half-close: libcurl can only end TLS by closing the whole connection, so the peer
        is not told that input ended. Through a --proxy it does not half-close either: many
        proxies (tinyproxy among them) then close the whole tunnel at once, dropping what the
        peer still had to send. In both cases, use --quit-after with peers that wait for the
        end of input.

        options:
          --proxy URL            connect through a proxy: http://[user:password@]host:port (an HTTP
                                 CONNECT tunnel), https://host:port (TLS to the proxy), socks4://,
                                 socks4a://, socks5:// or socks5h:// (the proxy resolves HOST)
          --cacert FILE          verify the peer's TLS certificate with the CA certificates in the
                                 PEM file FILE instead of the system's bundle
          -k, --insecure         do not verify the peer's TLS certificate or host name
          --connect-timeout S    give up when DNS, TCP, the proxy and TLS together take longer than
                                 S seconds (a decimal number, such as 2.5)
          -q, --quit-after S     after standard input ends, wait at most S more seconds for the
                                 peer to close, then exit
          --no-half-close        keep sending open when standard input ends (for peers that
                                 close at once when they read end of input)
          -v, --verbose          write libcurl's connection trace to standard error
          -h, --help             print this help and exit

        exit status:
          0  the peer closed the connection (or --quit-after ran out)
          1  the connection could not be set up or failed, or standard input/output failed
          2  bad arguments

        examples:
          printf 'PING\\r\\n' | curlcat --quit-after 1 tcp://127.0.0.1:6379
          curlcat --proxy http://127.0.0.1:3128 tls://example.com:443 < request.txt
          curlcat --cacert ca.pem --connect-timeout 5 tls://db.internal:5433

        """

    static func parse(_ arguments: [String]) -> Outcome {
        var result = Arguments()
        var positional: [String] = []
        var index = 0

        func value(for option: String) -> String? {
            index += 1
            return index < arguments.count ? arguments[index] : nil
        }

        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help":
                return .help
            case "--proxy":
                guard let proxy = value(for: argument), !proxy.isEmpty else { return .usageError("--proxy needs a proxy URL") }
                result.proxy = proxy
            case "--cacert":
                guard let file = value(for: argument), !file.isEmpty else { return .usageError("--cacert needs a PEM file") }
                result.caFile = file
            case "-k", "--insecure":
                result.insecure = true
            case "--connect-timeout":
                guard let text = value(for: argument), let duration = seconds(text) else {
                    return .usageError("--connect-timeout needs a positive number of seconds")
                }
                result.connectTimeout = duration
            case "-q", "--quit-after":
                guard let text = value(for: argument), let duration = seconds(text, allowZero: true) else {
                    return .usageError("--quit-after needs a number of seconds, 0 or more")
                }
                result.quitAfter = duration
            case "-v", "--verbose":
                result.verbose = true
            case "--no-half-close":
                result.halfClose = false
            case "--":
                positional.append(contentsOf: arguments[(index + 1)...])
                index = arguments.count
                continue
            default:
                if argument.hasPrefix("-") && argument.count > 1 {
                    return .usageError("unknown option '\(argument)'")
                }
                positional.append(argument)
            }
            index += 1
        }

        guard positional.count == 1 else {
            return .usageError(positional.isEmpty ? "missing the tcp:// or tls:// URL to connect to" : "expected one URL, got \(positional.count) arguments")
        }
        result.url = positional[0]
        let scheme = result.url.prefix(while: { $0 != ":" }).lowercased()
        guard scheme == "tcp" || scheme == "tls" else {
            return .usageError("'\(result.url)' is not a tcp://HOST:PORT or tls://HOST:PORT URL")
        }
        return .run(result)
    }

    /// A decimal number of seconds as a `Duration`, or `nil` if it is not one.
    private static func seconds(_ text: String, allowZero: Bool = false) -> Duration? {
        guard let value = Double(text), value.isFinite, value > 0 || (allowZero && value == 0), value < 1_000_000 else {
            return nil
        }
        return .milliseconds(Int64((value * 1000).rounded(.up)))
    }
}
