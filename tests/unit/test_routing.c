/* SPDX-License-Identifier: MIT */
/*
 * test_routing.c: report routing in daemon/session.c: which reports reach
 * the client for reports = all / errors / none, failures from librdkafka's
 * refusal and from the delivery report, fields of each report, release
 * advancing past finished records even when no report is sent, and a full
 * reply ring spilling to the backlog and then dropping, counted.
 *
 * The server runs in this process on its own thread, with the producer on
 * librdkafka's embedded mock cluster; the client library talks to it over
 * its real socket and shared memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ringside.h"
#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/server.h"

struct inproc {
	char dir[64];
	char sock[128];
	struct rs_config *cfg;
	struct event_base *base;
	struct rs_server srv;
	struct event *quit_ev;
	int quit[2];
	pthread_t thread;
};

static void on_quit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static void *loop(void *arg)
{
	struct inproc *p = arg;

	event_base_dispatch(p->base);
	return NULL;
}

static void start(struct inproc *p, const char *ringside_keys, const char *rest)
{
	char conf[160], err[2048];
	FILE *f;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/rs-routing-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->sock, sizeof(p->sock), "%s/rs.sock", p->dir);
	snprintf(conf, sizeof(conf), "%s/ringside.ini", p->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f,
		"[ringside]\nsocket = %s\nspool_dir = %s/spool\n"
		"log_level = warning\n%s\n"
		"[kafka]\ntest.mock.num.brokers = 1\nlinger.ms = 1\n"
		"log_level = 2\n%s",
		p->sock, p->dir, ringside_keys, rest);
	fclose(f);
	if (rs_config_load(conf, &p->cfg, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	log_init(RS_LOG_WARN);
	p->base = event_base_new();
	assert_int_equal(
		rs_server_start(&p->srv, p->base, p->cfg, err, sizeof(err)), 0);
	assert_int_equal(pipe(p->quit), 0);
	p->quit_ev = event_new(p->base, p->quit[0], EV_READ, on_quit, p->base);
	event_add(p->quit_ev, NULL);
	pthread_create(&p->thread, NULL, loop, p);
}

static void stop(struct inproc *p)
{
	char cmd[128];

	assert_int_equal(write(p->quit[1], "q", 1), 1);
	pthread_join(p->thread, NULL);
	event_free(p->quit_ev);
	rs_server_free(&p->srv);
	event_base_free(p->base);
	close(p->quit[0]);
	close(p->quit[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
	assert_int_equal(system(cmd), 0);
}

#define MAXR 4096

struct got {
	ringside_report_t r[MAXR];
	size_t n;
};

static void collect(const ringside_report_t *r, void *ctx)
{
	struct got *g = ctx;

	if (g->n < MAXR)
		g->r[g->n++] = *r;
}

static ringside_t *open_client(struct inproc *p)
{
	char err[256];
	ringside_t *rs = ringside_open(p->sock, err, sizeof(err));

	if (rs == NULL)
		fail_msg("open: %s", err);
	return rs;
}

static void test_modes(void **state)
{
	struct inproc p;
	ringside_topic_t *all, *errors, *none;
	ringside_state_t st;
	struct got *g = calloc(1, sizeof(*g));
	char big[3000];
	ringside_record_t bad = { .value = "x",
				  .value_len = 1,
				  .flags = RINGSIDE_REC_PARTITION,
				  .partition = 99 };
	ringside_t *rs;
	size_t ok_all = 0, fail_all = 0, fail_err = 0, other = 0;

	(void)state;
	start(&p, "max_record_bytes = 16K\n",
	      "message.max.bytes = 2000\n"
	      "[topic:r-all]\nreports = all\n"
	      "[topic:r-errors]\nreports = errors\n"
	      "[topic:r-none]\nreports = none\n");
	rs = open_client(&p);
	assert_int_equal(ringside_topic(rs, "r-all", &all), 0);
	assert_int_equal(ringside_topic(rs, "r-errors", &errors), 0);
	assert_int_equal(ringside_topic(rs, "r-none", &none), 0);
	assert_int_equal(ringside_topic(rs, "not-configured", &all),
			 RINGSIDE_ETOPIC);
	assert_int_equal(ringside_topic(rs, "r-all", &all), 0);
	memset(big, 'b', sizeof(big));
	for (uint64_t i = 0; i < 100; i++) {
		assert_int_equal(ringside_send(rs, all, "k", 1, "v", 1, i), 0);
		assert_int_equal(
			ringside_send(rs, errors, "k", 1, "v", 1, 1000 + i), 0);
		assert_int_equal(
			ringside_send(rs, none, "k", 1, "v", 1, 2000 + i), 0);
	}
	/* refused by librdkafka at once: larger than message.max.bytes */
	assert_int_equal(ringside_send(rs, all, NULL, 0, big, sizeof(big), 500),
			 0);
	assert_int_equal(
		ringside_send(rs, errors, NULL, 0, big, sizeof(big), 1500), 0);
	assert_int_equal(
		ringside_send(rs, none, NULL, 0, big, sizeof(big), 2500), 0);
	/* fails in librdkafka: no such partition */
	bad.opaque = 501;
	assert_int_equal(ringside_sendv(rs, all, &bad), 0);
	bad.opaque = 1501;
	assert_int_equal(ringside_sendv(rs, errors, &bad), 0);
	/* reserved space is for later versions: refused, never sent */
	bad.resv[1] = 1;
	assert_int_equal(ringside_sendv(rs, all, &bad), RINGSIDE_EINVAL);
	bad.resv[1] = 0;
	assert_int_equal(ringside_flush(rs, 20000, collect, g), 0);

	for (size_t i = 0; i < g->n; i++) {
		const ringside_report_t *r = &g->r[i];

		if (r->topic == all && r->status == 0 && r->opaque < 100) {
			assert_true(r->partition >= 0);
			assert_true(r->offset >= 0);
			assert_int_equal(r->persistence, RINGSIDE_PERSISTED);
			assert_int_equal(r->stage, RINGSIDE_STAGE_ACKED);
			assert_true(r->timestamp > 0);
			ok_all++;
		} else if (r->topic == all &&
			   (r->opaque == 500 || r->opaque == 501)) {
			assert_int_equal(r->status,
					 r->opaque == 500
						 ? RINGSIDE_ERECORD_TOO_LARGE
						 : RINGSIDE_EUNKNOWN_TOPIC);
			assert_int_equal(r->stage, RINGSIDE_STAGE_FAILED);
			assert_int_equal(r->persistence,
					 RINGSIDE_NOT_PERSISTED);
			assert_int_not_equal(r->kafka_error, 0);
			fail_all++;
		} else if (r->topic == errors &&
			   (r->opaque == 1500 || r->opaque == 1501)) {
			assert_true(r->status < 0);
			fail_err++;
		} else {
			other++;
		}
	}
	assert_int_equal(ok_all, 100);
	assert_int_equal(fail_all, 2);
	assert_int_equal(fail_err, 2);
	assert_int_equal(other, 0);
	/* every record finished, reported or not: the ring is free */
	assert_int_equal(ringside_state(rs, &st), 0);
	assert_int_equal(st.records_finished, 305);
	assert_int_equal(st.ring_used, 0);
	assert_int_equal(st.reports_dropped, 0);
	assert_int_equal(st.backpressure, RINGSIDE_HEALTHY);
	ringside_close(rs);
	free(g);
	stop(&p);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

