/* SPDX-License-Identifier: MIT */
/*
 * restart_limits: ringsided restarted with a lower max_record_bytes and a
 * topic removed from its config, while a client's ring and the spool hold
 * records accepted under the old ones.
 *
 * Before, a frame committed under the old limit was a protocol violation
 * to the new daemon (disconnect, resume, violation, for ever: nothing of
 * any topic delivered), a removed topic failed the resume's topic step for
 * ever, and recovery cut the spool at the first record over the new limit
 * as a torn tail. Now each such record is failed on its own (too large,
 * or denied), the session carries on, and what the spool had accepted is
 * delivered whatever today's limit says.
 *
 * This process is the client (libringside); the mock cluster runs in it
 * too; a librdkafka consumer reads every topic back.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"

#define BIG (100 * 1000)
#define MEDIUM (50 * 1000)
#define N1 20U /* per topic, before the restart */
#define N2 10U /* per topic, sent while ringsided is away */

enum { T_BIG, T_GONE, T_KEPT, NTOPICS };
static const char *const names[NTOPICS] = { "big", "gone", "kept" };

/* Reports by topic and opaque: the last status and stage seen. */
struct seen {
	int status[NTOPICS][64];
	int stage[NTOPICS][64];
	int finals[NTOPICS][64];
};
static struct seen seen;

static int topic_index(const ringside_topic_t *t)
{
	const char *n = ringside_topic_name(t);

	for (int i = 0; i < NTOPICS; i++)
		if (n != NULL && strcmp(n, names[i]) == 0)
			return i;
	return -1;
}

static void on_report(const ringside_report_t *r, void *ctx)
{
	int t = topic_index(r->topic);

	(void)ctx;
	CHECK(t >= 0 && r->opaque < 64, "report for an unknown record");
	seen.status[t][r->opaque] = r->status;
	seen.stage[t][r->opaque] = r->stage;
	if (r->stage != RINGSIDE_STAGE_SPOOLED)
		seen.finals[t][r->opaque]++;
}

static char *value_of(int topic, unsigned int i, size_t len)
{
	char *v = malloc(len);

	CHECK(v != NULL, "malloc");
	memset(v, 'a' + (int)(i % 26), len);
	snprintf(v, len, "%s-%u:", names[topic], i);
	v[strlen(v)] = '.'; /* keep the filler after the prefix */
	return v;
}

static size_t len_of(int topic, unsigned int i)
{
	(void)i;
	return topic == T_BIG ? BIG : 200;
}

static void send_range(ringside_t *rs, ringside_topic_t **tp, int topic,
		       unsigned int from, unsigned int to, size_t len,
		       int expect)
{
	for (unsigned int i = from; i < to; i++) {
		char *v = value_of(topic, i, len);
		int rc = ringside_send(rs, tp[topic], "k", 1, v, len, i);

		CHECK(rc == expect, "send %s %u: %s, expected %d", names[topic],
		      i, ringside_strerror(rc), expect);
		free(v);
	}
}

/* Polls until the library has seen the last daemon go, then until the
 * new one serves the session again. */
static void wait_connected(ringside_t *rs)
{
	int64_t deadline = h_now_ms() + 20000;
	int gone = 0;

	for (;;) {
		ringside_state_t st;

		(void)ringside_poll(rs, on_report, NULL);
		CHECK(ringside_state(rs, &st) == 0, "state");
		if (st.backpressure == RINGSIDE_DISCONNECTED)
			gone = 1;
		else if (gone)
			return;
		CHECK(h_now_ms() < deadline, "the session was not resumed");
		usleep(20 * 1000);
	}
}

/* Counts what Kafka holds of topic, checking each record's contents. */
static unsigned int consume(struct h_env *e, int topic, size_t len_spooled)
{
	struct h_msg *msgs;
	size_t n = h_consume(e, names[topic], 3, &msgs);

	for (size_t i = 0; i < n; i++) {
		unsigned int id;
		size_t len;
		char *want;

		CHECK(msgs[i].value != NULL &&
			      sscanf(msgs[i].value, "%*[a-z]-%u:", &id) == 1,
		      "unexpected record in %s", names[topic]);
		len = id >= 40 ? len_spooled : len_of(topic, id);
		want = value_of(topic, id, len);
		CHECK(msgs[i].value_len == len &&
			      memcmp(msgs[i].value, want, len) == 0,
		      "%s record %u differs from what was sent", names[topic],
		      id);
		free(want);
	}
	h_msgs_free(msgs, n);
	return (unsigned int)n;
}

static const char *sections =
	"[topic:big]\nacks = all\nbacklog_ms = 200\n"
	"[topic:kept]\nacks = all\n";

