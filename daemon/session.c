/* SPDX-License-Identifier: MIT */
/*
 * session.c: one client's lifetime on the control socket: the handshake
 * (HELLO, or a resume of a session handed back), STATUS, topic lookups,
 * the client going away, and the re-check after a reload. Reading its ring
 * and writing its reports is session_read.c. A client that breaks the
 * protocol is disconnected; records it handed over correctly still get
 * delivered.
 *
 * Just over 800 lines: one handler per control message, each with its
 * refusals, in the order a client sends them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/ringside.h"
#include "client/ringside_clock.h"
#include "config.h"
#include "control.h"
#include "flow.h"
#include "log.h"
#include "producer.h"
#include "session.h"
#include "session_key.h"
#include "topic.h"

#define HANDSHAKE_TIMEOUT_S 2 /* a client sends HELLO at once */
#define SESSION_TOPICS_MAX 1024U

static void session_on_sock(evutil_socket_t fd, short what, void *arg);

/* A session lets go of t; the last one starts t's unused time. */
static void session_topic_unref(struct rs_topic *t)
{
	if (--t->refs == 0)
		t->unused_ms = rs_now_ms();
}

/* Every change of state goes through here: the server counts the
 * connections still in their handshake. */
static void session_set_state(struct rs_session *s, enum rs_session_state state)
{
	if (s->state == RS_SESSION_HANDSHAKE && state != RS_SESSION_HANDSHAKE)
		s->env->handshake_done(s->env->srv);
	s->state = state;
}

static void session_vlog(struct rs_log_rl *rl, int level,
			 const struct rs_session *s, const char *fmt,
			 va_list ap) __attribute__((format(printf, 4, 0)));

static void session_vlog(struct rs_log_rl *rl, int level,
			 const struct rs_session *s, const char *fmt,
			 va_list ap)
{
	char msg[512], pid[24];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	(void)rs_session_pid_str(s, pid, sizeof(pid));
	if (rl != NULL)
		log_rl(rl, level, "session %llu (pid %s uid %u%s%s): %s",
		       (unsigned long long)s->id, pid,
		       (unsigned int)s->peer.uid, s->name[0] ? " name " : "",
		       s->name, msg);
	else
		log_msg(level, "session %llu (pid %s uid %u%s%s): %s",
			(unsigned long long)s->id, pid,
			(unsigned int)s->peer.uid, s->name[0] ? " name " : "",
			s->name, msg);
}

void rs_session_log(int level, const struct rs_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vlog(NULL, level, s, fmt, ap);
	va_end(ap);
}

/* The same for what a client (or a flood of them) can make happen at
 * will: rate limited per call site. */
