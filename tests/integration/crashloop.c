/* SPDX-License-Identifier: MIT */
/*
 * crashloop: several client processes send known sequences of records
 * while the test kills ringsided with SIGKILL at random moments and starts
 * it again, over and over (every fourth time a SIGTERM instead: a service
 * restart, with a short shutdown_timeout_ms, so what is in flight is
 * spooled); for a stretch in the middle every broker is down too. The clients
 * never stop: their library hands each session to the next daemon. Afterwards a
 * consumer must find every record every client sent (missing = 0); duplicates
 * are allowed (at least once) and printed, with per-key order violations.
 *
 * RS_CRASH_SEED picks the moments (printed, so a run can be repeated);
 * RS_CRASH_KILLS (default 20) and RS_CRASH_RECORDS (records per client
 * thread, default 15000) make a longer run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"
#include "records.h"
#include "verify.h"

#define WRITERS 3U
#define THREADS 2U
#define KEYS 7

static const struct v_topic topics[] = { { "crash", 12, -1 } };

/* The first record of thread (w, t) not in Kafka, or sent if none. */
static unsigned int first_missing(struct v_ctx *v, unsigned int w,
				  unsigned int t, unsigned int sent)
{
	for (unsigned int s = 0; s < sent; s++) {
		struct rec_id id = { .w = w, .t = t, .s = s };

		if (v_get(v, rec_opaque(&id))->count == 0)
			return s;
	}
	return sent;
}

static unsigned int count_missing(struct h_env *e, const struct h_client *c,
				  unsigned int per_thread, size_t *dups,
				  size_t *order, int verbose)
{
	unsigned int missing = 0;
	struct v_ctx v;

	v_init(&v, WRITERS, THREADS, per_thread, KEYS, topics, 1);
	v_consume(&v, e);
	CHECK(v.bad_content == 0, "%zu records differ from what was sent",
	      v.bad_content);
	for (unsigned int w = 0; w < WRITERS; w++)
		for (unsigned int t = 0; t < THREADS; t++) {
			int contiguous;
			unsigned int got = v_arrived(&v, w, t, &contiguous);

			missing += c[w].sent[t] - got;
			if (verbose && got < c[w].sent[t])
				fprintf(stderr,
					"writer %u thread %u: %u of %u "
					"missing, the first is %u\n",
					w, t, c[w].sent[t] - got, c[w].sent[t],
					first_missing(&v, w, t, c[w].sent[t]));
		}
	*dups = v.duplicates;
	*order = v.order_violations;
	v_free(&v);
	return missing;
}

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	unsigned int seed =
		(unsigned int)strtoul(h_env_or("RS_CRASH_SEED", "0"), NULL, 0);
	unsigned int kills =
		(unsigned int)atoi(h_env_or("RS_CRASH_KILLS", "20"));
	unsigned int per_thread =
		(unsigned int)atoi(h_env_or("RS_CRASH_RECORDS", "15000"));
	char out[WRITERS][400], id[WRITERS][16], nrec[16];
	struct h_client c[WRITERS];
	unsigned int missing = 0, down_from, down_to;
	size_t dups = 0, order = 0;
	pid_t pids[WRITERS];
	struct h_env e;
	int64_t t0, deadline;

	if (seed == 0)
		seed = (unsigned int)time(NULL);
	srand(seed);
	/* brokers down for the middle third of the kills */
	down_from = kills / 3;
	down_to = 2 * kills / 3;
	printf("crashloop: seed %u (RS_CRASH_SEED=%u repeats this run), %u "
	       "kills, brokers down from kill %u to kill %u\n",
	       seed, seed, kills, down_from, down_to);

	h_init(&e, "crashloop");
	h_mock_start(&e, 3);
	h_topic(&e, topics[0].name, topics[0].partitions);
	h_write_config(&e,
		       "ring_size = 1M\nmax_record_bytes = 64K\n"
		       "shutdown_timeout_ms = 300\n",
		       "enable.idempotence = true\nlinger.ms = 5\n"
		       "socket.timeout.ms = 5000\ncompression.codec = lz4\n"
		       "[topic:*]\nacks = all\nbacklog_ms = 500\n");
	h_daemon_start(&e);
	snprintf(nrec, sizeof(nrec), "%u", per_thread);
	for (unsigned int w = 0; w < WRITERS; w++) {
		const char *argv[] = { client,
				       "--socket",
				       e.sock,
				       "--id",
				       id[w],
				       "--threads",
				       "2",
				       "--records",
				       nrec,
				       "--rate",
				       "3000",
				       "--keys",
				       "7",
				       "--topics",
				       topics[0].name,
				       "--no-reports",
				       NULL };

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e.dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}

	t0 = h_now_ms();
	for (unsigned int k = 0; k < kills; k++) {
		int rc;

		usleep((useconds_t)(50 + rand() % 350) * 1000);
		if (k == down_from)
			CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0,
			      "brokers down");
		if (k == down_to)
			CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0,
			      "brokers up");
		if (k % 4 == 3) {
			rc = h_daemon_stop(&e, SIGTERM, 10000);
			CHECK(rc == 0, "stop %u: ringsided status %d", k, rc);
		} else {
			rc = h_daemon_stop(&e, SIGKILL, 5000);
			CHECK(rc == 128 + SIGKILL,
			      "kill %u: ringsided status %d", k, rc);
		}
		h_daemon_start(&e);
	}
	if (kills <= down_to)
		CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "brokers up");
	printf("crashloop: %u kills in %lld ms\n", kills,
	       (long long)(h_now_ms() - t0));

	/* every client finishes: each record delivered or in the spool */
	for (unsigned int w = 0; w < WRITERS; w++) {
		CHECK(h_wait(pids[w], 240000) == 0, "client %u failed", w);
		h_read_client(out[w], &c[w]);
		/* finished: its reports may have been dropped (each kill
		 * drops those of records that went through the spool while
		 * the session was away), and ringside_flush() says so */
		CHECK(c[w].complete && (c[w].flush_rc == 0 ||
					c[w].flush_rc == RINGSIDE_EDROPPED),
		      "client %u did not finish (flush %d)", w, c[w].flush_rc);
		for (unsigned int t = 0; t < THREADS; t++)
			CHECK(c[w].sent[t] == per_thread,
			      "client %u thread %u sent %u of %u", w, t,
			      c[w].sent[t], per_thread);
	}
	/* and the last daemon delivers what is spooled */
	deadline = h_now_ms() + 120000;
	while ((missing = count_missing(&e, c, per_thread, &dups, &order, 0)) >
		       0 &&
	       h_now_ms() < deadline)
		usleep(1000 * 1000);
	if (missing > 0)
		(void)count_missing(&e, c, per_thread, &dups, &order, 1);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	printf("crashloop: seed %u: %u records from %u processes, ringsided "
	       "killed %u times (%u of them SIGTERM): missing %u, duplicates "
	       "%zu, per-key order violations %zu\n",
	       seed, per_thread * WRITERS * THREADS, WRITERS, kills, kills / 4,
	       missing, dups, order);
	CHECK(missing == 0, "%u records missing (seed %u)", missing, seed);
	for (unsigned int w = 0; w < WRITERS; w++)
		h_client_free(&c[w]);
	h_cleanup(&e);
	return 0;
}
