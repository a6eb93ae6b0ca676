import CCurl

/// `curl_global_init` must run once, before any other libcurl call, and is not thread-safe in
/// every libcurl build. A Swift global is initialised exactly once, thread-safely, on first use.
private let curlGlobalInitResult: CURLcode = curl_global_init(Int(CURL_GLOBAL_ALL))

/// Runs `curl_global_init` if it has not run yet and reports its result.
func ensureCurlGlobalInit() -> CURLcode {
    curlGlobalInitResult
}