static void session_log_rl(struct rs_log_rl *rl, int level,
			   const struct rs_session *s, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void session_log_rl(struct rs_log_rl *rl, int level,
			   const struct rs_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vlog(rl, level, s, fmt, ap);
	va_end(ap);
}

static void session_on_handshake_timeout(evutil_socket_t fd, short what,
					 void *arg)
{
	static struct rs_log_rl rl;
	struct rs_session *s = arg;

	(void)fd;
	(void)what;
	session_log_rl(&rl, RS_LOG_NOTICE, s,
		       "no HELLO within %d s: disconnecting",
		       HANDSHAKE_TIMEOUT_S);
	rs_session_free(s);
}

struct rs_session *rs_session_new(const struct rs_session_env *env, int fd,
				  const struct rs_peer *peer)
{
	struct timeval tv = { .tv_sec = HANDSHAKE_TIMEOUT_S };
	struct rs_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->env = env;
	s->state = RS_SESSION_HANDSHAKE;
	s->peer = *peer;
	s->sock = fd;
	s->doorbell_fd = s->reply_fd = -1;
	s->shm.fd = -1;
	TAILQ_INIT(&s->records);
	s->sock_ev = event_new(env->base, fd, EV_READ | EV_PERSIST,
			       session_on_sock, s);
	s->handshake_ev =
		evtimer_new(env->base, session_on_handshake_timeout, s);
	if (s->sock_ev == NULL || s->handshake_ev == NULL ||
	    event_add(s->sock_ev, NULL) < 0 ||
	    evtimer_add(s->handshake_ev, &tv) < 0) {
		if (s->sock_ev != NULL)
			event_free(s->sock_ev);
		if (s->handshake_ev != NULL)
			event_free(s->handshake_ev);
		free(s);
		return NULL;
	}
	env->add(env->srv, s);
	/* a client writes its first message as soon as it is connected:
	 * read it in this turn of the event loop, not the next (a STATUS
	 * on a busy daemon waited a whole pass for it) */
	event_active(s->sock_ev, EV_READ, 1);
	return s;
}

/* Drops everything that talks to the client; keeps the memory and records. */
static void session_disconnect(struct rs_session *s)
{
	if (s->sock_ev != NULL)
		event_free(s->sock_ev);
	if (s->doorbell_ev != NULL)
		event_free(s->doorbell_ev);
	if (s->handshake_ev != NULL)
		event_free(s->handshake_ev);
	s->sock_ev = s->doorbell_ev = s->handshake_ev = NULL;
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
}

void rs_session_drop_topics(struct rs_session *s)
{
	for (uint32_t i = 0; i < s->ntopics; i++) {
		if (s->topics[i] != NULL &&
		    s->topics[i] != *s->env->refused_topic)
			session_topic_unref(s->topics[i]);
		s->topics[i] = NULL;
	}
}

const char *rs_session_pid_str(const struct rs_session *s, char *buf,
			       size_t len)
{
	if (s->peer.pid > 0)
		snprintf(buf, len, "%d", (int)s->peer.pid);
	else if (s->claimed_pid > 0)
		snprintf(buf, len, "ns:%u", (unsigned int)s->claimed_pid);
	else
		snprintf(buf, len, "?");
	return buf;
}

uint64_t rs_session_refused(struct rs_session *s)
{
	if (s->shm_ready) {
		uint64_t v = rs_load_relaxed(&s->shm.hdr->sends_refused);

		if (v > s->refused_seen)
			s->refused_seen = v;
	}
	return s->refused_seen;
}

void rs_session_free(struct rs_session *s)
{
	struct rs_record *rec;

	if (s->state == RS_SESSION_HANDSHAKE)
		s->env->handshake_done(s->env->srv);
	session_disconnect(s);
	while ((rec = TAILQ_FIRST(&s->records)) != NULL) {
		TAILQ_REMOVE(&s->records, rec, entry);
		rec->in_ring = 0;
		rec->session = NULL;
		rs_record_release(rec);
	}
	(void)rs_session_refused(s); /* its last word, for the metrics */
	if (s->shm_ready)
		rs_reply_free(&s->reply);
	rs_shm_destroy(&s->shm);
	if (s->doorbell_fd >= 0)
		close(s->doorbell_fd);
	if (s->reply_fd >= 0)
		close(s->reply_fd);
	rs_session_drop_topics(s);
	for (uint32_t i = 0; i < s->ntopics; i++)
		free(s->names[i]);
	free(s->names);
	free(s->topics);
	free(s->refused);
	s->env->remove(s->env->srv, s);
	free(s);
}

void rs_session_violation(struct rs_session *s, const char *why)
{
	static struct rs_log_rl rl;

	session_log_rl(&rl, RS_LOG_WARN, s,
		       "protocol violation: %s: disconnecting", why);
	session_set_state(s, RS_SESSION_DEAD);
	session_disconnect(s);
	if (s->shm_ready)
		rs_store_relaxed(&s->shm.hdr->state, RINGSIDE_SHM_REFUSING);
	s->env->kick(s->env->srv); /* reap it once its records are finished */
}

static void session_send_error(struct rs_session *s, int code, const char *fmt,
			       ...) __attribute__((format(printf, 3, 4)));

static void session_send_error(struct rs_session *s, int code, const char *fmt,
			       ...)
{
	static struct rs_log_rl rl;
	struct ringside_msg_error e;
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.hdr.type = RINGSIDE_MSG_ERROR;
	e.hdr.len = sizeof(e);
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.text, sizeof(e.text), fmt, ap);
	va_end(ap);
	session_log_rl(&rl, RS_LOG_INFO, s, "refused: %s", e.text);
	(void)rs_control_send(s->sock, &e, sizeof(e), NULL, 0);
}

