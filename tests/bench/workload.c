/* SPDX-License-Identifier: MIT */
/*
 * workload.c: the two sides of every comparison, each in forked children:
 * sender threads calling rd_kafka_producev(RD_KAFKA_MSG_F_COPY) or
 * ringside_send() with the same keys and values, at a fixed rate or flat
 * out, and the child's main thread collecting delivery reports.
 *
 * At a fixed rate, record i is due at t0 + i / rate; its latency is counted
 * from that moment, not from when the call began, so a stalled call also
 * charges the records queued behind it (no coordinated omission). A call
 * refused at a fixed rate is counted and not retried (what a non-blocking
 * application does); flat out, it is retried.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "client/ringside.h"

struct ctx {
	const struct workload *w;
	struct result *res;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	ringside_t *rs;
	ringside_topic_t *topic;
	int64_t *sent_at[MAX_THREADS];
	uint64_t finals;
	int senders_done;
	char *value;
};

struct thr {
	struct ctx *c;
	unsigned int idx;
	pthread_t th;
};

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	memset(p, 0, size);
	return p;
}

/*
 * The sender's clock: the TSC where the CPU has an invariant one (x86),
 * read in about 10 ns, so timing each call does not cost as much as the
 * calls being timed; clock_gettime() elsewhere. Calibrated once.
 */
#if defined(__x86_64__) || defined(__i386__)
static double ns_per_tick;

static void clock_init(void)
{
	int64_t n0 = now_ns(), n1;
	uint64_t t0 = __builtin_ia32_rdtsc(), t1;

	do
		n1 = now_ns();
	while (n1 - n0 < 50000000);
	t1 = __builtin_ia32_rdtsc();
	ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
}

static int64_t fast_ns(void)
{
	return (int64_t)((double)__builtin_ia32_rdtsc() * ns_per_tick);
}
#else
static void clock_init(void)
{
}

static int64_t fast_ns(void)
{
	return now_ns();
}
#endif

static void wait_until(int64_t t)
{
	int64_t left;

	while ((left = t - fast_ns()) > 0) {
		if (left > 200000) {
			struct timespec ts = { 0, left - 100000 };

			nanosleep(&ts, NULL);
		}
	}
}

/* 0: accepted; 1: full; -1: refused for another reason. */
static int send_one(struct ctx *c, unsigned int idx, uint64_t i)
{
	const struct workload *w = c->w;
	uint64_t opaque = ((uint64_t)idx << 40) | i;
	char key[16];
	int klen = snprintf(key, sizeof(key), "k%u-%u", idx,
			    (unsigned int)(i % 16));

	if (w->side == SIDE_RINGSIDE) {
		int rc = ringside_send(c->rs, c->topic, key, (size_t)klen,
				       c->value, w->size, opaque);

		return rc == 0 ? 0 : rc == RINGSIDE_EFULL ? 1 : -1;
	} else {
		rd_kafka_resp_err_t err = rd_kafka_producev(
			c->rk, RD_KAFKA_V_RKT(c->rkt),
			RD_KAFKA_V_KEY(key, (size_t)klen),
			RD_KAFKA_V_VALUE(c->value, w->size),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY |
					    (w->side == SIDE_KAFKA_BLOCK
						     ? RD_KAFKA_MSG_F_BLOCK
						     : 0)),
			RD_KAFKA_V_OPAQUE((void *)(uintptr_t)opaque),
			RD_KAFKA_V_END);

		return err == 0				      ? 0
		       : err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? 1
							      : -1;
	}
}

static void *sender(void *arg)
{
	struct thr *t = arg;
	struct ctx *c = t->c;
	const struct workload *w = c->w;
	struct hist *h = &c->res->send[t->idx], *hc = &c->res->call[t->idx];
	int64_t t0 = fast_ns(),
		interval = w->rate > 0 ? (int64_t)(1e9 / w->rate) : 0;

	if (t->idx == 0)
		c->res->t_first_ns = now_ns();
	for (uint64_t i = 0; i < w->records; i++) {
		int64_t start, end, call;
		int rc;

		if (interval > 0) {
			start = t0 + (int64_t)i * interval;
			wait_until(start);
		} else {
			start = fast_ns();
		}
		call = interval > 0 ? fast_ns() : start;
		while ((rc = send_one(c, t->idx, i)) == 1 && interval == 0)
			sched_yield(); /* flat out: wait for room */
		end = fast_ns();
		hist_add(h, (uint64_t)(end - start));
		hist_add(hc, (uint64_t)(end - call));
		if (rc == 0) {
			if (c->sent_at[t->idx] != NULL)
				c->sent_at[t->idx][i] = now_ns();
			__atomic_add_fetch(&c->res->sent, 1, __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&c->res->rejected, 1,
					   __ATOMIC_RELAXED);
		}
	}
	__atomic_store_n(&c->res->t_last_send_ns, now_ns(), __ATOMIC_RELAXED);
	return NULL;
}