static void test_reply_overflow(void **state)
{
	struct inproc p;
	ringside_topic_t *t;
	ringside_state_t st;
	struct got *g = calloc(1, sizeof(*g));
	ringside_t *rs;
	int waited = 0;

	(void)state;
	start(&p, "reply_slots = 64\nreport_backlog = 100\n",
	      "[topic:*]\nacks = 1\n");
	rs = open_client(&p);
	assert_int_equal(ringside_topic(rs, "overflow", &t), 0);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(ringside_send(rs, t, NULL, 0, "v", 1, i), 0);
	/* no polling: the daemon must finish all records anyway */
	do {
		sleep_ms(10);
		assert_int_equal(ringside_state(rs, &st), 0);
		assert_true(++waited < 2000);
	} while (st.records_finished < 1000);
	assert_int_equal(st.ring_used, 0);
	assert_int_equal(st.reports_dropped, 1000 - 64 - 100);
	/* every record is finished, and the caller is told reports were
	 * dropped; a second flush, with none dropped since, says 0 */
	assert_int_equal(ringside_flush(rs, 10000, collect, g),
			 RINGSIDE_EDROPPED);
	assert_int_equal(g->n, 64 + 100);
	assert_int_equal(ringside_flush(rs, 10000, collect, g), 0);
	ringside_close(rs);
	free(g);
	stop(&p);
}

/* ringside_flush() returns only when every report is in hand: release
 * must never pass a record whose report is not yet published. */
static void test_flush_sees_every_report(void **state)
{
	struct inproc p;
	ringside_topic_t *t;
	struct got *g = calloc(1, sizeof(*g));
	ringside_t *rs;

	(void)state;
	start(&p, "", "[topic:*]\nacks = 1\n");
	rs = open_client(&p);
	assert_int_equal(ringside_topic(rs, "flushes", &t), 0);
	/* batches of delivery reports long enough that a release moved
	 * before the reports were published would be seen */
	for (int round = 0; round < 100; round++) {
		g->n = 0;
		for (uint64_t i = 0; i < 1000; i++)
			assert_int_equal(
				ringside_send(rs, t, NULL, 0, "v", 1, i), 0);
		assert_int_equal(ringside_flush(rs, 10000, collect, g), 0);
		if (g->n != 1000)
			fail_msg("round %d: flush returned with %zu of 1000 "
				 "reports",
				 round, g->n);
	}
	ringside_close(rs);
	free(g);
	stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_sees_every_report),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_reply_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
