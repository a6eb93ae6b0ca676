import CCurl

/// Cookies kept across transfers (``TransferOptions/cookies``): libcurl's cookie engine in a
/// share handle of the jar's own, so every transfer that uses the jar, on any engine, sends the
/// cookies earlier responses set (RFC 6265 matching by libcurl: domain, path, `Secure`,
/// expiry).
///
/// ```swift
/// let jar = CookieJar()
/// var options = TransferOptions()
/// options.cookies = jar
/// _ = try await multi.execute(login, options: options)     // Set-Cookie: session=…
/// let page = try await multi.execute(account, options: options)  // Cookie: session=…
/// ```
///
/// The jar lives in memory only. `@unchecked Sendable`: its one stored value, the share handle,
/// is used by libcurl only under the jar's own locks (`CURLSHOPT_LOCKFUNC`), from whichever
/// thread runs a transfer, and freed in `deinit`, when no transfer holds the jar any more
/// (each transfer keeps it alive).
public final class CookieJar: @unchecked Sendable {
    let share: UnsafeMutableRawPointer?
    private let locks: ShareLocks

    /// An empty jar. If libcurl cannot create its share handle, transfers that use the jar
    /// fail with ``CurlError/Code/failedInit``.
    public init() {
        locks = ShareLocks()
        guard let share = curl_share_init() else {
            self.share = nil
            return
        }
        let ok = ac_share_setopt_long(share, CURLSHOPT_SHARE, Int(CURL_LOCK_DATA_COOKIE.rawValue)) == CURLSHE_OK
            && ac_share_setopt_lockfunction(share, shareLockCallback) == CURLSHE_OK
            && ac_share_setopt_unlockfunction(share, shareUnlockCallback) == CURLSHE_OK
            && ac_share_setopt_pointer(share, CURLSHOPT_USERDATA, Unmanaged.passUnretained(locks).toOpaque()) == CURLSHE_OK
        if ok {
            self.share = share
        } else {
            _ = curl_share_cleanup(share)
            self.share = nil
        }
    }

    deinit {
        if let share { _ = curl_share_cleanup(share) }
    }

    /// The cookies in the jar, one per line in the Netscape cookie-file format libcurl uses
    /// (domain, subdomains, path, secure, expiry, name, value, separated by tabs).
    public func cookieLines() -> [String] {
        withHandle { easy in
            var list: UnsafeMutableRawPointer?
            guard ac_easy_getinfo_pointer(easy, CURLINFO_COOKIELIST, &list) == CURLE_OK,
                  let first = list?.assumingMemoryBound(to: curl_slist.self) else { return [] }
            var lines: [String] = []
            var item: UnsafeMutablePointer<curl_slist>? = first
            while let current = item {
                if let data = current.pointee.data { lines.append(String(cString: data)) }
                item = current.pointee.next
            }
            curl_slist_free_all(first)
            return lines
        } ?? []
    }

    /// Adds a cookie: a `Set-Cookie:` header line (with the `Set-Cookie:` prefix, as libcurl
    /// wants it, and a `domain` attribute) or a Netscape cookie-file line.
    public func add(_ line: String) {
        _ = withHandle { easy in ac_easy_setopt_string(easy, CURLOPT_COOKIELIST, line) }
    }

    /// Empties the jar.
    public func removeAll() {
        add("ALL")
    }

    /// A throwaway easy handle attached to the jar's share, for the calls above.
    private func withHandle<Result>(_ body: (UnsafeMutableRawPointer) -> Result) -> Result? {
        guard let share, let easy = curl_easy_init() else { return nil }
        defer { curl_easy_cleanup(easy) }
        // The cookie engine must be on for COOKIELIST to read or write the share's cookies.
        _ = ac_easy_setopt_string(easy, CURLOPT_COOKIEFILE, "")
        guard ac_easy_setopt_pointer(easy, CURLOPT_SHARE, share) == CURLE_OK else { return nil }
        return body(easy)
    }
}

/// One mutex per kind of shared data, for the share's lock callbacks.
///
/// `@unchecked Sendable`: immutable after `init`; the mutexes exist to be used from any thread.
final class ShareLocks: @unchecked Sendable {
    let mutexes: [PthreadMutex] = (0..<Int(CURL_LOCK_DATA_LAST.rawValue)).map { _ in PthreadMutex() }

    func mutex(_ data: curl_lock_data) -> PthreadMutex? {
        let index = Int(data.rawValue)
        return mutexes.indices.contains(index) ? mutexes[index] : nil
    }
}

private let shareLockCallback: curl_lock_function = { _, data, _, userdata in
    guard let userdata else { return }
    Unmanaged<ShareLocks>.fromOpaque(userdata).takeUnretainedValue().mutex(data)?.lock()
}

private let shareUnlockCallback: curl_unlock_function = { _, data, userdata in
    guard let userdata else { return }
    Unmanaged<ShareLocks>.fromOpaque(userdata).takeUnretainedValue().mutex(data)?.unlock()
}