static void session_on_doorbell(evutil_socket_t fd, short what, void *arg)
{
	struct rs_session *s = arg;
	eventfd_t v;

	(void)what;
	(void)eventfd_read(fd, &v);
	s->ring.armed = 0; /* the client took the flag */
	s->env->kick(s->env->srv);
}

static void session_copy_name(char *dst, const char *src, size_t len)
{
	size_t i;

	/* printable ASCII only: the name goes into log lines */
	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[i] = '\0';
}

static uint32_t session_max_frame(const struct rs_config *cfg)
{
	return ringside_align8((uint64_t)cfg->max_record_bytes +
			       sizeof(struct ringside_frame));
}

static int session_open_eventfds(struct rs_session *s)
{
	s->doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->doorbell_fd < 0)
		return -errno;
	s->reply_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->reply_fd < 0)
		return -errno;
	return 0;
}

static int session_open_shm(struct rs_session *s)
{
	const struct rs_config *cfg = rs_session_cfg(s);
	int err;

	err = rs_shm_create(&s->shm, cfg->ring_size, cfg->reply_slots,
			    session_max_frame(cfg), s->id);
	if (err < 0)
		return err;
	err = session_open_eventfds(s);
	if (err < 0)
		return err;
	rs_ring_init(&s->ring, &s->shm);
	rs_reply_init(&s->reply, &s->shm, cfg->report_backlog, s->reply_fd);
	s->shm_ready = 1;
	return 0;
}

/* A client hands its session back after a daemon restart. Its memory is
 * checked like any client input, and the session must be the peer's own:
 * the token its first WELCOME gave it, made for this peer's uid and this
 * memory's sizes (session_key.h). Reading starts again at release once
 * the client has re-resolved its topics (RESUME). */
static int session_resume_shm(struct rs_session *s,
			      const struct ringside_msg_hello *h, int memfd,
			      const char **why)
{
	const struct rs_config *cfg = rs_session_cfg(s);
	uint8_t want[RS_SESSION_TOKEN_LEN];
	struct ringside_shm_hdr *hdr;

	if (memfd < 0) {
		*why = "resume without its memfd";
		return -1;
	}
	if (rs_shm_adopt(&s->shm, memfd, h->map_size, session_max_frame(cfg),
			 why) < 0)
		return -1;
	rs_session_token(s->env->key, h->session_id, s->peer.uid,
			 s->shm.ring_size, s->shm.reply_slots, want);
	if (!rs_session_token_equal(want, h->token)) {
		*why = "resume refused: not this uid's session";
		return -1;
	}
	if (s->env->memfd_served(s->env->srv, &s->shm, s)) {
		*why = "resume refused: a live session serves that memory";
		return -1;
	}
	if (s->env->find(s->env->srv, h->session_id) != NULL) {
		*why = "resume refused: that session is still open here";
		return -1;
	}
	hdr = s->shm.hdr;
	if (rs_load_relaxed(&hdr->session_id) != h->session_id) {
		*why = "resume: the memfd belongs to another session";
		return -1;
	}
	rs_ring_init(&s->ring, &s->shm);
	rs_ring_allow_oversize(&s->ring);
	rs_reply_init(&s->reply, &s->shm, cfg->report_backlog, -1);
	if (rs_ring_resume(&s->ring, why) < 0)
		return -1;
	if (rs_reply_resume(&s->reply) < 0) {
		*why = "resume: reply cursors out of range";
		return -1;
	}
	if (session_open_eventfds(s) < 0) {
		*why = "cannot create eventfds";
		return -1;
	}
	s->reply.wake_fd = s->reply_fd;
	/* the session keeps its id: the spool's records carry it, so their
	 * final reports find this session */
	s->env->set_id(s->env->srv, s, h->session_id);
	s->finished = rs_load_relaxed(&hdr->records_finished);
	s->resuming = 1;
	s->shm_ready = 1;
	return 0;
}

/* The one way out of a HELLO that is refused: closes what the client sent,
 * answers ERROR (logged), and drops the connection; the session is reaped
 * with nothing in it. */
