import CCurl

/// HTTP authentication methods, for ``ConnectionOptions/proxyAuthMethods``
/// (libcurl's `CURLAUTH_*` bits).
///
/// One method is used at once. With several, libcurl first asks without credentials and then
/// answers with the strongest method the server offers among them (Negotiate, Digest, NTLM,
/// Basic, in that order).
///
/// ```swift
/// options.proxyAuthMethods = .digest
/// options.proxyAuthMethods = [.ntlm, .negotiate]
/// options.proxyAuthMethods = try AuthMethods(parsing: "digest,ntlm")   // from a configuration file
/// ```
public struct AuthMethods: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `CURLAUTH_*` bits.
    public let rawValue: UInt

    public init(rawValue: UInt) {
        self.rawValue = rawValue
    }

    /// Basic (RFC 7617): the user name and password, base64-encoded, readable by anyone who
    /// sees the request. Safe only inside TLS, such as to an `https://` proxy.
    public static let basic = AuthMethods(rawValue: ac_curlauth_basic)
    /// Digest (RFC 7616): a challenge-response hash; the password is not sent.
    public static let digest = AuthMethods(rawValue: ac_curlauth_digest)
    /// NTLM, Microsoft's challenge-response scheme (Windows and many corporate proxies).
    public static let ntlm = AuthMethods(rawValue: ac_curlauth_ntlm)
    /// Negotiate (SPNEGO, RFC 4559): Kerberos through GSS-API, with the ticket in the process's
    /// credentials cache (`kinit`, `KRB5CCNAME`).
    public static let negotiate = AuthMethods(rawValue: ac_curlauth_negotiate)

    /// Every method: libcurl picks the strongest one the server offers (curl's `--anyauth`).
    public static let any: AuthMethods = [.basic, .digest, .ntlm, .negotiate]
    /// Every method but ``basic``: the password is never sent readable.
    public static let anySafe: AuthMethods = [.digest, .ntlm, .negotiate]

    /// Methods from a comma-separated list of names, as a configuration file would give them:
    /// `basic`, `digest`, `ntlm`, `negotiate`, `any` and `anysafe` (any case, spaces ignored).
    ///
    /// - Throws: ``CurlError`` with ``CurlError/Code/badFunctionArgument`` for an unknown name
    ///   or an empty list, naming what is accepted.
    public init(parsing text: String) throws(CurlError) {
        var methods: AuthMethods = []
        let names = text.split(separator: ",").map { $0.trimmingSpaces.lowercased() }
        for name in names {
            guard let named = Self.byName[name] else {
                throw CurlError(code: .badFunctionArgument, message: "proxyAuthMethods: unknown authentication method '\(name)' in '\(text)'; use basic, digest, ntlm, negotiate, any or anysafe")
            }
            methods.formUnion(named)
        }
        guard !methods.isEmpty else {
            throw CurlError(code: .badFunctionArgument, message: "proxyAuthMethods: '\(text)' names no authentication method; use basic, digest, ntlm, negotiate, any or anysafe")
        }
        self = methods
    }

    private static let byName: [String: AuthMethods] = [
        "basic": .basic, "digest": .digest, "ntlm": .ntlm, "negotiate": .negotiate,
        "any": .any, "anysafe": .anySafe,
    ]

    /// The strongest-first order in which libcurl 7.88.1 picks one of several offered methods
    /// (`pickoneauth` in lib/http.c).
    static let preference: [AuthMethods] = [.negotiate, .digest, .ntlm, .basic]

    /// The method libcurl picks from `offered` when these are allowed, or `nil`.
    func pick(from offered: AuthMethods) -> AuthMethods? {
        Self.preference.first { contains($0) && offered.contains($0) }
    }

    /// `[basic, digest]`, or `any` and `anySafe` for those sets.
    public var description: String {
        if self == .any { return "any" }
        if self == .anySafe { return "anySafe" }
        let names: [(AuthMethods, String)] = [(.basic, "basic"), (.digest, "digest"), (.ntlm, "ntlm"), (.negotiate, "negotiate")]
        var parts = names.filter { contains($0.0) }.map(\.1)
        let unknown = rawValue & ~AuthMethods.any.rawValue
        if unknown != 0 { parts.append("0x\(String(unknown, radix: 16))") }
        return "[\(parts.joined(separator: ", "))]"
    }
}
