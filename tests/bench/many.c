/* SPDX-License-Identifier: MIT */
/*
 * many.c: comparison 7, many client processes. A host runs dozens of
 * services, each sending a little: N processes, each with its own session
 * (or, on the other side, its own in-process librdkafka producer), send R
 * records/s of 100 B with an 8-byte key, acks=all, idempotence off,
 * sleeping between sends, for a fixed time, then wait for every report.
 * ringside's side: ring_size 1M, everything else as shipped.
 *
 * For each run: sends refused, records spilled to the spool, records
 * delivered, when the last report came (after the senders stopped), total
 * CPU and memory (ringsided plus its clients, against the N producers),
 * and the time inside the send call. A poller asks ringsided for its
 * status every 250 ms and keeps the slowest answer: the event loop must
 * answer within 100 ms whatever the load.
 *
 * Two sweeps: a fixed aggregate rate over N = 1, 8, 64, 128; and, for
 * each N, the aggregate rate raised step by step until ringside no longer
 * delivers everything without a refusal or a spill (its saturation).
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "client/ringside.h"
#include "client/ringside_proto.h"
#include "many.h"

#define MANY_MAX 256
#define VALUE_SIZE 100

struct many_res {
	uint64_t sent, refused, delivered, failed, spooled;
	int64_t t_last_final_ns;
	struct hist call;
	struct rusage ru;
	int done;
};

struct many_run {
	int ringside;
	unsigned int n;
	double rate;	 /* per client, records/s */
	double seconds;	 /* of sending */
	int64_t t0_ns;	 /* when every client starts sending */
	const char *sock; /* ringside */
	const char *boot; /* in-process */
	const char *topic;
};

struct many_sum {
	uint64_t sent, refused, delivered, failed, spooled;
	double last_after_s; /* the last report, after the senders stopped */
	double cpu_s;	     /* the clients' (+ ringsided's) */
	long rss_kb;	     /* summed */
	uint64_t call_p50, call_p999;
	double status_max_ms;
	unsigned long long spilled;
};

static struct many_res *mres;

static void many_report(const ringside_report_t *r, void *arg)
{
	struct many_res *res = arg;

	if (r->stage == RINGSIDE_STAGE_SPOOLED) {
		res->spooled++;
		return;
	}
	if (r->status == 0)
		res->delivered++;
	else
		res->failed++;
	res->t_last_final_ns = now_ns();
}

static void many_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *arg)
{
	struct many_res *res = arg;

	(void)rk;
	if (m->err == 0)
		res->delivered++;
	else
		res->failed++;
	res->t_last_final_ns = now_ns();
}

static rd_kafka_t *many_kafka(const struct many_run *run, struct many_res *res)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", run->boot, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "acks", "all", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.idempotence", "false", errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	rd_kafka_conf_set_dr_msg_cb(conf, many_dr);
	rd_kafka_conf_set_opaque(conf, res);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		die("rd_kafka_new: %s", errstr);
	return rk;
}

/* Sleeps until t (monotonic ns), serving reports meanwhile; not at all
 * when t is under a millisecond away: the records go in small bursts, as
 * a service's do (a sleep per record at thousands a second per process
 * would spend the machine in timer wake-ups). */
static void many_wait(int64_t t, ringside_t *rs, rd_kafka_t *rk,
		      struct many_res *res)
{
	for (;;) {
		int64_t left = t - now_ns();
		struct timespec ts;

		if (left < 1000000)
			return;
		if (rs != NULL)
			(void)ringside_poll(rs, many_report, res);
		else
			rd_kafka_poll(rk, 0);
		left = t - now_ns();
		if (left < 1000000)
			return;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		nanosleep(&ts, NULL);
	}
}

