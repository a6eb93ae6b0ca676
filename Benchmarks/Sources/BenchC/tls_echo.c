// The TLS echo listener of the TLS scale scenarios (tls-fanout, tls-roundrobin): one epoll
// thread with non-blocking OpenSSL that echoes whatever it decrypts, so that thousands of idle
// TLS connections cost the server a few KiB each instead of a thread each (the thread-per-
// connection TLS server in server.c is for the streaming scenarios). Its certificate is an
// ECDSA P-256 one (ec-cert.pem), so that 2,000 handshakes in a burst are not bound by the
// server's RSA-2048 signatures: the scenarios measure the clients.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int fd;
    SSL *ssl;
    int established;
} tls_peer;

static char echo_buffer[65536];

// Waits up to a second for what OpenSSL asked for after a `WANT_READ`/`WANT_WRITE`; 0 to retry.
static int wait_for(tls_peer *peer, int error) {
    struct pollfd p = {peer->fd, error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};
    return poll(&p, 1, 1000) == 1 ? 0 : -1;
}

static int echo_write(tls_peer *peer, const char *buffer, int count) {
    int done = 0;
    while (done < count) {
        int written = SSL_write(peer->ssl, buffer + done, count - done);
        if (written > 0) {
            done += written;
            continue;
        }
        int error = SSL_get_error(peer->ssl, written);
        if ((error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ) || wait_for(peer, error) < 0) return -1;
    }
    return 0;
}

// Handshakes, then reads and echoes until OpenSSL needs more bytes; -1 when the peer is done.
static int peer_readable(tls_peer *peer) {
    while (!peer->established) {
        int result = SSL_accept(peer->ssl);
        if (result == 1) {
            peer->established = 1;
            break;
        }
        int error = SSL_get_error(peer->ssl, result);
        if (error == SSL_ERROR_WANT_READ) return 0;
        if (error != SSL_ERROR_WANT_WRITE || wait_for(peer, error) < 0) return -1;
    }
    for (;;) {
        int count = SSL_read(peer->ssl, echo_buffer, sizeof echo_buffer);
        if (count > 0) {
            if (echo_write(peer, echo_buffer, count) < 0) return -1;
            continue;
        }
        int error = SSL_get_error(peer->ssl, count);
        if (error == SSL_ERROR_WANT_READ) return 0;
        if (error != SSL_ERROR_WANT_WRITE || wait_for(peer, error) < 0) return -1;  // close_notify, EOF, error
    }
}

static void peer_close(tls_peer *peer) {
    SSL_free(peer->ssl);
    close(peer->fd);  // leaves the epoll set by itself
    free(peer);
}

typedef struct {
    int listener;
    SSL_CTX *context;
} echo_loop_arguments;

static void *tls_echo_loop(void *argument) {
    echo_loop_arguments arguments = *(echo_loop_arguments *)argument;
    free(argument);
    int listener = arguments.listener;
    fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    static struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(ep, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            tls_peer *peer = events[i].data.ptr;
            if (peer == NULL) {
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    tls_peer *accepted = calloc(1, sizeof *accepted);
                    SSL *ssl = accepted ? SSL_new(arguments.context) : NULL;
                    if (!ssl) {
                        free(accepted);
                        close(fd);
                        continue;
                    }
                    accepted->fd = fd;
                    accepted->ssl = ssl;
                    SSL_set_fd(ssl, fd);
                    SSL_set_accept_state(ssl);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = accepted};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (peer_readable(peer) < 0) {
                ERR_clear_error();
                peer_close(peer);
            }
        }
    }
    return NULL;
}

int bench_tls_echo_start(int listener, const char *cert, const char *key) {
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (!context || SSL_CTX_use_certificate_chain_file(context, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "bench server: cannot load %s / %s\n", cert, key);
        ERR_print_errors_fp(stderr);
        return -1;
    }
    // Idle connections give their 16 KiB+ record buffers back.
    SSL_CTX_set_mode(context, SSL_MODE_RELEASE_BUFFERS);
    echo_loop_arguments *arguments = malloc(sizeof *arguments);
    if (!arguments) return -1;
    arguments->listener = listener;
    arguments->context = context;
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int created = pthread_create(&thread, &attributes, tls_echo_loop, arguments);
    pthread_attr_destroy(&attributes);
    return created == 0 ? 0 : -1;
}
