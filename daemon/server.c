/* SPDX-License-Identifier: MIT */
/*
 * server.c: the set of sessions and the drain scheduler. While records flow
 * the daemon polls every ring each drain_interval_us, so busy clients never
 * make a system call; after idle_linger_ms without records it arms every
 * ring (NEED_WAKEUP) and sleeps until a doorbell rings. Also the shutdown
 * sequence.
 *
 * Why one file of 860 lines: the registry, the scheduler and the shutdown
 * all walk the same session list and decide together when a session may
 * be freed; apart, each would need the others' invariants.
 */
#include <errno.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ringside.h"
#include "control.h"
#include "flow.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "session_read.h"
#include "spool.h"

#define DRAIN_BUDGET 4096U /* frames per session per pass, at most */
#define DRAIN_MIN 64U	   /* ... and at least */
/* frames per pass in all: a pass is one turn of the event loop, and the
 * control socket and the metrics endpoint wait for it to end (64
 * sessions with full rings once made a pass of 262,144 records) */
#define PASS_BUDGET 16384U
/* ... and microseconds: on 2 busy cores 16,384 frames took up to 170 ms,
 * and a STATUS, one turn to accept and one to read, waited 470 ms; the
 * next pass starts with the session this one did not reach */
#define PASS_US 5000
#define SLEEP_SAFETY_MS 1000 /* re-check rings even when asleep */
#define BACKLOG_RETRY_MS 10  /* reports wait for reply ring space */
#define STOP_TICK_MS 10
#define PURGE_GRACE_MS 5000
#define STOP_READ_PASSES 4096 /* each reads DRAIN_BUDGET per session */
#define FLOW_TICK_US 10000    /* spooled topics waiting: backoff, window */
#define SPOOL_LOG_MS 10000
/* a topic no session has used for FORGET_UNUSED_MS, and nothing of which
 * is in motion, is forgotten (its counters with it): memory stays bounded
 * over months of topic churn; at a topic limit, sooner */
#define FORGET_EVERY_MS 10000
#define FORGET_UNUSED_MS (10 * 60 * 1000)
/* connections before their HELLO: per uid as many as it may have
 * sessions (a burst of services starting at once must get in), and in all
 * HANDSHAKES_MAX, well above one uid's share (then the listener pauses:
 * further connections wait in the kernel's backlog) */
#define HANDSHAKES_MAX 1024U
#define ACCEPT_PAUSE_MS 100 /* out of descriptors: accept() would spin */
#define FDS_PER_SESSION 4U  /* socket, memfd, two eventfds */
#define FDS_RESERVED 128U   /* librdkafka's sockets, logs, the spool's... */

static void server_timer_us(struct event *ev, int64_t us)
{
	struct timeval tv = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 };

	evtimer_add(ev, &tv);
}

#define FOREACH_SESSION(s, next, srv)                                          \
	for ((s) = TAILQ_FIRST(&(srv)->sessions);                              \
	     (s) != NULL && ((next) = TAILQ_NEXT((s), entry), 1);              \
	     (s) = (next))

static void server_flush_and_reap(struct rs_server *srv)
{
	struct rs_session *s, *next;

	FOREACH_SESSION (s, next, srv) {
		rs_session_flush(s);
		if (rs_session_done(s)) {
			log_debug("session %llu finished",
				  (unsigned long long)s->id);
			rs_session_free(s);
		}
	}
}

/* While the spool holds records, a line every SPOOL_LOG_MS, and one more
 * when it is empty again: an operator sees an outage come and go. */
