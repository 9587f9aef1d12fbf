/* SPDX-License-Identifier: MIT */
/*
 * shutdown: SIGTERM while clients send. ringsided must exit 0 and report
 * every record it took from a ring: delivered (and then in Kafka at the
 * reported offset) or spooled (written to its disk spool because it was
 * not delivered within shutdown_timeout_ms). Nothing fails. Records a
 * client committed after the daemon stopped reading are left in its ring,
 * unreported, and are not in Kafka.
 *
 * Then ringsided is started again on the same spool and must deliver every
 * spooled record; a consumer reads them all back, in per-key order, with
 * no more duplicates than the daemon counted as possible.
 *
 * Run twice: with healthy brokers (everything is delivered in time, nothing
 * spooled), and with a 2 s broker round trip and a 300 ms shutdown timeout,
 * so records in flight are purged and spooled.
 *
 * Then stop-closed: a client commits 10,000 records and exits while the
 * daemon, rate-limited and with every broker down, has read only some;
 * SIGTERM with shutdown_timeout_ms = 0 must still read and spool the
 * rest (the closed session has no ring to come back to), and a restarted
 * daemon delivers all 10,000.
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

#define WRITERS 2
#define THREADS 2
#define BOUND 200000

struct totals {
	unsigned long long sent, delivered, spooled, unread;
};

static void check_client(struct v_ctx *v, const struct h_client *c,
			 unsigned int w, struct totals *tot)
{
	unsigned int reported[THREADS] = { 0 };
	unsigned int max_seq[THREADS] = { 0 };

	CHECK(c->complete, "client %u did not finish", w);
	CHECK(c->dropped == 0, "client %u: %llu reports dropped", w,
	      c->dropped);
	CHECK(c->finished == c->nreports,
	      "client %u: daemon finished %llu records, client got %zu "
	      "reports",
	      w, c->finished, c->nreports);
	for (size_t i = 0; i < c->nreports; i++) {
		const struct h_report *r = &c->reports[i];
		struct rec_id id;
		struct v_rec *rec;

		rec_from_opaque(r->opaque, &id);
		CHECK(id.w == w && id.t < THREADS && id.s < c->sent[id.t],
		      "client %u: report for a record it did not send", w);
		rec = v_get(v, r->opaque);
		CHECK(r->status == 0, "client %u %u/%u: status %d (%s)", w,
		      id.t, id.s, r->status, ringside_strerror(r->status));
		if (r->stage == RINGSIDE_STAGE_SPOOLED) {
			CHECK(rec->count > 0,
			      "client %u %u/%u: spooled, never delivered", w,
			      id.t, id.s);
			tot->spooled++;
		} else {
			const char *why = v_report_matches(v, r);

			CHECK(r->stage == RINGSIDE_STAGE_ACKED,
			      "client %u %u/%u: stage %d", w, id.t, id.s,
			      r->stage);
			CHECK(why == NULL, "client %u %u/%u: %s", w, id.t, id.s,
			      why);
			tot->delivered++;
		}
		rec->count += 1000; /* mark: reported */
		reported[id.t]++;
		if (id.s + 1 > max_seq[id.t])
			max_seq[id.t] = id.s + 1;
	}
	for (unsigned int t = 0; t < THREADS; t++) {
		/* the daemon reads a thread's records in order: what it
		 * reported is exactly that thread's first records */
		CHECK(reported[t] == max_seq[t],
		      "client %u thread %u: reports are not a prefix", w, t);
		for (unsigned int s = reported[t]; s < c->sent[t]; s++) {
			struct rec_id id = { .w = w, .t = t, .s = s };

			CHECK(v_get(v, rec_opaque(&id))->count == 0,
			      "client %u %u/%u: in Kafka but never reported", w,
			      t, s);
		}
		tot->sent += c->sent[t];
		tot->unread += c->sent[t] - reported[t];
	}
}

