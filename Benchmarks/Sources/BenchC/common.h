// Internal to BenchC.
#ifndef BENCHC_COMMON_H
#define BENCHC_COMMON_H

// Runs `body(arg)` on a new pthread and waits for it; returns what `body` returned.
int bench_run_on_thread(int (*body)(void *), void *arg);

// Starts the TLS echo listener's epoll thread on `listener` (tls_echo.c); 0 or -1.
int bench_tls_echo_start(int listener, const char *cert, const char *key);

#endif