static void server_log_spool(struct rs_server *srv)
{
	int64_t now = rs_now_ms();
	struct rs_spool_stats ss;
	struct rs_flow_stats fs;
	struct timespec wall;

	if (now - srv->spool_logged_ms < SPOOL_LOG_MS)
		return;
	rs_spool_stats(srv->spool, &ss);
	if (ss.records == 0 && !srv->spool_logged_busy)
		return;
	rs_flow_stats(srv->flow, &fs);
	clock_gettime(CLOCK_REALTIME, &wall);
	log_notice("spool: %llu records to deliver, %llu bytes in %llu "
		   "segments, oldest segment %llds old%s; spilled %llu, "
		   "replayed %llu since start",
		   (unsigned long long)ss.records, (unsigned long long)ss.bytes,
		   (unsigned long long)ss.segments,
		   ss.oldest_ms > 0
			   ? (long long)(wall.tv_sec - ss.oldest_ms / 1000)
			   : 0LL,
		   ss.full     ? ", FULL"
		   : ss.broken ? ", WRITES FAILING"
			       : "",
		   (unsigned long long)fs.spilled,
		   (unsigned long long)fs.replayed);
	srv->spool_logged_ms = now;
	srv->spool_logged_busy = ss.records > 0;
}

static unsigned int server_drain_all(struct rs_server *srv, int *hit_budget)
{
	struct rs_session *s, *next;
	unsigned int work = 0, moved, share;
	int64_t deadline;

	if (srv->sleeping) {
		FOREACH_SESSION (s, next, srv)
			rs_session_disarm(s);
		srv->sleeping = 0;
	}
	*hit_budget = 0;
	share = srv->nsessions > 0 ? PASS_BUDGET / srv->nsessions : 0;
	share = share < DRAIN_MIN      ? DRAIN_MIN
		: share > DRAIN_BUDGET ? DRAIN_BUDGET
				       : share;
	deadline = rs_now_us() + PASS_US;
	s = srv->drain_next != NULL ? srv->drain_next
				    : TAILQ_FIRST(&srv->sessions);
	for (uint32_t i = 0; s != NULL && i < srv->nsessions; i++) {
		unsigned int n = rs_session_drain(s, share);

		next = TAILQ_NEXT(s, entry);
		s = next != NULL ? next : TAILQ_FIRST(&srv->sessions);
		work += n;
		if (n >= share)
			*hit_budget = 1;
		if (n > 0 && rs_now_us() >= deadline) {
			*hit_budget = 1;
			break;
		}
	}
	srv->drain_next = s;
	/* delivery reports come through an eventfd; looking at the queues
	 * here too costs a lock per class and makes a missed wake-up
	 * harmless while records are in motion */
	if (rs_flow_busy(srv->flow) && rs_producer_serve(srv->producer))
		*hit_budget = 1;
	moved = rs_flow_pass(srv->flow);
	rs_flow_tick(srv->flow);
	server_flush_and_reap(srv);
	server_log_spool(srv);
	if (rs_now_ms() - srv->forget_ms >= FORGET_EVERY_MS) {
		srv->forget_ms = rs_now_ms();
		rs_server_forget_topics(srv, FORGET_UNUSED_MS);
	}
	return work + moved;
}

/* Decides when to drain next: soon while records flow, never (until a
 * doorbell) once the rings are armed. */
static void server_schedule(struct rs_server *srv, unsigned int work,
			    int hit_budget)
{
	const struct rs_config *cfg = srv->cfg;
	struct rs_session *s, *next;
	int64_t now = rs_now_us();
	int waiting = 0, backlog = 0;

	if (hit_budget) {
		server_timer_us(srv->drain_ev, 0);
		return;
	}
	if (work > 0)
		srv->last_work_us = now;
	if (work > 0 ||
	    now - srv->last_work_us < (int64_t)cfg->idle_linger_ms * 1000) {
		server_timer_us(srv->drain_ev, cfg->drain_interval_us);
		return;
	}
	if (rs_flow_busy(srv->flow)) {
		/* records in motion but nothing to do this instant: a slower
		 * tick, and rings stay polled */
		server_timer_us(srv->drain_ev, FLOW_TICK_US);
		return;
	}
	FOREACH_SESSION (s, next, srv) {
		waiting |= rs_session_arm(s);
		backlog |= rs_session_backlogged(s);
	}
	srv->sleeping = 1;
	if (waiting)
		server_timer_us(srv->drain_ev, cfg->drain_interval_us);
	else
		server_timer_us(srv->drain_ev,
				(backlog ? BACKLOG_RETRY_MS : SLEEP_SAFETY_MS) *
					1000);
}

