// autobahn-client: the client side of Autobahn|Testsuite's fuzzingserver, for AsyncCurlWebSocket.
// See `autobahn-client --help` and `make autobahn` (AUTOBAHN.md).
import AsyncCurl
import AsyncCurlWebSocket
#if canImport(Glibc)
import Glibc
#endif

@main
struct AutobahnClient {
    static let usage = """
        usage: autobahn-client [options]

        Runs the test cases of an Autobahn|Testsuite fuzzingserver: asks it for the number of
        cases (/getCaseCount), then for each case opens /runCase?case=N&agent=AGENT and echoes
        every message back as it came (text as text, binary as binary) until the server closes,
        and at the end asks it to write its reports (/updateReports?agent=AGENT). The verdicts
        are the server's: read them in its reports (index.json).

        options:
          --server URL          the fuzzingserver (default ws://127.0.0.1:9001)
          --agent NAME          the agent name in the reports (default AsyncCurl)
          --deflate             offer permessage-deflate (needed by cases 12.* and 13.*)
          --cases LIST          run only these case numbers, such as 1-16,200 (default: all)
          --case-timeout S      give up on a case after S seconds (default 120): the connection
                                is dropped and the run goes on with the next case
          --quiet               print only the summary line and problems
          -h, --help            print this help and exit

        exit status: 0 when every case ran (whatever the server's verdicts), 1 when the server
        could not be reached or a case timed out, 2 on bad arguments

        """

    struct Options {
        var server = "ws://127.0.0.1:9001"
        var agent = "AsyncCurl"
        var deflate = false
        var cases: [ClosedRange<Int>]?
        var caseTimeout: Duration = .seconds(120)
        var quiet = false
    }

    static func main() async {
        let options = parseArguments()
        let runner = Runner(options: options)
        let count: Int
        do {
            count = try await runner.caseCount()
        } catch {
            printError("autobahn-client: cannot get the case count from \(options.server): \(error)")
            exit(1)
        }
        let started = ContinuousClock.now
        var timedOut: [Int] = []
        for number in 1...max(count, 1) where count > 0 {
            if let ranges = options.cases, !ranges.contains(where: { $0.contains(number) }) { continue }
            let outcome = await runner.run(case: number)
            if outcome.timedOut { timedOut.append(number) }
            if !options.quiet || outcome.timedOut {
                writeLine(outcome.line(number: number, of: count))
            }
        }
        do {
            try await runner.updateReports()
        } catch {
            printError("autobahn-client: /updateReports failed: \(error)")
            exit(1)
        }
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        writeLine("autobahn-client: \(count) cases in \(Int(seconds)) s; reports updated for agent \(options.agent)")
        if !timedOut.isEmpty {
            printError("autobahn-client: cases that hit the per-case deadline: \(timedOut.map(String.init).joined(separator: ", "))")
            exit(1)
        }
    }

    static func parseArguments() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst()[...]
        while let argument = arguments.popFirst() {
            switch argument {
            case "-h", "--help":
                print(usage, terminator: "")
                exit(0)
            case "--server":
                guard let url = arguments.popFirst(), url.hasPrefix("ws://") || url.hasPrefix("wss://") else {
                    usageError("--server needs a ws:// URL")
                }
                options.server = url.hasSuffix("/") ? String(url.dropLast()) : url
            case "--agent":
                guard let agent = arguments.popFirst(), !agent.isEmpty,
                      agent.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "&") && $0 != UInt8(ascii: "?") }) else {
                    usageError("--agent needs a name of printable ASCII without spaces, & or ?")
                }
                options.agent = agent
            case "--deflate":
                options.deflate = true
            case "--cases":
                guard let list = arguments.popFirst(), let ranges = parseCaseList(list) else {
                    usageError("--cases needs a list such as 1-16,200")
                }
                options.cases = ranges
            case "--case-timeout":
                guard let value = arguments.popFirst().flatMap(Double.init), value > 0, value < 100_000 else {
                    usageError("--case-timeout needs a positive number of seconds")
                }
                options.caseTimeout = .milliseconds(Int64((value * 1000).rounded(.up)))
            case "--quiet":
                options.quiet = true
            default:
                usageError("unknown argument \(argument)")
            }
        }
        return options
    }

    /// `1-16,200` → [1...16, 200...200].
    static func parseCaseList(_ list: String) -> [ClosedRange<Int>]? {
        var ranges: [ClosedRange<Int>] = []
        for item in list.split(separator: ",") {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2, let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]), 1 <= low, low <= high else {
                return nil
            }
            ranges.append(low...high)
        }
        return ranges.isEmpty ? nil : ranges
    }

    static func usageError(_ message: String) -> Never {
        printError("autobahn-client: \(message)\nTry autobahn-client --help.")
        exit(2)
    }

    static func printError(_ message: String) {
        writeLine(message, to: 2)
    }

    /// Writes a line straight to the file descriptor: progress shows at once even when standard
    /// output is a file or a pipe (where `print` buffers).
    static func writeLine(_ message: String, to descriptor: Int32 = 1) {
        let bytes = Array((message + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
