// The only C in AsyncCurl. libcurl's curl_easy_setopt, curl_easy_getinfo and
// curl_multi_setopt are variadic, which Swift cannot call, so each argument kind
// gets a typed, non-variadic wrapper here. No logic belongs in this file.
#ifndef ASYNCCURL_CCURL_SHIM_H
#define ASYNCCURL_CCURL_SHIM_H

#include <curl/curl.h>

// MARK: - curl_easy_setopt

static inline CURLcode ac_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ac_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ac_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ac_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ac_easy_setopt_debugfunction(CURL *handle, curl_debug_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_DEBUGFUNCTION, callback);
}

static inline CURLcode ac_easy_setopt_writefunction(CURL *handle, CURLoption option, curl_write_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

static inline CURLcode ac_easy_setopt_opensocketfunction(CURL *handle, curl_opensocket_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, callback);
}

// MARK: - curl_easy_getinfo

static inline CURLcode ac_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode ac_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode ac_easy_getinfo_socket(CURL *handle, CURLINFO info, curl_socket_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode ac_easy_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode ac_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

// MARK: - curl_multi_setopt

static inline CURLMcode ac_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

static inline CURLMcode ac_multi_setopt_pointer(CURLM *multi, CURLMoption option, void *value) {
    return curl_multi_setopt(multi, option, value);
}

static inline CURLMcode ac_multi_setopt_socketfunction(CURLM *multi, curl_socket_callback callback) {
    return curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, callback);
}

static inline CURLMcode ac_multi_setopt_timerfunction(CURLM *multi, curl_multi_timer_callback callback) {
    return curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, callback);
}

// curl_multi_socket_all runs every handle (curl_multi_perform) and then tells the socket
// callback about every handle's sockets. libcurl marks it deprecated; the engine needs it for one
// 7.88.1 gap (see CurlMulti+EventLoop.swift), so the deprecation is silenced for this wrapper only.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
static inline CURLMcode ac_multi_socket_all(CURLM *multi, int *running) {
    return curl_multi_socket_all(multi, running);
}
#pragma clang diagnostic pop

// MARK: - curl_share_setopt

static inline CURLSHcode ac_share_setopt_long(CURLSH *share, CURLSHoption option, long value) {
    return curl_share_setopt(share, option, value);
}

static inline CURLSHcode ac_share_setopt_pointer(CURLSH *share, CURLSHoption option, void *value) {
    return curl_share_setopt(share, option, value);
}

static inline CURLSHcode ac_share_setopt_lockfunction(CURLSH *share, curl_lock_function callback) {
    return curl_share_setopt(share, CURLSHOPT_LOCKFUNC, callback);
}

static inline CURLSHcode ac_share_setopt_unlockfunction(CURLSH *share, curl_unlock_function callback) {
    return curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, callback);
}

// MARK: - More callback kinds for curl_easy_setopt

static inline CURLcode ac_easy_setopt_readfunction(CURL *handle, curl_read_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

static inline CURLcode ac_easy_setopt_seekfunction(CURL *handle, curl_seek_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, callback);
}

static inline CURLcode ac_easy_setopt_xferinfofunction(CURL *handle, curl_xferinfo_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

// MARK: - Macros Swift cannot import (they cast and shift)

static const unsigned long ac_curlauth_basic = CURLAUTH_BASIC;
static const unsigned long ac_curlauth_digest = CURLAUTH_DIGEST;
static const unsigned long ac_curlauth_ntlm = CURLAUTH_NTLM;
static const unsigned long ac_curlauth_negotiate = CURLAUTH_NEGOTIATE;
static const unsigned long ac_curlauth_gssapi = CURLAUTH_GSSAPI;

#endif
