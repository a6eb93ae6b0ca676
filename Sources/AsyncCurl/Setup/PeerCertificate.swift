import CCurl

/// One certificate of the peer's chain, as libcurl's `CURLINFO_CERTINFO` describes it, for
/// ``ConnectionInfo/peerCertificates`` (set ``ConnectionOptions/collectsPeerCertificates``).
///
/// ```swift
/// options.collectsPeerCertificates = true
/// let connection = try await multi.connect(to: "tls://db.internal:5433", options: options)
/// let leaf = connection.info.peerCertificates.first
/// print(leaf?.subject ?? "", "valid until", leaf?.notAfter ?? "")
/// ```
public struct PeerCertificate: Sendable, Hashable, CustomStringConvertible {
    /// The subject's distinguished name, as OpenSSL prints it: `"CN = localhost"`, or
    /// `"C = US, O = Example, CN = www.example.com"`.
    public var subject: String
    /// The issuer's distinguished name, in the same form.
    public var issuer: String
    /// The serial number, in hexadecimal with colons, as OpenSSL prints it (`"1a:2b:…"`).
    public var serialNumber: String
    /// The start of the validity period, as OpenSSL prints it: `"Nov 30 22:00:00 2026 GMT"`.
    public var notBefore: String
    /// The end of the validity period, in the same form.
    public var notAfter: String
    /// The start of the validity period in seconds since 1970-01-01 UTC, when ``notBefore``
    /// could be read as a date.
    public var notBeforeSecondsSince1970: Int?
    /// The end of the validity period in seconds since 1970-01-01 UTC.
    public var notAfterSecondsSince1970: Int?
    /// The certificate itself, PEM-encoded (`-----BEGIN CERTIFICATE-----` …).
    public var pem: String
    /// Every field libcurl reported, by name (`"Subject"`, `"Signature Algorithm"`,
    /// `"Public Key Algorithm"`, `"X509v3 Subject Alternative Name"`, …), in order.
    public var fields: [(name: String, value: String)] {
        fieldList.map { ($0.name, $0.value) }
    }

    private var fieldList: [Field]

    private struct Field: Sendable, Hashable {
        let name: String
        let value: String
    }

    /// Creates a certificate from libcurl's `name:value` lines.
    init(curlLines lines: [String]) {
        let fields = lines.compactMap { line -> Field? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return Field(name: String(line[..<colon]), value: String(line[line.index(after: colon)...]))
        }
        fieldList = fields
        func value(_ name: String) -> String {
            fields.first { $0.name == name }?.value ?? ""
        }
        subject = value("Subject")
        issuer = value("Issuer")
        serialNumber = value("Serial Number")
        notBefore = value("Start date")
        notAfter = value("Expire date")
        pem = value("Cert")
        notBeforeSecondsSince1970 = Self.secondsSince1970(opensslDate: notBefore)
        notAfterSecondsSince1970 = Self.secondsSince1970(opensslDate: notAfter)
    }

    /// `"Nov 30 22:00:00 2026 GMT"` (ASN1_TIME_print's form) as seconds since 1970, or `nil`.
    static func secondsSince1970(opensslDate text: String) -> Int? {
        let parts = text.split(separator: " ")
        guard parts.count == 5, parts[4] == "GMT",
              let month = months.firstIndex(of: String(parts[0])),
              let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let time = parts[2].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3, (1...31).contains(day), (0..<24).contains(time[0]),
              (0..<60).contains(time[1]), (0...60).contains(time[2]) else { return nil }
        return daysSince1970(year: year, month: month + 1, day: day) * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (Howard
    /// Hinnant's `days_from_civil`).
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public static func == (lhs: PeerCertificate, rhs: PeerCertificate) -> Bool {
        lhs.fieldList == rhs.fieldList
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fieldList)
    }

    /// `"CN = localhost (issued by CN = AsyncCurl Test CA, until Dec  8 22:00:00 2026 GMT)"`.
    public var description: String {
        "\(subject) (issued by \(issuer), until \(notAfter))"
    }
}

extension EasyHandle {
    /// The chain libcurl recorded with `CURLOPT_CERTINFO` (`CURLINFO_CERTINFO`).
    func peerCertificates() -> [PeerCertificate] {
        var pointer: UnsafeMutableRawPointer?
        guard ac_easy_getinfo_pointer(raw, CURLINFO_CERTINFO, &pointer) == CURLE_OK, let pointer else { return [] }
        let info = pointer.assumingMemoryBound(to: curl_certinfo.self).pointee
        guard info.num_of_certs > 0, let lists = info.certinfo else { return [] }
        return (0..<Int(info.num_of_certs)).map { index in
            var lines: [String] = []
            var node = lists[index]
            while let current = node {
                if let data = current.pointee.data { lines.append(String(cString: data)) }
                node = current.pointee.next
            }
            return PeerCertificate(curlLines: lines)
        }
    }
}
