// curlcat: netcat on libcurl. See `curlcat --help`, or Arguments.swift.
import AsyncCurl
#if canImport(Glibc)
import Glibc
#endif

@main
struct CurlCat {
    static func main() async {
        // A closed standard output should be an EPIPE error we report, not a silent death.
        signal(SIGPIPE, SIG_IGN)
        let arguments: Arguments
        switch Arguments.parse(Array(CommandLine.arguments.dropFirst())) {
        case .help:
            print(Arguments.usage, terminator: "")
            exit(0)
        case .usageError(let message):
            printError("curlcat: \(message)\n\n\(Arguments.usage)")
            exit(2)
        case .run(let parsed):
            arguments = parsed
        }

        do {
            try await run(arguments)
            exit(0)
        } catch {
            printError("curlcat: \(error)")
            exit(1)
        }
    }

    /// How the copying ended.
    private enum Ending: Sendable {
        case inputEnded
        case peerClosed
        case quitTimerFired
    }

    static func run(_ arguments: Arguments) async throws {
        var options = ConnectionOptions()
        options.connectTimeout = arguments.connectTimeout
        options.proxy = arguments.proxy
        if let caFile = arguments.caFile {
            options.tls.caFile = caFile
        }
        if arguments.insecure {
            options.tls.verifyPeer = false
            options.tls.verifyHost = false
        }
        if arguments.verbose {
            options.trace = { event in printError("\(event)") }
        }

        let connection = try await CurlMulti.shared.connect(to: arguments.url, options: options)
        if arguments.verbose {
            printError("* connection: \(connection.info)")
        }
        let input = InputChunks(fileDescriptor: 0)
        let output = OutputWriter(fileDescriptor: 1)

        // Both directions at once: a connection is full duplex, one task may send while
        // another receives.
        try await withThrowingTaskGroup(of: Ending.self) { group in
            group.addTask {
                // Stdin → connection. Each chunk is sent completely before the next is asked
                // for, and the reader thread reads ahead only a few chunks.
                try await connection.send(contentsOf: input)
                return .inputEnded
            }
            group.addTask {
                // Connection → stdout, until the peer closes its side.
                for try await chunk in connection.chunks {
                    try await output.write(chunk)
                }
                return .peerClosed
            }
            while let ending = try await group.next() {
                switch ending {
                case .inputEnded:
                    // Stop sending, keep receiving. With --quit-after, not for ever.
                    if arguments.halfClose, arguments.proxy == nil {
                        do {
                            try await connection.finishSending()
                        } catch let error as CurlError where error.code == .unsupportedProtocol {
                            // TLS: the peer cannot be told; keep the connection as it is.
                            if arguments.verbose { printError("* not half-closed: \(error.message)") }
                        }
                    }
                    if let quitAfter = arguments.quitAfter {
                        group.addTask {
                            try await Task.sleep(for: quitAfter)
                            return .quitTimerFired
                        }
                    }
                case .peerClosed, .quitTimerFired:
                    // Whatever is still running (reading stdin, sending, the timer) is cancelled.
                    group.cancelAll()
                    return
                }
            }
        }
        await connection.close()
    }
}