static void many_child(const struct many_run *run, struct many_res *res)
{
	uint64_t total = (uint64_t)(run->rate * run->seconds);
	int64_t interval = (int64_t)(1e9 / run->rate);
	char value[VALUE_SIZE], err[256];
	ringside_topic_t *topic = NULL;
	rd_kafka_topic_t *rkt = NULL;
	ringside_t *rs = NULL;
	rd_kafka_t *rk = NULL;

	memset(value, 'v', sizeof(value));
	if (run->ringside) {
		rs = ringside_open(run->sock, err, sizeof(err));
		if (rs == NULL || ringside_topic(rs, run->topic, &topic) != 0)
			die("many: cannot open a session: %s", err);
	} else {
		rk = many_kafka(run, res);
		rkt = rd_kafka_topic_new(rk, run->topic, NULL);
	}
	many_wait(run->t0_ns, rs, rk, res);
	for (uint64_t i = 0; i < total; i++) {
		char key[8];
		int64_t a, b;
		int ok;

		many_wait(run->t0_ns + (int64_t)i * interval, rs, rk, res);
		memcpy(key, &i, sizeof(key));
		a = now_ns();
		if (rs != NULL) {
			ok = ringside_send(rs, topic, key, sizeof(key), value,
					   sizeof(value), i) == 0;
		} else {
			ok = rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA,
					      RD_KAFKA_MSG_F_COPY, value,
					      sizeof(value), key, sizeof(key),
					      NULL) == 0;
		}
		b = now_ns();
		hist_add(&res->call, (uint64_t)(b - a));
		if (ok)
			res->sent++;
		else
			res->refused++; /* not retried: a non-blocking app */
	}
	if (rs != NULL) {
		(void)ringside_flush(rs, 60000, many_report, res);
		ringside_close(rs);
	} else {
		rd_kafka_flush(rk, 60000);
		rd_kafka_topic_destroy(rkt);
		rd_kafka_destroy(rk);
	}
	res->done = 1;
	_exit(0);
}

/* Milliseconds ringsided took to answer one STATUS request, or -1. */
static double status_ms(const char *sock)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ringside_msg_status m = {
		.hdr = { RINGSIDE_MSG_STATUS, sizeof(m) },
	};
	char buf[sizeof(struct ringside_msg) + RINGSIDE_STATUS_CHUNK];
	int64_t t0 = now_ns();
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	double ms = -1;

	if (strlen(sock) >= sizeof(sun.sun_path))
		goto out;
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    send(fd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		goto out;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 10000) != 1)
			goto out;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(struct ringside_msg))
			goto out;
		if (((struct ringside_msg *)buf)->type ==
		    RINGSIDE_MSG_STATUS_END)
			break;
	}
	ms = (double)(now_ns() - t0) / 1e6;
out:
	if (fd >= 0)
		close(fd);
	return ms;
}

/* Runs one side; the sums in *s. */
static void many_one(struct cluster *c, struct many_run *run,
		     struct many_sum *s)
{
	static pid_t pids[MANY_MAX];
	struct daemon d = { 0 };
	double cpu0 = 0;
	int64_t end_ns;
	pid_t poller = -1;
	double *status_max = shared_alloc(sizeof(double));

	memset(s, 0, sizeof(*s));
	memset(mres, 0, sizeof(*mres) * MANY_MAX);
	cluster_topic(c, run->topic, 16);
	if (run->ringside) {
		daemon_start(&d, c, "all",
			     "ring_size = 1M\nmax_record_bytes = 100000\n"
			     "max_sessions_per_uid = 256\n");
		run->sock = d.sock;
		cpu0 = daemon_cpu(&d);
	}
	run->boot = c->bootstraps;
	/* every client opens first; sending starts for all at t0 */
	run->t0_ns = now_ns() + 1500000000LL + (int64_t)run->n * 20000000LL;
	end_ns = run->t0_ns + (int64_t)(run->seconds * 1e9);
	fflush(NULL);
	for (unsigned int i = 0; i < run->n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0)
			many_child(run, &mres[i]);
	}
	if (run->ringside) {
		poller = fork();
		if (poller == 0) {
			double worst = 0;

			while (now_ns() < end_ns + 2000000000LL) {
				double ms = status_ms(d.sock);

				if (ms < 0 || ms > worst)
					worst = ms < 0 ? 1e9 : ms;
				*status_max = worst;
				usleep(250000);
			}
			_exit(0);
		}
	}
	for (unsigned int i = 0; i < run->n; i++) {
		int st;

		if (wait4(pids[i], &st, 0, &mres[i].ru) != pids[i] ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !mres[i].done)
			die("many: a client failed");
	}
	if (poller > 0)
		waitpid(poller, NULL, 0);
	for (unsigned int i = 0; i < run->n; i++) {
		const struct many_res *r = &mres[i];
		double after = (double)(r->t_last_final_ns - end_ns) / 1e9;

		s->sent += r->sent;
		s->refused += r->refused;
		s->delivered += r->delivered;
		s->failed += r->failed;
		s->spooled += r->spooled;
		if (after > s->last_after_s)
			s->last_after_s = after;
		s->cpu_s += (double)r->ru.ru_utime.tv_sec +
			    (double)r->ru.ru_utime.tv_usec / 1e6 +
			    (double)r->ru.ru_stime.tv_sec +
			    (double)r->ru.ru_stime.tv_usec / 1e6;
		s->rss_kb += r->ru.ru_maxrss;
	}
	{
		struct hist all;

		hist_reset(&all);
		for (unsigned int i = 0; i < run->n; i++)
			hist_merge(&all, &mres[i].call);
		s->call_p50 = hist_quantile(&all, 0.5);
		s->call_p999 = hist_quantile(&all, 0.999);
	}
	if (run->ringside) {
		s->cpu_s += daemon_cpu(&d) - cpu0;
		s->rss_kb += daemon_peak_rss_kb(&d);
		s->status_max_ms = *status_max;
		daemon_stop(&d);
		s->spilled = daemon_spilled(&d);
		rmdir_tree(d.dir);
	}
	munmap(status_max, sizeof(double));
}

