/*
 * server.c: the set of sessions and the drain scheduler. While records flow
 * the daemon polls every ring each drain_interval_us, so busy clients never
 * make a system call; after idle_linger_ms without records it arms every
 * ring (NEED_WAKEUP) and sleeps until a doorbell rings. Also the shutdown
 * sequence.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "server.h"
#include "session.h"

#define DRAIN_BUDGET 4096U   /* frames per session per pass */
#define SLEEP_SAFETY_MS 1000 /* re-check rings even when asleep */
#define BACKLOG_RETRY_MS 10  /* reports wait for reply ring space */
#define STOP_TICK_MS 10
#define PURGE_GRACE_MS 5000

int64_t rs_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void timer_us(struct event *ev, int64_t us)
{
	struct timeval tv = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 };

	evtimer_add(ev, &tv);
}

#define FOREACH_SESSION(s, next, srv)                                          \
	for ((s) = TAILQ_FIRST(&(srv)->sessions);                              \
	     (s) != NULL && ((next) = TAILQ_NEXT((s), entry), 1);              \
	     (s) = (next))

static void flush_and_reap(struct rs_server *srv)
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

static unsigned int drain_all(struct rs_server *srv, int *hit_budget)
{
	struct rs_session *s, *next;
	unsigned int work = 0;

	if (srv->sleeping) {
		FOREACH_SESSION (s, next, srv)
			rs_session_disarm(s);
		srv->sleeping = 0;
	}
	*hit_budget = 0;
	FOREACH_SESSION (s, next, srv) {
		unsigned int n = rs_session_drain(s, DRAIN_BUDGET);

		work += n;
		if (n >= DRAIN_BUDGET)
			*hit_budget = 1;
	}
	flush_and_reap(srv);
	return work;
}

/* Decides when to drain next: soon while records flow, never (until a
 * doorbell) once the rings are armed. */
static void schedule(struct rs_server *srv, unsigned int work, int hit_budget)
{
	const struct rs_config *cfg = srv->cfg;
	struct rs_session *s, *next;
	int64_t now = rs_now_us();
	int waiting = 0, backlog = 0;

	if (hit_budget) {
		timer_us(srv->drain_ev, 0);
		return;
	}
	if (work > 0)
		srv->last_work_us = now;
	if (work > 0 ||
	    now - srv->last_work_us < (int64_t)cfg->idle_linger_ms * 1000) {
		timer_us(srv->drain_ev, cfg->drain_interval_us);
		return;
	}
	FOREACH_SESSION (s, next, srv) {
		waiting |= rs_session_arm(s);
		backlog |= rs_session_backlogged(s);
	}
	srv->sleeping = 1;
	if (waiting)
		timer_us(srv->drain_ev, cfg->drain_interval_us);
	else
		timer_us(srv->drain_ev,
			 (backlog ? BACKLOG_RETRY_MS : SLEEP_SAFETY_MS) * 1000);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct rs_server *srv = arg;
	unsigned int work;
	int hit;

	(void)fd;
	(void)what;
	if (srv->stopping)
		return; /* the stop tick drains */
	work = drain_all(srv, &hit);
	schedule(srv, work, hit);
}

void rs_server_kick(struct rs_server *srv)
{
	if (!srv->stopping)
		event_active(srv->drain_ev, EV_TIMEOUT, 1);
}

static void on_dr(struct rs_record *rec, const struct rs_outcome *o, void *arg)
{
	(void)arg;
	rs_session_finish(rec, o);
}

static void on_dr_batch(void *arg)
{
	struct rs_server *srv = arg;
	struct rs_session *s, *next;
	int stalled = 0;

	flush_and_reap(srv);
	FOREACH_SESSION (s, next, srv)
		stalled |= s->stalled != NULL;
	if (stalled)
		rs_server_kick(srv); /* librdkafka's queue has room again */
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct rs_server *srv = arg;

	(void)what;
	for (int i = 0; i < 64; i++) {
		struct ucred cred;
		int cfd = rs_control_accept(fd, &cred);

		if (cfd == -EAGAIN || cfd == -EWOULDBLOCK)
			return;
		if (cfd < 0) {
			errno = -cfd;
			log_warn("accept");
			return;
		}
		if (rs_session_new(srv, cfd, &cred) == NULL) {
			log_warnx("cannot allocate a session for pid %d",
				  (int)cred.pid);
			close(cfd);
		}
	}
}

