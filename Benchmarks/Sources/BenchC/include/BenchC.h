// The C half of the benchmarks: the loopback server, the blocking POSIX / OpenSSL clients, the
// C libcurl clients (CONNECT_ONLY + curl_easy_send/recv + poll on CURLE_AGAIN), and measuring
// helpers. Every client function runs its work on a pthread of its own and joins it.
#ifndef BENCHC_H
#define BENCHC_H

#include <stdint.h>
#include <stddef.h>

// MARK: - Wire protocol (plain and TLS ports)
// The client first sends a 16-byte header: mode, message size, total bytes.
enum {
    BENCH_MODE_SINK = 'S',    // server reads `total` bytes, then writes the 8-byte count back
    BENCH_MODE_SOURCE = 'R',  // server writes `total` bytes in 64 KiB writes
    BENCH_MODE_ECHO = 'E',    // server reads `message` bytes and writes them back, until EOF
};
enum { BENCH_HEADER_SIZE = 16, BENCH_CHUNK = 65536 };
void bench_make_header(uint8_t out[16], uint32_t mode, uint32_t message, uint64_t total);

// MARK: - Measuring
uint64_t bench_now_ns(void);                 // CLOCK_MONOTONIC
double bench_cpu_seconds(void);              // getrusage(RUSAGE_SELF): user + system
long bench_rss_bytes(void);                  // /proc/self/statm resident pages × page size
void bench_malloc_trim(void);                // give freed heap pages back before an RSS baseline
long bench_heap_bytes(void);                 // malloc'd from the arenas and not freed (mallinfo2 uordblks)
long bench_raise_nofile(void);               // soft RLIMIT_NOFILE := hard; returns the new limit
double bench_process_cpu_seconds(int pid);   // /proc/PID/stat utime + stime
long bench_listen_overflows(void);           // TcpExt ListenOverflows from /proc/net/netstat
void bench_ignore_sigpipe(void);
void bench_log(const char *line);
void bench_trace_marker(void);     // one getppid() syscall: brackets each run for syscall tracing  // the line and a newline to stderr, unbuffered
// Makes a temporary directory with a throwaway self-signed certificate for 127.0.0.1 and
// localhost (cert.pem, key.pem: RSA-2048; ec-cert.pem, ec-key.pem: ECDSA P-256) made by the openssl CLI. 0 or -1; `dir` gets the directory.
int bench_make_certificate(char *dir, size_t capacity);
void bench_remove_certificate(const char *dir);

// MARK: - Server (a child process: the bench binary re-executed with --server)
typedef struct {
    int pid;
    int plain_port;   // thread per connection, blocking I/O, the 16-byte header protocol
    int fanout_port;  // one epoll thread, echoes whatever it reads
    int tls_port;     // OpenSSL, thread per connection, the header protocol
    int tls_echo_port;  // OpenSSL on one epoll thread, echoes whatever it reads (ECDSA certificate)
} bench_server;
// `executable`: this program (argv[0], so that it also works under valgrind); NULL: /proc/self/exe.
int bench_server_spawn(const char *executable, const char *cert, const char *key, bench_server *out);  // 0 or -1
void bench_server_stop(const bench_server *server);
int bench_server_main(const char *cert, const char *key);  // never returns on success

// MARK: - Fan-out results
typedef struct {
    uint64_t connect_ns;   // from the first connect to the last connection established
    uint64_t total_ns;     // connect + every exchange + every close
    long rss_open_bytes;   // resident size while all connections are open and idle
    long heap_open_bytes;  // heap in use (bench_heap_bytes) at the same moment
    int failures;
} bench_fanout_result;

// MARK: - Plain blocking POSIX client (upper bound)
int posix_bulk_send(int port, uint64_t total);
int posix_bulk_recv(int port, uint64_t total);
int posix_pingpong(int port, int warmup, int count, uint32_t size, uint64_t *rtts_ns);
int posix_fanout(int port, int connections, uint32_t size, bench_fanout_result *result);
int openssl_tls_recv(int port, const char *ca_file, uint64_t total);

// MARK: - libcurl from C, the documented way
int curlc_bulk_send(int port, uint64_t total);
int curlc_bulk_recv(int port, uint64_t total);
int curlc_pingpong(int port, int warmup, int count, uint32_t size, uint64_t *rtts_ns);
int curlc_fanout(int port, int connections, uint32_t size, bench_fanout_result *result);
int curlc_tls_recv(int port, const char *ca_file, uint64_t total);

#endif
