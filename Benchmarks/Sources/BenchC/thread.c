#include "common.h"

#include <pthread.h>

typedef struct {
    int (*body)(void *);
    void *arg;
    int result;
} trampoline_t;

static void *trampoline(void *raw) {
    trampoline_t *t = raw;
    t->result = t->body(t->arg);
    return NULL;
}

int bench_run_on_thread(int (*body)(void *), void *arg) {
    trampoline_t t = {body, arg, -1};
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    int created = pthread_create(&thread, &attr, trampoline, &t);
    pthread_attr_destroy(&attr);
    if (created != 0) return -1;
    pthread_join(thread, NULL);
    return t.result;
}
