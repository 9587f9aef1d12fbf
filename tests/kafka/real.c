/* SPDX-License-Identifier: MIT */
/*
 * real: ringside against a real Apache Kafka 4.x cluster (a KRaft
 * controller and three brokers, tests/kafka/cluster.sh), on the behaviours
 * only a real broker has. Every scenario runs the real ringsided, sends
 * with real client processes or libringside itself, and reads everything
 * back with an independent consumer to compare with what was sent and
 * with the reports: counts, duplicates, per-key order, partition and
 * offset.
 *
 *   e2e          acks 0, 1 and all, keys, headers, zstd
 *   leader-kill  the partition leader's broker killed -9 mid-stream,
 *                restarted (acks=all, idempotence): 0 lost, 0 duplicates
 *   min-isr      two of three brokers down, below min.insync.replicas:
 *                records spill, none fails, all delivered on return
 *   too-big      a record over the topic's max.message.bytes fails with
 *                the broker's reason; the records around it do not
 *   unknown      a topic that does not exist: reported unknown topic
 *   acl          SASL/PLAIN and Kafka ACLs: no WRITE is RINGSIDE_EAUTH
 *   outage       every broker down for RS_KAFKA_OUTAGE_S (default 65 s,
 *                longer than any timeout), then back: 0 lost
 *   crash        ringsided kill -9 while a leader election is under way
 *   busy         the outage with message.timeout.ms shorter than it, and
 *                both cores busy beside it: per-key order kept
 *   restart      ringsided stopped (SIGTERM) and started again on its
 *                spool while every broker is down: 0 lost, order kept
 *
 * RS_KAFKA_ONLY=a,b runs only those scenarios.
 *
 * Over 900 lines: ten scenarios, each a load, a fault and its checks,
 * sharing one cluster and the read-back above them; apart they would
 * each need the harness of the others.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "ringside.h"
#include "verify.h"

#define MAX_WRITERS 4
#define KEYS 11

static struct h_env cluster;

static int wanted(const char *name)
{
	const char *only = getenv("RS_KAFKA_ONLY");
	size_t n = strlen(name);

	if (only == NULL || *only == '\0')
		return 1;
	for (const char *p = only; (p = strstr(p, name)) != NULL; p += n)
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return 1;
	return 0;
}

/* A scenario's own directory, daemon and log, on the shared cluster. */
static void scenario_begin(struct h_env *e, const char *name)
{
	h_init(e, name);
	memcpy(e->kafka, cluster.kafka, sizeof(e->kafka));
	memcpy(e->bootstraps, cluster.bootstraps, sizeof(e->bootstraps));
	memcpy(e->sasl_bootstraps, cluster.sasl_bootstraps,
	       sizeof(e->sasl_bootstraps));
	printf("== %s\n", name);
}

static void scenario_end(struct h_env *e)
{
	if (e->daemon > 0)
		CHECK(h_daemon_stop(e, SIGTERM, 60000) == 0,
		      "ringsided exit status");
	CHECK(h_log_count(e, "protocol violation") == 0,
	      "the daemon saw a protocol violation");
	e->kafka[0] = '\0'; /* the cluster is the program's */
	h_cleanup(e);
	h_current = &cluster;
}

/* Every broker back, and every partition of topic with 3 in sync. */
static void heal(struct h_env *e, const char *topic)
{
	h_kafka_wait_isr(e, topic, 3, 120000);
}

struct load {
	const char *name;
	const char *topics; /* for rs_test_client --topics */
	const struct v_topic *vt;
	unsigned int nvt;
	unsigned int writers, threads, records;
	unsigned int rate; /* per thread and second; 0: flat out */
	/* called once the clients run; returns when the fault is over */
	void (*fault)(struct h_env *e, const struct load *l);
	int spills; /* the topic must have spilled */
	/* ringsided is killed: at least once, no final report for every
	 * record (the clients wait only for ring space) */
	int at_least_once;
	/* the clients wait only until each record is spooled or final */
	int no_final;
};

struct result {
	size_t consumed, duplicates;
	long long counted_dups;
	unsigned long long spooled;
	int64_t ms;
};