static void final(struct ctx *c, uint64_t opaque, int ok)
{
	unsigned int idx = (unsigned int)(opaque >> 40);
	uint64_t i = opaque & ((1ULL << 40) - 1);
	int64_t now = now_ns();

	if (ok)
		c->res->delivered++;
	else
		c->res->failed++;
	if (ok && idx < MAX_THREADS && c->sent_at[idx] != NULL &&
	    i < c->w->records)
		hist_add(&c->res->e2e, (uint64_t)(now - c->sent_at[idx][i]));
	c->res->t_last_final_ns = now;
	c->finals++;
}

static void on_report(const ringside_report_t *r, void *arg)
{
	struct ctx *c = arg;

	if (r->stage == RINGSIDE_STAGE_SPOOLED) {
		c->res->spooled++;
		return;
	}
	final(c, r->opaque, r->status == 0);
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *arg)
{
	(void)rk;
	final(arg, (uint64_t)(uintptr_t)m->_private, m->err == 0);
}

static void kafka_open(struct ctx *c)
{
	const struct workload *w = c->w;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512], props[512], *kv, *save = NULL;

	rd_kafka_conf_set(conf, "bootstrap.servers", w->bootstraps, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "acks", w->acks, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	snprintf(props, sizeof(props), "%s",
		 w->kafka_props ? w->kafka_props : "");
	for (kv = strtok_r(props, ";", &save); kv != NULL;
	     kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		if (rd_kafka_conf_set(conf, kv, eq + 1, errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK)
			die("%s: %s", kv, errstr);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
	rd_kafka_conf_set_opaque(conf, c);
	c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (c->rk == NULL)
		die("rd_kafka_new: %s", errstr);
	c->rkt = rd_kafka_topic_new(c->rk, w->topic, NULL);
}

static void ringside_open_side(struct ctx *c)
{
	char err[256];
	int rc;

	c->rs = ringside_open(c->w->sock, err, sizeof(err));
	if (c->rs == NULL)
		die("ringside_open: %s", err);
	rc = ringside_topic(c->rs, c->w->topic, &c->topic);
	if (rc != 0)
		die("ringside_topic: %s", ringside_strerror(rc));
}

/* Serves the reports waiting, or sleeps until some arrive, as an
 * application would: on ringside_fd(), or in rd_kafka_poll(). */
static void serve(struct ctx *c, int timeout_ms)
{
	if (c->w->side == SIDE_RINGSIDE) {
		struct pollfd pfd = { .fd = ringside_fd(c->rs),
				      .events = POLLIN };

		if (ringside_poll(c->rs, on_report, c) == 0)
			(void)poll(&pfd, 1, timeout_ms);
	} else {
		rd_kafka_poll(c->rk, timeout_ms);
	}
}

/* Serves reports until every accepted record has a final one. */
static void collect(struct ctx *c)
{
	const struct workload *w = c->w;
	int64_t deadline = 0;

	for (;;) {
		int done = __atomic_load_n(&c->senders_done, __ATOMIC_ACQUIRE);
		uint64_t sent =
			__atomic_load_n(&c->res->sent, __ATOMIC_RELAXED);

		if (done && c->finals >= sent)
			break;
		if (done && deadline == 0)
			deadline = now_ns() +
				   (int64_t)w->final_timeout_s * 1000000000;
		if (deadline != 0 && now_ns() > deadline)
			break;
		serve(c, 10);
	}
}

static void child(const struct workload *w, struct result *res)
{
	struct thr thr[MAX_THREADS];
	struct ctx c = { .w = w, .res = res };

	clock_init();
	c.value = malloc(w->size);
	memset(c.value, 'v', w->size);
	for (unsigned int t = 0; w->e2e && t < w->threads; t++)
		c.sent_at[t] = calloc(w->records, sizeof(int64_t));
	if (w->side == SIDE_RINGSIDE)
		ringside_open_side(&c);
	else
		kafka_open(&c);
	for (unsigned int t = 0; t < w->threads; t++) {
		thr[t].c = &c;
		thr[t].idx = t;
		pthread_create(&thr[t].th, NULL, sender, &thr[t]);
	}
	/* the main thread serves reports while the senders run */
	for (;;) {
		uint64_t want = (uint64_t)w->threads * w->records;
		uint64_t tried =
			__atomic_load_n(&res->sent, __ATOMIC_RELAXED) +
			__atomic_load_n(&res->rejected, __ATOMIC_RELAXED);

		if (tried >= want)
			break;
		serve(&c, 10);
	}
	for (unsigned int t = 0; t < w->threads; t++)
		pthread_join(thr[t].th, NULL);
	__atomic_store_n(&c.senders_done, 1, __ATOMIC_RELEASE);
	if (w->flush_only && w->side == SIDE_RINGSIDE)
		(void)ringside_flush(c.rs, w->final_timeout_s * 1000, on_report,
				     &c);
	else if (w->flush_only)
		(void)rd_kafka_flush(c.rk, w->final_timeout_s * 1000);
	else
		collect(&c);
	if (w->side == SIDE_RINGSIDE) {
		ringside_close(c.rs);
	} else {
		rd_kafka_purge(c.rk, RD_KAFKA_PURGE_F_QUEUE |
					     RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(c.rk, 0);
		rd_kafka_topic_destroy(c.rkt);
		rd_kafka_destroy(c.rk);
	}
	res->done = 1;
	_exit(0);
}

void workload_start(const struct workload *w, struct result *res, pid_t *pids)
{
	unsigned int procs = w->side == SIDE_RINGSIDE ? w->procs : 1;

	if (procs < 1 || procs > MAX_PROCS || w->threads < 1 ||
	    w->threads > MAX_THREADS)
		die("workload: bad shape");
	memset(res, 0, sizeof(*res) * MAX_PROCS);
	fflush(NULL);
	for (unsigned int p = 0; p < procs; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			die("fork");
		if (pids[p] == 0)
			child(w, &res[p]);
	}
}

void workload_wait(const struct workload *w, struct result *res, pid_t *pids)
{
	unsigned int procs = w->side == SIDE_RINGSIDE ? w->procs : 1;

	for (unsigned int p = 0; p < procs; p++) {
		int status;

		if (wait4(pids[p], &status, 0, &res[p].ru) != pids[p] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    !res[p].done)
			die("a %s client failed", w->side == SIDE_RINGSIDE
							  ? "ringside"
							  : "librdkafka");
	}
}

void workload_run(const struct workload *w, struct result *res)
{
	pid_t pids[MAX_PROCS];

	workload_start(w, res, pids);
	workload_wait(w, res, pids);
}

static double tv(const struct timeval *t)
{
	return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

void summarize(const struct workload *w, const struct result *res,
	       struct summary *s)
{
	unsigned int procs = w->side == SIDE_RINGSIDE ? w->procs : 1;
	int64_t first = INT64_MAX, last = 0, last_send = 0;

	memset(s, 0, sizeof(*s));
	for (unsigned int p = 0; p < procs; p++) {
		const struct result *r = &res[p];

		for (unsigned int t = 0; t < w->threads; t++) {
			hist_merge(&s->send, &r->send[t]);
			hist_merge(&s->call, &r->call[t]);
		}
		hist_merge(&s->e2e, &r->e2e);
		s->sent += r->sent;
		s->rejected += r->rejected;
		s->delivered += r->delivered;
		s->failed += r->failed;
		s->spooled += r->spooled;
		if (r->t_first_ns < first)
			first = r->t_first_ns;
		if (r->t_last_final_ns > last)
			last = r->t_last_final_ns;
		if (r->t_last_send_ns > last_send)
			last_send = r->t_last_send_ns;
		s->cpu_s += tv(&r->ru.ru_utime) + tv(&r->ru.ru_stime);
		if (r->ru.ru_maxrss > s->rss_kb)
			s->rss_kb = r->ru.ru_maxrss;
	}
	s->seconds = (double)(last - first) / 1e9;
	s->send_seconds = (double)(last_send - first) / 1e9;
}
