import CCurl
import HTTPTypes

extension EasyHandle {
    /// Turns a connect into an HTTP hand-over: libcurl sends `request`'s method and header
    /// fields with `body` to the URL already set, reads the response into `exchange`, then
    /// leaves the connection to the application (`CURLOPT_CONNECT_ONLY = 2`). The request's
    /// scheme, authority and path are not used: the URL decides.
    func configureHandOver(_ request: HTTPRequest, body: [UInt8]?, exchange: HTTPExchange,
                           lists: inout CurlLists) throws(CurlError) {
        try set(CURLOPT_CONNECT_ONLY, 2)
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        // The proxy's CONNECT reply is not part of the response.
        try set(CURLOPT_SUPPRESS_CONNECT_HEADERS, true)
        let exchangePointer = Unmanaged.passUnretained(exchange).toOpaque()
        try check(ac_easy_setopt_writefunction(raw, CURLOPT_HEADERFUNCTION, curlHeaderCallback), CURLOPT_HEADERFUNCTION)
        try set(CURLOPT_HEADERDATA, pointer: exchangePointer)
        try check(ac_easy_setopt_writefunction(raw, CURLOPT_WRITEFUNCTION, curlBodyCallback), CURLOPT_WRITEFUNCTION)
        try set(CURLOPT_WRITEDATA, pointer: exchangePointer)
        if let body {
            try set(CURLOPT_POSTFIELDSIZE, body.count)
            let copied = body.withUnsafeBytes { bytes in
                ac_easy_setopt_pointer(raw, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            }
            try check(copied, CURLOPT_COPYPOSTFIELDS)
        }
        // Methods are case-sensitive (RFC 9110): "get" is not GET, and goes out as written.
        switch request.method {
        case .get where body == nil:
            break
        case .head:
            try set(CURLOPT_NOBODY, true)
        default:
            try set(CURLOPT_CUSTOMREQUEST, request.method.rawValue)
        }
        if !request.headerFields.isEmpty {
            let list = try lists.make(request.headerFields.curlHeaderLines, for: "headerFields")
            try set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(list))
        }
    }
}

/// `CURLOPT_HEADERFUNCTION`: one header line per call, with its line ending.
private let curlHeaderCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    var line = Array(UnsafeRawBufferPointer(start: data, count: length))
    while let last = line.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { line.removeLast() }
    Unmanaged<HTTPExchange>.fromOpaque(userdata).takeUnretainedValue().headerLines.append(line)
    return length
}

/// `CURLOPT_WRITEFUNCTION`: body bytes.
private let curlBodyCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    Unmanaged<HTTPExchange>.fromOpaque(userdata).takeUnretainedValue().body
        .append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}