/* For a record reported delivered and not found: what the topic holds at
 * the reported offset, and which offsets the consumer saw on that
 * partition, so a failed run tells a consumer that stopped early (the
 * offset past what it read) from a record Kafka holds with other bytes
 * (the offset read, another value) from one it never had. */
static void explain_missing(struct h_env *e, const struct load *l,
			    const struct h_report *r)
{
	struct h_msg *msgs;
	int partitions = 0;
	long long lo = -1, hi = -1, n = 0;
	const struct h_msg *at = NULL;
	size_t nmsgs;

	for (unsigned int t = 0; t < l->nvt; t++)
		if (strcmp(l->vt[t].name, r->topic) == 0)
			partitions = l->vt[t].partitions;
	if (partitions == 0)
		return;
	nmsgs = h_consume(e, r->topic, partitions, &msgs);
	for (size_t i = 0; i < nmsgs; i++) {
		if (msgs[i].partition != r->partition)
			continue;
		n++;
		if (lo < 0 || msgs[i].offset < lo)
			lo = msgs[i].offset;
		if (msgs[i].offset > hi)
			hi = msgs[i].offset;
		if (msgs[i].offset == r->offset)
			at = &msgs[i];
	}
	fprintf(stderr,
		"%s: reported %s [%d] @%lld; a fresh read holds %lld records "
		"at offsets %lld..%lld there",
		l->name, r->topic, r->partition, (long long)r->offset, n, lo,
		hi);
	if (at != NULL) {
		char shown[49];
		size_t k = at->value_len < 48 ? at->value_len : 48;

		for (size_t j = 0; j < k; j++)
			shown[j] = at->value[j] >= 32 && at->value[j] < 127
					   ? at->value[j]
					   : '.';
		shown[k] = '\0';
		fprintf(stderr, ", and at that offset a value of %zu bytes: %s",
			at->value_len, shown);
	}
	fputc('\n', stderr);
	h_msgs_free(msgs, nmsgs);
}

static void check_reports(struct v_ctx *v, struct h_env *e,
			  const struct h_client *c, unsigned int w,
			  const struct load *l)
{
	size_t missing = 0;

	for (size_t i = 0; i < c->nreports; i++) {
		const struct h_report *r = &c->reports[i];
		const char *why = v_report_matches(v, r);

		if (r->stage != RINGSIDE_STAGE_SPOOLED && why != NULL &&
		    strcmp(why, "reported delivered, but not in Kafka") == 0 &&
		    missing++ < 4)
			explain_missing(e, l, r);
	}
	if (missing > 0)
		fprintf(stderr,
			"%s: client %u: %zu records reported delivered and "
			"not read back\n",
			l->name, w, missing);
	for (size_t i = 0; i < c->nreports; i++) {
		const struct h_report *r = &c->reports[i];
		const char *why;

		if (r->stage == RINGSIDE_STAGE_SPOOLED)
			continue;
		why = v_report_matches(v, r);
		/* a record Kafka holds twice (sent again as possibly
		 * persisted, and counted) is reported at one of its copies;
		 * the consumer remembers the first */
		if (why != NULL && v_get(v, r->opaque) != NULL &&
		    v_get(v, r->opaque)->count > 1 &&
		    strcmp(why, "reported offset differs from Kafka's") == 0)
			continue;
		CHECK(why == NULL, "%s: client %u opaque %llu: %s (status %d)",
		      l->name, w, (unsigned long long)r->opaque, why,
		      r->status);
	}
}

static unsigned int count_lost(struct v_ctx *v, const struct load *l)
{
	unsigned int lost = 0;

	for (unsigned int w = 0; w < l->writers; w++) {
		for (unsigned int t = 0; t < l->threads; t++) {
			int contiguous;

			lost += l->records - v_arrived(v, w, t, &contiguous);
		}
	}
	return lost;
}

/* Everything the topics hold, into v; returns the records sent and not
 * there. A partition whose leader has just moved may serve a high
 * watermark a fetch round behind what it acknowledged, and the consumer
 * stops at it: missing records are looked for twice more before they
 * count as lost, and the run says so. */
