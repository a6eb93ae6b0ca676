// wscat: a WebSocket client for the terminal. See `wscat --help`, or Arguments.swift.
import AsyncCurl
import AsyncCurlWebSocket
#if canImport(Glibc)
import Glibc
#endif

@main
struct WSCat {
    static func main() async {
        // A closed standard output should be an EPIPE error we report, not a silent death.
        signal(SIGPIPE, SIG_IGN)
        let arguments: Arguments
        switch Arguments.parse(Array(CommandLine.arguments.dropFirst())) {
        case .help:
            print(Arguments.usage, terminator: "")
            exit(0)
        case .usageError(let message):
            printError("wscat: \(message)\n\n\(Arguments.usage)")
            exit(2)
        case .run(let parsed):
            arguments = parsed
        }

        do {
            exit(try await run(arguments))
        } catch {
            printError("wscat: \(error)")
            exit(1)
        }
    }

    /// How one of the two directions ended.
    private enum Ending: Sendable {
        /// The closing handshake is done (whoever began it): no more messages.
        case closed
        /// Standard input ended and this side's closing handshake is done.
        case inputEnded
        /// Sending stopped because the WebSocket closed, or the task was cancelled.
        case inputStopped
    }

    /// Opens the WebSocket and copies lines to it and messages from it until it closes; returns
    /// the exit status.
    static func run(_ arguments: Arguments) async throws -> Int32 {
        let socket: WebSocket
        do {
            socket = try await CurlMulti.shared.webSocket(to: arguments.url, options: arguments.connectionOptions,
                                                          configuration: arguments.configuration)
        } catch let error as WebSocketError where error.handshakeResponse != nil && arguments.verbose {
            if let response = error.handshakeResponse { printError(describe(response)) }
            throw error
        }
        if arguments.verbose {
            printError(describe(socket.handshakeResponse))
            printError("* extensions: \(socket.extensions.isEmpty ? "none" : socket.extensions.joined(separator: ", "))")
            printError("* subprotocol: \(socket.subprotocol ?? "none")")
        }

        let output = OutputWriter(fileDescriptor: 1)
        // Whether standard input ended and this side ran the closing handshake (if the server's
        // close frame came first, the input task is cancelled before it gets there).
        let closedByUs = try await withThrowingTaskGroup(of: Ending.self) { group in
            group.addTask {
                // Server → standard output, until the closing handshake is done.
                for try await message in socket.messages {
                    try await output.write(format(message, hex: arguments.binaryHex))
                }
                return .closed
            }
            group.addTask {
                // Standard input → server, one text message a line; then the closing handshake.
                do {
                    for try await line in InputLines(fileDescriptor: 0) {
                        try await socket.send(.text(line))
                    }
                    // Answers still on their way are printed meanwhile; a server that closes
                    // first cancels the wait.
                    if let wait = arguments.wait { try await Task.sleep(for: wait) }
                } catch let error as WebSocketError where error.code == .closed {
                    return .inputStopped  // The server closed first: the reader tells how.
                } catch is CancellationError {
                    return .inputStopped
                }
                if Task.isCancelled { return .inputStopped }
                try await socket.close(code: arguments.closeCode, reason: arguments.closeReason)
                return .inputEnded
            }
            // The reader's end is the WebSocket's: once it is there, stop reading standard input.
            var inputEnded = false
            while let ending = try await group.next() {
                if ending == .closed { group.cancelAll() }
                if ending == .inputEnded { inputEnded = true }
            }
            return inputEnded
        }

        let code = socket.closeCode
        let reason = socket.closeReason ?? ""
        let codeText = code.map { "code \($0.rawValue)" } ?? "no code (1005)"
        let reasonText = reason.isEmpty ? "" : " (reason: \(reason))"
        if closedByUs {
            if arguments.verbose { printError("* closed: the server answered with \(codeText)\(reasonText)") }
            return 0
        }
        printError("wscat: the server closed the WebSocket with \(codeText)\(reasonText)")
        return code == .normalClosure || code == .goingAway ? 0 : 1
    }

    /// A message as it goes to standard output: text as it is, binary as `<binary N bytes>` or
    /// in hex; then a newline.
    static func format(_ message: WebSocket.Message, hex: Bool) -> [UInt8] {
        switch message {
        case .text(let text):
            return Array(text.utf8) + [UInt8(ascii: "\n")]
        case .binary(let bytes) where hex:
            let digits = Array("0123456789abcdef".utf8)
            var line: [UInt8] = []
            line.reserveCapacity(bytes.count * 2 + 1)
            for byte in bytes {
                line.append(digits[Int(byte >> 4)])
                line.append(digits[Int(byte & 0x0F)])
            }
            return line + [UInt8(ascii: "\n")]
        case .binary(let bytes):
            return Array("<binary \(bytes.count) bytes>\n".utf8)
        }
    }

    /// The server's handshake answer as `< ` lines, as curl -v shows a response head.
    static func describe(_ response: WebSocketHandshakeResponse) -> String {
        var lines = ["< HTTP/1.1 \(response.statusCode) \(response.reasonPhrase)"]
        lines += response.headerFields.map { "< \($0.name): \($0.value)" }
        return lines.joined(separator: "\n")
    }
}

extension Arguments {
    /// How libcurl sets up the connection: proxy, TLS verification, connect timeout.
    var connectionOptions: ConnectionOptions {
        var options = ConnectionOptions()
        options.connectTimeout = connectTimeout
        options.proxy = proxy
        options.proxyUsername = proxyUser
        options.proxyPassword = proxyPassword
        if let caFile {
            options.tls.caFile = caFile
        }
        if insecure {
            options.tls.verifyPeer = false
            options.tls.verifyHost = false
        }
        return options
    }

    /// What the WebSocket offers and how it runs.
    var configuration: WebSocketConfiguration {
        var configuration = WebSocketConfiguration()
        if compression { configuration.compression = .permessageDeflate }
        configuration.subprotocols = subprotocols
        configuration.headers = headers
        configuration.pingInterval = pingInterval
        if let connectTimeout { configuration.handshakeTimeout = connectTimeout }
        return configuration
    }
}
