import CCurl
#if canImport(Glibc)
import Glibc
#endif

// libcurl's callbacks for a transfer. libcurl calls them only inside the engine's own libcurl
// calls (`curl_multi_socket_action`, `curl_easy_pause`), on the engine's queue, holding the
// engine's curl lock; their userdata is the transfer's record, which the engine keeps alive
// for as long as the easy handle is in the multi handle. They never call libcurl back.

private func record(_ userdata: UnsafeMutableRawPointer?) -> TransferRecord? {
    userdata.map { Unmanaged<TransferRecord>.fromOpaque($0).takeUnretainedValue() }
}

/// `CURLOPT_HEADERFUNCTION`: status lines, fields and trailers, one line per call.
let transferHeaderCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let record = record(userdata) else { return 0 }
    guard record.isHTTP, let data else { return length }
    switch record.parser.feed(UnsafeRawBufferPointer(start: data, count: length)) {
    case .none:
        break
    case .head(let head):
        if record.isSurelyFinal(head) { record.deliverHead(head) }
    case .trailers(let fields):
        record.trailerFields.append(contentsOf: fields)
    }
    return length
}

/// `CURLOPT_WRITEFUNCTION`: body bytes, into the response stream; pauses when it is full.
let transferWriteCallback: curl_write_callback = { data, size, count, userdata in
    let length = size * count
    guard let record = record(userdata), !record.discardsBody else { return 0 }
    if !record.headDelivered { record.deliverHead(record.fallbackHead()) }
    guard length > 0, let data else { return length }
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: length))
    switch record.stream.write(bytes) {
    case .taken:
        return length
    case .pause:
        record.receivePaused = true
        return Int(CURL_WRITEFUNC_PAUSE)
    case .refuse:
        // Not `length`: libcurl ends the transfer with CURLE_WRITE_ERROR.
        return 0
    }
}

/// `CURLOPT_READFUNCTION`: request body bytes.
let transferReadCallback: curl_read_callback = { buffer, size, count, userdata in
    guard let record = record(userdata), let buffer else { return Int(CURL_READFUNC_ABORT) }
    let capacity = size * count
    switch record.upload {
    case .none:
        return 0
    case .bytes(let bytes, let offset):
        let n = min(capacity, bytes.count - offset)
        if n > 0 {
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(start: buffer, count: n).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + n)]))
            }
            record.upload = .bytes(bytes, offset: offset + n)
        }
        return n
    case .file(let descriptor):
        while true {
            let n = Glibc.read(descriptor, buffer, capacity)
            if n >= 0 { return n }
            if errno != EINTR { return Int(CURL_READFUNC_ABORT) }
        }
    case .stream(let stream, _):
        switch stream.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: capacity)) {
        case .bytes(let n): return n
        case .end: return 0
        case .pause:
            record.sendPaused = true
            return Int(CURL_READFUNC_PAUSE)
        case .abort: return Int(CURL_READFUNC_ABORT)
        }
    }
}

/// `CURLOPT_SEEKFUNCTION`: libcurl rewinds the body to send it again (a redirect, an
/// authentication round).
let transferSeekCallback: curl_seek_callback = { userdata, offset, origin in
    guard let record = record(userdata), origin == SEEK_SET else { return CURL_SEEKFUNC_CANTSEEK }
    switch record.upload {
    case .none:
        return offset == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_CANTSEEK
    case .bytes(let bytes, _):
        guard offset >= 0, offset <= bytes.count else { return CURL_SEEKFUNC_FAIL }
        record.upload = .bytes(bytes, offset: Int(offset))
        return CURL_SEEKFUNC_OK
    case .file(let descriptor):
        return lseek(descriptor, off_t(offset), SEEK_SET) < 0 ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK
    case .stream(let stream, _):
        return offset == 0 && stream.canRewind ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_CANTSEEK
    }
}

/// `CURLOPT_XFERINFOFUNCTION`: only set when the application gave a progress handler;
/// called only when a figure changed.
let transferProgressCallback: curl_xferinfo_callback = { userdata, downloadTotal, downloaded, uploadTotal, uploaded in
    guard let userdata else { return 0 }
    let box = Unmanaged<ProgressBox>.fromOpaque(userdata).takeUnretainedValue()
    let progress = TransferProgress(bytesDownloaded: Int64(downloaded), downloadTotal: downloadTotal > 0 ? Int64(downloadTotal) : nil,
                                    bytesUploaded: Int64(uploaded), uploadTotal: uploadTotal > 0 ? Int64(uploadTotal) : nil)
    if progress != box.last {
        box.last = progress
        box.handler(progress)
    }
    return 0
}
