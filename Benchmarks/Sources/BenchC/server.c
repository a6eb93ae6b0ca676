// The loopback server every client talks to. It runs in a child process (the bench binary
// re-executed with --server) so that the client process's CPU time and RSS are the client's
// alone. Blocking C with a thread per connection for bulk, ping-pong and TLS (nothing between
// the socket and a tight read/write loop), and one epoll thread for the 10,000-connection
// fan-out (10,000 server threads would compete with the clients for the 2 cores).
#define _GNU_SOURCE
#include "BenchC.h"
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    uint32_t mode;
    uint32_t message;
    uint64_t total;
} header_t;

void bench_make_header(uint8_t out[16], uint32_t mode, uint32_t message, uint64_t total) {
    header_t h = {mode, message, total};
    memcpy(out, &h, sizeof h);
}

static int listen_loopback(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 65535) < 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port = ntohs(addr.sin_port);
    return fd;
}

static void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static ssize_t read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got ? (ssize_t)got : r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {  // only on the non-blocking fan-out sockets
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 1000);
            continue;
        }
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

static pthread_t start_thread(void *(*fn)(void *), void *arg, size_t stack) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    pthread_t thread;
    if (pthread_create(&thread, &attr, fn, arg) != 0) {
        perror("bench server: pthread_create");
        exit(70);
    }
    pthread_attr_destroy(&attr);
    return thread;
}

// MARK: - Plain TCP: thread per connection

static void *plain_connection(void *arg) {
    int fd = (int)(intptr_t)arg;
    set_nodelay(fd);
    char *buf = malloc(BENCH_CHUNK);
    memset(buf, 'x', BENCH_CHUNK);
    header_t h;
    if (read_full(fd, &h, sizeof h) != sizeof h) goto out;
    switch (h.mode) {
    case BENCH_MODE_SINK: {
        uint64_t got = 0;
        while (got < h.total) {
            size_t want = h.total - got < BENCH_CHUNK ? (size_t)(h.total - got) : BENCH_CHUNK;
            ssize_t r = recv(fd, buf, want, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) goto out;
            got += (uint64_t)r;
        }
        if (write_full(fd, &got, sizeof got) < 0) goto out;
        break;
    }
    case BENCH_MODE_SOURCE: {
        uint64_t left = h.total;
        while (left > 0) {
            size_t n = left < BENCH_CHUNK ? (size_t)left : BENCH_CHUNK;
            if (write_full(fd, buf, n) < 0) goto out;
            left -= n;
        }
        break;
    }
    case BENCH_MODE_ECHO:
        if (h.message == 0 || h.message > BENCH_CHUNK) goto out;
        for (;;) {
            if (read_full(fd, buf, h.message) != (ssize_t)h.message) goto out;
            if (write_full(fd, buf, h.message) < 0) goto out;
        }
    default:
        goto out;
    }
    // Wait for the client to close first, so the TIME_WAIT state stays on the client side.
    while (recv(fd, buf, BENCH_CHUNK, 0) > 0) {}
out:
    close(fd);
    free(buf);
    return NULL;
}

static void *plain_acceptor(void *arg) {
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
            perror("bench server: accept");
            exit(71);
        }
        start_thread(plain_connection, (void *)(intptr_t)fd, 256 * 1024);
    }
    return NULL;
}

// MARK: - Fan-out: one epoll thread echoing whatever arrives

static void *fanout_loop(void *arg) {
    int listener = (int)(intptr_t)arg;
    fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    static struct epoll_event events[1024];
    static char buf[BENCH_CHUNK];
    for (;;) {
        int n = epoll_wait(ep, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    int c = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    set_nodelay(c);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r > 0) {
                if (write_full(fd, buf, (size_t)r) < 0) close(fd);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(fd);  // leaves the epoll set by itself
            }
        }
    }
    return NULL;
}

// MARK: - TLS: OpenSSL, thread per connection

static SSL_CTX *tls_context;

