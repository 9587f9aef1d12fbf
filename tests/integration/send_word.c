/* SPDX-License-Identifier: MIT */
/*
 * send_word: ringside-send and ringside_flush() keep their word.
 *
 * Before: ringside-send with -T 2000 still ran at 30 s when ringsided
 * stopped reading mid-stream (it waited for ring space for ever); after a
 * daemon restart it counted repeated reports as deliveries ("sent 300000,
 * delivered 302456, ... unreported 18446744073709549160"); it took
 * "-T abc", "-T -5" and "-T 10x"; --help and --version were errors; -K
 * stopped looking for the delimiter at the first NUL byte. And
 * ringside_flush() returned 0 when reports had been dropped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"

static const char *send_bin;

static int run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static void options(struct h_env *e)
{
	static const char *const bad[] = { "abc", "-5", "10x", "0", "" };
	char cmd[1200], out[400];

	snprintf(out, sizeof(out), "%s/opt.out", e->dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cmd, sizeof(cmd),
			 "echo x | '%s' -s '%s' -t lines -T '%s' >'%s' 2>&1",
			 send_bin, e->sock, bad[i], out);
		CHECK(run(cmd) == 2 && h_file_has(out, "-T wants a number"),
		      "-T '%s' was accepted", bad[i]);
	}
	snprintf(cmd, sizeof(cmd), "'%s' --help >'%s' 2>/dev/null", send_bin,
		 out);
	CHECK(run(cmd) == 0 && h_file_has(out, "usage: ringside-send"),
	      "--help");
	snprintf(cmd, sizeof(cmd), "'%s' --version >'%s' 2>/dev/null",
		 send_bin, out);
	CHECK(run(cmd) == 0 && h_file_has(out, "ringside-send 0."),
	      "--version");
	printf("send_word: -T abc, -5, 10x, 0 and '' refused (exit 2); "
	       "--help and --version answer\n");
}

/* A key holding a NUL byte, split at the delimiter after it. */
static void nul_key(struct h_env *e)
{
	char cmd[1200], out[400];
	struct h_msg *msgs;
	size_t n;

	snprintf(out, sizeof(out), "%s/nul.out", e->dir);
	snprintf(cmd, sizeof(cmd),
		 "printf 'ab\\000c:val\\n' | '%s' -s '%s' -t nul -K : >'%s' "
		 "2>&1",
		 send_bin, e->sock, out);
	CHECK(run(cmd) == 0, "-K with a NUL byte: exit");
	n = h_consume(e, "nul", 1, &msgs);
	CHECK(n == 1 && msgs[0].key != NULL && msgs[0].key_len == 4 &&
		      memcmp(msgs[0].key, "ab\0c", 4) == 0 &&
		      msgs[0].value_len == 3 &&
		      memcmp(msgs[0].value, "val", 3) == 0,
	      "-K split a line with a NUL byte wrongly");
	h_msgs_free(msgs, n);
	printf("send_word: -K splits after a NUL byte: key \"ab\\0c\", "
	       "value \"val\"\n");
}

/* ringsided stops reading (SIGSTOP) while ringside-send sends. */
static void stopped_daemon(struct h_env *e)
{
	char cmd[1200], out[400];
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	int64_t t0, took;
	pid_t pid;
	int rc;

	snprintf(out, sizeof(out), "%s/stopped.out", e->dir);
	snprintf(cmd, sizeof(cmd),
		 "seq 1 5000000 | '%s' -s '%s' -t lines -T 2000 >'%s' 2>&1",
		 send_bin, e->sock, out);
	pid = h_spawn(argv, NULL);
	usleep(300 * 1000);
	kill(e->daemon, SIGSTOP);
	t0 = h_now_ms();
	rc = h_wait(pid, 20000);
	took = h_now_ms() - t0;
	kill(e->daemon, SIGCONT);
	printf("send_word: ringsided stopped mid-stream: ringside-send with "
	       "-T 2000 exited %d after %lld ms\n",
	       rc, (long long)took);
	CHECK(took < 3000, "ringside-send ran %lld ms past the stop",
	      (long long)took);
	CHECK(rc == 1 && h_file_has(out, "took no records"),
	      "ringside-send did not say why it stopped (exit %d)", rc);
}