static void server_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct rs_server *srv = arg;
	unsigned int work;
	int hit;

	(void)fd;
	(void)what;
	if (srv->stopping)
		return; /* the stop tick drains */
	work = server_drain_all(srv, &hit);
	server_schedule(srv, work, hit);
}

void rs_server_kick(struct rs_server *srv)
{
	if (!srv->stopping)
		event_active(srv->drain_ev, EV_TIMEOUT, 1);
}

static void server_on_delivery_report(struct rs_record *rec,
				      const struct rs_outcome *o, void *arg)
{
	struct rs_server *srv = arg;

	rs_flow_delivered(srv->flow, rec, o);
}

static void server_on_delivery_batch(void *arg, int more)
{
	struct rs_server *srv = arg;

	/* room in librdkafka: held records and replay can move */
	if (rs_flow_pass(srv->flow) > 0)
		srv->last_work_us = rs_now_us();
	server_flush_and_reap(srv);
	if (more)
		rs_server_kick(srv); /* reports left for the next pass */
}

void rs_server_forget_topics(struct rs_server *srv, int64_t unused_ms)
{
	int64_t now = rs_now_ms();
	size_t i = 0;

	while (i < rs_producer_ntopics(srv->producer)) {
		struct rs_topic *t = rs_producer_topic_at(srv->producer, i);

		if (t->refs == 0 && now - t->unused_ms >= unused_ms &&
		    rs_flow_topic_idle(t))
			rs_producer_topic_forget(srv->producer, t);
		else
			i++;
	}
}

unsigned int rs_server_open_sessions(const struct rs_server *srv)
{
	const struct rs_session *s;
	unsigned int n = 0;

	TAILQ_FOREACH (s, &srv->sessions, entry)
		n += s->state != RS_SESSION_HANDSHAKE;
	return n;
}

uint64_t rs_server_new_session_id(struct rs_server *srv)
{
	uint64_t id;

	/* unguessable: a session is claimed by its token, but its id must
	 * not tell anyone which sessions exist or come next */
	do {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			fatal("getrandom");
	} while (id == 0 || rs_server_session(srv, id) != NULL);
	return id;
}

int rs_server_memfd_served(const struct rs_server *srv,
			   const struct rs_shm *shm,
			   const struct rs_session *self)
{
	const struct rs_session *s;

	TAILQ_FOREACH (s, &srv->sessions, entry)
		if (s != self && s->shm_ready && s->shm.dev == shm->dev &&
		    s->shm.ino == shm->ino)
			return 1;
	return 0;
}

void rs_server_handshake_done(struct rs_server *srv)
{
	srv->nhandshakes--;
	if (srv->accept_paused && srv->nhandshakes < HANDSHAKES_MAX)
		event_active(srv->accept_ev, EV_TIMEOUT, 1);
}

static struct rs_session_bucket *server_bucket(struct rs_server *srv,
					       uint64_t id)
{
	/* ids are random (rs_server_new_session_id), and a resumed one is
	 * only taken with its token: no client picks the bucket */
	return &srv->by_id[(id ^ (id >> 32)) & (RS_SESSION_BUCKETS - 1)];
}

struct rs_session *rs_server_session(struct rs_server *srv, uint64_t id)
{
	struct rs_session *s;

	LIST_FOREACH(s, server_bucket(srv, id), by_id)
	if (s->id == id)
		return s;
	return NULL;
}

void rs_server_set_id(struct rs_server *srv, struct rs_session *s, uint64_t id)
{
	if (s->id != 0)
		LIST_REMOVE(s, by_id);
	s->id = id;
	if (id != 0)
		LIST_INSERT_HEAD(server_bucket(srv, id), s, by_id);
}

/* A new session: in the list, with a fresh id, counted in its handshake. */
static void server_session_add(struct rs_server *srv, struct rs_session *s)
{
	rs_server_set_id(srv, s, rs_server_new_session_id(srv));
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	srv->nsessions++;
	srv->nhandshakes++;
}

