/* SPDX-License-Identifier: MIT */
/*
 * send_tool: ringside-send as a user runs it. With healthy brokers every
 * line is delivered and it exits 0. With every broker down the records go
 * to ringsided's spool: it says so ("in ringsided's spool 5"), does not
 * count them as failures, and exits 0; when the brokers return the
 * records arrive, keys and headers as sent.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static int send_lines(struct h_env *e, const char *topic, const char *lines,
		      const char *out)
{
	char cmd[1500];

	snprintf(cmd, sizeof(cmd),
		 "printf '%s' | '%s' -s '%s' -t %s -K : -H src=test -T 3000 "
		 ">'%s' 2>&1",
		 lines, h_env_or("RINGSIDE_SEND", "client/ringside-send"),
		 e->sock, topic, out);
	return system(cmd);
}

int main(void)
{
	char out[400];
	struct h_msg *msgs;
	struct h_env e;
	int64_t deadline;
	size_t n = 0;
	int rc;

	h_init(&e, "send_tool");
	h_mock_start(&e, 1);
	h_topic(&e, "lines", 1);
	h_write_config(&e, NULL,
		       "socket.timeout.ms = 3000\n"
		       "[topic:*]\nacks = all\nbacklog_ms = 200\n");
	h_daemon_start(&e);
	snprintf(out, sizeof(out), "%s/send.out", e.dir);

	rc = send_lines(&e, "lines", "a:1\\nb:2\\nc:3\\n", out);
	CHECK(rc == 0 && h_file_has(out, "sent 3, delivered 3, failed 0"),
	      "healthy: exit %d", rc);

	CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0, "brokers down");
	rc = send_lines(&e, "lines", "d:4\\ne:5\\nf:6\\ng:7\\nh:8\\n", out);
	CHECK(rc == 0, "with the brokers down: exit %d", rc);
	CHECK(h_file_has(out, "sent 5, delivered 0, failed 0, in ringsided's "
			      "spool 5"),
	      "with the brokers down, ringside-send did not say the records "
	      "are spooled");
	CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "brokers up");

	deadline = h_now_ms() + 60000;
	do {
		usleep(500 * 1000);
		if (n > 0)
			h_msgs_free(msgs, n);
		n = h_consume(&e, "lines", 1, &msgs);
	} while (n < 8 && h_now_ms() < deadline);
	CHECK(n == 8, "%zu of 8 records in Kafka", n);
	for (size_t i = 0; i < n; i++)
		CHECK(msgs[i].key != NULL && msgs[i].key_len == 1 &&
			      msgs[i].key[0] == (char)('a' + i) &&
			      msgs[i].value_len == 1 &&
			      msgs[i].value[0] == (char)('1' + i) &&
			      msgs[i].nheaders == 1 &&
			      strcmp(msgs[i].headers[0].name, "src") == 0,
		      "record %zu is not as sent", i);
	h_msgs_free(msgs, n);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	printf("send_tool: 3 lines delivered; 5 more with every broker down: "
	       "reported in ringsided's spool, exit 0, and in Kafka, in "
	       "order, once the brokers returned\n");
	h_cleanup(&e);
	return 0;
}