static void scenario(const char *name, int rtt_ms, int timeout_ms)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	struct v_topic topics[1] = { { NULL, 3, -1 } };
	char out[WRITERS][400], id[WRITERS][16], keys[128];
	struct h_client clients[WRITERS];
	struct totals tot = { 0 };
	unsigned long long spooled = 0;
	long long dups;
	pid_t pids[WRITERS];
	struct h_env e;
	struct v_ctx v;
	int rc;

	h_init(&e, name);
	h_mock_start(&e, 3);
	h_topic(&e, name, 3);
	topics[0].name = name;
	snprintf(keys, sizeof(keys), "shutdown_timeout_ms = %d\n", timeout_ms);
	h_write_config(&e, keys, "linger.ms = 5\n[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	for (unsigned int w = 0; w < WRITERS; w++) {
		const char *argv[] = {
			client, "--socket",	e.sock,	    "--id",
			id[w],	"--threads",	"2",	    "--rate",
			"4000", "--until-stop", "--topics", name,
			NULL
		};

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e.dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}
	usleep(1500 * 1000);
	if (rtt_ms > 0)
		rd_kafka_mock_broker_set_rtt(e.mc, -1, rtt_ms);
	usleep(200 * 1000);
	rc = h_daemon_stop(&e, SIGTERM, 30000);
	CHECK(rc == 0, "ringsided exited with %d after SIGTERM", rc);
	for (unsigned int w = 0; w < WRITERS; w++)
		CHECK(h_wait(pids[w], 30000) == 0, "client %u failed", w);
	if (rtt_ms > 0)
		rd_kafka_mock_broker_set_rtt(e.mc, -1, 0);
	for (unsigned int w = 0; w < WRITERS; w++) {
		h_read_client(out[w], &clients[w]);
		spooled += clients[w].spooled;
	}

	/* a new ringsided on the same spool delivers what the last one
	 * spooled, and tells when it is done */
	if (spooled > 0) {
		int64_t deadline = h_now_ms() + 60000;

		h_daemon_start(&e);
		while (h_log_count(&e, "spool drained") == 0) {
			CHECK(h_now_ms() < deadline,
			      "the restarted ringsided did not drain the "
			      "spool");
			usleep(50 * 1000);
		}
		CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0,
		      "restarted ringsided exit status");
	}
	dups = h_log_sum(&e, "possible duplicates ");

	v_init(&v, WRITERS, THREADS, BOUND, 7, topics, 1);
	v_consume(&v, &e);
	CHECK(v.bad_content == 0 && v.order_violations == 0,
	      "bad %zu, order violations %zu", v.bad_content,
	      v.order_violations);
	CHECK((long long)v.duplicates <= dups,
	      "%zu duplicates, ringsided counted %lld possible", v.duplicates,
	      dups);
	for (unsigned int w = 0; w < WRITERS; w++) {
		check_client(&v, &clients[w], w, &tot);
		h_client_free(&clients[w]);
	}
	CHECK(tot.sent > 1000, "only %llu records sent", tot.sent);
	if (rtt_ms == 0)
		CHECK(tot.spooled == 0, "%llu spooled with healthy brokers",
		      tot.spooled);
	else
		CHECK(tot.spooled > 0, "nothing was spooled at the timeout");
	printf("%s: sent %llu, delivered %llu, spooled at shutdown and "
	       "delivered after restart %llu, left unread in rings %llu, "
	       "duplicates %zu (ringsided counted %lld possible); exit status "
	       "0\n",
	       name, tot.sent, tot.delivered, tot.spooled, tot.unread,
	       v.duplicates, dups);
	v_free(&v);
	h_cleanup(&e);
}

#define CLOSED_RECORDS 10000

static void stop_closed(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	struct v_topic topics[1] = { { "closed", 3, -1 } };
	const char *argv[] = { client,	"--socket", NULL,     "--records",
			       "20000", "--rate",   "0",      "--exit-after",
			       "10000", "--topics", "closed", NULL };
	char out[400];
	struct h_env e;
	struct v_ctx v;
	int64_t deadline;
	int contiguous;
	unsigned int n;

	h_init(&e, "stop-closed");
	h_mock_start(&e, 1);
	h_topic(&e, "closed", 3);
	h_write_config(&e,
		       "shutdown_timeout_ms = 0\nmax_records_per_second = "
		       "2000\n",
		       "[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	rd_kafka_mock_broker_set_down(e.mc, 1);
	argv[2] = e.sock;
	snprintf(out, sizeof(out), "%s/client.out", e.dir);
	CHECK(h_wait(h_spawn(argv, out), 30000) == 0, "client failed");
	usleep(300 * 1000); /* about 600 of 10,000 read */
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	rd_kafka_mock_broker_set_up(e.mc, 1);
	h_write_config(&e, NULL, "[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	deadline = h_now_ms() + 60000;
	while (h_log_count(&e, "spool drained") == 0) {
		CHECK(h_now_ms() < deadline, "the spool did not drain");
		usleep(50 * 1000);
	}
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	v_init(&v, 1, 1, 20000, 7, topics, 1);
	v_consume(&v, &e);
	n = v_arrived(&v, 0, 0, &contiguous);
	CHECK(n == CLOSED_RECORDS && contiguous && v.bad_content == 0 &&
		      v.order_violations == 0,
	      "%u of %d arrived (contiguous %d), order violations %zu", n,
	      CLOSED_RECORDS, contiguous, v.order_violations);
	printf("stop-closed: a client exited with %d records committed, "
	       "ringsided stopped with a 0 ms timeout having read few: all "
	       "%u delivered after a restart, in order\n",
	       CLOSED_RECORDS, n);
	v_free(&v);
	h_cleanup(&e);
}

int main(void)
{
	scenario("stop-healthy", 0, 10000);
	scenario("stop-slow", 2000, 300);
	stop_closed();
	return 0;
}