/* 1 if ringside kept its promise in this run: nothing refused, nothing
 * spilled, everything delivered within a second of the end. */
static int many_ok(const struct many_sum *s)
{
	return s->refused == 0 && s->spilled == 0 &&
	       s->failed == 0 && s->delivered == s->sent &&
	       s->last_after_s <= 1.0;
}

static void many_row(many_out_fn out, const char *what, int ringside,
		     const struct many_sum *s)
{
	char status[32] = "";

	if (ringside)
		snprintf(status, sizeof(status), "%.0f ms", s->status_max_ms);
	out("| %s | %s | %llu | %llu | %llu of %llu | %.2f s | %.1f | %ld "
	    "| %.2f / %.1f µs | %s |\n",
	    what, ringside ? "ringside" : "in-process",
	    (unsigned long long)s->refused, (unsigned long long)s->spilled,
	    (unsigned long long)s->delivered, (unsigned long long)s->sent,
	    s->last_after_s, s->cpu_s, s->rss_kb / 1024,
	    (double)s->call_p50 / 1000.0, (double)s->call_p999 / 1000.0,
	    status);
}

static const char *many_why(const struct many_sum *s)
{
	return s->refused			 ? "refused"
	       : s->spilled || s->spooled	 ? "spilled"
	       : s->failed || s->delivered < s->sent ? "lost"
						 : "late";
}

#define MANY_HEADER                                                          \
	"| N × R | side | refused | spilled | delivered | last report "      \
	"after the end | CPU s | RSS MiB | in the call p50 / p99.9 | "         \
	"status max |\n|---|---|---|---|---|---|---|---|---|---|\n"

/* Both sides at n x rate; goals (CPU, memory, the control socket) where
 * judged, else the ratios only. */
static void many_pair(struct cluster *c, unsigned int n, double rate,
		      double seconds, int judged, many_out_fn out,
		      many_goal_fn goal)
{
	struct many_run run = { .n = n, .seconds = seconds, .rate = rate,
				.topic = "many" };
	struct many_sum k, r;
	char what[64];
	double cpu, rss;

	snprintf(what, sizeof(what), "%u × %.0f", n, rate);
	run.ringside = 0;
	many_one(c, &run, &k);
	run.ringside = 1;
	many_one(c, &run, &r);
	many_row(out, what, 0, &k);
	many_row(out, what, 1, &r);
	cpu = r.cpu_s / k.cpu_s;
	rss = (double)r.rss_kb / (double)k.rss_kb;
	if (judged)
		out("| | ratio | | | | | %.2f× (≤ 0.5×: %s) | %.2f× (≤ 0.5×: "
		    "%s) | | ≤ 100 ms: %s |\n",
		    cpu, goal(cpu <= 0.5), rss, goal(rss <= 0.5),
		    goal(r.status_max_ms <= 100));
	else
		out("| | ratio | | | | | %.2f× | %.2f× | | ≤ 100 ms: %s |\n",
		    cpu, rss, goal(r.status_max_ms <= 100));
	out("| | ringside kept every record | %s | | | | | | | |\n",
	    goal(many_ok(&r)));
}

