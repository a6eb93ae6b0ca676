// libcurl from C, the documented way (curl's docs/examples/sendrecv.c): CURLOPT_CONNECT_ONLY,
// curl_easy_perform to connect, CURLINFO_ACTIVESOCKET, then curl_easy_send / curl_easy_recv and
// poll() on the socket whenever they return CURLE_AGAIN. Same options AsyncCurl sets.
#define _GNU_SOURCE
#include "BenchC.h"
#include "common.h"

#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct {
    CURL *easy;
    curl_socket_t socket;
} conn_t;

static void ensure_global_init(void) {
    static int done = 0;
    if (!done) {  // called from one bench thread at a time
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = 1;
    }
}

static int curl_connect(conn_t *c, int port, const char *ca_file) {
    ensure_global_init();
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", ca_file ? "https" : "http", port);
    c->easy = curl_easy_init();
    if (!c->easy) return -1;
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
    if (ca_file) curl_easy_setopt(c->easy, CURLOPT_CAINFO, ca_file);
    CURLcode rc = curl_easy_perform(c->easy);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curlc: connect: %s\n", curl_easy_strerror(rc));
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
        return -1;
    }
    curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &c->socket);
    return 0;
}

static void wait_for(conn_t *c, short events) {
    struct pollfd p = {c->socket, events, 0};
    poll(&p, 1, 10000);
}

static int send_all(conn_t *c, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        size_t sent = 0;
        CURLcode rc = curl_easy_send(c->easy, (const char *)buf + done, n - done, &sent);
        done += sent;
        if (rc == CURLE_AGAIN) wait_for(c, POLLOUT);
        else if (rc != CURLE_OK) return -1;
    }
    return 0;
}

// Between 1 and `capacity` bytes; 0 at end of stream; -1 on error.
static long recv_some(conn_t *c, void *buf, size_t capacity) {
    for (;;) {
        size_t got = 0;
        CURLcode rc = curl_easy_recv(c->easy, buf, capacity, &got);
        if (rc == CURLE_OK) return (long)got;
        if (rc != CURLE_AGAIN) return -1;
        wait_for(c, POLLIN);
    }
}

static int recv_exactly(conn_t *c, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        long r = recv_some(c, (char *)buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

// MARK: - Bulk

static int bulk_send(void *arg) {
    job_t *job = arg;
    conn_t c;
    if (curl_connect(&c, job->port, NULL) < 0) return -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_SINK, 0, job->total);
    char *buf = malloc(BENCH_CHUNK);
    memset(buf, 'a', BENCH_CHUNK);
    int rc = send_all(&c, header, sizeof header);
    for (uint64_t left = job->total; rc == 0 && left > 0;) {
        size_t n = left < BENCH_CHUNK ? (size_t)left : BENCH_CHUNK;
        rc = send_all(&c, buf, n);
        left -= n;
    }
    uint64_t ack = 0;
    if (rc == 0) rc = recv_exactly(&c, &ack, sizeof ack);
    if (rc == 0 && ack != job->total) rc = -2;
    free(buf);
    curl_easy_cleanup(c.easy);
    return rc;
}

static int bulk_recv(void *arg) {
    job_t *job = arg;
    conn_t c;
    if (curl_connect(&c, job->port, job->ca_file) < 0) return -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_SOURCE, 0, job->total);
    char *buf = malloc(BENCH_CHUNK);
    int rc = send_all(&c, header, sizeof header);
    for (uint64_t got = 0; rc == 0 && got < job->total;) {
        long r = recv_some(&c, buf, BENCH_CHUNK);
        if (r <= 0) rc = -1;
        else got += (uint64_t)r;
    }
    free(buf);
    curl_easy_cleanup(c.easy);
    return rc;
}

int curlc_bulk_send(int port, uint64_t total) {
    job_t job = {.port = port, .total = total};
    return bench_run_on_thread(bulk_send, &job);
}

int curlc_bulk_recv(int port, uint64_t total) {
    job_t job = {.port = port, .total = total};
    return bench_run_on_thread(bulk_recv, &job);
}