static unsigned int read_back(struct v_ctx *v, struct h_env *e,
			      const struct load *l)
{
	unsigned int lost = 0;

	for (int attempt = 1;; attempt++) {
		v_init(v, l->writers, l->threads, l->records, KEYS, l->vt,
		       l->nvt);
		v_consume(v, e);
		lost = count_lost(v, l);
		if (lost == 0 || attempt == 3)
			return lost;
		printf("%s: %u records not in Kafka at read %d; reading "
		       "again in 3 s\n",
		       l->name, lost, attempt);
		v_free(v);
		sleep(3);
	}
}

static void run_load(struct h_env *e, const struct load *l, struct result *res)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	char out[MAX_WRITERS][400], id[MAX_WRITERS][16], nrec[16], rate[16],
		threads[16];
	struct h_client c[MAX_WRITERS];
	pid_t pids[MAX_WRITERS];
	unsigned long long finals = 0, efull = 0;
	unsigned int lost, total = l->writers * l->threads * l->records;
	struct v_ctx v;
	int64_t t0 = h_now_ms();

	snprintf(nrec, sizeof(nrec), "%u", l->records);
	snprintf(rate, sizeof(rate), "%u", l->rate);
	snprintf(threads, sizeof(threads), "%u", l->threads);
	for (unsigned int w = 0; w < l->writers; w++) {
		const char *argv[] = {
			client,
			"--socket",
			e->sock,
			"--id",
			id[w],
			"--threads",
			threads,
			"--records",
			nrec,
			"--keys",
			"11",
			"--topics",
			l->topics,
			"--rate",
			rate,
			l->at_least_once || l->no_final ? NULL : "--final",
			"400",
			NULL
		};

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e->dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}
	if (l->fault != NULL)
		l->fault(e, l);
	for (unsigned int w = 0; w < l->writers; w++)
		CHECK(h_wait(pids[w], 420000) == 0, "%s: client %u failed",
		      l->name, w);
	res->ms = h_now_ms() - t0;
	for (unsigned int w = 0; w < l->writers; w++) {
		h_read_client(out[w], &c[w]);
		CHECK(c[w].complete, "%s: client %u did not finish", l->name,
		      w);
		CHECK(c[w].failures == 0, "%s: client %u: %llu records failed",
		      l->name, w, c[w].failures);
		CHECK(c[w].dropped == 0, "%s: client %u: %llu reports dropped",
		      l->name, w, c[w].dropped);
		for (unsigned int t = 0; t < l->threads; t++) {
			CHECK(c[w].sent[t] == l->records,
			      "%s: client %u thread %u sent %u", l->name, w, t,
			      c[w].sent[t]);
			efull += c[w].efull[t];
		}
		finals += c[w].finals;
		res->spooled += c[w].spooled;
	}
	CHECK(l->at_least_once || l->no_final || finals == total,
	      "%s: %llu final reports for %u records", l->name, finals, total);

	lost = read_back(&v, e, l);
	for (unsigned int w = 0; w < l->writers; w++) {
		check_reports(&v, e, &c[w], w, l);
		h_client_free(&c[w]);
	}
	CHECK(v.bad_content == 0, "%s: %zu records differ from what was sent",
	      l->name, v.bad_content);
	CHECK(h_daemon_stop(e, SIGTERM, 60000) == 0, "ringsided exit status");
	res->counted_dups = h_log_sum(e, "possible duplicates ");
	res->consumed = v.consumed;
	res->duplicates = v.duplicates;
	printf("%s: %u records in %lld ms: consumed %zu, lost %u, duplicates "
	       "%zu (ringsided counted %lld possible), per-key order "
	       "violations %zu, spooled reports %llu, sends refused %llu\n",
	       l->name, total, (long long)res->ms, v.consumed, lost,
	       v.duplicates, res->counted_dups, v.order_violations,
	       res->spooled, efull);
	CHECK(lost == 0, "%s: %u records lost", l->name, lost);
	if (l->at_least_once) {
		v_free(&v);
		return;
	}
	CHECK(v.order_violations == 0, "%s: %zu per-key order violations",
	      l->name, v.order_violations);
	CHECK((long long)v.duplicates <= res->counted_dups,
	      "%s: %zu duplicates, ringsided counted %lld possible", l->name,
	      v.duplicates, res->counted_dups);
	if (l->spills)
		CHECK(h_log_count(e, "spooling") > 0, "%s: nothing spilled",
		      l->name);
	v_free(&v);
}

