/* SPDX-License-Identifier: MIT */
/*
 * e2e: several client processes, each with several threads, send to topics
 * with acks 0, 1 and all through the real ringsided; a consumer then reads
 * everything back. Every record must arrive exactly once with its key,
 * value and headers, per-key order kept, and every report must match the
 * partition and offset the consumer saw. The last writer sends with
 * ringside_send_batch(), 64 records a call, the others one by one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "verify.h"

#define WRITERS 3
#define THREADS 3
#define KEYS 7

static const struct v_topic topics[] = {
	{ "e2e-acks0", 4, 0 },
	{ "e2e-acks1", 4, 1 },
	{ "e2e-all", 4, -1 },
};

static void check_reports(struct v_ctx *v, const struct h_client *c,
			  unsigned int w, unsigned int records)
{
	size_t expected = (size_t)THREADS * records;
	char *seen = calloc(expected, 1);

	CHECK(c->complete, "client %u did not finish", w);
	CHECK(c->flush_rc == 0, "client %u: flush returned %d", w, c->flush_rc);
	CHECK(c->dropped == 0, "client %u: %llu reports dropped", w,
	      c->dropped);
	CHECK(c->nreports == expected, "client %u: %zu reports for %zu records",
	      w, c->nreports, expected);
	for (size_t i = 0; i < c->nreports; i++) {
		const struct h_report *r = &c->reports[i];
		unsigned int t = (unsigned int)((r->opaque >> 32) & 0xff);
		unsigned int s = (unsigned int)(r->opaque & 0xffffffffU);
		const char *why = v_report_matches(v, r);

		CHECK((r->opaque >> 40) == w && t < THREADS && s < records,
		      "client %u: report for a foreign opaque %llu", w,
		      (unsigned long long)r->opaque);
		CHECK(!seen[t * records + s],
		      "client %u: two reports for %u/%u", w, t, s);
		seen[t * records + s] = 1;
		CHECK(why == NULL, "client %u thread %u seq %u: %s (status %d)",
		      w, t, s, why, r->status);
	}
	free(seen);
}

int main(void)
{
	unsigned int records =
		(unsigned int)atoi(h_env_or("RS_E2E_RECORDS", "3000"));
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	struct h_client clients[WRITERS];
	char out[WRITERS][400], id[WRITERS][16], nrec[16];
	pid_t pids[WRITERS];
	struct h_env e;
	struct v_ctx v;
	unsigned long long efull = 0;
	int64_t t0;

	h_init(&e, "e2e");
	h_mock_start(&e, 3);
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
		h_topic(&e, topics[i].name, topics[i].partitions);
	/* a small ring, so frames wrap and senders meet a full ring */
	h_write_config(&e,
		       "ring_size = 128K\nmax_record_bytes = 16K\n"
		       "reply_slots = 1024\n",
		       "enable.idempotence = true\nlinger.ms = 2\n"
		       "[topic:e2e-acks0]\nacks = 0\n"
		       "[topic:e2e-acks1]\nacks = 1\n"
		       "[topic:e2e-all]\nacks = all\n");
	h_daemon_start(&e);

	t0 = h_now_ms();
	snprintf(nrec, sizeof(nrec), "%u", records);
	for (unsigned int w = 0; w < WRITERS; w++) {
		const char *argv[] = { client, "--socket", e.sock, "--id",
				       id[w], "--threads", "3", "--records",
				       nrec, "--keys", "7", "--topics",
				       "e2e-acks0,e2e-acks1,e2e-all",
				       /* the last writer sends in batches */
				       w == WRITERS - 1 ? "--batch" : NULL,
				       "64", NULL };

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e.dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}
	for (unsigned int w = 0; w < WRITERS; w++)
		CHECK(h_wait(pids[w], 180000) == 0, "client %u failed", w);
	printf("e2e: %u records sent and reported in %lld ms\n",
	       WRITERS * THREADS * records, (long long)(h_now_ms() - t0));

	v_init(&v, WRITERS, THREADS, records, KEYS, topics,
	       sizeof(topics) / sizeof(topics[0]));
	v_consume(&v, &e);
	CHECK(v.bad_content == 0, "%zu records differ from what was sent",
	      v.bad_content);
	CHECK(v.duplicates == 0, "%zu duplicates", v.duplicates);
	CHECK(v.order_violations == 0, "%zu per-key order violations",
	      v.order_violations);
	CHECK(v.consumed == (size_t)WRITERS * THREADS * records,
	      "consumed %zu of %u", v.consumed, WRITERS * THREADS * records);
	for (unsigned int w = 0; w < WRITERS; w++) {
		h_read_client(out[w], &clients[w]);
		for (unsigned int t = 0; t < THREADS; t++) {
			int contiguous;

			CHECK(clients[w].sent[t] == records,
			      "client %u thread %u sent %u", w, t,
			      clients[w].sent[t]);
			CHECK(v_arrived(&v, w, t, &contiguous) == records,
			      "client %u thread %u: records missing", w, t);
			efull += clients[w].efull[t];
		}
		check_reports(&v, &clients[w], w, records);
		h_client_free(&clients[w]);
	}
	printf("e2e: consumed %zu: exactly once, contents equal, per-key order "
	       "kept, %d reports match Kafka's partition and offset "
	       "(ring-full retries: %llu)\n",
	       v.consumed, WRITERS * THREADS * (int)records, efull);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0,
	      "ringsided did not exit 0 on SIGTERM");
	CHECK(h_log_count(&e, "protocol violation") == 0,
	      "the daemon saw a protocol violation");
	v_free(&v);
	h_cleanup(&e);
	return 0;
}
