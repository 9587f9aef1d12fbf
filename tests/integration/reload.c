/* SPDX-License-Identifier: MIT */
/*
 * reload: SIGHUP while clients send. One client sends to two topics
 * (alternating records), both acks=0. Three reloads follow, 0.8 s apart:
 *
 *   1. topic "reload" becomes acks=all: its reports go from stage SENT to
 *      stage ACKED (with Kafka's offsets), once, in ring order;
 *   2. a config with an error: rejected, named by file:line in the log,
 *      the running config (acks=all) stays;
 *   3. topic "gone" is removed: its later records are reported
 *      RINGSIDE_EDENIED and are not in Kafka; "reload" goes on.
 *
 * Every record gets a final report, nothing is lost or duplicated, per-key
 * order holds; the session is never dropped.
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

#define THREADS 2
#define RECORDS 8000U /* per thread, at 2000/s */

static const char *const good0 =
	"[topic:reload]\nacks = 0\n[topic:gone]\nacks = 0\n";
static const char *const good1 =
	"[topic:reload]\nacks = all\n[topic:gone]\nacks = 0\n";
static const char *const broken =
	"[topic:reload]\nacks = most\n[topic:gone]\nacks = 0\n";
static const char *const good2 = "[topic:reload]\nacks = all\n";

static void reload(struct h_env *e, const char *sections, const char *logged)
{
	int before = h_log_count(e, logged);
	int64_t deadline = h_now_ms() + 10000;

	h_write_config(e, NULL, sections);
	CHECK(kill(e->daemon, SIGHUP) == 0, "kill");
	while (h_log_count(e, logged) == before) {
		CHECK(h_now_ms() < deadline, "no '%s' in the log", logged);
		usleep(20 * 1000);
	}
}

struct seen {
	int acked;  /* an ACKED report was seen in this thread */
	/* read order: the first record refused, the last delivered (a
	 * refusal is reported at once, an acks=0 record read just before the
	 * reload only once librdkafka sent it, so arrival order may differ) */
	unsigned int first_denied, last_delivered; /* seq + 1; 0: none */
	unsigned int sent_stage, acked_stage, delivered, refused;
};

static void check_report(struct v_ctx *v, const struct h_report *r,
			 struct seen st[2][THREADS])
{
	struct rec_id id;
	struct seen *s;
	int gone = strcmp(r->topic, "gone") == 0;

	rec_from_opaque(r->opaque, &id);
	CHECK(id.w == 0 && id.t < THREADS, "a report for a record not sent");
	s = &st[gone][id.t];
	if (gone && r->status == RINGSIDE_EDENIED) {
		CHECK(v_get(v, r->opaque)->count == 0,
		      "gone %u/%u: refused, yet in Kafka", id.t, id.s);
		if (s->first_denied == 0 || id.s + 1 < s->first_denied)
			s->first_denied = id.s + 1;
		s->refused++;
		return;
	}
	CHECK(r->status == 0, "%s %u/%u: status %d (%s)", r->topic, id.t, id.s,
	      r->status, ringside_strerror(r->status));
	if (id.s + 1 > s->last_delivered)
		s->last_delivered = id.s + 1;
	if (r->stage == RINGSIDE_STAGE_SENT) {
		/* acks=0: no offset to compare */
		CHECK(!s->acked, "%s %u/%u: acks=0 after acks=all", r->topic,
		      id.t, id.s);
		CHECK(v_get(v, r->opaque)->count == 1 &&
			      v_get(v, r->opaque)->partition == r->partition,
		      "%s %u/%u: reported sent, not in Kafka", r->topic, id.t,
		      id.s);
		s->sent_stage++;
	} else {
		const char *why = v_report_matches(v, r);

		CHECK(why == NULL, "%s %u/%u: %s", r->topic, id.t, id.s, why);
		s->acked = 1;
		s->acked_stage++;
	}
	s->delivered++;
}

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	struct v_topic topics[2] = { { "reload", 3, -1 }, { "gone", 1, -1 } };
	struct seen st[2][THREADS];
	char out[400], records[16];
	struct h_client c;
	struct h_env e;
	struct v_ctx v;
	unsigned long long sent = 0;
	pid_t pid;

	h_init(&e, "reload");
	h_mock_start(&e, 3);
	h_topic(&e, "reload", 3);
	h_topic(&e, "gone", 1);
	h_write_config(&e, NULL, good0);
	h_daemon_start(&e);
	snprintf(records, sizeof(records), "%u", RECORDS);
	snprintf(out, sizeof(out), "%s/client.out", e.dir);
	{
		const char *argv[] = { client,	    "--socket",	   e.sock,
				       "--threads", "2",	   "--rate",
				       "2000",	    "--records",   records,
				       "--topics",  "reload,gone", "--final",
				       "60",	    NULL };

		pid = h_spawn(argv, out);
	}
	usleep(800 * 1000);
	reload(&e, good1, "topic reload: acks=all now");
	usleep(800 * 1000);
	reload(&e, broken, "the running configuration stays");
	CHECK(h_log_count(&e, "ringside.ini:9: acks: 'most'") == 1,
	      "the broken line is not named");
	usleep(800 * 1000);
	reload(&e, good2, "topic gone is no longer configured");
	CHECK(h_wait(pid, 90000) == 0, "the client failed");
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");

	h_read_client(out, &c);
	CHECK(c.complete && c.dropped == 0, "client incomplete or dropped");
	for (unsigned int t = 0; t < THREADS; t++)
		sent += c.sent[t];
	CHECK(sent == 2ULL * RECORDS, "sent %llu", sent);
	CHECK(c.nreports == sent, "%zu reports for %llu records", c.nreports,
	      sent);
	v_init(&v, 1, THREADS, RECORDS, 7, topics, 2);
	v_consume(&v, &e);
	CHECK(v.bad_content == 0 && v.order_violations == 0 &&
		      v.duplicates == 0,
	      "bad %zu, order violations %zu, duplicates %zu", v.bad_content,
	      v.order_violations, v.duplicates);
	memset(st, 0, sizeof(st));
	for (size_t i = 0; i < c.nreports; i++)
		check_report(&v, &c.reports[i], st);
	for (unsigned int t = 0; t < THREADS; t++) {
		CHECK(st[0][t].sent_stage > 0 && st[0][t].acked_stage > 0,
		      "thread %u: reload saw %u acks=0 and %u acks=all reports",
		      t, st[0][t].sent_stage, st[0][t].acked_stage);
		CHECK(st[1][t].delivered > 0 && st[1][t].refused > 0,
		      "thread %u: gone: %u delivered, %u refused", t,
		      st[1][t].delivered, st[1][t].refused);
		/* every record read after the reload refused, none before */
		CHECK(st[1][t].last_delivered < st[1][t].first_denied,
		      "gone, thread %u: record %u delivered, read after record "
		      "%u was refused",
		      t, st[1][t].last_delivered - 1, st[1][t].first_denied - 1);
	}
	CHECK(h_log_count(&e, "violation") == 0 &&
		      h_log_count(&e, "client closed") == 1,
	      "the session did not run to its end");
	printf("reload: %llu records; topic reload: %u+%u acks=0 then %u+%u "
	       "acks=all; a broken config rejected; topic gone: %u+%u "
	       "delivered, then %u+%u refused (EDENIED); none lost\n",
	       sent, st[0][0].sent_stage, st[0][1].sent_stage,
	       st[0][0].acked_stage, st[0][1].acked_stage, st[1][0].delivered,
	       st[1][1].delivered, st[1][0].refused, st[1][1].refused);
	h_client_free(&c);
	v_free(&v);
	h_cleanup(&e);
	return 0;
}