static void session_refuse(struct rs_session *s, int *memfd, int code,
			   const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void session_refuse(struct rs_session *s, int *memfd, int code,
			   const char *fmt, ...)
{
	char text[200];
	va_list ap;

	if (*memfd >= 0)
		close(*memfd);
	*memfd = -1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	session_send_error(s, code, "%s", text);
	session_set_state(s, RS_SESSION_DEAD);
	session_disconnect(s);
	s->env->kick(s->env->srv);
}

static void session_on_hello(struct rs_session *s, const void *buf, size_t len,
			     int memfd)
{
	struct ringside_msg_hello h;
	struct ringside_msg_welcome w;
	const struct rs_config *cfg = rs_session_cfg(s);
	const char *why = NULL;
	int fds[3], err;

	if (len != sizeof(h)) {
		if (memfd >= 0)
			close(memfd);
		rs_session_violation(s, "HELLO of the wrong size");
		return;
	}
	memcpy(&h, buf, sizeof(h));
	session_copy_name(s->name, h.name, sizeof(s->name));
	s->claimed_pid = h.pid <= INT32_MAX ? h.pid : 0;
	if (!(h.flags & RINGSIDE_HELLO_F_RESUME) && memfd >= 0) {
		close(memfd); /* only a resume carries one */
		memfd = -1;
	}
	if (h.magic != RINGSIDE_PROTO_MAGIC ||
	    h.version != RINGSIDE_PROTO_VERSION) {
		session_refuse(
			s, &memfd, RINGSIDE_EPROTO,
			"protocol version %u not supported (ringsided speaks "
			"%u)",
			h.version, RINGSIDE_PROTO_VERSION);
		return;
	}
	if (!rs_acl_allows(&cfg->acl, &s->peer)) {
		session_refuse(s, &memfd, RINGSIDE_EDENIED,
			       "uid %u may not use ringsided (allow_users, "
			       "allow_groups)",
			       (unsigned int)s->peer.uid);
		return;
	}
	if (*s->env->stopping) {
		session_refuse(s, &memfd, RINGSIDE_EDENIED,
			       "ringsided is shutting down");
		return;
	}
	/* other sessions of the same uid that hold memory: one user
	 * cannot take every slot (max_sessions) from the others */
	if (s->env->uid_sessions(s->env->srv, s) >= cfg->max_sessions_per_uid) {
		session_refuse(
			s, &memfd, RINGSIDE_ELIMIT,
			"uid %u already has %u sessions (max_sessions_per_uid)",
			(unsigned int)s->peer.uid, cfg->max_sessions_per_uid);
		return;
	}
	/* sessions past their handshake: connections still in it have
	 * limits of their own (server.c) */
	if (s->env->open_sessions(s->env->srv) >= cfg->max_sessions) {
		session_refuse(s, &memfd, RINGSIDE_ELIMIT,
			       "max_sessions (%u) reached", cfg->max_sessions);
		return;
	}
	if (h.flags & RINGSIDE_HELLO_F_RESUME) {
		int fd = memfd;

		memfd = -1; /* session_resume_shm() owns it now */
		if (session_resume_shm(s, &h, fd, &why) < 0) {
			session_refuse(s, &memfd, RINGSIDE_EPROTO, "%s", why);
			return;
		}
		goto welcome;
	}
	err = session_open_shm(s);
	if (err < 0) {
		session_refuse(s, &memfd, RINGSIDE_ELIMIT,
			       "cannot create the session's memory: %s",
			       strerror(-err));
		return;
	}
welcome:
	(*s->env->sessions_opened)++;
	memset(&w, 0, sizeof(w));
	w.hdr.type = RINGSIDE_MSG_WELCOME;
	w.hdr.len = sizeof(w);
	w.session_id = s->id;
	w.map_size = s->shm.size;
	rs_session_token(s->env->key, s->id, s->peer.uid, s->shm.ring_size,
			 s->shm.reply_slots, w.token);
	fds[0] = s->shm.fd;
	fds[1] = s->doorbell_fd;
	fds[2] = s->reply_fd;
	err = rs_control_send(s->sock, &w, sizeof(w), fds, 3);
	if (err < 0) {
		rs_session_log(RS_LOG_NOTICE, s, "cannot send WELCOME: %s",
			       strerror(-err));
		session_set_state(s, RS_SESSION_DEAD);
		session_disconnect(s);
		return;
	}
	s->doorbell_ev =
		event_new(s->env->base, s->doorbell_fd, EV_READ | EV_PERSIST,
			  session_on_doorbell, s);
	if (s->doorbell_ev == NULL || event_add(s->doorbell_ev, NULL) < 0)
		fatalx("libevent: cannot watch a doorbell");
	event_free(s->handshake_ev);
	s->handshake_ev = NULL;
	session_set_state(s, RS_SESSION_OPEN);
	if (s->resuming)
		rs_session_log(
			RS_LOG_NOTICE, s,
			"resumed after a restart: ring %u bytes, reading "
			"again from %llu (%llu bytes unfinished)",
			s->shm.ring_size, (unsigned long long)s->ring.release,
			(unsigned long long)(rs_ring_snapshot_tail(&s->ring) -
					     s->ring.release));
	else
		rs_session_log(RS_LOG_INFO, s,
			       "opened: ring %u bytes, %u reply slots",
			       s->shm.ring_size, s->shm.reply_slots);
	s->env->kick(s->env->srv); /* let the scheduler arm the new ring */
}

/* ringsidectl status: the report in chunks, then the connection ends.
 * Who may open a session may read it. */
static void session_on_status(struct rs_session *s, const void *buf, size_t len)
{
	struct ringside_msg_status m;
	char *text = NULL;
	size_t tlen = 0;

	if (len != sizeof(m)) {
		rs_session_violation(s, "STATUS of the wrong size");
		return;
	}
	memcpy(&m, buf, sizeof(m));
	if (!rs_acl_allows(&rs_session_cfg(s)->acl, &s->peer)) {
		session_send_error(s, RINGSIDE_EDENIED,
				   "uid %u may not use ringsided (allow_users, "
				   "allow_groups)",
				   (unsigned int)s->peer.uid);
	} else if (s->env->render_status != NULL &&
		   s->env->render_status(s->env->srv, m.flags, &text, &tlen) ==
			   0) {
		char chunk[sizeof(struct ringside_msg) + RINGSIDE_STATUS_CHUNK];
		struct ringside_msg end = { RINGSIDE_MSG_STATUS_END,
					    sizeof(end) };

		for (size_t off = 0; off < tlen;) {
			size_t n = tlen - off < RINGSIDE_STATUS_CHUNK
					   ? tlen - off
					   : RINGSIDE_STATUS_CHUNK;
			struct ringside_msg h = {
				RINGSIDE_MSG_STATUS_DATA,
				(uint32_t)(sizeof(h) + n),
			};

			memcpy(chunk, &h, sizeof(h));
			memcpy(chunk + sizeof(h), text + off, n);
			if (rs_control_send(s->sock, chunk, sizeof(h) + n, NULL,
					    0) < 0)
				break; /* the reader is gone or too slow */
			off += n;
		}
		(void)rs_control_send(s->sock, &end, sizeof(end), NULL, 0);
	}
	free(text);
	session_set_state(s, RS_SESSION_DEAD);
	session_disconnect(s);
	s->env->kick(s->env->srv);
}

static void session_on_resume(struct rs_session *s, size_t len)
{
	if (!s->resuming || len != sizeof(struct ringside_msg)) {
		rs_session_violation(s, "unexpected RESUME");
		return;
	}
	s->resuming = 0;
	s->env->kick(s->env->srv);
}

/* Why the session may not use topic name now: 0, or a RINGSIDE_E* code
 * with the reason in err; *tp is the topic when it may. */
static int session_topic_refusal(struct rs_session *s, const char *name,
				 struct rs_topic **tp, char *err, size_t errlen)
{
	struct rs_topic_policy pol;
	int rc;

	*tp = NULL;
	if (rs_config_topic(rs_session_cfg(s), name, &pol) == 0 &&
	    !rs_acl_allows(pol.acl, &s->peer)) {
		rs_session_log(
			RS_LOG_NOTICE, s,
			"denied topic %s: uid %u is not in its allow_users "
			"or allow_groups",
			name, (unsigned int)s->peer.uid);
		snprintf(err, errlen,
			 "uid %u may not send to topic %s (allow_users, "
			 "allow_groups)",
			 (unsigned int)s->peer.uid, name);
		return RINGSIDE_EDENIED;
	}
	rc = rs_producer_topic(*s->env->producer, name, s->peer.uid, tp, err,
			       errlen);
	if (rc == RS_TOPIC_LIMIT) {
		/* topics nobody uses any more make room first */
		s->env->forget_topics(s->env->srv, 0);
		rc = rs_producer_topic(*s->env->producer, name, s->peer.uid, tp,
				       err, errlen);
	}
	if (rc == 0)
		return 0;
	/* not configured, or librdkafka refused it: RINGSIDE_ETOPIC; a topic
	 * a restart removed, for a session handed back, is denied, as a
	 * reload that removes it denies its records */
	if (rc == RS_TOPIC_DENIED && s->resuming)
		return RINGSIDE_EDENIED;
	return rc == RS_TOPIC_LIMIT ? RINGSIDE_ELIMIT : RINGSIDE_ETOPIC;
}

/*
 * TOPIC: resolves a name to the session-local id its frames use. A
 * refusal is an ERROR, except while a session is being handed back: its
 * ring may already hold frames for the topic (ids are positions in the
 * client's list), so the id is granted all the same and each of those
 * records is failed with the refusal (a restart that removed a topic used
 * to refuse the resume for ever, and nothing of any topic was delivered).
 */
static void session_on_topic(struct rs_session *s, const void *buf, size_t len)
{
	struct ringside_msg_topic m;
	struct ringside_msg_topic_ok ok;
	struct rs_topic *t, **v;
	int32_t *r;
	char name[RINGSIDE_TOPIC_NAME_MAX + 1], err[400];
	uint32_t id;
	int status;

	if (len != sizeof(m)) {
		rs_session_violation(s, "TOPIC of the wrong size");
		return;
	}
	memcpy(&m, buf, sizeof(m));
	if (m.name_len == 0 || m.name_len > RINGSIDE_TOPIC_NAME_MAX ||
	    !ringside_topic_name_valid(m.name, m.name_len)) {
		session_send_error(s, RINGSIDE_EINVAL, "invalid topic name");
		return;
	}
	memcpy(name, m.name, m.name_len);
	name[m.name_len] = '\0';
	for (id = 0; id < s->ntopics; id++)
		if (strcmp(s->names[id], name) == 0)
			break;
	if (id == s->ntopics && s->ntopics == SESSION_TOPICS_MAX) {
		session_send_error(s, RINGSIDE_ELIMIT,
				   "a session may use at most %u topics",
				   SESSION_TOPICS_MAX);
		return;
	}
	status = session_topic_refusal(s, name, &t, err, sizeof(err));
	if (status != 0 && !s->resuming) {
		session_send_error(s, status, "%s", err);
		return;
	}
	if (status != 0)
		rs_session_log(RS_LOG_WARN, s,
			       "handed back with topic %s, which this daemon "
			       "refuses (%s): its records are failed",
			       name, err);
	if (id == s->ntopics) {
		char **nv;

		v = realloc(s->topics, (s->ntopics + 1) * sizeof(*v));
		if (v == NULL)
			fatal("realloc");
		s->topics = v;
		r = realloc(s->refused, (s->ntopics + 1) * sizeof(*r));
		if (r == NULL)
			fatal("realloc");
		s->refused = r;
		nv = realloc(s->names, (s->ntopics + 1) * sizeof(*nv));
		if (nv == NULL || (nv[s->ntopics] = strdup(name)) == NULL)
			fatal("realloc");
		s->names = nv;
		s->topics[s->ntopics] = NULL;
		s->ntopics++;
	}
	/* allowed again, by the checks above, or refused from now on; the
	 * session holds a reference to each real topic it maps */
	if (s->topics[id] != t) {
		if (s->topics[id] != NULL &&
		    s->topics[id] != *s->env->refused_topic)
			session_topic_unref(s->topics[id]);
		if (t != NULL)
			t->refs++;
	}
	s->topics[id] = t != NULL ? t : *s->env->refused_topic;
	s->refused[id] = status;
	memset(&ok, 0, sizeof(ok));
	ok.hdr.type = RINGSIDE_MSG_TOPIC_OK;
	ok.hdr.len = sizeof(ok);
	ok.topic = id;
	if (rs_control_send(s->sock, &ok, sizeof(ok), NULL, 0) < 0)
		rs_session_violation(s, "not reading its control socket");
}

static void session_client_gone(struct rs_session *s)
{
	struct rs_record *rec;

	if (s->state == RS_SESSION_HANDSHAKE) {
		rs_session_free(s);
		return;
	}
	if (s->resuming) {
		/* without its topics its frames cannot be read */
		rs_session_log(
			RS_LOG_WARN, s,
			"client went away while resuming: the records in "
			"its ring cannot be read");
		session_set_state(s, RS_SESSION_DEAD);
		session_disconnect(s);
		s->env->kick(s->env->srv);
		return;
	}
	session_set_state(s, RS_SESSION_CLOSING);
	session_disconnect(s);
	/* nobody can hand this ring to another daemon now: what it holds
	 * unfinished goes to the spool as well */
	TAILQ_FOREACH (rec, &s->records, entry)
		rs_flow_orphaned(*s->env->flow, rec);
	rs_session_log(RS_LOG_INFO, s,
		       "client closed: %llu records in, %llu delivered, %llu "
		       "failed",
		       (unsigned long long)s->records_in,
		       (unsigned long long)s->delivered,
		       (unsigned long long)s->failed);
	s->env->kick(s->env->srv); /* read what it committed, then free it */
}

static void session_on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct rs_session *s = arg;
	char buf[RINGSIDE_MSG_MAX];
	struct ringside_msg hdr;
	int memfd = -1;
	ssize_t n;

	(void)what;
	/* only a HELLO may carry a descriptor (a memfd handed back) */
	n = rs_control_recv(fd, buf, sizeof(buf),
			    s->state == RS_SESSION_HANDSHAKE ? &memfd : NULL);
	if (n == -EAGAIN)
		return;
	if (n == -EMSGSIZE || n == -EBADMSG) {
		rs_session_violation(s, n == -EMSGSIZE
						? "control message too large"
						: "more than one descriptor");
		return;
	}
	if (n <= 0) {
		session_client_gone(s);
		return;
	}
	if ((size_t)n < sizeof(hdr)) {
		if (memfd >= 0)
			close(memfd);
		rs_session_violation(s, "control message too short");
		return;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.len != (uint32_t)n) {
		if (memfd >= 0)
			close(memfd);
		rs_session_violation(s, "control message length mismatch");
		return;
	}
	if (s->state == RS_SESSION_HANDSHAKE &&
	    hdr.type == RINGSIDE_MSG_STATUS) {
		if (memfd >= 0)
			close(memfd);
		session_on_status(s, buf, (size_t)n);
		return;
	}
	if (s->state == RS_SESSION_HANDSHAKE &&
	    hdr.type == RINGSIDE_MSG_HELLO) {
		session_on_hello(s, buf, (size_t)n, memfd);
		return;
	}
	if (memfd >= 0)
		close(memfd);
	if (s->state == RS_SESSION_OPEN && hdr.type == RINGSIDE_MSG_TOPIC)
		session_on_topic(s, buf, (size_t)n);
	else if (s->state == RS_SESSION_OPEN && hdr.type == RINGSIDE_MSG_RESUME)
		session_on_resume(s, (size_t)n);
	else
		rs_session_violation(s, "unexpected control message");
}

uint32_t rs_session_recheck(struct rs_session *s, int *acl_refused)
{
	const struct rs_config *cfg = rs_session_cfg(s);
	struct rs_topic_policy pol;
	uint32_t n = 0;

	*acl_refused = s->state == RS_SESSION_OPEN &&
		       !rs_acl_allows(&cfg->acl, &s->peer);
	for (uint32_t i = 0; i < s->ntopics; i++) {
		const char *name = s->names[i];
		int was = s->refused[i];

		if (s->topics[i] == *s->env->refused_topic) {
			n++; /* refused at a resume: stays so */
			continue;
		}
		s->refused[i] =
			rs_config_topic(cfg, name, &pol) < 0 ||
					!rs_acl_allows(pol.acl, &s->peer)
				? RINGSIDE_EDENIED
				: 0;
		if (s->refused[i] != 0 && was == 0)
			rs_session_log(RS_LOG_NOTICE, s,
				       "topic %s is no longer allowed: its "
				       "records are refused (RINGSIDE_EDENIED)",
				       name);
		n += s->refused[i] != 0;
	}
	return n;
}
