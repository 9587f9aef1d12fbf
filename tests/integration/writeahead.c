/* SPDX-License-Identifier: MIT */
/*
 * writeahead: a topic with write_ahead = yes under spool_fsync = always.
 * Each record's first report says it is on disk (stage SPOOLED), and its
 * final report, later, that the broker acknowledged it. With the brokers
 * slow, so that records are on disk and not yet acknowledged, ringsided is
 * killed with SIGKILL; a new ringsided on the same spool must deliver
 * every record a client was told was on disk. Reports that say ACKED must
 * match what Kafka holds; per-key order is kept; duplicates (records the
 * broker had when the daemon died, before the spool's checkpoint said
 * so) are counted and printed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"
#include "records.h"
#include "verify.h"

#define BOUND 200000

static const struct v_topic topics[] = { { "wal", 4, -1 } };

/* 1 when every record flagged in want[] has arrived. */
static int all_arrived(struct h_env *e, const unsigned char *want,
		       unsigned int n, size_t *dups, size_t *order)
{
	struct v_ctx v;
	int ok = 1;

	v_init(&v, 1, 1, BOUND, 5, topics, 1);
	v_consume(&v, e);
	for (unsigned int s = 0; s < n && ok; s++) {
		struct rec_id id = { .w = 0, .t = 0, .s = s };

		if (want[s] && v_get(&v, rec_opaque(&id))->count == 0)
			ok = 0;
	}
	CHECK(v.bad_content == 0, "%zu records differ from what was sent",
	      v.bad_content);
	*dups = v.duplicates;
	*order = v.order_violations;
	v_free(&v);
	return ok;
}

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	unsigned long long nspooled = 0, nacked = 0, sent;
	unsigned char *on_disk;
	char out[400];
	struct h_client c;
	struct v_ctx v;
	struct h_env e;
	size_t dups = 0, order = 0;
	int64_t deadline;
	pid_t pid;
	int rc;

	h_init(&e, "writeahead");
	h_mock_start(&e, 3);
	h_topic(&e, topics[0].name, topics[0].partitions);
	h_write_config(&e, "spool_fsync = always\n",
		       "enable.idempotence = true\nlinger.ms = 5\n"
		       "[topic:wal]\nacks = all\nwrite_ahead = yes\n");
	h_daemon_start(&e);
	{
		const char *argv[] = {
			client,	    "--socket",	    e.sock,   "--id",
			"0",	    "--threads",    "1",      "--rate",
			"5000",	    "--until-stop", "--keys", "5",
			"--topics", "wal",	    NULL
		};

		snprintf(out, sizeof(out), "%s/client-0.out", e.dir);
		pid = h_spawn(argv, out);
	}
	sleep(1);
	rd_kafka_mock_broker_set_rtt(e.mc, -1, 400);
	usleep(600 * 1000);
	rc = h_daemon_stop(&e, SIGKILL, 5000);
	CHECK(rc == 128 + SIGKILL, "ringsided: status %d", rc);
	CHECK(h_wait(pid, 30000) == 0, "client failed");
	rd_kafka_mock_broker_set_rtt(e.mc, -1, 0);

	/* what the client was told before the daemon died */
	h_read_client(out, &c);
	sent = c.sent[0];
	CHECK(sent > 1000 && sent < BOUND, "%llu records sent", sent);
	on_disk = calloc(sent, 1);
	v_init(&v, 1, 1, BOUND, 5, topics, 1);
	v_consume(&v, &e); /* Kafka before the restart, for the offsets */
	for (size_t i = 0; i < c.nreports; i++) {
		const struct h_report *r = &c.reports[i];
		struct rec_id id;
		const char *why;

		rec_from_opaque(r->opaque, &id);
		CHECK(id.w == 0 && id.t == 0 && id.s < sent,
		      "report for a record never sent");
		CHECK(r->status == 0, "record %u: status %d (%s)", id.s,
		      r->status, ringside_strerror(r->status));
		if (r->stage == RINGSIDE_STAGE_SPOOLED) {
			CHECK(!on_disk[id.s], "record %u: spooled twice", id.s);
			on_disk[id.s] = 1;
			nspooled++;
			continue;
		}
		CHECK(r->stage == RINGSIDE_STAGE_ACKED, "record %u: stage %d",
		      id.s, r->stage);
		CHECK(on_disk[id.s], "record %u: acked before it was on disk",
		      id.s);
		why = v_report_matches(&v, r);
		CHECK(why == NULL, "record %u: %s", id.s, why);
		nacked++;
	}
	v_free(&v);
	CHECK(nspooled > nacked && nacked > 0,
	      "on disk %llu, acked %llu: the kill did not fall between",
	      nspooled, nacked);

	/* a new ringsided delivers every record that was on disk */
	h_daemon_start(&e);
	deadline = h_now_ms() + 60000;
	while (!all_arrived(&e, on_disk, (unsigned int)sent, &dups, &order)) {
		CHECK(h_now_ms() < deadline,
		      "records reported on disk never arrived");
		usleep(500 * 1000);
	}
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	printf("writeahead: sent %llu; before SIGKILL %llu reported on disk, "
	       "%llu of them acked; after the restart all %llu on disk were "
	       "delivered, duplicates %zu, per-key order violations %zu\n",
	       sent, nspooled, nacked, nspooled, dups, order);
	CHECK(order == 0, "%zu per-key order violations", order);
	free(on_disk);
	h_client_free(&c);
	h_cleanup(&e);
	return 0;
}