static const char *base_kafka = "enable.idempotence = true\n"
				"compression.codec = zstd\n";

/* A load scenario's start: its directory, its topics made, ringsided
 * started with 4 MiB rings and base_kafka's settings followed by
 * sections (more [kafka] keys, then topic sections). */
static void load_begin(struct h_env *e, const char *dir, const struct load *l,
		       const char *sections)
{
	char kafka[1024];

	scenario_begin(e, dir);
	for (unsigned int i = 0; i < l->nvt; i++)
		h_topic(e, l->vt[i].name, l->vt[i].partitions);
	snprintf(kafka, sizeof(kafka), "%s%s", base_kafka, sections);
	h_write_config(e, "ring_size = 4M\n", kafka);
	h_daemon_start(e);
}

/* --- e2e ---------------------------------------------------------------*/

static void e2e(void)
{
	static const struct v_topic vt[] = {
		{ "real-acks0", 6, 0 },
		{ "real-acks1", 6, 1 },
		{ "real-all", 6, -1 },
	};
	const struct load l = {
		.name = "e2e",
		.topics = "real-acks0,real-acks1,real-all",
		.vt = vt,
		.nvt = 3,
		.writers = 3,
		.threads = 2,
		.records = 5000,
		.rate = 0,
		.fault = NULL,
	};
	struct result res = { 0 };
	struct h_env e;

	load_begin(
		&e, "real-e2e", &l,
		"[topic:real-acks0]\nacks = 0\n"
		"[topic:real-acks1]\nacks = 1\n[topic:real-all]\nacks = all\n");
	run_load(&e, &l, &res);
	CHECK(res.duplicates == 0, "e2e: %zu duplicates", res.duplicates);
	scenario_end(&e);
}

/* --- leader-kill -------------------------------------------------------*/

static void kill_leader(struct h_env *e, const struct load *l)
{
	int leader;

	usleep(1500 * 1000);
	leader = h_kafka_leader(e, l->vt[0].name, 0);
	CHECK(leader >= 1 && leader <= 3, "no leader for %s[0]", l->vt[0].name);
	h_kafka_broker(e, "kill", leader);
	printf("%s: broker %d (leader of %s[0]) killed -9\n", l->name, leader,
	       l->vt[0].name);
	usleep(3000 * 1000);
	h_kafka_broker(e, "restart", leader);
	printf("%s: broker %d restarted\n", l->name, leader);
	heal(e, l->vt[0].name);
}

static void leader_kill(void)
{
	static const struct v_topic vt[] = { { "real-leader", 6, -1 } };
	/* 4 s of sending, 20k records/s in all */
	const struct load l = {
		.name = "leader-kill",
		.topics = "real-leader",
		.vt = vt,
		.nvt = 1,
		.writers = 2,
		.threads = 2,
		.records = 20000,
		.rate = 5000,
		.fault = kill_leader,
		.spills = 0,
	};
	struct result res = { 0 };
	struct h_env e;

	load_begin(&e, "real-leader", &l, "[topic:*]\nacks = all\n");
	run_load(&e, &l, &res);
	scenario_end(&e);
}

/* --- min-isr -----------------------------------------------------------*/

static void two_down(struct h_env *e, const struct load *l)
{
	int leader, other;

	usleep(500 * 1000);
	leader = h_kafka_leader(e, l->vt[0].name, 0);
	other = leader % 3 + 1;
	/* two brokers, one of them the leader of partition 0 */
	h_kafka_broker(e, "kill", leader);
	h_kafka_broker(e, "kill", other);
	printf("%s: brokers %d and %d killed: one replica left, "
	       "min.insync.replicas is 2\n",
	       l->name, leader, other);
	usleep(8000 * 1000);
	h_kafka_broker(e, "restart", leader);
	h_kafka_broker(e, "restart", other);
	printf("%s: brokers %d and %d restarted\n", l->name, leader, other);
	heal(e, l->vt[0].name);
}

