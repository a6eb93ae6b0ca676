/// The sockets libcurl opened for one connection attempt, recorded by its
/// `CURLOPT_OPENSOCKETFUNCTION` (`CURLOPT_OPENSOCKETDATA` points here).
///
/// Why: `CURLINFO_ACTIVESOCKET` finds a connect-only connection by scanning every connection of
/// the multi handle (`Curl_getconnectinfo` in libcurl 7.88.1), newest last, so with thousands of
/// connections open each connect paid for a walk over all of them. When libcurl opened exactly
/// one socket for an attempt that ended in `CURLE_OK`, that socket is the connection's, and the
/// scan can be skipped. Any other count (happy eyeballs over several addresses, a retry on a new
/// connection) falls back to asking libcurl.
///
/// Only touched on the engine's queue: libcurl opens sockets inside the engine's
/// `curl_multi_socket_action` calls, and the engine reads the result when the connect is done.
final class OpenedSockets {
    private var count = 0
    private var last: Int32 = -1

    func opened(_ socket: Int32) {
        count += 1
        last = socket
    }

    /// The socket, if libcurl opened exactly one.
    var onlySocket: Int32? {
        count == 1 ? last : nil
    }
}
