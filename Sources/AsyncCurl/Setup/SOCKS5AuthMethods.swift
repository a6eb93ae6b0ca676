import CCurl

/// The SOCKS5 authentication methods libcurl may offer a SOCKS5 proxy, for
/// ``ConnectionOptions/socks5AuthMethods`` (`CURLOPT_SOCKS5_AUTH`, libcurl's `CURLAUTH_*` bits).
///
/// libcurl always offers "no authentication" too; the proxy chooses among the offered methods.
/// The empty set offers only that, so no credentials ever reach the proxy.
public struct SOCKS5AuthMethods: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `CURLAUTH_*` bits.
    public let rawValue: UInt

    public init(rawValue: UInt) {
        self.rawValue = rawValue
    }

    /// User name and password (RFC 1929, `CURLAUTH_BASIC`), sent readable to the proxy; offered
    /// only when credentials are given (``ConnectionOptions/proxyUsername`` or the proxy URL).
    public static let usernamePassword = SOCKS5AuthMethods(rawValue: ac_curlauth_basic)
    /// GSS-API (Kerberos, RFC 1961, `CURLAUTH_GSSAPI`), with the ticket in the process's
    /// credentials cache; the service name is ``ConnectionOptions/proxyServiceName`` (default
    /// `rcmd`).
    public static let gssapi = SOCKS5AuthMethods(rawValue: ac_curlauth_gssapi)

    /// Both methods: libcurl's default.
    public static let all: SOCKS5AuthMethods = [.usernamePassword, .gssapi]

    /// `[usernamePassword, gssapi]`, `[]`.
    public var description: String {
        var parts: [String] = []
        if contains(.usernamePassword) { parts.append("usernamePassword") }
        if contains(.gssapi) { parts.append("gssapi") }
        let unknown = rawValue & ~Self.all.rawValue
        if unknown != 0 { parts.append("0x\(String(unknown, radix: 16))") }
        return "[\(parts.joined(separator: ", "))]"
    }
}

/// Whether the proxy may use the client's Kerberos credentials on its behalf, for
/// ``ConnectionOptions/gssapiDelegation`` (`CURLOPT_GSSAPI_DELEGATION`).
public enum GSSAPIDelegation: Sendable, Hashable, CaseIterable {
    /// Delegates nothing (`CURLGSSAPI_DELEGATION_NONE`), libcurl's default.
    case none
    /// Delegates only if the Kerberos policy says the proxy's service may be trusted with it
    /// (the `OK-AS-DELEGATE` flag in its ticket, `CURLGSSAPI_DELEGATION_POLICY_FLAG`).
    case policyFlag
    /// Always delegates (`CURLGSSAPI_DELEGATION_FLAG`, curl's `--delegation always`): the proxy
    /// receives a forwarded ticket-granting ticket, if the client's ticket is forwardable.
    case always

    /// The `CURLGSSAPI_DELEGATION_*` value.
    var curlValue: Int {
        switch self {
        case .none: return Int(CURLGSSAPI_DELEGATION_NONE)
        case .policyFlag: return Int(CURLGSSAPI_DELEGATION_POLICY_FLAG)
        case .always: return Int(CURLGSSAPI_DELEGATION_FLAG)
        }
    }
}
