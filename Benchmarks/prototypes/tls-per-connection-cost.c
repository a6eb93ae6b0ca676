// What a new TLS connection costs libcurl 7.88.1 + OpenSSL 3.0 on this machine, outside the bench
// (see BENCHMARKS.md, "TLS with many connections"). Not part of the Benchmarks package.
//
//   cc -O2 tls-per-connection-cost.c -o /tmp/tlscost -lcurl -lssl -lcrypto
//   /tmp/tlscost CA.pem                    # the OpenSSL objects alone
//   /tmp/tlscost CA.pem PORT               # also libcurl connects to a TLS server on 127.0.0.1:PORT
//
// For the second form, run the bench's server: `bench --server cert.pem key.pem` prints
// "PORTS plain fan-out tls tls-echo"; give the certificate as CA.pem and any TLS port.
#include <curl/curl.h>
#include <malloc.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long rss(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    enum { N = 1000 };
    static SSL_CTX *contexts[N];
    // What openssl.c:ossl_connect_step1 does for every connection: a new SSL_CTX, and (when the
    // CA store cache does not apply) a new X509_STORE with the CA file parsed into it.
    SSL_CTX_free(SSL_CTX_new(TLS_client_method()));
    malloc_trim(0);
    long r0 = rss();
    double t0 = now();
    for (int i = 0; i < N; i++) contexts[i] = SSL_CTX_new(TLS_client_method());
    double t1 = now();
    long r1 = rss();
    for (int i = 0; i < N; i++) X509_STORE_load_file(SSL_CTX_get_cert_store(contexts[i]), argv[1]);
    double t2 = now();
    long r2 = rss();
    printf("SSL_CTX_new: %.0f us, %.1f KiB each; X509_STORE_load_file(%s): %.0f us, %.1f KiB each\n",
           (t1 - t0) / N * 1e6, (r1 - r0) / 1024.0 / N, argv[1], (t2 - t1) / N * 1e6, (r2 - r1) / 1024.0 / N);
    if (argc < 3) return 0;

    // Sequential fresh connects on one easy handle (one multi handle: its CA store cache).
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%s/", argv[2]);
    const char *names[] = {"CAINFO=CA.pem, CAPATH default", "CAINFO=CA.pem, CAPATH=NULL",
                           "CAINFO and CAPATH defaults (fails verification)",
                           "CAINFO default, CAPATH=NULL (fails verification)"};
    for (int mode = 0; mode < 4; mode++) {
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        if (mode < 2) curl_easy_setopt(h, CURLOPT_CAINFO, argv[1]);
        if (mode == 1 || mode == 3) curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        int n = mode >= 2 ? 20 : 300;
        double t = now();
        for (int i = 0; i < n; i++) curl_easy_perform(h);  // modes 2 and 3 fail at verification
        printf("%s: %.0f us per TLS connect\n", names[mode], (now() - t) / n * 1e6);
        curl_easy_cleanup(h);
    }
    return 0;
}
