/* SPDX-License-Identifier: MIT */
/*
 * http.c: see http.h. A connection is read until the blank line that ends
 * its request head (or HTTP_REQUEST_MAX, or the deadline), answered once,
 * and closed when the answer is written. Nothing a peer sends is believed
 * beyond the request line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define ACCEPT_PAUSE_MS 100

struct rs_http {
	struct event_base *base;
	rs_http_handler_fn fn;
	void *arg;
	int fd;			 /* the listening socket, owned */
	struct event *listen_ev; /* owned */
	struct event *resume_ev; /* owned: accepting again after EMFILE */
	unsigned int conns;
	unsigned long long turned_away;
	struct http_conn *all; /* open connections, owned */
};

struct http_conn {
	struct rs_http *h;
	struct bufferevent *bev; /* owned; closes the socket */
	struct event *deadline;	 /* owned: the whole connection's time */
	int answered;
	struct http_conn *next;
	struct http_conn **prevp;
};

static void http_conn_free(struct http_conn *c)
{
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	if (c->deadline != NULL)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	c->h->conns--;
	free(c);
}

static const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/* Queues the whole answer; the connection goes once it is written. */
static void http_answer(struct http_conn *c, int status, const char *ctype,
			struct evbuffer *body, int head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			    status, http_reason(status), ctype,
			    body != NULL ? evbuffer_get_length(body) : 0);
	if (body != NULL && !head_only)
		evbuffer_add_buffer(out, body);
	c->answered = 1;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* 0, or -1 when out of memory: c is freed then. */
static int http_plain(struct http_conn *c, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		http_conn_free(c);
		return -1;
	}
	evbuffer_add_printf(b, "%s\n", text);
	http_answer(c, status, "text/plain; charset=utf-8", b, 0);
	evbuffer_free(b);
	return 0;
}

/* The request line: METHOD SP PATH SP HTTP/1.x, copied out first. */
static void http_request(struct http_conn *c, const char *line)
{
	char method[8], path[256], version[16];
	struct evbuffer *body;
	const char *ctype = "text/plain; charset=utf-8";
	int status, head;

	if (sscanf(line, "%7s %255s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		(void)http_plain(c, 400, "bad request line");
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		(void)http_plain(c, 501, "only GET and HEAD are served");
		return;
	}
	body = evbuffer_new();
	if (body == NULL) {
		http_conn_free(c);
		return;
	}
	status = c->h->fn(c->h->arg, path, body, &ctype);
	http_answer(c, status, ctype, body, head);
	evbuffer_free(body);
}

static void http_on_read(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char line[300];
	size_t n;

	if (c->answered)
		return;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) > HTTP_REQUEST_MAX)
			(void)http_plain(c, 431, "request head too large");
		return;
	}
	n = evbuffer_get_length(in) < sizeof(line) - 1 ? evbuffer_get_length(in)
						       : sizeof(line) - 1;
	evbuffer_copyout(in, line, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	http_request(c, line);
}

static void http_on_written(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->answered &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		http_conn_free(c);
}

static void http_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)bev;
	(void)what;
	http_conn_free(c); /* EOF, error, or a read or write that stalled */
}

/* HTTP_TIMEOUT_S after accept, whatever the peer did meanwhile (a timeout
 * per read would let one byte every few seconds hold a connection for
 * hours): a request not yet in gets 408, an answer not yet out is cut. */
static void http_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	struct timeval tv = { .tv_sec = 1 };

	(void)fd;
	(void)what;
	if (c->answered) {
		http_conn_free(c);
		return;
	}
	if (http_plain(c, 408, "request not received in time") == 0)
		evtimer_add(c->deadline, &tv); /* a second to write it */
}

static void http_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct rs_http *h = arg;

	(void)fd;
	(void)what;
	event_add(h->listen_ev, NULL);
}

static void http_on_accept(evutil_socket_t fd, short what, void *arg)
{
	static struct rs_log_rl rl_full, rl_fds;
	struct timeval tv = { .tv_sec = HTTP_TIMEOUT_S };
	struct rs_http *h = arg;

	(void)what;
	for (int i = 0; i < 32; i++) {
		struct http_conn *c;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				struct timeval p = {
					.tv_usec = ACCEPT_PAUSE_MS * 1000
				};

				log_rl(&rl_fds, RS_LOG_WARN,
				       "metrics: accept: out of descriptors; "
				       "pausing %d ms",
				       ACCEPT_PAUSE_MS);
				event_del(h->listen_ev);
				evtimer_add(h->resume_ev, &p);
			}
			return;
		}
		if (h->conns >= HTTP_CONNS_MAX) {
			h->turned_away++;
			log_rl(&rl_full, RS_LOG_NOTICE,
			       "metrics: %d connections open: closing another",
			       HTTP_CONNS_MAX);
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(cfd);
			continue;
		}
		c->h = h;
		c->bev = bufferevent_socket_new(h->base, cfd,
						BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL) {
			close(cfd);
			free(c);
			continue;
		}
		c->next = h->all;
		if (h->all != NULL)
			h->all->prevp = &c->next;
		c->prevp = &h->all;
		h->all = c;
		h->conns++;
		c->deadline = evtimer_new(h->base, http_on_deadline, c);
		if (c->deadline == NULL || evtimer_add(c->deadline, &tv) < 0) {
			http_conn_free(c);
			continue;
		}
		bufferevent_setcb(c->bev, http_on_read, http_on_written,
				  http_on_event, c);
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		bufferevent_setwatermark(c->bev, EV_READ, 0,
					 HTTP_REQUEST_MAX + 1);
		bufferevent_enable(c->bev, EV_READ);
	}
}

static int http_listen(const char *host, uint16_t port, char *err,
		       size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) ==
	    1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host,
			     &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		len = sizeof(struct sockaddr_in6);
	} else {
		snprintf(err, errlen, "metrics_listen: %s is not an address",
			 host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "metrics_listen %s:%u: %s", host,
			 (unsigned int)port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct rs_http *rs_http_new(struct event_base *base, const char *host,
			    uint16_t port, rs_http_handler_fn fn, void *arg,
			    char *err, size_t errlen)
{
	struct rs_http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		fatal("calloc");
	h->base = base;
	h->fn = fn;
	h->arg = arg;
	h->fd = http_listen(host, port, err, errlen);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	h->listen_ev =
		event_new(base, h->fd, EV_READ | EV_PERSIST, http_on_accept, h);
	h->resume_ev = evtimer_new(base, http_on_resume, h);
	if (h->listen_ev == NULL || h->resume_ev == NULL ||
	    event_add(h->listen_ev, NULL) < 0) {
		snprintf(err, errlen,
			 "libevent: cannot watch the metrics "
			 "socket");
		rs_http_free(h);
		return NULL;
	}
	return h;
}

void rs_http_free(struct rs_http *h)
{
	struct http_conn *c, *next;

	if (h == NULL)
		return;
	for (c = h->all; c != NULL; c = next) {
		next = c->next;
		http_conn_free(c);
	}
	if (h->listen_ev != NULL)
		event_free(h->listen_ev);
	if (h->resume_ev != NULL)
		event_free(h->resume_ev);
	if (h->fd >= 0)
		close(h->fd);
	free(h);
}

unsigned int rs_http_connections(const struct rs_http *h)
{
	return h->conns;
}

unsigned long long rs_http_turned_away(const struct rs_http *h)
{
	return h->turned_away;
}