static void min_isr(void)
{
	static const struct v_topic vt[] = { { "real-isr", 6, -1 } };
	const struct load l = {
		.name = "min-isr",
		.topics = "real-isr",
		.vt = vt,
		.nvt = 1,
		.writers = 2,
		.threads = 2,
		.records = 20000,
		.rate = 4000,
		.fault = two_down,
		.spills = 1,
	};
	struct result res = { 0 };
	struct h_env e;

	load_begin(&e, "real-isr", &l,
		   "[topic:*]\nacks = all\nbacklog_ms = 1000\n");
	run_load(&e, &l, &res);
	scenario_end(&e);
}

/* --- one session in this process, for single records ---------------------*/

struct final {
	int status, kafka_error, stage;
	int32_t partition;
	int64_t offset;
};

struct finals {
	struct final *f;
	size_t n;
};

static void on_report(const ringside_report_t *r, void *ctx)
{
	struct finals *fs = ctx;

	if (r->stage == RINGSIDE_STAGE_SPOOLED || r->opaque >= fs->n)
		return;
	fs->f[r->opaque] =
		(struct final){ r->status, r->kafka_error, (int)r->stage,
				r->partition, r->offset };
}

/* Sends n records to topic; record i has value_len[i] bytes (random
 * letters, its index first) and key "k". Waits for every final report. */
static void send_each(struct h_env *e, const char *topic, size_t n,
		      const size_t *value_len, struct final *out)
{
	char err[256];
	ringside_t *rs = ringside_open(e->sock, err, sizeof(err));
	ringside_topic_t *t;
	struct finals fs = { out, n };

	CHECK(rs != NULL, "ringside_open: %s", err);
	CHECK(ringside_topic(rs, topic, &t) == 0, "topic %s", topic);
	for (size_t i = 0; i < n; i++) {
		char *v = malloc(value_len[i]);
		int rc;

		CHECK(v != NULL, "malloc");
		/* letters no compression shrinks much */
		for (size_t j = 0; j < value_len[i]; j++)
			v[j] = (char)('a' + (rand() % 26));
		snprintf(v, value_len[i], "%zu:", i);
		out[i].status = 1; /* no report yet */
		rc = ringside_send(rs, t, "k", 1, v, value_len[i], i);
		CHECK(rc == 0, "send %zu: %s", i, ringside_strerror(rc));
		free(v);
	}
	CHECK(ringside_flush(rs, 120000, on_report, &fs) == 0,
	      "%s: not every record finished in 120 s", topic);
	/* a spooled record is finished, and its final report comes later */
	for (int64_t deadline = h_now_ms() + 120000;;) {
		size_t waiting = 0;

		for (size_t i = 0; i < n; i++)
			waiting += out[i].status == 1;
		if (waiting == 0)
			break;
		CHECK(h_now_ms() < deadline,
		      "%s: %zu records without a final report after 120 s",
		      topic, waiting);
		(void)ringside_poll(rs, on_report, &fs);
		usleep(10 * 1000);
	}
	ringside_close(rs);
}

/* --- too-big -----------------------------------------------------------*/