int rs_server_start(struct rs_server *srv, struct event_base *base,
		    const struct rs_config *cfg, char *err, size_t errlen)
{
	const char *what;

	memset(srv, 0, sizeof(*srv));
	srv->base = base;
	srv->cfg = cfg;
	srv->listen_fd = -1;
	TAILQ_INIT(&srv->sessions);
	srv->drain_ev = evtimer_new(base, on_drain, srv);
	if (srv->drain_ev == NULL) {
		snprintf(err, errlen, "libevent: cannot create a timer");
		return -1;
	}
	if (rs_producer_new(cfg, base, on_dr, on_dr_batch, srv, &srv->producer,
			    err, errlen) < 0)
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
				   on_accept, srv);
	if (srv->listen_ev == NULL || event_add(srv->listen_ev, NULL) < 0) {
		snprintf(err, errlen, "libevent: cannot watch the socket");
		return -1;
	}
	srv->last_work_us = rs_now_us();
	timer_us(srv->drain_ev, cfg->drain_interval_us);
	log_notice("listening on %s (ring %u bytes, %u reply slots)",
		   cfg->socket_path, cfg->ring_size, cfg->reply_slots);
	return 0;
}

static void close_listener(struct rs_server *srv)
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

static int64_t now_ms(void)
{
	return rs_now_us() / 1000;
}

static void finish_stop(struct rs_server *srv)
{
	struct rs_session *s, *next;
	uint64_t inflight = rs_producer_inflight(srv->producer);

	FOREACH_SESSION (s, next, srv)
		rs_session_flush(s);
	if (inflight > 0)
		log_warnx("%llu records still inside librdkafka after purge",
			  (unsigned long long)inflight);
	log_notice("stopped");
	event_base_loopexit(srv->base, NULL);
}

static int all_read(struct rs_server *srv)
{
	struct rs_session *s, *next;

	FOREACH_SESSION (s, next, srv)
		if (!rs_session_read_all(s))
			return 0;
	return 1;
}

static void on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
	struct rs_server *srv = arg;
	int64_t now = now_ms();
	int hit;

	(void)fd;
	(void)what;
	if (!srv->purged)
		drain_all(srv, &hit);
	if (all_read(srv) && rs_producer_inflight(srv->producer) == 0) {
		finish_stop(srv);
		return;
	}
	if (now >= srv->stop_deadline_ms) {
		if (!srv->purged) {
			log_notice("shutdown timeout: %llu records not "
				   "delivered; reporting them as failed",
				   (unsigned long long)rs_producer_inflight(
					   srv->producer));
			rs_producer_purge(srv->producer);
			srv->purged = 1;
		}
		rs_producer_serve(srv->producer);
		if (rs_producer_inflight(srv->producer) == 0 ||
		    now >= srv->stop_deadline_ms + PURGE_GRACE_MS) {
			finish_stop(srv);
			return;
		}
	} else {
		/* sends what is queued now, ignoring linger.ms */
		rs_producer_flush(srv->producer, STOP_TICK_MS);
	}
	timer_us(srv->stop_ev, STOP_TICK_MS * 1000);
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
	srv->stop_deadline_ms = now_ms() + srv->cfg->shutdown_timeout_ms;
	close_listener(srv);
	evtimer_del(srv->drain_ev);
	FOREACH_SESSION (s, next, srv)
		rs_session_stop(s);
	log_notice("stopping: %u sessions, %llu records in flight, waiting up "
		   "to %u ms",
		   srv->nsessions,
		   (unsigned long long)rs_producer_inflight(srv->producer),
		   srv->cfg->shutdown_timeout_ms);
	srv->stop_ev = evtimer_new(srv->base, on_stop_tick, srv);
	if (srv->stop_ev == NULL)
		fatalx("libevent: cannot create the stop timer");
	timer_us(srv->stop_ev, 0);
}

void rs_server_free(struct rs_server *srv)
{
	struct rs_session *s;

	close_listener(srv);
	/* librdkafka first: until it is gone it may still read the values of
	 * records the sessions own */
	rs_producer_free(srv->producer);
	srv->producer = NULL;
	while ((s = TAILQ_FIRST(&srv->sessions)) != NULL)
		rs_session_free(s);
	if (srv->drain_ev != NULL)
		event_free(srv->drain_ev);
	if (srv->stop_ev != NULL)
		event_free(srv->stop_ev);
}
