/* SPDX-License-Identifier: MIT */
/*
 * pidns: ringsided in a PID namespace of its own, as in a container of a
 * Kubernetes pod without a shared process namespace, and its client
 * outside it. The kernel gives the daemon pid 0 for such a peer
 * (SO_PEERCRED cannot name a process the daemon's namespace does not
 * hold); status then shows the pid the client says it has, marked
 * "ns:", in text, JSON (pid 0, pid_claimed) and the log, and the records
 * go through as ever: every one is consumed back. Skipped where the test
 * may not make a PID namespace (it needs CAP_SYS_ADMIN).
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* 1 if this process may make a PID namespace (tried in a child). */
static int pidns_allowed(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unshare(CLONE_NEWPID) == 0 ? 0 : 1);
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The number after "key": in a JSON text, or -1. */
static long long json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	return p != NULL ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	const char *argv[] = { client,	  "--socket",  NULL,   "--id",
			       "0",	  "--records", "1000", "--rate",
			       "500",	  "--topics",  "ns",   "--final",
			       "30",	  NULL };
	char out[400], want[64];
	struct h_client c;
	struct h_msg *msgs;
	struct h_env e;
	const char *o, *sess;
	size_t n;
	pid_t pid;

	if (!pidns_allowed()) {
		printf("pidns: SKIP: cannot make a PID namespace; this test "
		       "needs CAP_SYS_ADMIN\n");
		return 77;
	}
	h_init(&e, "pidns");
	h_mock_start(&e, 1);
	h_topic(&e, "ns", 2);
	h_write_config(&e, NULL, "[topic:*]\nacks = all\n");
	e.pidns = 1;
	h_daemon_start(&e);
	argv[2] = e.sock;
	snprintf(out, sizeof(out), "%s/client.out", e.dir);
	pid = h_spawn(argv, out);
	usleep(800 * 1000);

	CHECK(h_ctl(&e, "status --json", &o) == 0, "status --json: %s", o);
	/* the daemon says its own pid as its namespace has it: 1 */
	CHECK(json_num(o, "pid") == 1, "the daemon is not pid 1: %s", o);
	sess = strstr(o, "\"sessions\": ");
	CHECK(sess != NULL && json_num(sess, "pid") == 0 &&
		      json_num(sess, "pid_claimed") == pid,
	      "the client (pid %d) outside the daemon's namespace: %s",
	      (int)pid, o);
	snprintf(want, sizeof(want), " ns:%d ", (int)pid);
	CHECK(h_ctl(&e, "status", &o) == 0 && strstr(o, want) != NULL,
	      "text status without \"%s\": %s", want, o);
	printf("%s", o);
	snprintf(want, sizeof(want), "(pid ns:%d uid", (int)pid);
	CHECK(h_log_count(&e, want) > 0, "the log does not say \"%s\"", want);

	CHECK(h_wait(pid, 30000) == 0, "client failed");
	h_read_client(out, &c);
	CHECK(c.complete && c.failures == 0 && c.finals == 1000,
	      "client: %llu final reports, %llu failed", c.finals, c.failures);
	h_client_free(&c);
	n = h_consume(&e, "ns", 2, &msgs);
	CHECK(n == 1000, "%zu of 1000 records in Kafka", n);
	h_msgs_free(msgs, n);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	printf("pidns: ringsided as pid 1 of its own PID namespace: the "
	       "client shown as ns:%d (SO_PEERCRED gave 0), 1000 records "
	       "consumed back\n",
	       (int)pid);
	h_cleanup(&e);
	return 0;
}
