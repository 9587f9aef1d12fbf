/* SPDX-License-Identifier: MIT */
/*
 * server.h: the daemon's state: its sessions, the producer, and the drain
 * scheduler that decides when to read rings and when to sleep.
 */
#ifndef RS_SERVER_H
#define RS_SERVER_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/queue.h>

#include "client/ringside_clock.h"
#include "config.h"
#include "producer.h"
#include "session.h"
#include "session_key.h"

struct rs_session;
struct rs_shm;
struct rs_spool;
struct rs_spool_config;
struct rs_flow;
TAILQ_HEAD(rs_session_list, rs_session);

#define RS_SESSION_BUCKETS 1024U /* a power of two */

LIST_HEAD(rs_session_bucket, rs_session);

/* Owns the listener, the producer and every session. */
struct rs_server {
	struct event_base *base;
	struct rs_config *cfg; /* owned; a reload replaces it */
	struct rs_producer *producer;
	struct rs_spool *spool;
	struct rs_flow *flow;
	int listen_fd;
	struct event *listen_ev;
	struct event *drain_ev;
	struct event *stop_ev;
	struct rs_session_list sessions;
	uint32_t nsessions;
	struct rs_session *drain_next; /* where the next pass starts */
	uint32_t nhandshakes;	       /* sessions still in their handshake */
	int accept_paused;	 /* the listener is off: server_on_accept() */
	struct event *accept_ev; /* turns it on again */
	unsigned int fd_budget;	 /* descriptors sessions may hold in all */
	struct rs_session_key session_key; /* makes session tokens */
	int64_t last_work_us;		   /* when a drain last found records */
	int sleeping; /* rings are armed: clients ring the doorbell */
	int stopping;
	int64_t stop_deadline_ms;
	int purged;
	/* sessions by id: a replayed record's report finds its session
	 * without a walk of every session */
	struct rs_session_bucket by_id[RS_SESSION_BUCKETS];
	uint64_t reports_orphaned; /* records whose session was gone */
	uint64_t sessions_opened;
	uint64_t records_read;
	uint64_t refused_gone; /* sends refused by sessions no longer here */
	uint64_t reloads;
	uint64_t reload_failures;
	/* what a session's refused topic ids point to: records for it are
	 * failed, never produced (owned) */
	struct rs_topic *refused_topic;
	int64_t spool_logged_ms; /* the last periodic spool line */
	int64_t forget_ms;	 /* the last look for unused topics */
	int spool_logged_busy;	 /* it said the spool held records */
	/* what the sessions see of this server (session.h), filled in by
	 * rs_server_start(); main.c sets its render_status */
	struct rs_session_env session_env;
};

/* Takes cfg: rs_server_free() frees it, even when the start failed. */
int rs_server_start(struct rs_server *srv, struct event_base *base,
		    struct rs_config *cfg, char *err, size_t errlen);

/* SIGHUP: re-reads the config file. 0, or -1 when it has errors (logged)
 * and the running config stays. What cannot change while running is
 * named in the log and keeps its old value. (reload.c) */
int rs_server_reload(struct rs_server *srv);

/* Wakes the drain now (a doorbell rang). */
void rs_server_kick(struct rs_server *srv);

/* SIGTERM: stop accepting, read what clients committed, deliver for up to
 * shutdown_timeout_ms, report the rest, then leave the loop. */
void rs_server_stop(struct rs_server *srv);

void rs_server_free(struct rs_server *srv);

/* One log line with the spool's and the flow's counters. */
void rs_server_log_totals(struct rs_server *srv);

/* The spool's settings in cfg. */
void rs_server_spool_config(const struct rs_config *cfg,
			    struct rs_spool_config *sc);

/* Sessions past their handshake (not, say, one asking for status). */
unsigned int rs_server_open_sessions(const struct rs_server *srv);

/* The open or closing session with this id, or NULL. */
struct rs_session *rs_server_session(struct rs_server *srv, uint64_t id);

/* Gives s the id (0: none), keeping the index rs_server_session() reads;
 * every change of a session's id goes through it. */
void rs_server_set_id(struct rs_server *srv, struct rs_session *s, uint64_t id);

/* A new session id: random, never that of a live session. */
uint64_t rs_server_new_session_id(struct rs_server *srv);

/* 1 if a live session other than self maps the same memfd as shm. */
int rs_server_memfd_served(const struct rs_server *srv,
			   const struct rs_shm *shm,
			   const struct rs_session *self);

/* Forgets the topics no session has used for unused_ms and nothing of
 * which is in motion: they no longer count toward max_topics or anyone's
 * max_topics_per_uid. */
void rs_server_forget_topics(struct rs_server *srv, int64_t unused_ms);

/* A session left its handshake (opened, refused or gone). */
void rs_server_handshake_done(struct rs_server *srv);

#endif