/* A session being freed (its handshake, if any, already counted done). */
static void server_session_remove(struct rs_server *srv, struct rs_session *s)
{
	if (srv->drain_next == s)
		srv->drain_next = TAILQ_NEXT(s, entry);
	TAILQ_REMOVE(&srv->sessions, s, entry);
	srv->nsessions--;
	srv->refused_gone += s->refused_seen;
	rs_server_set_id(srv, s, 0);
}

/* Other sessions of s's uid that hold memory: one user cannot take every
 * slot (max_sessions) from the others. */
static uint32_t server_uid_sessions(const struct rs_server *srv,
				    const struct rs_session *s)
{
	const struct rs_session *o;
	uint32_t n = 0;

	TAILQ_FOREACH (o, &srv->sessions, entry)
		n += o != s && o->shm_ready && o->peer.uid == s->peer.uid;
	return n;
}

/* What the sessions see of srv; every pointee lives as long as srv. */
static void server_session_env(struct rs_server *srv)
{
	srv->session_env = (struct rs_session_env){
		.srv = srv,
		.base = srv->base,
		.cfg = &srv->cfg,
		.flow = &srv->flow,
		.producer = &srv->producer,
		.key = &srv->session_key,
		.refused_topic = &srv->refused_topic,
		.stopping = &srv->stopping,
		.sessions_opened = &srv->sessions_opened,
		.records_read = &srv->records_read,
		.reports_orphaned = &srv->reports_orphaned,
		.add = server_session_add,
		.remove = server_session_remove,
		.set_id = rs_server_set_id,
		.find = rs_server_session,
		.open_sessions = rs_server_open_sessions,
		.uid_sessions = server_uid_sessions,
		.memfd_served = rs_server_memfd_served,
		.handshake_done = rs_server_handshake_done,
		.kick = rs_server_kick,
		.forget_topics = rs_server_forget_topics,
	};
}

static void server_on_producer_fatal(enum rs_acks acks, void *arg)
{
	struct rs_server *srv = arg;

	rs_flow_producer_failed(srv->flow, acks);
}

static void server_on_topic(struct rs_topic *t, void *arg)
{
	struct rs_server *srv = arg;

	rs_flow_topic_new(srv->flow, t);
}

struct found {
	char *name;
	struct rs_spool_pos first;
};

struct found_list {
	struct found *v;
	size_t n;
};

static void server_on_found(void *arg, uint32_t topic, const char *name,
			    uint64_t records, const struct rs_spool_pos *first)
{
	struct found_list *fl = arg;

	(void)topic;
	fl->v = realloc(fl->v, (fl->n + 1) * sizeof(*fl->v));
	if (fl->v == NULL || (fl->v[fl->n].name = strdup(name)) == NULL)
		fatal("recording the spool's topics");
	fl->v[fl->n].first = *first;
	fl->n++;
	log_notice("spool: topic %s has %llu records to deliver", name,
		   (unsigned long long)records);
}

void rs_server_spool_config(const struct rs_config *cfg,
			    struct rs_spool_config *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->dir = cfg->spool_dir;
	sc->fsync = cfg->spool_fsync == RS_SYNC_ALWAYS	? RS_FSYNC_ALWAYS
		    : cfg->spool_fsync == RS_SYNC_NEVER ? RS_FSYNC_NEVER
							: RS_FSYNC_INTERVAL;
	sc->fsync_interval_ms = cfg->spool_fsync_ms;
	sc->max_bytes = cfg->spool_max_bytes;
	sc->segment_bytes = cfg->spool_segment_bytes;
	sc->drop_oldest = cfg->spool_drop_oldest;
	/* a ring frame, plus the topic name and the record header */
	sc->max_record =
		ringside_align8((uint64_t)cfg->max_record_bytes + 1024);
}

