#if canImport(Glibc)
import Glibc
#endif

// Small socket helpers shared by the server, the peer wrapper and the blackhole listener.

/// Evaluated once, on first use: ignore SIGPIPE for the whole process. Every send in this module
/// already passes MSG_NOSIGNAL; this is a second line of defence for any other write to a socket
/// whose peer is gone (curl's, the tests'), which would otherwise kill the process.
private let sigpipeIgnored: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
}()

func ignoreSIGPIPE() {
    sigpipeIgnored
}

/// Closes `fd` and ignores the result: on Linux the fd is released even when close reports an
/// error, so retrying (on EINTR, say) could close an fd number another thread just reused.
func closeQuietly(_ fd: Int32) {
    _ = Glibc.close(fd)
}

/// 127.0.0.1:`port` as a `sockaddr_in`.
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
    address.sin_addr.s_addr = in_addr_t(INADDR_LOOPBACK).bigEndian
    return address
}

/// A TCP listener on 127.0.0.1 with a kernel-chosen port. The fd is close-on-exec (so processes
/// the tests spawn do not inherit it) and, if asked, non-blocking.
func makeLoopbackListener(backlog: Int32, nonBlocking: Bool) throws -> (fd: Int32, port: Int) {
    var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    let fd = socket(AF_INET, type, 0)
    guard fd >= 0 else { throw LoopbackServerError("socket", errno: errno) }
    do {
        // Lets a test suite that starts and stops many servers rebind without TIME_WAIT trouble.
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))

        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw LoopbackServerError("bind", errno: errno) }
        guard listen(fd, backlog) == 0 else { throw LoopbackServerError("listen", errno: errno) }

        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw LoopbackServerError("getsockname", errno: errno) }
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    } catch {
        closeQuietly(fd)
        throw error
    }
}

/// Disables Nagle: the tests exchange many tiny writes, and Nagle plus delayed ACKs would add
/// 40 ms stalls that have nothing to do with the code under test.
func setNoDelay(_ fd: Int32) {
    var on: Int32 = 1
    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
}
