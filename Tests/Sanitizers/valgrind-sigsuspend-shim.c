/*
 * LD_PRELOAD shim for running Swift programs under valgrind 3.19 (Debian 12). Not part of any
 * target; `make leaks` compiles it.
 *
 * Why: an `async` main (and the test runner) ends the main thread in libdispatch's
 * dispatch_main(), which parks it in sigsuspend() with a `static const sigset_t` that lives in
 * read-only memory. valgrind's rt_sigsuspend wrapper removes its own kill signal from the
 * caller's mask *in place* (VG_(sigdelset) on the client's sigset), which faults on read-only
 * memory, and valgrind dies with "the 'impossible' happened: Killed by fatal signal" before
 * the program does anything. This sigsuspend() passes the kernel a writable copy of the mask
 * instead; behaviour is otherwise identical.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)(_NSIG / 8));
}