/* The flow reports through the sessions; its ctx is srv->session_env. */
static const struct rs_flow_ops server_flow_ops = {
	.report = rs_session_report,
	.report_spooled = rs_session_report_spooled,
	.ring_done = rs_session_ring_done,
	.held = rs_session_held,
	.spilled = rs_session_spilled,
};

static int server_open_spool(struct rs_server *srv, char *err, size_t errlen)
{
	struct rs_spool_config sc;
	struct found_list fl = { 0 };
	int rc = 0;

	rs_server_spool_config(srv->cfg, &sc);
	if (rs_spool_open(&sc, server_on_found, &fl, &srv->spool, err, errlen) <
	    0)
		return -1;
	srv->flow = rs_flow_new(&server_flow_ops, &srv->session_env,
				srv->producer, srv->spool);
	rs_producer_on_topic(srv->producer, server_on_topic, srv);
	rs_producer_on_fatal(srv->producer, server_on_producer_fatal, srv);
	for (size_t i = 0; i < fl.n; i++) {
		struct rs_topic *t;

		if (rc == 0 &&
		    rs_producer_topic_force(srv->producer, fl.v[i].name, &t,
					    err, errlen) < 0)
			rc = -1;
		else if (rc == 0)
			rs_flow_recovered(srv->flow, t, &fl.v[i].first);
		free(fl.v[i].name);
	}
	free(fl.v);
	return rc;
}

/* Descriptors the sessions hold now. */
static unsigned int server_session_fds(const struct rs_server *srv)
{
	return srv->nsessions * FDS_PER_SESSION;
}

static unsigned int server_handshakes_of(const struct rs_server *srv, uid_t uid)
{
	const struct rs_session *s;
	unsigned int n = 0;

	TAILQ_FOREACH (s, &srv->sessions, entry)
		n += s->state == RS_SESSION_HANDSHAKE && s->peer.uid == uid;
	return n;
}

/* Answers a connection with ERROR and closes it, before any session. */
static void server_turn_away(int fd, int code, const char *text)
{
	struct ringside_msg_error e;

	memset(&e, 0, sizeof(e));
	e.hdr.type = RINGSIDE_MSG_ERROR;
	e.hdr.len = sizeof(e);
	e.code = code;
	snprintf(e.text, sizeof(e.text), "%s", text);
	/* what the peer sent first (its HELLO) is read and dropped: closing
	 * a Unix socket with unread messages resets the peer, which then
	 * cannot read the ERROR that says why */
	for (int i = 0; i < 4; i++) {
		char buf[RINGSIDE_MSG_MAX];

		if (rs_control_recv(fd, buf, sizeof(buf), NULL) <= 0)
			break;
	}
	(void)rs_control_send(fd, &e, sizeof(e), NULL, 0);
	close(fd);
}

static void server_pause_accepting(struct rs_server *srv, int64_t ms)
{
	if (!srv->accept_paused && srv->listen_ev != NULL)
		event_del(srv->listen_ev);
	srv->accept_paused = 1;
	if (ms > 0)
		server_timer_us(srv->accept_ev, ms * 1000);
}

static void server_on_accept_again(evutil_socket_t fd, short what, void *arg)
{
	struct rs_server *srv = arg;

	(void)fd;
	(void)what;
	if (!srv->accept_paused || srv->listen_ev == NULL)
		return;
	if (srv->nhandshakes >= HANDSHAKES_MAX)
		return; /* rs_server_handshake_done() calls again */
	srv->accept_paused = 0;
	event_add(srv->listen_ev, NULL);
}

/*
 * Credentials are checked here, before a session exists: a uid the ACL
 * refuses is answered and dropped at once, and counts toward nothing.
 * Connections still in their handshake are bounded per uid and in all;
 * at the total, the listener pauses (later ones wait in the backlog) so
 * that one uid's silent connections cannot lock others out. Descriptors
 * for the spool and librdkafka stay in reserve (FDS_RESERVED), and when
 * accept() itself runs out of them the listener pauses instead of
 * spinning.
 */