int main(void)
{
	ringside_topic_t *tp[NTOPICS];
	ringside_options_t opts = { 0 };
	struct h_env e;
	char err[256], sect[256];
	ringside_t *rs;
	unsigned int n;

	h_init(&e, "restart-limits");
	h_mock_start(&e, 3);
	for (int t = 0; t < NTOPICS; t++)
		h_topic(&e, names[t], 3);
	snprintf(sect, sizeof(sect), "%s[topic:gone]\nacks = all\n", sections);
	h_write_config(&e, "max_record_bytes = 200000\nspool_fsync = always\n"
			   "shutdown_timeout_ms = 500\n",
		       sect);
	h_daemon_start(&e);
	opts.socket_path = e.sock;
	rs = ringside_open_opts(&opts, err, sizeof(err));
	CHECK(rs != NULL, "open: %s", err);
	for (int t = 0; t < NTOPICS; t++)
		CHECK(ringside_topic(rs, names[t], &tp[t]) == 0, "topic %s",
		      names[t]);
	for (int t = 0; t < NTOPICS; t++)
		send_range(rs, tp, t, 0, N1, len_of(t, 0), 0);
	CHECK(ringside_flush(rs, 20000, on_report, NULL) == 0, "flush");
	for (int t = 0; t < NTOPICS; t++)
		for (unsigned int i = 0; i < N1; i++)
			CHECK(seen.status[t][i] == 0, "%s %u not delivered",
			      names[t], i);

	/* ringsided dies; records go on into the ring meanwhile */
	CHECK(h_daemon_stop(&e, SIGKILL, 10000) == 128 + SIGKILL, "kill");
	for (int t = 0; t < NTOPICS; t++)
		send_range(rs, tp, t, N1, N1 + N2, len_of(t, 0), 0);
	/* the new one has a tenth of the limit and no [topic:gone] */
	h_write_config(&e, "max_record_bytes = 10000\nspool_fsync = always\n"
			   "shutdown_timeout_ms = 500\n",
		       sections);
	h_daemon_start(&e);
	wait_connected(rs);
	CHECK(ringside_flush(rs, 20000, on_report, NULL) == 0,
	      "flush after the restart");
	for (unsigned int i = N1; i < N1 + N2; i++) {
		CHECK(seen.finals[T_BIG][i] == 1 &&
			      seen.status[T_BIG][i] ==
				      RINGSIDE_ERECORD_TOO_LARGE,
		      "big %u: status %d, expected too large", i,
		      seen.status[T_BIG][i]);
		CHECK(seen.finals[T_GONE][i] == 1 &&
			      seen.status[T_GONE][i] == RINGSIDE_EDENIED,
		      "gone %u: status %d, expected denied", i,
		      seen.status[T_GONE][i]);
		CHECK(seen.finals[T_KEPT][i] == 1 &&
			      seen.status[T_KEPT][i] == 0,
		      "kept %u: status %d", i, seen.status[T_KEPT][i]);
	}
	CHECK(h_log_count(&e, "protocol violation") == 0,
	      "the handed-back ring was taken as a violation");
	/* the library knows the new limit at once */
	send_range(rs, tp, T_BIG, 30, 31, BIG, RINGSIDE_ETOOBIG);
	send_range(rs, tp, T_KEPT, 30, 32, 200, 0);
	CHECK(ringside_flush(rs, 20000, on_report, NULL) == 0, "flush");
	CHECK(seen.status[T_KEPT][31] == 0, "kept 31 not delivered");
	printf("restart-limits: after the restart, %u records over the new "
	       "max_record_bytes failed as too large, %u of the removed "
	       "topic denied, %u of the kept one delivered; no violation\n",
	       N2, N2, N2);

	/* the spool holds records over the new limit: all brokers down,
	 * medium records (50 kB) spill, ringsided restarts with 10 kB */
	h_daemon_stop(&e, SIGTERM, 20000);
	h_write_config(&e, "max_record_bytes = 100000\nspool_fsync = always\n"
			   "shutdown_timeout_ms = 500\n",
		       sections);
	h_daemon_start(&e);
	wait_connected(rs);
	CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0, "brokers down");
	send_range(rs, tp, T_BIG, 40, 60, MEDIUM, 0);
	{
		int64_t deadline = h_now_ms() + 30000;
		unsigned int spooled;

		do {
			(void)ringside_poll(rs, on_report, NULL);
			spooled = 0;
			for (unsigned int i = 40; i < 60; i++)
				spooled += seen.stage[T_BIG][i] ==
					   RINGSIDE_STAGE_SPOOLED;
			CHECK(h_now_ms() < deadline,
			      "only %u of 20 records spooled", spooled);
			usleep(20 * 1000);
		} while (spooled < 20);
	}
	CHECK(h_daemon_stop(&e, SIGTERM, 20000) == 0, "stop");
	h_write_config(&e, "max_record_bytes = 10000\nspool_fsync = always\n",
		       sections);
	h_daemon_start(&e);
	CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "brokers up");
	wait_connected(rs);
	{
		int64_t deadline = h_now_ms() + 30000;
		unsigned int finals;

		do {
			(void)ringside_poll(rs, on_report, NULL);
			finals = 0;
			for (unsigned int i = 40; i < 60; i++)
				finals += seen.finals[T_BIG][i] > 0;
			CHECK(h_now_ms() < deadline,
			      "%u of 20 spooled records reported final",
			      finals);
			usleep(20 * 1000);
		} while (finals < 20);
	}
	for (unsigned int i = 40; i < 60; i++)
		CHECK(seen.status[T_BIG][i] == 0, "spooled big %u: status %d",
		      i, seen.status[T_BIG][i]);
	CHECK(h_log_count(&e, "torn tail at") == 0, "the spool was cut");

	n = consume(&e, T_BIG, MEDIUM);
	CHECK(n >= N1 + 20, "big: %u records in Kafka, expected %u", n,
	      N1 + 20);
	CHECK(consume(&e, T_GONE, 0) == N1, "gone: records beyond the first");
	CHECK(consume(&e, T_KEPT, 0) >= N1 + N2 + 2, "kept: records missing");
	printf("restart-limits: 20 spooled records of 50 kB delivered by a "
	       "daemon whose limit is 10 kB; Kafka holds big %u, gone %u, "
	       "kept %u records, contents as sent\n",
	       n, N1, N1 + N2 + 2);
	ringside_close(rs);
	CHECK(h_daemon_stop(&e, SIGTERM, 20000) == 0, "exit status");
	h_cleanup(&e);
	return 0;
}