int curlc_tls_recv(int port, const char *ca_file, uint64_t total) {
    job_t job = {.port = port, .total = total, .ca_file = ca_file};
    return bench_run_on_thread(bulk_recv, &job);
}

// MARK: - Ping-pong

static int pingpong(void *arg) {
    job_t *job = arg;
    conn_t c;
    if (curl_connect(&c, job->port, NULL) < 0) return -1;
    uint8_t header[BENCH_HEADER_SIZE];
    bench_make_header(header, BENCH_MODE_ECHO, job->size, 0);
    char out[BENCH_CHUNK], in[BENCH_CHUNK];
    memset(out, 'p', job->size);
    int rc = send_all(&c, header, sizeof header);
    for (int i = 0; rc == 0 && i < job->warmup + job->count; i++) {
        uint64_t start = bench_now_ns();
        rc = send_all(&c, out, job->size);
        if (rc == 0) rc = recv_exactly(&c, in, job->size);
        if (i >= job->warmup) job->rtts[i - job->warmup] = bench_now_ns() - start;
    }
    curl_easy_cleanup(c.easy);
    return rc;
}

int curlc_pingpong(int port, int warmup, int count, uint32_t size, uint64_t *rtts_ns) {
    if (size > BENCH_CHUNK) return -1;
    job_t job = {.port = port, .warmup = warmup, .count = count, .size = size, .rtts = rtts_ns};
    return bench_run_on_thread(pingpong, &job);
}

// MARK: - Fan-out: one multi handle connects all concurrently (curl_multi_perform +
// curl_multi_poll until every CURLMSG_DONE), then send to all, receive from all, clean up all.
// Connecting with one blocking curl_easy_perform per handle would not be concurrent, and costs 3
// fds per connection (each easy handle's private multi handle keeps a wake-up socketpair), which
// does not fit 10,000 connections under this machine's hard limit of 20,000 fds.

static int fanout(void *arg) {
    job_t *job = arg;
    ensure_global_init();
    int n = job->connections;
    conn_t *conns = calloc((size_t)n, sizeof *conns);
    char out[BENCH_CHUNK], in[BENCH_CHUNK];
    memset(out, 'f', job->size);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", job->port);
    int failures = 0;
    uint64_t start = bench_now_ns();
    CURLM *multi = curl_multi_init();
    for (int i = 0; i < n; i++) {
        CURL *easy = curl_easy_init();
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, &conns[i]);
        conns[i].easy = easy;
        conns[i].socket = CURL_SOCKET_BAD;
        curl_multi_add_handle(multi, easy);
    }
    int running = n, done = 0;
    while (done < n) {
        curl_multi_perform(multi, &running);
        CURLMsg *message;
        int queued;
        while ((message = curl_multi_info_read(multi, &queued))) {
            if (message->msg != CURLMSG_DONE) continue;
            done++;
            conn_t *c = NULL;
            curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            if (message->data.result == CURLE_OK) {
                curl_easy_getinfo(c->easy, CURLINFO_ACTIVESOCKET, &c->socket);
            } else {
                failures++;
            }
        }
        if (done < n) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    job->result->connect_ns = bench_now_ns() - start;
    job->result->rss_open_bytes = bench_rss_bytes();
    job->result->heap_open_bytes = bench_heap_bytes();
    for (int i = 0; i < n; i++)
        if (conns[i].socket != CURL_SOCKET_BAD && send_all(&conns[i], out, job->size) < 0) failures++;
    for (int i = 0; i < n; i++)
        if (conns[i].socket != CURL_SOCKET_BAD && recv_exactly(&conns[i], in, job->size) < 0) failures++;
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, conns[i].easy);
        curl_easy_cleanup(conns[i].easy);
    }
    curl_multi_cleanup(multi);
    job->result->total_ns = bench_now_ns() - start;
    job->result->failures = failures;
    free(conns);
    return failures ? -1 : 0;
}

int curlc_fanout(int port, int connections, uint32_t size, bench_fanout_result *result) {
    if (size > BENCH_CHUNK) return -1;
    job_t job = {.port = port, .connections = connections, .size = size, .result = result};
    return bench_run_on_thread(fanout, &job);
}