/* ringsided killed and restarted mid-stream: reports repeat. */
static void restart_counts(struct h_env *e)
{
	char cmd[1200], out[400], line[512] = "";
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	unsigned long long sent = 0, delivered = 0;
	FILE *f;
	pid_t pid;
	int rc;

	snprintf(out, sizeof(out), "%s/restart.out", e->dir);
	snprintf(cmd, sizeof(cmd),
		 "seq 1 300000 | '%s' -s '%s' -t lines -T 60000 >'%s' 2>&1",
		 send_bin, e->sock, out);
	pid = h_spawn(argv, NULL);
	usleep(400 * 1000);
	CHECK(h_daemon_stop(e, SIGKILL, 10000) == 128 + SIGKILL, "kill");
	h_daemon_start(e);
	rc = h_wait(pid, 120000);
	f = fopen(out, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "ringside-send: sent %llu, delivered %llu",
			   &sent, &delivered) == 2)
			break;
	if (f != NULL)
		fclose(f);
	printf("send_word: after a SIGKILL and restart mid-stream: %s", line);
	CHECK(rc == 0 && sent == 300000 && delivered == 300000 &&
		      strstr(line, "unreported") == NULL,
	      "counts after a restart: exit %d: %s", rc, line);
}

static unsigned int nreports;

static void count(const ringside_report_t *r, void *ctx)
{
	(void)r;
	(void)ctx;
	nreports++;
}

/* Reports dropped: the application did not poll while 2,000 came back
 * into 64 reply slots, with no backlog. */
static void dropped(struct h_env *e)
{
	ringside_options_t opts = { .socket_path = e->sock };
	ringside_topic_t *t;
	ringside_state_t st;
	char err[256];
	ringside_t *rs = ringside_open_opts(&opts, err, sizeof(err));
	int rc;

	CHECK(rs != NULL, "open: %s", err);
	CHECK(ringside_topic(rs, "lines", &t) == 0, "topic");
	for (uint64_t i = 0; i < 2000; i++)
		CHECK(ringside_send(rs, t, NULL, 0, "x", 1, i) == 0, "send");
	sleep(1);
	rc = ringside_flush(rs, 20000, count, NULL);
	CHECK(ringside_state(rs, &st) == 0, "state");
	printf("send_word: 2,000 records, 64 reply slots, no backlog, no poll "
	       "for 1 s: ringside_flush() says \"%s\"; %u reports read, %llu "
	       "dropped\n",
	       ringside_strerror(rc), nreports,
	       (unsigned long long)st.reports_dropped);
	CHECK(rc == RINGSIDE_EDROPPED, "flush returned %d", rc);
	CHECK(st.reports_dropped > 0 &&
		      nreports + st.reports_dropped == 2000,
	      "%u read + %llu dropped != 2000", nreports,
	      (unsigned long long)st.reports_dropped);
	CHECK(ringside_flush(rs, 20000, count, NULL) == 0,
	      "a second flush, with nothing dropped since, is not 0");
	ringside_close(rs);
}

int main(void)
{
	struct h_env e;

	send_bin = h_env_or("RINGSIDE_SEND", "client/ringside-send");
	h_init(&e, "send_word");
	h_mock_start(&e, 1);
	h_topic(&e, "lines", 4);
	h_topic(&e, "nul", 1);
	h_write_config(&e, "ring_size = 4M\nreply_slots = 64\n"
			   "report_backlog = 0\n",
		       "[topic:*]\nacks = 1\n");
	h_daemon_start(&e);
	options(&e);
	nul_key(&e);
	dropped(&e);
	/* the rest with the default reply ring */
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_write_config(&e, "ring_size = 4M\n", "[topic:*]\nacks = 1\n");
	h_daemon_start(&e);
	stopped_daemon(&e);
	restart_counts(&e);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_cleanup(&e);
	return 0;
}