static int ssl_read_full(SSL *ssl, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        int r = SSL_read(ssl, (char *)buf + got, (int)(n - got));
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static void *tls_connection(void *arg) {
    int fd = (int)(intptr_t)arg;
    set_nodelay(fd);
    char *buf = malloc(BENCH_CHUNK);
    memset(buf, 'x', BENCH_CHUNK);
    SSL *ssl = SSL_new(tls_context);
    SSL_set_fd(ssl, fd);
    header_t h;
    if (SSL_accept(ssl) <= 0 || ssl_read_full(ssl, &h, sizeof h) < 0) goto out;
    if (h.mode == BENCH_MODE_SOURCE) {
        uint64_t left = h.total;
        while (left > 0) {
            int n = left < BENCH_CHUNK ? (int)left : BENCH_CHUNK;
            if (SSL_write(ssl, buf, n) != n) goto out;
            left -= (uint64_t)n;
        }
        while (SSL_read(ssl, buf, BENCH_CHUNK) > 0) {}
        // Answer the client's close_notify: OpenSSL drops a session whose connection was freed
        // without one from the server's cache, and libcurl (SSL_OP_NO_TICKET) resumes TLS 1.2
        // sessions from that cache only.
        SSL_shutdown(ssl);
    }
out:
    SSL_free(ssl);
    close(fd);
    free(buf);
    return NULL;
}

static void *tls_acceptor(void *arg) {
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        start_thread(tls_connection, (void *)(intptr_t)fd, 256 * 1024);
    }
    return NULL;
}

// MARK: - Process

int bench_server_main(const char *cert, const char *key) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();
    tls_context = SSL_CTX_new(TLS_server_method());
    if (!tls_context || SSL_CTX_use_certificate_chain_file(tls_context, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_context, key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "bench server: cannot load %s / %s\n", cert, key);
        ERR_print_errors_fp(stderr);
        return 72;
    }
    int plain_port, fanout_port, tls_port, tls_echo_port;
    int plain = listen_loopback(&plain_port);
    int fanout = listen_loopback(&fanout_port);
    int tls = listen_loopback(&tls_port);
    int tls_echo = listen_loopback(&tls_echo_port);
    if (plain < 0 || fanout < 0 || tls < 0 || tls_echo < 0) {
        perror("bench server: listen");
        return 73;
    }
    // The ECDSA certificate next to the RSA one (bench_make_certificate makes both).
    char ec_cert[512], ec_key[512];
    const char *slash = strrchr(cert, '/');
    int directory = slash ? (int)(slash - cert) : 1;
    snprintf(ec_cert, sizeof ec_cert, "%.*s/ec-cert.pem", directory, slash ? cert : ".");
    snprintf(ec_key, sizeof ec_key, "%.*s/ec-key.pem", directory, slash ? cert : ".");
    if (bench_tls_echo_start(tls_echo, ec_cert, ec_key) < 0) return 74;
    start_thread(plain_acceptor, (void *)(intptr_t)plain, 0);
    start_thread(fanout_loop, (void *)(intptr_t)fanout, 0);
    start_thread(tls_acceptor, (void *)(intptr_t)tls, 0);
    printf("PORTS %d %d %d %d\n", plain_port, fanout_port, tls_port, tls_echo_port);
    fflush(stdout);
    for (;;) pause();
}

int bench_server_spawn(const char *executable, const char *cert, const char *key, bench_server *out) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    char *argv[] = {"bench", "--server", (char *)cert, (char *)key, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, executable ? executable : "/proc/self/exe", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    char line[128] = {0};
    size_t used = 0;
    while (used < sizeof line - 1) {
        ssize_t r = read(fds[0], line + used, sizeof line - 1 - used);
        if (r <= 0) break;
        used += (size_t)r;
        if (memchr(line, '\n', used)) break;
    }
    close(fds[0]);
    out->pid = pid;
    if (sscanf(line, "PORTS %d %d %d %d", &out->plain_port, &out->fanout_port, &out->tls_port, &out->tls_echo_port) != 4) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return 0;
}

void bench_server_stop(const bench_server *server) {
    kill(server->pid, SIGTERM);
    waitpid(server->pid, NULL, 0);
}
