/* SPDX-License-Identifier: MIT */
/*
 * ringside.c: a session's life: open (connect, HELLO, map the memfd the
 * daemon sends), topic handles, state, flush and close. The hot paths are in
 * send.c and poll.c. The library never prints and never exits.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ringside_clock.h"

static void client_seterr(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void client_seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* Checks the header the daemon wrote against what this library derives
 * from its sizes, then keeps local copies: the hot path never trusts a size
 * it would have to re-read from shared memory. */
static int client_check_header(const struct ringside_shm_hdr *h,
			       uint64_t map_size)
{
	struct ringside_shm_layout l;

	if (h->magic != RINGSIDE_PROTO_MAGIC ||
	    h->version != RINGSIDE_PROTO_VERSION)
		return RINGSIDE_EPROTO;
	if (!ringside_is_pow2(h->ring_size) ||
	    h->ring_size < RINGSIDE_RING_MIN ||
	    h->ring_size > RINGSIDE_RING_MAX ||
	    !ringside_is_pow2(h->reply_slots) ||
	    h->reply_slots < RINGSIDE_REPLY_MIN ||
	    h->reply_slots > RINGSIDE_REPLY_MAX ||
	    h->max_frame < sizeof(struct ringside_frame) ||
	    h->max_frame > h->ring_size / 2 || h->max_frame % 8 != 0)
		return RINGSIDE_EPROTO;
	ringside_shm_layout(h->ring_size, h->reply_slots, &l);
	if (h->bitmap_off != l.bitmap_off || h->ring_off != l.ring_off ||
	    h->reply_off != l.reply_off || h->map_size != l.map_size ||
	    l.map_size != map_size)
		return RINGSIDE_EPROTO;
	return 0;
}

int rs_client_attach(struct ringside *rs, int memfd, uint64_t map_size)
{
	struct stat st;
	void *map;
	int err;

	if (fstat(memfd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != map_size ||
	    map_size < RINGSIDE_PAGE || map_size > ((uint64_t)1 << 32))
		return RINGSIDE_EPROTO;
	/* MAP_POPULATE: fault every page in now, so that no send ever takes
	 * a first-touch page fault */
	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, memfd, 0);
	if (map == MAP_FAILED)
		return -errno;
	err = client_check_header(map, map_size);
	if (err < 0) {
		munmap(map, map_size);
		return err;
	}
	rs->map = map;
	rs->map_size = map_size;
	rs->shm = map;
	rs->ring_size = rs->shm->ring_size;
	rs->ring_mask = rs->ring_size - 1;
	rs->reply_mask = rs->shm->reply_slots - 1;
	rs->max_frame = rs->shm->max_frame;
	rs->bitmap = (uint64_t *)((char *)map + rs->shm->bitmap_off);
	rs->ring = (uint8_t *)map + rs->shm->ring_off;
	rs->reply = (const struct ringside_reply_slot *)((char *)map +
							 rs->shm->reply_off);
	rs->cached_release = rs_load_acquire(&rs->shm->release);
	rs->dropped_seen = rs_load_relaxed(&rs->shm->reports_dropped);
	rs->reply_head = rs_load_acquire(&rs->shm->reply_head);
	return 0;
}

void rs_client_detach(struct ringside *rs)
{
	if (rs->map != NULL)
		munmap(rs->map, rs->map_size);
	rs->map = NULL;
	rs->shm = NULL;
}

static struct ringside *client_handle_new(void)
{
	struct ringside *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	rs->sock = rs->doorbell_fd = rs->reply_fd = rs->epoll_fd = -1;
	rs->memfd = rs->timer_fd = -1;
	pthread_mutex_init(&rs->topic_lock, NULL);
	return rs;
}

static int client_hello(struct ringside *rs, const char *name, char *errbuf,
			size_t errlen)
{
	struct ringside_msg_hello req;
	struct ringside_msg_welcome resp;
	int fds[3], err;

	memset(&req, 0, sizeof(req));
	req.hdr.type = RINGSIDE_MSG_HELLO;
	req.hdr.len = sizeof(req);
	req.magic = RINGSIDE_PROTO_MAGIC;
	req.version = RINGSIDE_PROTO_VERSION;
	req.pid = (uint32_t)getpid();
	if (name != NULL)
		strncpy(req.name, name, sizeof(req.name) - 1);
	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = RINGSIDE_MSG_WELCOME;

	err = rs_conn_request(rs->sock, rs->timeout_ms, &req, sizeof(req),
			      &resp, sizeof(resp), fds, 3, errbuf, errlen);
	if (err < 0)
		return err;
	rs->doorbell_fd = fds[1];
	rs->reply_fd = fds[2];
	rs->memfd = fds[0]; /* kept: it goes to the next daemon after a crash */
	rs->session_id = resp.session_id;
	memcpy(rs->token, resp.token, sizeof(rs->token));
	err = rs_client_attach(rs, fds[0], resp.map_size);
	if (err < 0)
		client_seterr(errbuf, errlen,
			      "cannot map the session memory: %s",
			      ringside_strerror(err));
	return err;
}

