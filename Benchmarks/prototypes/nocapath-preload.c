// An LD_PRELOAD experiment for BENCHMARKS.md, "TLS with many connections": after every
// CURLOPT_CAINFO, also set CURLOPT_CAPATH to NULL (clearing Debian's compiled-in /etc/ssl/certs),
// so that libcurl's per-multi-handle CA store cache (7.87+, openssl.c:Curl_ssl_setup_x509_store)
// applies to AsyncCurl's connections without changing the library. Not part of the package.
//
//   cc -O2 -shared -fPIC nocapath-preload.c -o /tmp/nocapath.so -ldl
//   cd Benchmarks && LD_PRELOAD=/tmp/nocapath.so ./.build/release/bench --scenarios tls-fanout
#define _GNU_SOURCE
#define CURL_DISABLE_TYPECHECK  // curl.h's type-checking macro would rename the definition below
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>

typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);

// Every curl_easy_setopt argument is one machine word (long, pointer or curl_off_t on x86_64).
CURLcode curl_easy_setopt(CURL *handle, CURLoption option, ...) {
    static setopt_fn real;
    if (!real) real = (setopt_fn)dlsym(RTLD_NEXT, "curl_easy_setopt");
    va_list arguments;
    va_start(arguments, option);
    void *argument = va_arg(arguments, void *);
    va_end(arguments);
    CURLcode result = real(handle, option, argument);
    if (option == CURLOPT_CAINFO) {
        static int told;
        if (!told++) fprintf(stderr, "nocapath: CURLOPT_CAPATH cleared after CURLOPT_CAINFO\n");
        real(handle, CURLOPT_CAPATH, (char *)NULL);
    }
    return result;
}
