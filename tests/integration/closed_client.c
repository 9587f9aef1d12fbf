/* SPDX-License-Identifier: MIT */
/*
 * closed_client: a client that is gone, and ringsided killed soon after.
 *
 * With every broker down, a client sends 1,000 records and closes
 * (ringside_close() returns, the process goes on), another sends and is
 * killed with SIGKILL. One second later, before backlog_ms would spill
 * anything, ringsided is killed with SIGKILL too. Before, those records
 * lived only in the daemon's mapping of the dead clients' rings, which no
 * process could hand to the next daemon: all of them were lost. Now, once
 * a client is gone, its unfinished records are written to the spool at
 * once: a new ringsided delivers every one when the brokers return.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"
#include "records.h"

#define CLOSED 1000

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	const char *killed[] = { client,	"--socket", NULL,
				 "--id",	"1",	    "--threads",
				 "1",		"--records", "100000",
				 "--rate",	"2000",	    "--topics",
				 "closed",	NULL };
	ringside_options_t opts = { 0 };
	ringside_topic_t *topic;
	struct h_msg *msgs;
	unsigned int seen_closed = 0, seen_killed = 0, max_killed = 0;
	struct h_env e;
	char err[256];
	ringside_t *rs;
	pid_t k;
	size_t n;

	h_init(&e, "closed-client");
	h_mock_start(&e, 3);
	h_topic(&e, "closed", 4);
	h_write_config(&e, "spool_fsync = always\n",
		       "[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0, "brokers down");

	/* this process: 1,000 records, then a clean close */
	opts.socket_path = e.sock;
	rs = ringside_open_opts(&opts, err, sizeof(err));
	CHECK(rs != NULL, "open: %s", err);
	CHECK(ringside_topic(rs, "closed", &topic) == 0, "topic");
	for (unsigned int i = 0; i < CLOSED; i++) {
		struct rec_id id = { .w = 0, .t = 0, .s = i };
		char key[REC_KEY_MAX], value[REC_VALUE_MAX];
		size_t kl = rec_key(&id, 7, key), vl = rec_value(&id, value);

		CHECK(ringside_send(rs, topic, key, kl, value, vl,
				    rec_opaque(&id)) == 0,
		      "send %u", i);
	}
	ringside_close(rs);

	/* another client, killed mid-send */
	killed[2] = e.sock;
	k = h_spawn(killed, "/dev/null");
	usleep(500 * 1000);
	kill(k, SIGKILL);
	CHECK(h_wait(k, 10000) == 128 + SIGKILL, "the client survived");

	/* ringsided dies a second later, before backlog_ms spills */
	sleep(1);
	CHECK(h_daemon_stop(&e, SIGKILL, 10000) == 128 + SIGKILL, "kill");
	h_daemon_start(&e);
	CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "brokers up");
	{
		int64_t deadline = h_now_ms() + 60000;

		while (h_log_count(&e, "spool drained") == 0) {
			CHECK(h_now_ms() < deadline, "the spool never drained");
			usleep(100 * 1000);
		}
	}

	n = h_consume(&e, "closed", 4, &msgs);
	for (size_t i = 0; i < n; i++) {
		struct rec_id id;

		CHECK(rec_parse_value(msgs[i].value, msgs[i].value_len, &id) ==
			      0,
		      "unexpected record");
		if (id.w == 0)
			seen_closed++;
		else {
			seen_killed++;
			if (id.s + 1 > max_killed)
				max_killed = id.s + 1;
		}
	}
	h_msgs_free(msgs, n);
	printf("closed-client: of %d records a closed client sent, %u in "
	       "Kafka after ringsided was killed 1 s later; of the killed "
	       "client's, %u (its first %u)\n",
	       CLOSED, seen_closed, seen_killed, max_killed);
	CHECK(seen_closed >= CLOSED, "records of the closed client lost");
	CHECK(max_killed > 0 && seen_killed >= max_killed,
	      "records of the killed client lost (%u of its first %u)",
	      seen_killed, max_killed);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_cleanup(&e);
	return 0;
}
