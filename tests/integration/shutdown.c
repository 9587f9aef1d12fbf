/*
 * shutdown: SIGTERM while clients send. ringsided must exit 0 and report
 * every record it took from a ring: delivered (and then in Kafka at the
 * reported offset) or failed with RINGSIDE_ESHUTDOWN (and then absent from
 * Kafka, unless librdkafka says it was possibly persisted). Records a
 * client committed after the daemon stopped reading are left in its ring,
 * unreported, and are not in Kafka.
 *
 * Run twice: with healthy brokers (everything is delivered in time), and
 * with a 2 s broker round trip and a 300 ms shutdown timeout, so records in
 * flight are purged and reported failed.
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
	unsigned long long sent, delivered, failed, unread;
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
		if (r->status == 0) {
			const char *why = v_report_matches(v, r);

			CHECK(why == NULL, "client %u %u/%u: %s", w, id.t, id.s,
			      why);
			tot->delivered++;
		} else {
			CHECK(r->status == RINGSIDE_ESHUTDOWN,
			      "client %u %u/%u: status %d (%s)", w, id.t, id.s,
			      r->status, ringside_strerror(r->status));
			CHECK(rec->count == 0 ||
				      r->persistence ==
					      RINGSIDE_POSSIBLY_PERSISTED,
			      "client %u %u/%u: reported failed and not "
			      "possibly persisted, yet in Kafka",
			      w, id.t, id.s);
			tot->failed++;
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

	v_init(&v, WRITERS, THREADS, BOUND, 7, topics, 1);
	v_consume(&v, &e);
	CHECK(v.bad_content == 0 && v.duplicates == 0 &&
		      v.order_violations == 0,
	      "bad %zu, duplicates %zu, order violations %zu", v.bad_content,
	      v.duplicates, v.order_violations);
	for (unsigned int w = 0; w < WRITERS; w++) {
		h_read_client(out[w], &clients[w]);
		check_client(&v, &clients[w], w, &tot);
		h_client_free(&clients[w]);
	}
	CHECK(tot.sent > 1000, "only %llu records sent", tot.sent);
	if (rtt_ms == 0)
		CHECK(tot.failed == 0, "%llu failed with healthy brokers",
		      tot.failed);
	else
		CHECK(tot.failed > 0, "nothing was purged at the timeout");
	printf("%s: sent %llu, delivered %llu, failed (reported) %llu, left "
	       "unread in rings %llu; exit status 0\n",
	       name, tot.sent, tot.delivered, tot.failed, tot.unread);
	v_free(&v);
	h_cleanup(&e);
}

int main(void)
{
	scenario("stop-healthy", 0, 10000);
	scenario("stop-slow", 2000, 300);
	return 0;
}
