/* SPDX-License-Identifier: MIT */
/*
 * internal.h: the client library's private state, shared by its files and
 * its unit tests. Nothing here is part of the API.
 */
#ifndef RINGSIDE_INTERNAL_H
#define RINGSIDE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringside.h"
#include "ringside_proto.h"

#define RS_CLIENT_TOPICS_MAX 1024U
#define RS_DEFAULT_TIMEOUT_MS 5000

struct ringside_topic {
	uint32_t id;
	char name[RINGSIDE_TOPIC_NAME_MAX + 1];
};

/*
 * One session. The handle owns the socket, both eventfds, the epoll fd, the
 * mapping and the topic handles; ringside_close() releases all of them.
 *
 * Fields written after open are either atomics (cached_release, the
 * disconnected flag) or guarded: topics by topic_lock, the reply-side fields
 * by poll_busy (a try-lock: ringside_poll() never waits).
 */
struct ringside {
	int sock;	 /* control socket, SOCK_SEQPACKET */
	int doorbell_fd; /* eventfd: wakes the daemon */
	int reply_fd;	 /* eventfd: the daemon wakes us */
	int epoll_fd;	 /* reply_fd and sock: what ringside_fd() returns */
	int timeout_ms;

	void *map;
	size_t map_size;
	struct ringside_shm_hdr *shm;
	uint64_t *bitmap;
	uint8_t *ring;
	const struct ringside_reply_slot *reply;
	uint32_t ring_size;
	uint32_t ring_mask;
	uint32_t reply_mask;
	uint32_t max_frame;

	/* Last release seen by any thread: saves a shared cache-line read per
	 * send. Release-store / acquire-load so that a thread using it also
	 * happens-after the daemon's reads of the space it frees. */
	uint64_t cached_release;

	int disconnected; /* atomic: not connected to a daemon right now */

	/* Reconnecting (reconnect.c): owned by whoever holds poll_busy;
	 * sock changes only under topic_lock too. */
	int memfd;    /* kept to hand the session to the next daemon */
	int timer_fd; /* in the epoll set: a retry is due */
	int no_reconnect;
	int conn_state; /* enum rs_conn_state */
	int backoff_ms;
	int64_t retry_at_ms;
	int64_t handshake_deadline_ms;
	uint32_t topics_sent; /* TOPIC requests sent while resuming */
	uint32_t topics_ok;
	uint64_t session_id;
	/* from WELCOME: proves the session is ours when it is handed to the
	 * next daemon; in private memory only, never in the shared mapping */
	uint8_t token[RINGSIDE_TOKEN_LEN];
	uint64_t reconnects; /* atomic */
	char path[108];
	char name[RINGSIDE_SESSION_NAME_MAX];

	pthread_mutex_t topic_lock;
	uint32_t ntopics; /* atomic: release-store after topics[n] is set */
	struct ringside_topic *topics[RS_CLIENT_TOPICS_MAX];

	/* reports_dropped as the last ringside_flush() saw it */
	uint64_t dropped_seen;

	/* Owned by whoever holds poll_busy. */
	int poll_busy;
	int reply_armed;
	uint64_t reply_head;
	int64_t next_liveness_ms;
};

enum rs_conn_state {
	RS_CONN_UP,	 /* a daemon serves the session */
	RS_CONN_DOWN,	 /* waiting for retry_at_ms */
	RS_CONN_WELCOME, /* HELLO (resume) sent with the memfd */
	RS_CONN_TOPICS,	 /* re-resolving topics, in id order */
};

/* The daemon went away (poll thread). */
void rs_reconnect_lost(struct ringside *rs);
/* Moves the reconnection on without blocking (poll thread). Returns 1 when
 * the session is served again, 0 while not yet. */
int rs_reconnect_step(struct ringside *rs);

/* Maps and checks the memfd the daemon sent; used by open and unit tests. */
int rs_client_attach(struct ringside *rs, int memfd, uint64_t map_size);
void rs_client_detach(struct ringside *rs);

/* Control socket round trips (conn.c). */
int rs_conn_connect(const char *path, int timeout_ms, int *sockp);
int rs_conn_request(int sock, int timeout_ms, const void *req, size_t reqlen,
		    void *resp, size_t resplen, int *fds, int nfds,
		    char *errbuf, size_t errlen);
int rs_conn_alive(int sock);
ssize_t rs_conn_recv_nowait(int sock, void *buf, size_t len, int *fds, int nfds,
			    int *nrecv);
/* Sends one message, with fd if it is not -1; never blocks. */
int rs_conn_send_nowait(int sock, const void *msg, size_t len, int fd);

/* Reads the daemon's cursors to decide whether every record before pos is
 * finished. */
int rs_client_finished(const struct ringside *rs, uint64_t pos);

#endif
