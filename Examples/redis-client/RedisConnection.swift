import AsyncCurl

/// A value of the Redis serialization protocol, version 2 (RESP2).
enum RedisValue: Equatable, Sendable, CustomStringConvertible {
    /// `+OK`
    case simpleString(String)
    /// `-ERR unknown command`
    case error(String)
    /// `:42`
    case integer(Int)
    /// `$5\r\nhello` — `nil` for the null bulk string `$-1`.
    case bulkString([UInt8]?)
    /// `*2\r\n…` — `nil` for the null array `*-1`.
    case array([RedisValue]?)

    /// Formatted the way `redis-cli` shows replies.
    var description: String {
        switch self {
        case .simpleString(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let value): return "(integer) \(value)"
        case .bulkString(nil), .array(nil): return "(nil)"
        case .bulkString(let bytes?): return String(decoding: bytes, as: UTF8.self)
        case .array(let values?):
            if values.isEmpty { return "(empty array)" }
            return values.enumerated().map { "\($0.offset + 1)) \($0.element)" }.joined(separator: "\n")
        }
    }
}

/// Something went wrong at the Redis level (not the network's: those are `CurlError`s and
/// `ConnectionError`s from AsyncCurl).
struct RedisError: Error, CustomStringConvertible {
    let message: String

    var description: String { message }
}

/// A Redis client connection over an ``AsyncConnection``, speaking RESP2.
///
/// Replies are parsed from a read buffer: `receive()` hands over whatever TCP delivered — part
/// of a reply, or many pipelined replies at once — so lines are taken from the buffer and it is
/// refilled only when a reply is incomplete. Large bulk strings are finished with
/// `receive(exactly:)`, straight into the value, instead of growing the buffer.
///
/// Not `Sendable`: one task uses a connection at a time, as Redis's request/reply order demands.
final class RedisConnection {
    let connection: AsyncConnection

    /// Received bytes not parsed yet: `buffer[readIndex...]`.
    private var buffer: [UInt8] = []
    private var readIndex = 0

    /// A reply line longer than this is a protocol error, not a reason to buffer without bound.
    private static let maximumLineLength = 64 * 1024
    /// Redis's own limit for a bulk string (`proto-max-bulk-len`, 512 MB by default).
    private static let maximumBulkLength = 512 * 1024 * 1024

    init(_ connection: AsyncConnection) {
        self.connection = connection
    }

    /// Opens a connection to `url` (`tcp://host:port`, or `tls://host:port` for a TLS-enabled
    /// Redis) and wraps it.
    static func connect(to url: String, options: ConnectionOptions = ConnectionOptions(),
                        multi: CurlMulti = .shared) async throws -> RedisConnection {
        RedisConnection(try await multi.connect(to: url, options: options))
    }

    func close() async {
        await connection.close()
    }

    // MARK: Commands

    /// Sends one command and returns its reply. A Redis error reply is returned as
    /// ``RedisValue/error(_:)``, not thrown: it is an answer, and the connection stays usable.
    func command(_ arguments: [String]) async throws -> RedisValue {
        try await connection.send(Self.encode(arguments))
        return try await readValue()
    }

    /// Sends one command with binary-safe arguments.
    func command(_ arguments: [[UInt8]]) async throws -> RedisValue {
        try await connection.send(Self.encode(arguments))
        return try await readValue()
    }

    /// `PING` → `PONG`.
    func ping() async throws -> String {
        let reply = try await command(["PING"])
        guard case .simpleString(let text) = reply else { throw unexpected(reply, for: "PING") }
        return text
    }

    /// `SET key value` → `OK`.
    func set(_ key: String, _ value: [UInt8]) async throws {
        let reply = try await command([Array("SET".utf8), Array(key.utf8), value])
        guard case .simpleString("OK") = reply else { throw unexpected(reply, for: "SET") }
    }

    /// `GET key` → the value, or `nil` if the key does not exist.
    func get(_ key: String) async throws -> [UInt8]? {
        let reply = try await command(["GET", key])
        guard case .bulkString(let value) = reply else { throw unexpected(reply, for: "GET") }
        return value
    }

    /// `DEL key…` → how many keys were removed.
    @discardableResult
    func delete(_ keys: [String]) async throws -> Int {
        let reply = try await command(["DEL"] + keys)
        guard case .integer(let count) = reply else { throw unexpected(reply, for: "DEL") }
        return count
    }

