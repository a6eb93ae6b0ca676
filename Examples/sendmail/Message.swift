#if canImport(Glibc)
import Glibc
#endif

/// A message as SMTP carries it after `DATA` (RFC 5321 section 4.5.2): CRLF line endings,
/// every line that starts with "." given another ".", and the closing `.` line.
struct SMTPData: Sendable {
    /// The bytes to send, the closing `.\r\n` included.
    let bytes: [UInt8]
    /// Whether a byte is above 127 (for `BODY=8BITMIME`).
    let isEightBit: Bool

    /// RFC 5321 section 4.5.3.1.6: 998 bytes and CRLF.
    static let maximumLineLength = 998

    /// A line of the message is longer than SMTP allows.
    struct LineTooLong: Error, CustomStringConvertible {
        let lineNumber: Int
        let length: Int
        var description: String {
            "line \(lineNumber) of the message is \(length) bytes long; SMTP allows \(SMTPData.maximumLineLength) (RFC 5321 4.5.3.1.6): wrap it"
        }
    }

    /// Encodes `message`, whose lines may end in LF or CRLF (the last may have no ending).
    /// A CR that does not end a line stays as it is.
    static func encode(_ message: [UInt8]) throws(LineTooLong) -> SMTPData {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(message.count + message.count / 32 + 8)
        var lines = message.split(separator: 0x0a, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // the ending of the last line
        for (index, var line) in lines.enumerated() {
            if line.last == 0x0d { line = line.dropLast() }
            guard line.count <= maximumLineLength else { throw LineTooLong(lineNumber: index + 1, length: line.count) }
            if line.first == UInt8(ascii: ".") { bytes.append(UInt8(ascii: ".")) }
            bytes.append(contentsOf: line)
            bytes.append(contentsOf: [0x0d, 0x0a])
        }
        bytes.append(contentsOf: Array(".\r\n".utf8))
        return SMTPData(bytes: bytes, isEightBit: message.contains { $0 >= 0x80 })
    }
}

/// The header that sendmail puts in front of the body (RFC 5322): From, To, Subject, Date,
/// Message-ID, and MIME headers for UTF-8 plain text.
struct MessageHeader {
    let from: String
    let recipients: [String]
    let subject: String?

    /// The header and the blank line after it, lines ending in CRLF.
    func rendered(date: String = MessageHeader.currentDate(), messageID: String? = nil) -> String {
        let domain = from.split(separator: "@").last.map(String.init) ?? "localhost"
        var lines = [
            "From: \(from)",
            "To: \(recipients.joined(separator: ",\r\n    "))",
        ]
        if let subject { lines.append("Subject: \(Self.encodedWord(subject))") }
        lines += [
            "Date: \(date)",
            "Message-ID: \(messageID ?? Self.newMessageID(domain: domain))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// `text` as it is when it is printable ASCII, else as an RFC 2047 encoded word in base64
    /// (`=?utf-8?B?…?=`), split so that no word is longer than 75 characters.
    static func encodedWord(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return text }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            // 45 bytes are 60 base64 characters; with "=?utf-8?B?" and "?=", 72.
            if chunk.count + bytes.count > 45 {
                words.append("=?utf-8?B?\(base64(chunk))?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?\(base64(chunk))?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Now, as RFC 5322 writes dates: `Tue, 03 Jun 2025 14:05:09 +0200`.
    static func currentDate() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let offset = parts.tm_gmtoff / 60
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let zone = (offset < 0 ? "-" : "+") + two(abs(offset) / 60) + two(abs(offset) % 60)
        return "\(days[Int(parts.tm_wday)]), \(two(Int(parts.tm_mday))) \(months[Int(parts.tm_mon)]) \(Int(parts.tm_year) + 1900) "
            + "\(two(Int(parts.tm_hour))):\(two(Int(parts.tm_min))):\(two(Int(parts.tm_sec))) \(zone)"
    }

    /// `<random.time@domain>`: unique without asking anyone.
    static func newMessageID(domain: String) -> String {
        let random = String(UInt64.random(in: 0 ... .max), radix: 36)
        return "<\(random).\(String(time(nil), radix: 36))@\(domain)>"
    }
}

/// Standard base64 (RFC 4648), with padding.
func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var output: [UInt8] = []
    output.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index < bytes.count {
        let count = min(3, bytes.count - index)
        let value = (UInt32(bytes[index]) << 16)
            | (count > 1 ? UInt32(bytes[index + 1]) << 8 : 0)
            | (count > 2 ? UInt32(bytes[index + 2]) : 0)
        for position in 0..<4 {
            let sextet = Int((value >> UInt32(18 - 6 * position)) & 0x3f)
            output.append(position <= count ? alphabet[sextet] : UInt8(ascii: "="))
        }
        index += 3
    }
    return String(decoding: output, as: UTF8.self)
}