static void server_on_accept(evutil_socket_t fd, short what, void *arg)
{
	static struct rs_log_rl rl_denied, rl_busy, rl_fds, rl_err;
	struct rs_server *srv = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct rs_peer peer;
		char text[160];
		int cfd;

		if (srv->nhandshakes >= HANDSHAKES_MAX) {
			server_pause_accepting(srv, 0);
			return;
		}
		cfd = rs_control_accept(fd, &peer);
		if (cfd == -EAGAIN || cfd == -EWOULDBLOCK)
			return;
		if (cfd == -EMFILE || cfd == -ENFILE) {
			log_rl(&rl_fds, RS_LOG_WARN,
			       "accept: out of descriptors; pausing %d ms",
			       ACCEPT_PAUSE_MS);
			server_pause_accepting(srv, ACCEPT_PAUSE_MS);
			return;
		}
		if (cfd < 0) {
			log_rl(&rl_err, RS_LOG_WARN, "accept: %s",
			       strerror(-cfd));
			return;
		}
		if (!rs_acl_allows(&srv->cfg->acl, &peer)) {
			log_rl(&rl_denied, RS_LOG_NOTICE,
			       "denied: uid %u gid %u (pid %d) is not in "
			       "[ringside] allow_users or allow_groups",
			       (unsigned int)peer.uid, (unsigned int)peer.gid,
			       (int)peer.pid);
			snprintf(text, sizeof(text),
				 "uid %u may not use ringsided (allow_users, "
				 "allow_groups)",
				 (unsigned int)peer.uid);
			server_turn_away(cfd, RINGSIDE_EDENIED, text);
			continue;
		}
		if (server_handshakes_of(srv, peer.uid) >=
		    srv->cfg->max_sessions_per_uid) {
			log_rl(&rl_busy, RS_LOG_NOTICE,
			       "uid %u has %u connections waiting for their "
			       "handshake: refusing another (pid %d)",
			       (unsigned int)peer.uid,
			       srv->cfg->max_sessions_per_uid, (int)peer.pid);
			server_turn_away(
				cfd, RINGSIDE_ELIMIT,
				"too many connections of this uid waiting "
				"for their handshake");
			continue;
		}
		if (server_session_fds(srv) + FDS_PER_SESSION >
		    srv->fd_budget) {
			log_rl(&rl_fds, RS_LOG_WARN,
			       "%u sessions hold every descriptor ringsided "
			       "can give them: refusing pid %d",
			       srv->nsessions, (int)peer.pid);
			server_turn_away(cfd, RINGSIDE_ELIMIT,
					 "ringsided has no descriptor left for "
					 "another session");
			continue;
		}
		if (rs_session_new(&srv->session_env, cfd, &peer) == NULL) {
			log_warnx("cannot allocate a session for pid %d",
				  (int)peer.pid);
			close(cfd);
		}
	}
}

/* Raises the soft descriptor limit to the hard one, and leaves room in it
 * for what is not a session. */
static unsigned int server_fd_budget(const struct rs_config *cfg)
{
	struct rlimit rl;
	unsigned int reserve = FDS_RESERVED;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024 - FDS_RESERVED;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* one descriptor per spool segment */
	reserve += (unsigned int)(cfg->spool_max_bytes /
				  cfg->spool_segment_bytes) +
		   4;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1U << 30))
		rl.rlim_cur = 1U << 30;
	return rl.rlim_cur > reserve + FDS_PER_SESSION
		       ? (unsigned int)rl.rlim_cur - reserve
		       : FDS_PER_SESSION;
}

int rs_server_start(struct rs_server *srv, struct event_base *base,
		    struct rs_config *cfg, char *err, size_t errlen)
{
	const char *what;