    /// Sends `commands` in one write and then reads one reply per command: one round trip instead
    /// of `commands.count`. Sending and reading overlap (a connection is full duplex), so a long
    /// pipeline never waits for Redis to read everything before its replies are taken.
    func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        var payload: [UInt8] = []
        for arguments in commands {
            payload.append(contentsOf: Self.encode(arguments))
        }
        let connection = self.connection
        async let sent: Void = connection.send(payload)
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            replies.append(try await readValue())
        }
        try await sent
        return replies
    }

    /// `INCR key`, `count` times in one pipeline; returns the replies, which Redis guarantees to
    /// be consecutive (the key may be changed by other clients between them).
    func incrementPipelined(_ key: String, count: Int) async throws -> [Int] {
        let replies = try await pipeline(Array(repeating: ["INCR", key], count: count))
        return try replies.map { reply in
            guard case .integer(let value) = reply else { throw unexpected(reply, for: "INCR") }
            return value
        }
    }

    private func unexpected(_ reply: RedisValue, for command: String) -> RedisError {
        if case .error(let message) = reply {
            return RedisError(message: "\(command): \(message)")
        }
        return RedisError(message: "\(command): unexpected reply \(reply)")
    }

    // MARK: Encoding

    /// A command as a RESP array of bulk strings, the form Redis expects from clients.
    static func encode(_ arguments: [String]) -> [UInt8] {
        encode(arguments.map { Array($0.utf8) })
    }

    static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            bytes.append(contentsOf: "$\(argument.count)\r\n".utf8)
            bytes.append(contentsOf: argument)
            bytes.append(contentsOf: [13, 10])
        }
        return bytes
    }

    // MARK: Decoding

    /// Reads one complete reply.
    func readValue() async throws -> RedisValue {
        let line = try await readLine()
        guard let type = line.first else { throw RedisError(message: "empty reply line") }
        let rest = String(decoding: line.dropFirst(), as: UTF8.self)
        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(rest)
        case UInt8(ascii: "-"):
            return .error(rest)
        case UInt8(ascii: ":"):
            guard let value = Int(rest) else { throw RedisError(message: "bad integer reply ':\(rest)'") }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(rest), length >= -1, length <= Self.maximumBulkLength else {
                throw RedisError(message: "bad bulk string length '$\(rest)'")
            }
            if length == -1 { return .bulkString(nil) }
            let bytes = try await readExactly(length + 2)  // The value and its "\r\n".
            guard bytes[length] == 13, bytes[length + 1] == 10 else {
                throw RedisError(message: "bulk string of \(length) bytes is not followed by CRLF")
            }
            return .bulkString(Array(bytes[..<length]))
        case UInt8(ascii: "*"):
            guard let count = Int(rest), count >= -1 else { throw RedisError(message: "bad array length '*\(rest)'") }
            if count == -1 { return .array(nil) }
            var values: [RedisValue] = []
            values.reserveCapacity(min(count, 1024))
            for _ in 0..<count {
                values.append(try await readValue())
            }
            return .array(values)
        default:
            throw RedisError(message: "unknown reply type '\(Character(Unicode.Scalar(type)))'")
        }
    }

    /// The next line, without its `\r\n`; reads more when the buffer holds no complete line.
    private func readLine() async throws -> ArraySlice<UInt8> {
        var searchFrom = readIndex
        while true {
            if let end = findCRLF(from: searchFrom) {
                let line = buffer[readIndex..<end]
                readIndex = end + 2
                return line
            }
            guard buffer.count - readIndex <= Self.maximumLineLength else {
                throw RedisError(message: "reply line longer than \(Self.maximumLineLength) bytes")
            }
            // Only the last byte can start a "\r\n" that the next chunk completes.
            searchFrom = max(readIndex, buffer.count - 1)
            let parsed = readIndex
            try await fill()  // Drops the `parsed` bytes in front, so indices move down.
            searchFrom -= parsed
        }
    }

    private func findCRLF(from start: Int) -> Int? {
        guard buffer.count >= 2 else { return nil }
        var index = start
        while index < buffer.count - 1 {
            if buffer[index] == 13 && buffer[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// Exactly `count` bytes: first what is buffered, then the rest with one
    /// `receive(exactly:)`, so a large value is read straight into its array.
    private func readExactly(_ count: Int) async throws -> [UInt8] {
        let buffered = buffer.count - readIndex
        if buffered >= count {
            let bytes = Array(buffer[readIndex..<(readIndex + count)])
            readIndex += count
            return bytes
        }
        var bytes = Array(buffer[readIndex...])
        buffer.removeAll(keepingCapacity: true)
        readIndex = 0
        do {
            bytes.append(contentsOf: try await connection.receive(exactly: count - bytes.count))
        } catch let error as ConnectionError where error.code == .unexpectedEndOfStream {
            throw RedisError(message: "the server closed the connection in the middle of a reply")
        }
        return bytes
    }

    /// Appends one `receive()` to the buffer, first dropping the bytes already parsed.
    private func fill() async throws {
        if readIndex > 0 {
            buffer.removeSubrange(..<readIndex)
            readIndex = 0
        }
        guard let chunk = try await connection.receive() else {
            throw RedisError(message: "the server closed the connection")
        }
        buffer.append(contentsOf: chunk)
    }
}
