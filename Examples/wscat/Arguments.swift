import AsyncCurlWebSocket

/// The command line of `wscat`, parsed by hand so the example needs no package but AsyncCurl.
struct Arguments {
    var url = ""
    var proxy: String?
    var proxyUser: String?
    var proxyPassword: String?
    var caFile: String?
    var insecure = false
    var compression = false
    var headers: [(name: String, value: String)] = []
    var subprotocols: [String] = []
    var pingInterval: Duration?
    var connectTimeout: Duration?
    var closeCode = WebSocketCloseCode.normalClosure
    var closeReason = ""
    var wait: Duration?
    var binaryHex = false
    var verbose = false

    enum Outcome {
        case run(Arguments)
        case help
        case usageError(String)
    }

    static let usage = """
        usage: wscat [options] ws://HOST[:PORT]/PATH
               wscat [options] wss://HOST[:PORT]/PATH

        A WebSocket client on libcurl, like npm's wscat. Opens the WebSocket (through a proxy if
        asked), sends every line of standard input as a text message (without its line ending),
        and prints every message from the server on standard output: a text message as it is,
        followed by a newline; a binary one as <binary N bytes>, or in hex with --binary-hex.

        When standard input ends, wscat runs the closing handshake (with --close-code and
        --close-reason; after --wait, if given), waits for the server's close frame and exits. When the server closes
        first, wscat prints the server's close code and reason on standard error and exits.

        options:
          --proxy URL            connect through a proxy: http://host:port (an HTTP CONNECT
                                 tunnel), https://host:port, socks4://, socks4a://, socks5:// or
                                 socks5h://
          --proxy-user U:P       the proxy's user name and password
          --cacert FILE          verify the server's TLS certificate with the CA certificates in
                                 the PEM file FILE instead of the system's bundle
          -k, --insecure         do not verify the server's TLS certificate or host name
          --compression          offer permessage-deflate (RFC 7692); -v tells whether the server
                                 accepted it
          -H, --header 'N: V'    add a header to the upgrade request (repeatable)
          --subprotocol P        offer sub-protocol P (repeatable; most wanted first)
          --ping-interval S      send a ping after S seconds without a frame from the server, and
                                 give up on a server that does not answer it
          --connect-timeout S    give up when the connection (DNS, TCP, proxy, TLS) or else the
                                 upgrade takes longer than S seconds (a decimal number, such as 2.5)
          --close-code N         the close code sent when standard input ends (default 1000)
          --close-reason TEXT    the close reason sent with it (at most 123 bytes of UTF-8)
          -w, --wait S           after standard input ends, keep printing messages for S more
                                 seconds before the closing handshake (many servers, Python's
                                 websockets among them, drop the answers they still owe once
                                 they read a close frame)
          --binary-hex           print binary messages in hex instead of <binary N bytes>
          -v, --verbose          print the server's handshake response, the extensions and the
                                 sub-protocol in force, and the closing handshake on standard error
          -h, --help             print this help and exit

        exit status:
          0  standard input ended and the closing handshake completed, or the server closed
             with 1000 (normal closure) or 1001 (going away)
          1  the server closed with another code (or none), the WebSocket could not be opened or
             failed, or standard input/output failed
          2  bad arguments

        examples:
          echo hello | wscat --wait 1 ws://127.0.0.1:8765/echo
          wscat --compression -H 'Authorization: Bearer t0k3n' wss://stream.example.com/v1
          wscat --proxy http://127.0.0.1:3128 --cacert ca.pem --subprotocol chat wss://chat.internal/

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
            case "--proxy":
                guard let proxy = value(), !proxy.isEmpty else { return .usageError("--proxy needs a proxy URL") }
                result.proxy = proxy
            case "--proxy-user":
                guard let text = value(), let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                    return .usageError("--proxy-user needs USER:PASSWORD")
                }
                result.proxyUser = String(text[..<colon])
                result.proxyPassword = String(text[text.index(after: colon)...])
            case "--cacert":
                guard let file = value(), !file.isEmpty else { return .usageError("--cacert needs a PEM file") }
                result.caFile = file
            case "-k", "--insecure":
                result.insecure = true
            case "--compression":
                result.compression = true
            case "-H", "--header":
                guard let text = value(), let header = header(text) else {
                    return .usageError("\(argument) needs a header as 'Name: value'")
                }
                result.headers.append(header)
            case "--subprotocol":
                guard let name = value(), !name.isEmpty else { return .usageError("--subprotocol needs a name") }
                result.subprotocols.append(name)
            case "--ping-interval":
                guard let text = value(), let duration = seconds(text) else {
                    return .usageError("--ping-interval needs a positive number of seconds")
                }
                result.pingInterval = duration
            case "--connect-timeout":
                guard let text = value(), let duration = seconds(text) else {
                    return .usageError("--connect-timeout needs a positive number of seconds")
                }
                result.connectTimeout = duration
            case "--close-code":
                guard let text = value(), let number = UInt16(text), WebSocketCloseCode(rawValue: number).isSendable else {
                    return .usageError("--close-code needs a code that may be sent: 1000-1003, 1007-1014 or 3000-4999")
                }
                result.closeCode = WebSocketCloseCode(rawValue: number)
            case "--close-reason":
                guard let reason = value(), reason.utf8.count <= 123 else {
                    return .usageError("--close-reason needs a text of at most 123 bytes of UTF-8")
                }
                result.closeReason = reason
            case "-w", "--wait":
                guard let text = value(), let duration = seconds(text) else {
                    return .usageError("\(argument) needs a positive number of seconds")
                }
                result.wait = duration
            case "--binary-hex":
                result.binaryHex = true
            case "-v", "--verbose":
                result.verbose = true
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
            return .usageError(positional.isEmpty ? "missing the ws:// or wss:// URL to connect to" : "expected one URL, got \(positional.count) arguments")
        }
        result.url = positional[0]
        let scheme = result.url.prefix(while: { $0 != ":" }).lowercased()
        guard scheme == "ws" || scheme == "wss", result.url.dropFirst(scheme.count).hasPrefix("://") else {
            return .usageError("'\(result.url)' is not a ws:// or wss:// URL")
        }
        return .run(result)
    }

    /// `Name: value` split at the first colon, both sides trimmed; `nil` without a name.
    private static func header(_ text: String) -> (name: String, value: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = text[..<colon].trimmingSpaces
        guard !name.isEmpty else { return nil }
        return (name, text[text.index(after: colon)...].trimmingSpaces)
    }

    /// A decimal number of seconds as a `Duration`, or `nil` if it is not a positive one.
    private static func seconds(_ text: String) -> Duration? {
        guard let value = Double(text), value.isFinite, value > 0, value < 1_000_000 else { return nil }
        return .milliseconds(Int64((value * 1000).rounded(.up)))
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
