/* SPDX-License-Identifier: MIT */
/*
 * fatal: one fatal producer error. The mock cluster answers one produce
 * request with an error that kills librdkafka's idempotent producer
 * (OUT_OF_ORDER_SEQUENCE_NUMBER, what a broker sends after an unclean
 * leader election). Before, ringsided kept the dead producer: every later
 * acks=all record of every topic was reported failed, and the spool's
 * records were failed and deleted. Now the producer is replaced, and
 * every record is delivered, in per-key order:
 *
 *   healthy:  the error arrives while two clients send to two topics;
 *   replay:   every broker is down, the records go to the spool, the
 *             error is pushed, the brokers return: replay meets it;
 *   epoch:    INVALID_PRODUCER_EPOCH, which 2.0.2 does not make fatal but
 *             hands to the delivery reports of one request's records (the
 *             old code reported them failed for good; they are sent again).
 *             Younger requests of the same partitions may already be on
 *             the wire: a broker rejects them too (their epoch and
 *             sequences follow the rejected batch), the mock appends them,
 *             so per-key order is printed here, not required.
 *
 * Everything is consumed back and compared with what was sent; each
 * report of a record Kafka holds once names its partition and offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "verify.h"

#define WRITERS 2U
#define THREADS 2U
#define PER_THREAD 5000U

static const struct v_topic topics[] = {
	{ "fatal-a", 6, -1 },
	{ "fatal-b", 6, -1 },
};

struct scenario {
	const char *name;
	rd_kafka_resp_err_t err;
	int outage; /* push it while the spool holds the records */
	int fatal;  /* librdkafka makes it fatal: the producer is replaced */
	int order;  /* the mock behaves as a broker here: order is checked */
};

static void run(const struct scenario *sc)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	char out[WRITERS][400], id[WRITERS][16], nrec[16], rate[16];
	struct h_client c[WRITERS];
	unsigned int lost = 0, checked = 0;
	pid_t pids[WRITERS];
	long long dups;
	struct h_env e;
	struct v_ctx v;

	h_init(&e, sc->name);
	h_mock_start(&e, 3);
	for (size_t i = 0; i < 2; i++)
		h_topic(&e, topics[i].name, topics[i].partitions);
	h_write_config(&e, "",
		       "enable.idempotence = true\nlinger.ms = 5\n"
		       "socket.timeout.ms = 10000\n"
		       "[topic:*]\nacks = all\nbacklog_ms = 500\n");
	h_daemon_start(&e);
	snprintf(nrec, sizeof(nrec), "%u", PER_THREAD);
	snprintf(rate, sizeof(rate), "%u", PER_THREAD / 2);
	for (unsigned int w = 0; w < WRITERS; w++) {
		const char *argv[] = { client,	    "--socket", e.sock,
				       "--id",	    id[w],	"--threads",
				       "2",	    "--records", nrec,
				       "--rate",    rate,	"--keys",
				       "7",	    "--topics", "fatal-a,fatal-b",
				       "--final",   "120",	NULL };

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e.dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}
	if (sc->outage) {
		usleep(200 * 1000);
		CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0, "down");
		sleep(2);
		/* the first produce request the brokers see when they are
		 * back fails the producer: replay meets it */
		rd_kafka_mock_push_request_errors(e.mc, 0 /* Produce */, 1,
						  sc->err);
		CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "up");
	} else {
		usleep(700 * 1000);
		rd_kafka_mock_push_request_errors(e.mc, 0 /* Produce */, 1,
						  sc->err);
	}
	for (unsigned int w = 0; w < WRITERS; w++)
		CHECK(h_wait(pids[w], 180000) == 0, "client %u failed", w);

	v_init(&v, WRITERS, THREADS, PER_THREAD, 7, topics, 2);
	v_consume(&v, &e);
	for (unsigned int w = 0; w < WRITERS; w++) {
		h_read_client(out[w], &c[w]);
		CHECK(c[w].complete, "client %u did not finish", w);
		CHECK(c[w].failures == 0,
		      "client %u: %llu records reported failed", w,
		      c[w].failures);
		CHECK(c[w].finals == (unsigned long long)THREADS * PER_THREAD,
		      "client %u: %llu final reports", w, c[w].finals);
		for (unsigned int t = 0; t < THREADS; t++) {
			int contiguous;

			lost += PER_THREAD - v_arrived(&v, w, t, &contiguous);
		}
		for (size_t i = 0; i < c[w].nreports; i++) {
			const struct h_report *r = &c[w].reports[i];
			struct v_rec *rec = v_get(&v, r->opaque);
			const char *why;

			if (r->stage == 3 || rec == NULL || rec->count != 1)
				continue; /* spooled, or in Kafka twice */
			why = v_report_matches(&v, r);
			CHECK(why == NULL, "report: %s", why);
			checked++;
		}
	}
	CHECK(v.bad_content == 0, "%zu records differ from what was sent",
	      v.bad_content);
	CHECK(h_daemon_stop(&e, 15, 30000) == 0, "ringsided exit status");
	dups = h_log_sum(&e, "possible duplicates ");
	printf("%s: %s %s: %u records, lost %u, duplicates %zu (ringsided "
	       "counted %lld possible), per-key order violations %zu, %u "
	       "reports checked against Kafka, producer replaced %d time(s)\n",
	       sc->name, rd_kafka_err2name(sc->err),
	       sc->outage ? "during replay" : "while sending",
	       WRITERS * THREADS * PER_THREAD, lost, v.duplicates, dups,
	       v.order_violations, checked,
	       h_log_count(&e, "had a fatal error"));
	CHECK(lost == 0, "%u records lost", lost);
	CHECK(!sc->order || v.order_violations == 0,
	      "%zu per-key order violations", v.order_violations);
	CHECK((long long)v.duplicates <= dups,
	      "more duplicates than ringsided counted");
	CHECK(!sc->fatal || h_log_count(&e, "had a fatal error") >= 1,
	      "the error did not reach the producer");
	CHECK(sc->fatal || h_log_count(&e, "delivery failed; sending again") >=
				   1,
	      "no record met the error");
	for (unsigned int w = 0; w < WRITERS; w++)
		h_client_free(&c[w]);
	v_free(&v);
	h_cleanup(&e);
}

int main(void)
{
	static const struct scenario scenarios[] = {
		{ "fatal-healthy",
		  RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 0, 1, 1 },
		{ "fatal-replay", RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
		  1, 1, 1 },
		{ "fatal-epoch", RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, 0, 0,
		  0 },
	};
	const char *only = getenv("RS_FATAL_ONLY");

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (only == NULL || strcmp(only, scenarios[i].name) == 0)
			run(&scenarios[i]);
	return 0;
}
