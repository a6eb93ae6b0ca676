// The upper bound: plain blocking POSIX sockets on a thread of their own (and, for TLS, blocking
// OpenSSL on such a socket). Nothing between the application and the kernel.
#define _GNU_SOURCE
#include "BenchC.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

// MARK: - Bulk

typedef struct {
    int port;
    uint64_t total;
    int warmup, count;
    uint32_t size;
    uint64_t *rtts;
    int connections;
    bench_fanout_result *result;
    const char *ca_file;
} job_t;

static int bulk_send(void *arg) {
    job_t *job = arg;
    int fd = tcp_connect(job->port);
    if (fd < 0) return -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_SINK, 0, job->total);
    char *buf = malloc(BENCH_CHUNK);
    memset(buf, 'a', BENCH_CHUNK);
    int rc = write_full(fd, header, sizeof header);
    for (uint64_t left = job->total; rc == 0 && left > 0;) {
        size_t n = left < BENCH_CHUNK ? (size_t)left : BENCH_CHUNK;
        rc = write_full(fd, buf, n);
        left -= n;
    }
    uint64_t ack = 0;
    if (rc == 0) rc = read_full(fd, &ack, sizeof ack);
    if (rc == 0 && ack != job->total) rc = -2;
    free(buf);
    close(fd);
    return rc;
}

static int bulk_recv(void *arg) {
    job_t *job = arg;
    int fd = tcp_connect(job->port);
    if (fd < 0) return -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_SOURCE, 0, job->total);
    char *buf = malloc(BENCH_CHUNK);
    int rc = write_full(fd, header, sizeof header);
    for (uint64_t got = 0; rc == 0 && got < job->total;) {
        ssize_t r = recv(fd, buf, BENCH_CHUNK, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) rc = -1;
        else got += (uint64_t)r;
    }
    free(buf);
    close(fd);
    return rc;
}

int posix_bulk_send(int port, uint64_t total) {
    job_t job = {.port = port, .total = total};
    return bench_run_on_thread(bulk_send, &job);
}

int posix_bulk_recv(int port, uint64_t total) {
    job_t job = {.port = port, .total = total};
    return bench_run_on_thread(bulk_recv, &job);
}

// MARK: - Ping-pong

static int pingpong(void *arg) {
    job_t *job = arg;
    int fd = tcp_connect(job->port);
    if (fd < 0) return -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_ECHO, job->size, 0);
    char out[BENCH_CHUNK], in[BENCH_CHUNK];
    memset(out, 'p', job->size);
    int rc = write_full(fd, header, sizeof header);
    for (int i = 0; rc == 0 && i < job->warmup + job->count; i++) {
        uint64_t start = bench_now_ns();
        rc = write_full(fd, out, job->size);
        if (rc == 0) rc = read_full(fd, in, job->size);
        if (i >= job->warmup) job->rtts[i - job->warmup] = bench_now_ns() - start;
    }
    close(fd);
    return rc;
}

int posix_pingpong(int port, int warmup, int count, uint32_t size, uint64_t *rtts_ns) {
    if (size > BENCH_CHUNK) return -1;
    job_t job = {.port = port, .warmup = warmup, .count = count, .size = size, .rtts = rtts_ns};
    return bench_run_on_thread(pingpong, &job);
}

// MARK: - Fan-out: connect all, then write to all, then read from all, then close all

static int fanout(void *arg) {
    job_t *job = arg;
    int n = job->connections;
    int *fds = calloc((size_t)n, sizeof *fds);
    char out[BENCH_CHUNK], in[BENCH_CHUNK];
    memset(out, 'f', job->size);
    uint64_t start = bench_now_ns();
    int failures = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = tcp_connect(job->port);
        if (fds[i] < 0) failures++;
    }
    job->result->connect_ns = bench_now_ns() - start;
    job->result->rss_open_bytes = bench_rss_bytes();
    job->result->heap_open_bytes = bench_heap_bytes();
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && write_full(fds[i], out, job->size) < 0) failures++;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && read_full(fds[i], in, job->size) < 0) failures++;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    job->result->total_ns = bench_now_ns() - start;
    job->result->failures = failures;
    free(fds);
    return failures ? -1 : 0;
}

int posix_fanout(int port, int connections, uint32_t size, bench_fanout_result *result) {
    if (size > BENCH_CHUNK) return -1;
    job_t job = {.port = port, .connections = connections, .size = size, .result = result};
    return bench_run_on_thread(fanout, &job);
}

// MARK: - TLS: blocking OpenSSL

static int tls_recv(void *arg) {
    job_t *job = arg;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return -1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, job->ca_file, NULL) != 1) {
        SSL_CTX_free(ctx);
        return -1;
    }
    int fd = tcp_connect(job->port);
    if (fd < 0) {
        SSL_CTX_free(ctx);
        return -1;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "127.0.0.1");
    char *buf = malloc(BENCH_CHUNK);
    int rc = SSL_connect(ssl) == 1 ? 0 : -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_SOURCE, 0, job->total);
    if (rc == 0 && SSL_write(ssl, header, sizeof header) != sizeof header) rc = -1;
    for (uint64_t got = 0; rc == 0 && got < job->total;) {
        int r = SSL_read(ssl, buf, BENCH_CHUNK);
        if (r <= 0) rc = -1;
        else got += (uint64_t)r;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    free(buf);
    return rc;
}

int openssl_tls_recv(int port, const char *ca_file, uint64_t total) {
    job_t job = {.port = port, .total = total, .ca_file = ca_file};
    return bench_run_on_thread(tls_recv, &job);
}