	memset(srv, 0, sizeof(*srv));
	srv->base = base;
	srv->cfg = cfg;
	srv->listen_fd = -1;
	TAILQ_INIT(&srv->sessions);
	server_session_env(srv);
	srv->refused_topic = calloc(1, sizeof(*srv->refused_topic));
	if (srv->refused_topic == NULL ||
	    (srv->refused_topic->name = strdup("")) == NULL)
		fatal("calloc");
	srv->refused_topic->acks_next = -1;
	srv->refused_topic->reports = RS_REPORTS_ALL;
	TAILQ_INIT(&srv->refused_topic->direct);
	TAILQ_INIT(&srv->refused_topic->hold);
	TAILQ_INIT(&srv->refused_topic->replaying);
	srv->drain_ev = evtimer_new(base, server_on_drain, srv);
	if (srv->drain_ev == NULL) {
		snprintf(err, errlen, "libevent: cannot create a timer");
		return -1;
	}
	srv->accept_ev = evtimer_new(base, server_on_accept_again, srv);
	if (srv->accept_ev == NULL) {
		snprintf(err, errlen, "libevent: cannot create a timer");
		return -1;
	}
	srv->fd_budget = server_fd_budget(cfg);
	if (rs_producer_new(cfg, base, server_on_delivery_report,
			    server_on_delivery_batch, srv, &srv->producer, err,
			    errlen) < 0)
		return -1;
	if (server_open_spool(srv, err, errlen) < 0)
		return -1;
	if (rs_session_key_load(cfg->spool_dir, &srv->session_key, err,
				errlen) < 0)
		return -1;
	srv->listen_fd = rs_control_listen(cfg->socket_path, cfg->socket_mode,
					   cfg->socket_gid,
					   cfg->socket_group != NULL, &what);
	if (srv->listen_fd < 0) {
		snprintf(err, errlen, "%s: %s: %s", cfg->socket_path, what,
			 strerror(-srv->listen_fd));
		return -1;
	}
	srv->listen_ev = event_new(base, srv->listen_fd, EV_READ | EV_PERSIST,
				   server_on_accept, srv);
	if (srv->listen_ev == NULL || event_add(srv->listen_ev, NULL) < 0) {
		snprintf(err, errlen, "libevent: cannot watch the socket");
		return -1;
	}
	srv->last_work_us = rs_now_us();
	server_timer_us(srv->drain_ev, cfg->drain_interval_us);
	log_notice("listening on %s (ring %u bytes, %u reply slots)",
		   cfg->socket_path, cfg->ring_size, cfg->reply_slots);
	return 0;
}

static void server_close_listener(struct rs_server *srv)
{
	if (srv->listen_ev != NULL)
		event_free(srv->listen_ev);
	srv->listen_ev = NULL;
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		(void)unlink(srv->cfg->socket_path);
	}
	srv->listen_fd = -1;
}

void rs_server_log_totals(struct rs_server *srv)
{
	struct rs_flow_stats fs;
	struct rs_spool_stats ss;

	rs_flow_stats(srv->flow, &fs);
	rs_spool_stats(srv->spool, &ss);
	log_notice(
		"totals: spilled %llu, replayed %llu, possible duplicates "
		"%llu; spool %llu segments, %llu bytes, %llu records to "
		"deliver, %llu dropped; reports for closed sessions %llu",
		(unsigned long long)fs.spilled, (unsigned long long)fs.replayed,
		(unsigned long long)fs.possible_dups,
		(unsigned long long)ss.segments, (unsigned long long)ss.bytes,
		(unsigned long long)ss.records, (unsigned long long)ss.dropped,
		(unsigned long long)srv->reports_orphaned);
}

static void server_finish_stop(struct rs_server *srv)
{
	struct rs_session *s, *next;
	uint64_t inflight = rs_producer_inflight(srv->producer);

	FOREACH_SESSION (s, next, srv)
		rs_session_flush(s);
	if (inflight > 0)
		log_warnx("%llu records still inside librdkafka after purge",
			  (unsigned long long)inflight);
	rs_server_log_totals(srv);
	log_notice("stopped");
	event_base_loopexit(srv->base, NULL);
}

static int server_all_read(struct rs_server *srv)
{
	struct rs_session *s, *next;

	FOREACH_SESSION (s, next, srv)
		if (!rs_session_read_all(s))
			return 0;
	return 1;
}

