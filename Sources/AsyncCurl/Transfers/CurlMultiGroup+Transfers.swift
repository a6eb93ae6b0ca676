import HTTPTypes

extension CurlMultiGroup {
    /// Runs a transfer on the engine that serves the request's server: transfers to one
    /// scheme, host and port always go to the same engine, so they reuse its kept-alive
    /// connections and share its HTTP/2 connections, while different servers spread over the
    /// engines. See ``CurlMulti/execute(_:body:options:)``.
    public func execute(_ request: HTTPRequest, body: RequestBody? = nil,
                        options: TransferOptions = TransferOptions()) async throws -> TransferResponse {
        try await engine(forServer: "\(request.scheme ?? "")://\(request.authority ?? "")")
            .execute(request, body: body, options: options)
    }

    /// Runs a transfer to `url` on the engine that serves its server; see
    /// ``execute(_:body:options:)`` and ``CurlMulti/execute(_:method:headerFields:body:options:)``.
    public func execute(_ url: String, method: HTTPRequest.Method = .get, headerFields: HTTPFields = [:],
                        body: RequestBody? = nil, options: TransferOptions = TransferOptions()) async throws -> TransferResponse {
        try await engine(forServer: Self.server(of: url))
            .execute(url, method: method, headerFields: headerFields, body: body, options: options)
    }

    /// The engine for a `scheme://authority` key (a stable choice within the process).
    func engine(forServer server: String) -> CurlMulti {
        var hasher = Hasher()
        hasher.combine(server.lowercased())
        let index = Int(UInt(bitPattern: hasher.finalize()) % UInt(engines.count))
        return engines[index]
    }

    /// `scheme://authority` of a URL string, or the whole string if it has no such prefix.
    static func server(of url: String) -> String {
        let bytes = Array(url.utf8)
        guard let colon = TransferURL.schemeEnd(in: bytes) else { return url }
        let start = colon + 3
        let end = bytes[start...].firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
