/* SPDX-License-Identifier: MIT */
/*
 * two_daemons: a second ringsided pointed at a spool_dir another one is
 * using (its own socket, the same spool). Before, nothing locked the
 * directory: the second deleted the first one's live segment as retired,
 * and the first went on writing write-ahead records into a deleted file.
 * Now the second refuses to start, naming the first one's pid, and the
 * first one's records are all delivered.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"

#define N 2000U

static unsigned int delivered;

static void on_report(const ringside_report_t *r, void *ctx)
{
	(void)ctx;
	if (r->status == 0 && r->stage != RINGSIDE_STAGE_SPOOLED)
		delivered++;
}

/* Write-ahead records are released once on disk; their final reports
 * (ACKED) follow: waits for them. */
static void wait_finals(ringside_t *rs, unsigned int want)
{
	int64_t deadline = h_now_ms() + 30000;

	CHECK(ringside_flush(rs, 20000, on_report, NULL) == 0, "flush");
	while (delivered < want) {
		CHECK(h_now_ms() < deadline, "%u of %u final reports",
		      delivered, want);
		(void)ringside_poll(rs, on_report, NULL);
		usleep(10 * 1000);
	}
}

static void send_some(ringside_t *rs, ringside_topic_t *t, unsigned int from,
		      unsigned int to)
{
	for (unsigned int i = from; i < to; i++) {
		char v[32];
		int n = snprintf(v, sizeof(v), "record-%u", i);

		CHECK(ringside_send(rs, t, NULL, 0, v, (size_t)n, i) == 0,
		      "send %u", i);
	}
}

int main(void)
{
	ringside_options_t opts = { 0 };
	char conf2[400], errf[400], cmd[1400], want[64], err[256];
	ringside_topic_t *t;
	struct h_msg *msgs;
	struct h_env e;
	ringside_t *rs;
	FILE *f;
	size_t n;
	int rc;

	h_init(&e, "two-daemons");
	h_mock_start(&e, 1);
	h_topic(&e, "wa", 2);
	h_write_config(&e, "spool_fsync = always\n",
		       "[topic:wa]\nacks = all\nwrite_ahead = yes\n");
	h_daemon_start(&e);
	opts.socket_path = e.sock;
	rs = ringside_open_opts(&opts, err, sizeof(err));
	CHECK(rs != NULL, "open: %s", err);
	CHECK(ringside_topic(rs, "wa", &t) == 0, "topic");
	send_some(rs, t, 0, N / 2);
	wait_finals(rs, N / 2);

	/* the second daemon: another socket, the same spool_dir */
	snprintf(conf2, sizeof(conf2), "%s/second.ini", e.dir);
	snprintf(errf, sizeof(errf), "%s/second.err", e.dir);
	f = fopen(conf2, "w");
	CHECK(f != NULL, "%s", conf2);
	fprintf(f,
		"[ringside]\nsocket = %s/second.sock\nspool_dir = %s/spool\n"
		"[kafka]\nbootstrap.servers = %s\n[topic:wa]\nacks = all\n",
		e.dir, e.dir, e.bootstraps);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "timeout 20 '%s' --config '%s' 2>'%s' >&2",
		 h_env_or("RINGSIDED", "daemon/ringsided"), conf2, errf);
	rc = system(cmd);
	snprintf(want, sizeof(want), "(pid %d)", (int)e.daemon);
	CHECK(rc != 0, "the second ringsided started on a spool in use");
	CHECK(h_file_has(errf, "is in use by another ringsided") &&
		      h_file_has(errf, want),
	      "the refusal does not name the first daemon");

	/* the first one carries on, its spool intact */
	send_some(rs, t, N / 2, N);
	wait_finals(rs, N);
	ringside_close(rs);
	CHECK(h_daemon_stop(&e, SIGTERM, 20000) == 0, "exit status");
	n = h_consume(&e, "wa", 2, &msgs);
	h_msgs_free(msgs, n);
	CHECK(n == N, "Kafka holds %zu of %u records", n, N);
	printf("two-daemons: the second ringsided was refused (\"%s\"); the "
	       "first delivered all %u write-ahead records\n",
	       "spool_dir ... is in use by another ringsided", N);
	h_cleanup(&e);
	return 0;
}
