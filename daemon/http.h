/* SPDX-License-Identifier: MIT */
/*
 * http.h: the daemon's small HTTP/1.1 server, for /metrics and the health
 * endpoints. It exists because libevent 2.1's evhttp has no connection
 * limit: idle connections took a daemon's every descriptor. This one
 * serves GET and HEAD only, one request per connection (then it closes),
 * at most HTTP_CONNS_MAX connections at once (more are closed at accept),
 * each with HTTP_TIMEOUT_S for the whole request and 8 KiB of it.
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_CONNS_MAX 32
#define HTTP_TIMEOUT_S 5
#define HTTP_REQUEST_MAX 8192

/* Writes the answer for path into body; returns the HTTP status and sets
 * *ctype. Never called for a method other than GET or HEAD. */
typedef int (*rs_http_handler_fn)(void *arg, const char *path,
				  struct evbuffer *body, const char **ctype);

struct rs_http;

/* Listens on host (a literal address) and port. NULL with err. */
struct rs_http *rs_http_new(struct event_base *base, const char *host,
			    uint16_t port, rs_http_handler_fn fn, void *arg,
			    char *err, size_t errlen);
void rs_http_free(struct rs_http *h);

/* Connections open now, and turned away for want of room since start. */
unsigned int rs_http_connections(const struct rs_http *h);
unsigned long long rs_http_turned_away(const struct rs_http *h);

#endif