static void too_big(void)
{
	enum { N = 41, BIG = 20 };
	size_t len[N];
	struct final f[N];
	struct h_msg *msgs;
	size_t n;
	char kafka[512];
	struct h_env e;

	scenario_begin(&e, "real-big");
	/* the topic takes batches up to 64 KiB; ringside takes 1 MiB */
	h_kafka_topic(&e, "real-big", 1, 3, "max.message.bytes=65536");
	snprintf(kafka, sizeof(kafka), "%s[topic:*]\nacks = all\n", base_kafka);
	h_write_config(&e, "ring_size = 4M\nmax_record_bytes = 1M\n", kafka);
	h_daemon_start(&e);
	for (size_t i = 0; i < N; i++)
		len[i] = i == BIG ? 300000 : 100;
	send_each(&e, "real-big", N, len, f);
	for (size_t i = 0; i < N; i++) {
		if (i == BIG) {
			CHECK(f[i].status == RINGSIDE_ERECORD_TOO_LARGE,
			      "the big record: status %d (%s)", f[i].status,
			      ringside_strerror(f[i].status));
			CHECK(f[i].kafka_error ==
				      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
			      "the big record failed with %d (%s), not the "
			      "broker's MESSAGE_TOO_LARGE",
			      f[i].kafka_error,
			      rd_kafka_err2str(f[i].kafka_error));
			continue;
		}
		CHECK(f[i].status == 0 && f[i].stage == RINGSIDE_STAGE_ACKED,
		      "record %zu beside the big one: status %d (%s) kafka "
		      "error %d",
		      i, f[i].status, ringside_strerror(f[i].status),
		      f[i].kafka_error);
	}
	n = h_consume(&e, "real-big", 1, &msgs);
	CHECK(n == N - 1, "consumed %zu, want %d", n, N - 1);
	for (size_t i = 0, want = 0; i < n; i++, want++) {
		if (want == BIG)
			want++;
		CHECK(msgs[i].value_len == 100 &&
			      (size_t)atoi(msgs[i].value) == want,
		      "record %zu consumed is not record %zu", i, want);
		CHECK(msgs[i].offset == f[want].offset,
		      "record %zu: reported offset %lld, consumed at %lld",
		      want, (long long)f[want].offset,
		      (long long)msgs[i].offset);
	}
	printf("too-big: the 300 kB record failed with the broker's %s "
	       "(status %s); the %d records around it delivered, offsets as "
	       "reported\n",
	       rd_kafka_err2name(f[BIG].kafka_error),
	       ringside_strerror(f[BIG].status), N - 1);
	h_msgs_free(msgs, n);
	scenario_end(&e);
}

/* --- unknown -----------------------------------------------------------*/

static void unknown(void)
{
	size_t len[3] = { 100, 100, 100 };
	struct final f[3];
	char kafka[512];
	struct h_env e;
	int64_t t0;

	scenario_begin(&e, "real-unknown");
	h_topic(&e, "real-known", 1);
	snprintf(kafka, sizeof(kafka), "%s[topic:*]\nacks = all\n", base_kafka);
	h_write_config(&e, "", kafka);
	h_daemon_start(&e);
	t0 = h_now_ms();
	send_each(&e, "real-nonexistent", 3, len, f);
	for (int i = 0; i < 3; i++)
		CHECK(f[i].status == RINGSIDE_EUNKNOWN_TOPIC,
		      "record %d to a missing topic: status %d (%s)", i,
		      f[i].status, ringside_strerror(f[i].status));
	printf("unknown: 3 records to a topic that does not exist reported "
	       "%s after %lld ms\n",
	       ringside_strerror(f[0].status), (long long)(h_now_ms() - t0));
	CHECK(h_log_count(&e, "spooling") == 0,
	      "records for a missing topic were spilled");
	send_each(&e, "real-known", 3, len, f);
	for (int i = 0; i < 3; i++)
		CHECK(f[i].status == 0, "record %d to an existing topic: %s", i,
		      ringside_strerror(f[i].status));
	scenario_end(&e);
}

/* --- acl ---------------------------------------------------------------*/

static void acl(void)
{
	size_t len[4] = { 100, 100, 100, 100 };
	struct final f[4];
	struct h_msg *msgs;
	char kafka[1024];
	struct h_env e;
	size_t n;

	scenario_begin(&e, "real-acl");
	h_topic(&e, "real-acl-open", 1);
	h_topic(&e, "real-acl-closed", 1);
	h_kafka_allow_write(&e, "User:alice", "real-acl-open");
	/* the daemon authenticates as alice; the config holds her secret
	 * and h_write_config() leaves it to this process's umask: make it
	 * the owner's alone, as the package does */
	snprintf(e.bootstraps, sizeof(e.bootstraps), "%s", e.sasl_bootstraps);
	snprintf(kafka, sizeof(kafka),
		 "%ssecurity.protocol = SASL_PLAINTEXT\n"
		 "sasl.mechanism = PLAIN\nsasl.username = alice\n"
		 "sasl.password = alice-secret\n[topic:*]\nacks = all\n",
		 base_kafka);
	h_write_config(&e, "", kafka);
	CHECK(chmod(e.conf, 0600) == 0, "chmod");
	h_daemon_start(&e);
	send_each(&e, "real-acl-open", 4, len, f);
	for (int i = 0; i < 4; i++)
		CHECK(f[i].status == 0, "alice, WRITE allowed: %s",
		      ringside_strerror(f[i].status));
	send_each(&e, "real-acl-closed", 4, len, f);
	for (int i = 0; i < 4; i++)
		CHECK(f[i].status == RINGSIDE_EAUTH,
		      "alice, no WRITE: status %d (%s), kafka error %d",
		      f[i].status, ringside_strerror(f[i].status),
		      f[i].kafka_error);
	snprintf(e.bootstraps, sizeof(e.bootstraps), "%s", cluster.bootstraps);
	n = h_consume(&e, "real-acl-open", 1, &msgs);
	CHECK(n == 4, "consumed %zu of the 4 allowed records", n);
	h_msgs_free(msgs, n);
	n = h_consume(&e, "real-acl-closed", 1, &msgs);
	CHECK(n == 0, "%zu records reached a topic alice may not write", n);
	printf("acl: SASL/PLAIN as alice: 4 of 4 delivered where she has "
	       "WRITE, 4 of 4 reported %s where she has none, none written "
	       "there\n",
	       ringside_strerror(RINGSIDE_EAUTH));
	scenario_end(&e);
}

