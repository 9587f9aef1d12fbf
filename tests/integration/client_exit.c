/* SPDX-License-Identifier: MIT */
/*
 * client_exit: one client process exits without ringside_close() while its
 * threads send, another is killed with SIGKILL mid-send. The daemon stays
 * healthy and serves a new client; every record the dead processes
 * committed arrives exactly once, each thread's records forming an unbroken
 * prefix of what it sent (a send cut off by the death never returned 0).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "verify.h"

#define EXIT_AFTER 500

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	static const struct v_topic topics[] = { { "exits", 2, -1 } };
	const char *exiting[] = {
		client,	     "--socket", NULL,	      "--id",	"0",
		"--threads", "2",	 "--records", "100000", "--exit-after",
		"500",	     "--topics", "exits",     NULL
	};
	const char *killed[] = { client,   "--socket",	NULL,	"--id",
				 "1",	   "--threads", "2",	"--records",
				 "100000", "--rate",	"5000", "--topics",
				 "exits",  NULL };
	const char *healthy[] = { client, "--socket",  NULL,	"--id",
				  "2",	  "--threads", "1",	"--records",
				  "1000", "--topics",  "exits", NULL };
	char out[400];
	struct h_client c;
	struct h_env e;
	struct v_ctx v;
	pid_t a, b, h;
	int contiguous;
	unsigned int n;

	h_init(&e, "exits");
	h_mock_start(&e, 1);
	h_topic(&e, "exits", 2);
	h_write_config(&e, NULL, "[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	exiting[2] = killed[2] = healthy[2] = e.sock;

	a = h_spawn(exiting, "/dev/null");
	b = h_spawn(killed, "/dev/null");
	CHECK(h_wait(a, 30000) == 0, "the exiting client failed");
	usleep(300 * 1000);
	kill(b, SIGKILL);
	CHECK(h_wait(b, 30000) == 128 + SIGKILL, "the killed client survived");

	snprintf(out, sizeof(out), "%s/healthy.out", e.dir);
	h = h_spawn(healthy, out);
	CHECK(h_wait(h, 30000) == 0, "a new client failed after the deaths");
	h_read_client(out, &c);
	CHECK(c.flush_rc == 0 && c.nreports == 1000,
	      "the new client got %zu reports", c.nreports);

	usleep(500 * 1000); /* let the daemon finish and free dead sessions */
	v_init(&v, 3, 2, 100000, 7, topics, 1);
	v_consume(&v, &e);
	CHECK(v.bad_content == 0 && v.duplicates == 0 &&
		      v.order_violations == 0,
	      "bad %zu, duplicates %zu, order violations %zu", v.bad_content,
	      v.duplicates, v.order_violations);
	n = v_arrived(&v, 0, 0, &contiguous);
	CHECK(n == EXIT_AFTER && contiguous,
	      "exiting client thread 0: %u of %d arrived (contiguous %d)", n,
	      EXIT_AFTER, contiguous);
	for (unsigned int w = 0; w < 2; w++) {
		for (unsigned int t = 0; t < 2; t++) {
			n = v_arrived(&v, w, t, &contiguous);
			CHECK(contiguous, "client %u thread %u: a gap", w, t);
			printf("client_exit: dead client %u thread %u: %u "
			       "records arrived, no gap\n",
			       w, t, n);
		}
	}
	for (size_t i = 0; i < c.nreports; i++)
		CHECK(v_report_matches(&v, &c.reports[i]) == NULL,
		      "new client's report %zu: %s", i,
		      v_report_matches(&v, &c.reports[i]));
	CHECK(h_log_count(&e, "protocol violation") == 0,
	      "a dead client was treated as hostile");
	CHECK(h_log_count(&e, "finished") >= 3,
	      "the dead sessions were not freed");
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_client_free(&c);
	v_free(&v);
	h_cleanup(&e);
	return 0;
}