void bench_many(struct cluster *c, double scale, many_out_fn out,
		many_goal_fn goal)
{
	static const unsigned int ns[] = { 1, 8, 64, 128 };
	static const unsigned int grow[] = { 16, 32, 64, 128, 192, 256 };
	double seconds = 10 * scale < 1 ? 1 : 10 * scale;
	double short_s = seconds / 2 < 1 ? 1 : seconds / 2;
	double fixed = 256000, per_client = 2000, best[4] = { 0 };
	double step = 128000;
	int steps = scale < 0.5 ? 2 : 8; /* a smoke run: two steps */

	mres = shared_alloc(sizeof(*mres) * MANY_MAX);
	out("\n## 7. Many client processes\n\n"
	    "N processes each send R records/s of 100 B with an 8-byte key "
	    "(acks=all, idempotence off, sleeping between sends), then wait "
	    "for every report. ringside: one ringsided, a session per "
	    "process, `ring_size = 1M` (and `max_record_bytes = 100000`, "
	    "which a 1M ring requires), `max_sessions_per_uid = 256`; "
	    "in-process: a librdkafka producer per process (linger.ms 5). "
	    "Refused sends are not retried. CPU is the clients' plus "
	    "ringsided's; memory their peak RSS summed (the ring is counted "
	    "in both the client and ringsided). The status column is "
	    "ringsided's slowest answer to a STATUS request made every "
	    "250 ms during the run.\n\n"
	    "A fixed aggregate rate, %.0fk records/s, from N = 1 to 128 "
	    "(%.0f s runs; the goals hold for N = 64 and 128):\n\n" MANY_HEADER,
	    fixed / 1000, seconds);
	for (size_t i = 0; i < 4; i++)
		many_pair(c, ns[i], fixed / ns[i], seconds, ns[i] >= 64, out,
			  goal);

	out("\nA fixed rate per client, %.0f records/s, N growing until "
	    "ringside misses (%.0f s runs):\n\n" MANY_HEADER,
	    per_client, short_s);
	for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
		struct many_run run = { .ringside = 1, .n = grow[i],
					.seconds = short_s,
					.rate = per_client,
					.topic = "many-grow" };
		struct many_sum k, r;
		char what[64];

		if (scale < 0.5 && i > 1)
			break;
		snprintf(what, sizeof(what), "%u × %.0f", grow[i], per_client);
		many_one(c, &run, &r);
		run.ringside = 0;
		many_one(c, &run, &k);
		many_row(out, what, 0, &k);
		many_row(out, what, 1, &r);
		if (!many_ok(&r)) {
			out("| | ringside missed: %s | | | | | | | | |\n",
			    many_why(&r));
			break;
		}
	}

	out("\nSaturation: for each N, the aggregate rate raised in steps of "
	    "%.0fk records/s until a run refuses, spills, loses, or delivers "
	    "the last record over a second after the end (%.0f s runs).\n\n"
	    "| N | highest aggregate rate kept | first rate missed | why |\n"
	    "|---|---|---|---|\n",
	    step / 1000, short_s);
	for (size_t i = 0; i < 4; i++) {
		const char *why = "(not reached)";
		double missed = 0;

		for (int j = 1; j <= steps; j++) {
			struct many_run run = {
				.ringside = 1,
				.n = ns[i],
				.seconds = short_s,
				.topic = "many-sat",
				.rate = step * j / ns[i],
			};
			struct many_sum r;

			many_one(c, &run, &r);
			if (!many_ok(&r)) {
				missed = step * j;
				why = many_why(&r);
				break;
			}
			best[i] = step * j;
		}
		if (missed > 0)
			out("| %u | %.0fk/s | %.0fk/s | %s |\n", ns[i],
			    best[i] / 1000, missed / 1000, why);
		else
			out("| %u | %.0fk/s | | %s |\n", ns[i], best[i] / 1000,
			    why);
	}
	{
		double lo = best[0], hi = best[0];

		for (size_t i = 1; i < 4; i++) {
			if (best[i] < lo)
				lo = best[i];
			if (best[i] > hi)
				hi = best[i];
		}
		out("\nThe highest rate kept is the same within 10%% for every "
		    "N: %s (%.0fk/s to %.0fk/s).\n",
		    goal(lo > 0 && hi <= lo * 1.1), lo / 1000, hi / 1000);
	}
	munmap(mres, sizeof(*mres) * MANY_MAX);
}