/* --- outage, busy ------------------------------------------------------*/

static int outage_s(void)
{
	return atoi(h_env_or("RS_KAFKA_OUTAGE_S", "65"));
}

static void all_down_for(struct h_env *e, const struct load *l, int seconds)
{
	usleep(800 * 1000);
	for (int b = 1; b <= 3; b++)
		h_kafka_broker(e, "kill", b);
	printf("%s: every broker killed -9 for %d s\n", l->name, seconds);
	sleep((unsigned int)seconds);
	for (int b = 1; b <= 3; b++)
		h_kafka_broker(e, "restart", b);
	printf("%s: brokers restarted\n", l->name);
	for (unsigned int i = 0; i < l->nvt; i++)
		heal(e, l->vt[i].name);
}

static void all_down(struct h_env *e, const struct load *l)
{
	all_down_for(e, l, outage_s());
}

static void all_down_short(struct h_env *e, const struct load *l)
{
	all_down_for(e, l, 8);
}

static void outage(void)
{
	static const struct v_topic vt[] = { { "real-outage", 12, -1 } };
	const struct load l = {
		.name = "outage",
		.topics = "real-outage",
		.vt = vt,
		.nvt = 1,
		.writers = 4,
		.threads = 2,
		.records = 25000,
		.rate = 5000,
		.fault = all_down,
		.spills = 1,
	};
	struct result res = { 0 };
	struct h_env e;

	load_begin(&e, "real-outage", &l, "[topic:*]\nacks = all\n");
	run_load(&e, &l, &res);
	scenario_end(&e);
}

/* Until the daemon started last has logged "spool drained" more often
 * than before: the clients may be gone, it delivers their records. */
static void wait_drained(struct h_env *e, const struct load *l, int before)
{
	for (int64_t deadline = h_now_ms() + 240000;
	     h_log_count(e, "spool drained") == before;) {
		CHECK(h_now_ms() < deadline, "%s: the spool never drained",
		      l->name);
		usleep(100 * 1000);
	}
}

/* SIGTERM ringsided while every broker is down and the spool holds the
 * records; a new one takes the spool, then the brokers return */
static void restart_in_outage(struct h_env *e, const struct load *l)
{
	int64_t t0;
	int drained;

	usleep(800 * 1000);
	for (int b = 1; b <= 3; b++)
		h_kafka_broker(e, "kill", b);
	printf("%s: every broker killed -9\n", l->name);
	sleep(4);
	t0 = h_now_ms();
	CHECK(h_daemon_stop(e, SIGTERM, 60000) == 0,
	      "ringsided exit status during the outage");
	h_daemon_start(e);
	printf("%s: ringsided restarted on its spool in %lld ms, brokers "
	       "still down\n",
	       l->name, (long long)(h_now_ms() - t0));
	drained = h_log_count(e, "spool drained");
	sleep(2);
	for (int b = 1; b <= 3; b++)
		h_kafka_broker(e, "restart", b);
	printf("%s: brokers restarted\n", l->name);
	heal(e, l->vt[0].name);
	/* the clients may be gone: the new daemon delivers their records */
	wait_drained(e, l, drained);
	printf("%s: the new ringsided drained the spool %lld ms after the "
	       "restart\n",
	       l->name, (long long)(h_now_ms() - t0));
}

