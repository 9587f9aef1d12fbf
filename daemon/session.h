/* SPDX-License-Identifier: MIT */
/*
 * session.h: one client's lifetime, from HELLO to the last record's
 * report. A session outlives its socket until every record it handed over
 * is finished.
 */
#ifndef RS_SESSION_H
#define RS_SESSION_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "acl.h"
#include "record.h"
#include "reply.h"
#include "ring.h"
#include "shm.h"

struct rs_config;
struct rs_flow;
struct rs_producer;
struct rs_server;
struct rs_session;
struct rs_session_key;
struct rs_topic;

/*
 * The daemon around the sessions, as a session sees it. The server owns
 * every pointee, fills one in before its first session and keeps what it
 * points to current (a reload replaces the config); session.c includes
 * nothing above itself and reaches the session registry and the
 * scheduler only through these calls, each given srv.
 */
struct rs_session_env {
	struct rs_server *srv;
	struct event_base *base;
	struct rs_config *const *cfg; /* the config in force */
	struct rs_flow *const *flow;
	struct rs_producer *const *producer;
	const struct rs_session_key *key;      /* makes session tokens */
	struct rs_topic *const *refused_topic; /* what refused ids point to */
	const int *stopping;		       /* the daemon is shutting down */
	/* counters the sessions add to; metrics and status read them */
	uint64_t *sessions_opened, *records_read, *reports_orphaned;

	/* the registry: a new session in the list with a fresh id, a freed
	 * one out of it; ids change only through set_id */
	void (*add)(struct rs_server *srv, struct rs_session *s);
	void (*remove)(struct rs_server *srv, struct rs_session *s);
	void (*set_id)(struct rs_server *srv, struct rs_session *s,
		       uint64_t id);
	struct rs_session *(*find)(struct rs_server *srv, uint64_t id);
	unsigned int (*open_sessions)(const struct rs_server *srv);
	/* other sessions of s's uid that hold memory */
	uint32_t (*uid_sessions)(const struct rs_server *srv,
				 const struct rs_session *s);
	int (*memfd_served)(const struct rs_server *srv,
			    const struct rs_shm *shm,
			    const struct rs_session *self);
	void (*handshake_done)(struct rs_server *srv);
	/* the scheduler: drain now */
	void (*kick)(struct rs_server *srv);
	void (*forget_topics)(struct rs_server *srv, int64_t unused_ms);
	/* ringsidectl status (status.c); main.c sets it, NULL until then */
	int (*render_status)(struct rs_server *srv, uint32_t flags, char **out,
			     size_t *len);
};

enum rs_session_state {
	RS_SESSION_HANDSHAKE, /* connected, waiting for HELLO */
	RS_SESSION_OPEN,      /* ring mapped, client connected */
	RS_SESSION_CLOSING,   /* client gone: read what it committed */
	RS_SESSION_DEAD,      /* protocol violation: read nothing more */
};

/* Owns its socket, eventfds, shared memory and records; the topics it
 * points to belong to the producer. */
struct rs_session {
	/* --- identity (session.c at the handshake; the server's lists) */
	TAILQ_ENTRY(rs_session) entry;	  /* the server's list of sessions */
	LIST_ENTRY(rs_session) by_id;	  /* the server's index; env->set_id */
	const struct rs_session_env *env; /* the server's; set once */
	uint64_t id;			  /* unguessable, never reused */
	enum rs_session_state state;	  /* written by session.c only */
	struct rs_peer peer; /* the socket's credentials: the session's uid */
	char name[RINGSIDE_SESSION_NAME_MAX]; /* the client's, for logs */

	/* --- descriptors and events, all owned (session.c) */
	int sock;		    /* the control socket */
	struct event *sock_ev;	    /* its messages */
	struct event *handshake_ev; /* the handshake's deadline */
	int doorbell_fd;	    /* eventfd the client rings */
	struct event *doorbell_ev;  /* that ring */
	int reply_fd;		    /* eventfd the daemon rings for reports */

	/* --- the shared memory (session.c maps it; session_read.c reads) */
	struct rs_shm shm;
	struct rs_ring ring;   /* the client's records */
	struct rs_reply reply; /* reports back to it */
	int shm_ready;	       /* shm, ring and reply are set up */
	int resuming;	       /* handed back: read nothing until RESUME */
	double tokens;	   /* max_records_per_second: what may be read now */
	int64_t tokens_us; /* when tokens were last topped up */

	/* --- records and topics (session_read.c; topics: session.c) */
	struct rs_record_list records; /* read, not finished, ring order */
	struct rs_topic **topics;      /* session-local id -> topic */
	char **names;		       /* id -> the name the client asked for */
	int32_t *refused; /* id -> 0, or the RINGSIDE_E* its records get */
	uint32_t ntopics;
	uint64_t oversize; /* records over max_frame, from an older limit */

	int reply_dirty;  /* reports pushed since the client was last woken */
	int stopping;	  /* daemon shutdown: read only up to stop_at */
	uint64_t stop_at; /* the ring position shutdown reads up to */

	int64_t held;	       /* records waiting in topics' hold lists */
	uint64_t spilled;      /* records written to the spool */
	uint64_t spilled_seen; /* spilled when the state was last published */
	uint32_t published_state; /* the ringside_state_t last published */

	/* --- counters (session_read.c), also published in the shm header */
	uint64_t records_in;   /* records read from the ring */
	uint64_t delivered;    /* final reports of success */
	uint64_t failed;       /* final reports of failure */
	uint64_t finished;     /* records whose ring space went back */
	uint64_t gap_bytes;    /* reserved and never committed (client died) */
	uint64_t refused_seen; /* the client's sends_refused, never lowered */
	uint32_t claimed_pid;  /* the HELLO's pid: what the client says */
};

struct rs_session *rs_session_new(const struct rs_session_env *env, int fd,
				  const struct rs_peer *peer);
void rs_session_free(struct rs_session *s);

/* The sends its client says it refused with RINGSIDE_EFULL (the shm
 * header's sends_refused, read now while mapped): a count the client
 * keeps, so only as true as the client, but never going down. */
uint64_t rs_session_refused(struct rs_session *s);

/* The session's pid for people: the kernel's (SO_PEERCRED), or when that
 * is 0, "ns:N" with the pid the client says it has in its own PID
 * namespace (a container's), or "?" when it says none. */
const char *rs_session_pid_str(const struct rs_session *s, char *buf,
			       size_t len);

/* Lets go of the session's topics (before the producer frees them, at
 * exit); its records may no longer be read after this. */
void rs_session_drop_topics(struct rs_session *s);

/* The config in force (a reload replaces it). */
static inline struct rs_config *rs_session_cfg(const struct rs_session *s)
{
	return *s->env->cfg;
}

/* For session_read.c: a broken protocol (logged; the client is dropped,
 * its correct records still delivered), and a log line naming s. */
void rs_session_violation(struct rs_session *s, const char *why);
void rs_session_log(int level, const struct rs_session *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* After a reload: re-checks the session's topics against the new config
 * (records for one no longer allowed are reported RINGSIDE_EDENIED).
 * Returns how many topics it may no longer use; *acl_refused is 1 when the
 * new [ringside] ACL would refuse the session (it keeps running: a resume
 * is checked again). */
uint32_t rs_session_recheck(struct rs_session *s, int *acl_refused);

#endif
