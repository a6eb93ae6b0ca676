@testable import AsyncCurlWebSocket
import LoopbackServer

/// An in-test WebSocket server that does exactly what a test scripts, for what no real server
/// does on purpose: wrong handshakes, masked or reserved frames, lying lengths, deflate bombs,
/// a silent peer. It answers the upgrade (with `response`, or a correct 101), writes `script`'s
/// bytes, then reads the client's frames and records them until the client closes.
final class ScriptedWebSocketServer: Sendable {
    /// A frame the client sent (unmasked here).
    struct ClientFrame: Sendable, Equatable {
        var opcode: UInt8
        var fin: Bool
        var payload: [UInt8]

        /// The code of a close frame, if it carries one.
        var closeCode: UInt16? {
            opcode == 8 && payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
        }
    }

    let server: LoopbackServer
    private let frames = Locked<[ClientFrame]>([])
    private let requests = Locked<[String]>([])

    /// - Parameters:
    ///   - response: The answer's head without its final empty line, given the correct
    ///     `Sec-WebSocket-Accept` value; `nil` for a plain correct 101.
    ///   - script: The bytes to write after the answer (in the same write as the head when
    ///     `sameWrite` is set).
    ///   - closeAfterScript: Close the connection right after the script instead of reading.
    ///   - silentAfterClose: After the client's close frame, neither answer it nor close: hold
    ///     the connection until the client closes it.
    init(response: (@Sendable (_ accept: String) -> String)? = nil, script: [UInt8] = [], sameWrite: Bool = false,
         closeAfterScript: Bool = false, silentAfterClose: Bool = false) throws {
        let frames = self.frames
        let requests = self.requests
        server = try LoopbackServer(mode: .handler { peer in
            var head: [UInt8] = []
            while !head.ends(with: [13, 10, 13, 10]) {
                guard let byte = try? peer.read(maxLength: 1), !byte.isEmpty else { return }
                head += byte
            }
            let request = String(decoding: head, as: UTF8.self)
            requests.withLock { $0.append(request) }
            let key = request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("sec-websocket-key:") }
                .map { String($0.dropFirst("sec-websocket-key:".count)).trimmingWhitespace() } ?? ""
            let accept = OpeningHandshake.acceptValue(for: key)
            let answer = response?(accept)
                ?? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)"
            let answerBytes = Array((answer + "\r\n\r\n").utf8)
            if sameWrite {
                guard (try? peer.write(answerBytes + script)) != nil else { return }
            } else {
                guard (try? peer.write(answerBytes)) != nil else { return }
                if !script.isEmpty { guard (try? peer.write(script)) != nil else { return } }
            }
            if closeAfterScript { return }
            while let frame = Self.readFrame(peer) {
                frames.withLock { $0.append(frame) }
                if frame.opcode == 8 {
                    if silentAfterClose { _ = try? peer.readToEnd() }
                    return
                }
            }
        })
    }

    deinit {
        server.stop()
    }

    var url: String { "ws://127.0.0.1:\(server.port)/" }

    /// The frames the client sent so far.
    var clientFrames: [ClientFrame] { frames.current }
    /// The request heads the server read.
    var requestHeads: [String] { requests.current }

    /// Reads one masked client frame; `nil` at end of stream or on a frame that is not masked.
    private static func readFrame(_ peer: PeerSocket) -> ClientFrame? {
        guard let header = try? peer.read(exactly: 2) else { return nil }
        var length = UInt64(header[1] & 0x7F)
        guard header[1] & 0x80 != 0 else { return nil }
        if length == 126 {
            guard let bytes = try? peer.read(exactly: 2) else { return nil }
            length = UInt64(bytes[0]) << 8 | UInt64(bytes[1])
        } else if length == 127 {
            guard let bytes = try? peer.read(exactly: 8) else { return nil }
            length = bytes.reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard length < 1 << 26, let key = try? peer.read(exactly: 4),
              let payload = length == 0 ? [] : try? peer.read(exactly: Int(length)) else { return nil }
        return ClientFrame(opcode: header[0] & 0x0F, fin: header[0] & 0x80 != 0,
                           payload: payload.enumerated().map { $0.element ^ key[$0.offset % 4] })
    }

    /// An unmasked server frame.
    static func frame(opcode: UInt8, fin: Bool = true, rsv1: Bool = false, payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode]
        if payload.count < 126 {
            bytes.append(UInt8(payload.count))
        } else if payload.count < 65536 {
            bytes += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            bytes.append(127)
            bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(payload.count) >> (UInt64($0) * 8)) }
        }
        return bytes + payload
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
