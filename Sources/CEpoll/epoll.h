// Swift's Glibc module does not export <sys/epoll.h> and <sys/eventfd.h>; this module does.
// Nothing else belongs here.
#ifndef ASYNCCURL_CEPOLL_H
#define ASYNCCURL_CEPOLL_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