static void restart(void)
{
	static const struct v_topic vt[] = { { "real-restart", 12, -1 } };
	const struct load l = {
		.name = "restart",
		.topics = "real-restart",
		.vt = vt,
		.nvt = 1,
		.writers = 4,
		.threads = 2,
		.records = 15000,
		.rate = 5000,
		.fault = restart_in_outage,
		.spills = 1,
		.no_final = 1,
	};
	struct result res = { 0 };
	struct h_env e;

	load_begin(&e, "real-restart", &l,
		   "[topic:*]\nacks = all\nbacklog_ms = 1000\n");
	run_load(&e, &l, &res);
	scenario_end(&e);
}

static pid_t busy_loop(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		/* gone with the test, however it ends */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (volatile unsigned long i = 0;; i++)
			;
	}
	return pid;
}

static void busy(void)
{
	static const struct v_topic vt[] = { { "real-busy", 12, -1 } };
	const struct load l = {
		.name = "busy",
		.topics = "real-busy",
		.vt = vt,
		.nvt = 1,
		.writers = 4,
		.threads = 2,
		.records = 25000,
		.rate = 5000,
		.fault = all_down_short,
		.spills = 1,
	};
	struct result res = { 0 };
	struct h_env e;
	pid_t loops[2];

	load_begin(&e, "real-busy", &l,
		   "message.timeout.ms = 2000\n[topic:*]\nacks = all\n"
		   "backlog_ms = 1000\n");
	loops[0] = busy_loop();
	loops[1] = busy_loop();
	run_load(&e, &l, &res);
	for (int i = 0; i < 2; i++) {
		kill(loops[i], SIGKILL);
		waitpid(loops[i], NULL, 0);
	}
	scenario_end(&e);
}

/* --- crash -------------------------------------------------------------*/

static void crash_in_election(struct h_env *e, const struct load *l)
{
	int leader, drained;

	usleep(1500 * 1000);
	leader = h_kafka_leader(e, l->vt[0].name, 0);
	h_kafka_broker(e, "kill", leader);
	usleep(200 * 1000);
	CHECK(h_daemon_stop(e, SIGKILL, 10000) == 128 + SIGKILL,
	      "ringsided kill -9");
	printf("%s: broker %d (a leader) and then ringsided killed -9\n",
	       l->name, leader);
	drained = h_log_count(e, "spool drained");
	h_daemon_start(e);
	h_kafka_broker(e, "restart", leader);
	heal(e, l->vt[0].name);
	/* the clients wait only for ring space: the consumer must not read
	 * before the new daemon has replayed its spool (a run that did
	 * found 4,453 records "lost" that were still being replayed) */
	wait_drained(e, l, drained);
}

static void crash(void)
{
	static const struct v_topic vt[] = { { "real-crash", 6, -1 } };
	const struct load l = {
		.name = "crash",
		.topics = "real-crash",
		.vt = vt,
		.nvt = 1,
		.writers = 2,
		.threads = 2,
		.records = 15000,
		.rate = 5000,
		.fault = crash_in_election,
		.spills = 0,
		.at_least_once = 1,
	};
	struct result res = { 0 };
	struct h_env e;

	load_begin(&e, "real-crash", &l, "[topic:*]\nacks = all\n");
	run_load(&e, &l, &res);
	scenario_end(&e);
}

int main(void)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} all[] = {
		{ "e2e", e2e },		{ "leader-kill", leader_kill },
		{ "min-isr", min_isr }, { "too-big", too_big },
		{ "unknown", unknown }, { "acl", acl },
		{ "crash", crash },	{ "busy", busy },
		{ "restart", restart }, { "outage", outage },
	};
	int64_t t0;

	h_init(&cluster, "kafka");
	h_kafka_start(&cluster);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!wanted(all[i].name))
			continue;
		t0 = h_now_ms();
		all[i].run();
		printf("%s: passed in %lld ms\n", all[i].name,
		       (long long)(h_now_ms() - t0));
	}
	h_cleanup(&cluster);
	return 0;
}