static int client_make_epoll(struct ringside *rs)
{
	struct epoll_event ev = { .events = EPOLLIN };

	rs->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (rs->epoll_fd < 0)
		return -errno;
	ev.data.fd = rs->reply_fd;
	if (epoll_ctl(rs->epoll_fd, EPOLL_CTL_ADD, rs->reply_fd, &ev) < 0)
		return -errno;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.fd = rs->sock;
	if (epoll_ctl(rs->epoll_fd, EPOLL_CTL_ADD, rs->sock, &ev) < 0)
		return -errno;
	rs->timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (rs->timer_fd < 0)
		return -errno;
	ev.events = EPOLLIN;
	ev.data.fd = rs->timer_fd;
	if (epoll_ctl(rs->epoll_fd, EPOLL_CTL_ADD, rs->timer_fd, &ev) < 0)
		return -errno;
	return 0;
}

ringside_t *ringside_open_opts(const ringside_options_t *opts, char *errbuf,
			       size_t errlen)
{
	const char *path = opts != NULL ? opts->socket_path : NULL;
	const char *name = opts != NULL ? opts->name : NULL;
	struct ringside *rs;
	int err;

	if (path == NULL)
		path = getenv("RINGSIDE_SOCKET");
	if (path == NULL || *path == '\0')
		path = RINGSIDE_DEFAULT_SOCKET;
	if (opts != NULL && (opts->resv[0] | opts->resv[1] | opts->resv[2] |
			     opts->resv[3]) != 0) {
		client_seterr(errbuf, errlen,
			      "ringside_options_t.resv is not zero");
		return NULL;
	}
	if (name != NULL && strlen(name) >= RINGSIDE_SESSION_NAME_MAX) {
		client_seterr(errbuf, errlen,
			      "session name longer than %u bytes",
			      RINGSIDE_SESSION_NAME_MAX - 1);
		return NULL;
	}
	rs = client_handle_new();
	if (rs == NULL) {
		client_seterr(errbuf, errlen, "out of memory");
		return NULL;
	}
	rs->timeout_ms = opts != NULL && opts->timeout_ms > 0
				 ? opts->timeout_ms
				 : RS_DEFAULT_TIMEOUT_MS;
	rs->no_reconnect =
		opts != NULL && (opts->flags & RINGSIDE_OPEN_NO_RECONNECT);
	if (strlen(path) >= sizeof(rs->path)) {
		client_seterr(errbuf, errlen,
			      "socket path longer than %zu bytes",
			      sizeof(rs->path) - 1);
		goto fail;
	}
	memcpy(rs->path, path, strlen(path) + 1);
	if (name != NULL)
		memcpy(rs->name, name, strlen(name) + 1);
	err = rs_conn_connect(path, rs->timeout_ms, &rs->sock);
	if (err < 0) {
		client_seterr(errbuf, errlen, "cannot connect to %s: %s", path,
			      ringside_strerror(err));
		goto fail;
	}
	err = client_hello(rs, name, errbuf, errlen);
	if (err < 0)
		goto fail;
	err = client_make_epoll(rs);
	if (err < 0) {
		client_seterr(errbuf, errlen, "epoll: %s",
			      ringside_strerror(err));
		goto fail;
	}
	return rs;
fail:
	ringside_close(rs);
	return NULL;
}

ringside_t *ringside_open(const char *socket_path, char *errbuf, size_t errlen)
{
	ringside_options_t opts = { .socket_path = socket_path };

	return ringside_open_opts(&opts, errbuf, errlen);
}

void ringside_close(ringside_t *rs)
{
	if (rs == NULL)
		return;
	rs_client_detach(rs);
	if (rs->sock >= 0)
		close(rs->sock);
	if (rs->doorbell_fd >= 0)
		close(rs->doorbell_fd);
	if (rs->reply_fd >= 0)
		close(rs->reply_fd);
	if (rs->epoll_fd >= 0)
		close(rs->epoll_fd);
	if (rs->memfd >= 0)
		close(rs->memfd);
	if (rs->timer_fd >= 0)
		close(rs->timer_fd);
	memset(rs->token, 0, sizeof(rs->token));
	for (uint32_t i = 0; i < rs->ntopics; i++)
		free(rs->topics[i]);
	pthread_mutex_destroy(&rs->topic_lock);
	free(rs);
}

static struct ringside_topic *client_find_topic(struct ringside *rs,
						const char *name)
{
	for (uint32_t i = 0; i < rs->ntopics; i++)
		if (strcmp(rs->topics[i]->name, name) == 0)
			return rs->topics[i];
	return NULL;
}

