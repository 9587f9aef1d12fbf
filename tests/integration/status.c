/*
 * status: ringsidectl status, text and JSON, against a daemon with a
 * client sending: the session is listed with its pid, uid, name and
 * state while it sends; afterwards the topic shows exactly the records
 * delivered, nothing in flight, and the spool is empty.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *run_ctl(struct h_env *e, const char *args)
{
	static char buf[65536];
	char cmd[1200];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s",
		 h_env_or("RINGSIDECTL", "client/ringsidectl"), e->sock, args);
	p = popen(cmd, "r");
	CHECK(p != NULL, "popen");
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	CHECK(pclose(p) == 0, "ringsidectl %s failed: %s", args, buf);
	return buf;
}

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	const char *argv[] = { client, "--socket",  NULL,   "--id",
			       "0",    "--records", "1000", "--rate",
			       "400",  "--topics",  "st",   NULL };
	char out[400], want[300];
	struct h_env e;
	char *s;
	pid_t pid;

	h_init(&e, "status");
	h_mock_start(&e, 1);
	h_topic(&e, "st", 2);
	h_write_config(&e, NULL, "[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	argv[2] = e.sock;
	snprintf(out, sizeof(out), "%s/client.out", e.dir);
	pid = h_spawn(argv, out);
	usleep(1000 * 1000);

	s = run_ctl(&e, "status --json");
	snprintf(want, sizeof(want),
		 "\"pid\": %d, \"uid\": %u, \"name\": \"test-client-0\", "
		 "\"state\": \"open\"",
		 (int)pid, (unsigned int)getuid());
	CHECK(strstr(s, want) != NULL, "no %s in %s", want, s);
	CHECK(strstr(s, "\"sessions\": 1,") != NULL, "session count: %s", s);
	s = run_ctl(&e, "status");
	CHECK(strstr(s, "test-client-0") != NULL && strstr(s, "open") != NULL,
	      "text status without the session: %s", s);

	CHECK(h_wait(pid, 30000) == 0, "client failed");
	s = run_ctl(&e, "status --json");
	CHECK(strstr(s, "{\"name\": \"st\", \"acks\": \"all\", \"mode\": "
			"\"direct\", \"in_flight\": 0, \"delivered\": 1000, "
			"\"failed\": 0, \"spooled\": 0") != NULL,
	      "topic counters: %s", s);
	CHECK(strstr(s, "\"records\": 0,") != NULL, "spool: %s", s);
	printf("%s", run_ctl(&e, "status"));
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_cleanup(&e);
	return 0;
}
