/*
 * internal.h: the client library's private state, shared by its files and
 * its unit tests. Nothing here is part of the API.
 */
#ifndef RINGSIDE_INTERNAL_H
#define RINGSIDE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

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

	int disconnected; /* atomic: the daemon closed the socket */

	pthread_mutex_t topic_lock;
	uint32_t ntopics; /* atomic: release-store after topics[n] is set */
	struct ringside_topic *topics[RS_CLIENT_TOPICS_MAX];

	/* Owned by whoever holds poll_busy. */
	int poll_busy;
	int reply_armed;
	uint64_t reply_head;
	int64_t next_liveness_ms;
};

/* Maps and checks the memfd the daemon sent; used by open and unit tests. */
int rs_client_attach(struct ringside *rs, int memfd, uint64_t map_size);
void rs_client_detach(struct ringside *rs);

/* Control socket round trips (conn.c). */
int rs_conn_connect(const char *path, int timeout_ms, int *sockp);
int rs_conn_request(int sock, int timeout_ms, const void *req, size_t reqlen,
		    void *resp, size_t resplen, int *fds, int nfds,
		    char *errbuf, size_t errlen);
int rs_conn_alive(int sock);

/* Reads the daemon's cursors to decide whether every record before pos is
 * finished. */
int rs_client_finished(const struct ringside *rs, uint64_t pos);

#endif