int ringside_topic(ringside_t *rs, const char *name, ringside_topic_t **topicp)
{
	struct ringside_msg_topic req;
	struct ringside_msg_topic_ok resp;
	struct ringside_topic *t;
	char errbuf[256];
	size_t len;
	int err;

	if (rs == NULL || name == NULL || topicp == NULL)
		return RINGSIDE_EINVAL;
	len = strlen(name);
	if (!ringside_topic_name_valid(name, len))
		return RINGSIDE_EINVAL;
	if (rs->shm == NULL || rs_load_acquire(&rs->disconnected))
		return RINGSIDE_ENOTCONN;

	pthread_mutex_lock(&rs->topic_lock);
	t = client_find_topic(rs, name);
	if (t != NULL) {
		*topicp = t;
		pthread_mutex_unlock(&rs->topic_lock);
		return 0;
	}
	if (rs->ntopics == RS_CLIENT_TOPICS_MAX) {
		pthread_mutex_unlock(&rs->topic_lock);
		return RINGSIDE_ELIMIT;
	}
	memset(&req, 0, sizeof(req));
	req.hdr.type = RINGSIDE_MSG_TOPIC;
	req.hdr.len = sizeof(req);
	req.name_len = (uint32_t)len;
	memcpy(req.name, name, len);
	memset(&resp, 0, sizeof(resp));
	resp.hdr.type = RINGSIDE_MSG_TOPIC_OK;
	err = rs_conn_request(rs->sock, rs->timeout_ms, &req, sizeof(req),
			      &resp, sizeof(resp), NULL, 0, errbuf,
			      sizeof(errbuf));
	if (err == 0 && resp.topic != rs->ntopics)
		err = RINGSIDE_EPROTO; /* ids are handed out in order */
	if (err < 0) {
		pthread_mutex_unlock(&rs->topic_lock);
		return err;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		pthread_mutex_unlock(&rs->topic_lock);
		return -ENOMEM;
	}
	t->id = resp.topic;
	memcpy(t->name, name, len + 1);
	rs->topics[rs->ntopics] = t;
	/* pairs with the acquire load in poll.c's topic lookup */
	rs_store_release(&rs->ntopics, rs->ntopics + 1);
	pthread_mutex_unlock(&rs->topic_lock);
	*topicp = t;
	return 0;
}

const char *ringside_topic_name(const ringside_topic_t *topic)
{
	return topic != NULL ? topic->name : NULL;
}

int ringside_fd(const ringside_t *rs)
{
	return rs != NULL ? rs->epoll_fd : RINGSIDE_EINVAL;
}

int ringside_state(const ringside_t *rs, ringside_state_t *st)
{
	uint64_t tail, release;
	uint32_t state;

	if (rs == NULL || st == NULL)
		return RINGSIDE_EINVAL;
	memset(st, 0, sizeof(*st));
	if (rs->shm == NULL) {
		st->backpressure = RINGSIDE_DISCONNECTED;
		return 0;
	}
	release = rs_load_acquire(&rs->shm->release);
	tail = rs_load_acquire(&rs->shm->tail);
	state = rs_load_relaxed(&rs->shm->state);
	st->ring_size = rs->ring_size;
	st->ring_used = tail >= release && tail - release <= rs->ring_size
				? (size_t)(tail - release)
				: rs->ring_size;
	st->records_finished = rs_load_relaxed(&rs->shm->records_finished);
	st->reports_dropped = rs_load_relaxed(&rs->shm->reports_dropped);
	if (rs_load_acquire(&rs->disconnected))
		st->backpressure = RINGSIDE_DISCONNECTED;
	else if (state <= RINGSIDE_SHM_STOPPING)
		st->backpressure = (ringside_backpressure_t)state;
	else
		st->backpressure = RINGSIDE_REFUSING;
	return 0;
}

int rs_client_finished(const struct ringside *rs, uint64_t pos)
{
	uint64_t release = rs_load_acquire(&rs->shm->release);
	uint64_t rtail = rs_load_acquire(&rs->shm->reply_tail);
	uint64_t backlog = rs_load_relaxed(&rs->shm->reports_backlog);

	return release >= pos && backlog == 0 && rtail == rs->reply_head;
}

int ringside_flush(ringside_t *rs, int timeout_ms, ringside_report_cb cb,
		   void *ctx)
{
	int64_t deadline = rs_now_ms() + timeout_ms;
	uint64_t target;

	if (rs == NULL)
		return RINGSIDE_EINVAL;
	if (rs->shm == NULL)
		return RINGSIDE_ENOTCONN;
	target = rs_load_acquire(&rs->shm->tail);
	for (;;) {
		struct pollfd pfd = { .fd = rs->epoll_fd, .events = POLLIN };
		int n = ringside_poll(rs, cb, ctx);
		int wait = 10;

		if (n == RINGSIDE_ENOTCONN)
			return n; /* gone, and RINGSIDE_OPEN_NO_RECONNECT */
		if (n > 0)
			continue;
		if (rs_client_finished(rs, target)) {
			uint64_t dropped =
				rs_load_relaxed(&rs->shm->reports_dropped);

			if (dropped == rs->dropped_seen)
				return 0;
			rs->dropped_seen = dropped;
			return RINGSIDE_EDROPPED;
		}
		if (timeout_ms >= 0) {
			int64_t left = deadline - rs_now_ms();

			if (left <= 0)
				return RINGSIDE_ETIMEDOUT;
			if (left < wait)
				wait = (int)left;
		}
		/* Reports wake us through the fd; release moves without a
		 * wakeup when reports are off, hence the short wait. */
		(void)poll(&pfd, 1, wait);
	}
}
