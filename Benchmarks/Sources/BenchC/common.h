// Internal to BenchC.
#ifndef BENCHC_COMMON_H
#define BENCHC_COMMON_H

// Runs `body(arg)` on a new pthread and waits for it; returns what `body` returned.
int bench_run_on_thread(int (*body)(void *), void *arg);

#endif