static void server_on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rs_server *srv = arg;
	int64_t now = rs_now_ms();
	int hit;

	(void)fd;
	(void)what;
	if (!srv->purged)
		server_drain_all(srv, &hit);
	if (server_all_read(srv) && rs_producer_inflight(srv->producer) == 0 &&
	    rs_flow_settled(srv->flow)) {
		server_finish_stop(srv);
		return;
	}
	if (now >= srv->stop_deadline_ms) {
		if (!srv->purged) {
			/* what clients committed before the stop is read now,
			 * whatever the timeout: a session that has closed
			 * keeps no ring to read it from later (the drain
			 * budget would otherwise leave it behind) */
			for (int i = 0;
			     i < STOP_READ_PASSES && !server_all_read(srv); i++)
				server_drain_all(srv, &hit);
			log_notice("shutdown timeout: %llu records not "
				   "delivered; they stay in the spool",
				   (unsigned long long)rs_producer_inflight(
					   srv->producer));
			/* every record still in librdkafka goes to the spool
			 * first: purging it then loses nothing */
			rs_flow_spill_inflight(srv->flow);
			server_flush_and_reap(srv);
			rs_producer_purge(srv->producer);
			srv->purged = 1;
		}
		rs_producer_serve(srv->producer);
		(void)rs_flow_pass(srv->flow);
		server_flush_and_reap(srv);
		if (rs_producer_inflight(srv->producer) == 0 ||
		    now >= srv->stop_deadline_ms + PURGE_GRACE_MS) {
			server_finish_stop(srv);
			return;
		}
	} else {
		/* sends what is queued now, ignoring linger.ms */
		rs_producer_flush(srv->producer, STOP_TICK_MS);
	}
	server_timer_us(srv->stop_ev, STOP_TICK_MS * 1000);
}

void rs_server_stop(struct rs_server *srv)
{
	struct rs_session *s, *next;

	if (srv->stopping) {
		log_notice("second signal: giving up on delivery now");
		srv->stop_deadline_ms = 0;
		return;
	}
	srv->stopping = 1;
	srv->stop_deadline_ms = rs_now_ms() + srv->cfg->shutdown_timeout_ms;
	rs_flow_stop(srv->flow);
	server_close_listener(srv);
	evtimer_del(srv->drain_ev);
	FOREACH_SESSION (s, next, srv)
		rs_session_stop(s);
	log_notice("stopping: %u sessions, %llu records in flight, waiting up "
		   "to %u ms",
		   srv->nsessions,
		   (unsigned long long)rs_producer_inflight(srv->producer),
		   srv->cfg->shutdown_timeout_ms);
	srv->stop_ev = evtimer_new(srv->base, server_on_stop_tick, srv);
	if (srv->stop_ev == NULL)
		fatalx("libevent: cannot create the stop timer");
	server_timer_us(srv->stop_ev, 0);
}

void rs_server_free(struct rs_server *srv)
{
	struct rs_session *s;

	server_close_listener(srv);
	/* the flow's lists first (it walks topics the producer owns), then
	 * librdkafka (it may read values of records the sessions own), then
	 * the sessions, then the spool's last checkpoint */
	if (srv->flow != NULL)
		rs_flow_free(srv->flow);
	srv->flow = NULL;
	TAILQ_FOREACH (s, &srv->sessions, entry)
		rs_session_drop_topics(s); /* the topics go with the producer */
	rs_producer_free(srv->producer);
	srv->producer = NULL;
	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
		rs_session_free(s);
	rs_spool_close(srv->spool);
	srv->spool = NULL;
	if (srv->drain_ev != NULL)
		event_free(srv->drain_ev);
	if (srv->stop_ev != NULL)
		event_free(srv->stop_ev);
	if (srv->accept_ev != NULL)
		event_free(srv->accept_ev);
	memset(&srv->session_key, 0, sizeof(srv->session_key));
	rs_config_free(srv->cfg);
	srv->cfg = NULL;
	if (srv->refused_topic != NULL)
		free(srv->refused_topic->name);
	free(srv->refused_topic);
	srv->refused_topic = NULL;
}
