// Clocks, CPU time, RSS and kernel counters.
#define _GNU_SOURCE
#include "BenchC.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double bench_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
           (double)usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

long bench_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, resident = 0;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

void bench_malloc_trim(void) {
    malloc_trim(0);
}

long bench_heap_bytes(void) {
    // Bytes handed out by malloc from its arenas and not freed (all arenas). Blocks malloc
    // mmaps on their own (128 KiB and up) are left out: their size is virtual, and untouched
    // pages of them are not resident (SwiftNIO's TLS client has such blocks).
    struct mallinfo2 info = mallinfo2();
    return (long)info.uordblks;
}

long bench_raise_nofile(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
    return (long)limit.rlim_cur;
}

double bench_process_cpu_seconds(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');  // the command name may hold spaces
    if (!p) return -1;
    unsigned long utime = 0, stime = 0;
    // After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

long bench_listen_overflows(void) {
    FILE *f = fopen("/proc/net/netstat", "r");
    if (!f) return -1;
    char names[8192], values[8192];
    long result = -1;
    while (fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        if (strncmp(names, "TcpExt:", 7) != 0) continue;
        char *ns = NULL, *vs = NULL;
        char *name = strtok_r(names, " \n", &ns);
        char *value = strtok_r(values, " \n", &vs);
        while (name && value) {
            if (strcmp(name, "ListenOverflows") == 0) result = atol(value);
            name = strtok_r(NULL, " \n", &ns);
            value = strtok_r(NULL, " \n", &vs);
        }
    }
    fclose(f);
    return result;
}

void bench_ignore_sigpipe(void) {
    signal(SIGPIPE, SIG_IGN);
}

int bench_make_certificate(char *dir, size_t capacity) {
    char template[] = "/tmp/asynccurl-bench-XXXXXX";
    if (!mkdtemp(template) || strlen(template) + 1 > capacity) return -1;
    strcpy(dir, template);
    char command[1024];
    snprintf(command, sizeof command,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
             " -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
             " -keyout %s/key.pem -out %s/cert.pem >%s/openssl.log 2>&1",
             dir, dir, dir);
    if (system(command) != 0) return -1;
    snprintf(command, sizeof command,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost"
             " -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
             " -keyout %s/ec-key.pem -out %s/ec-cert.pem >>%s/openssl.log 2>&1",
             dir, dir, dir);
    return system(command) == 0 ? 0 : -1;
}

void bench_remove_certificate(const char *dir) {
    char path[512];
    const char *names[] = {"key.pem", "cert.pem", "ec-key.pem", "ec-cert.pem", "openssl.log"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

void bench_log(const char *line) {
    fprintf(stderr, "%s\n", line);
}

void bench_trace_marker(void) {
    syscall(SYS_getppid);
}
