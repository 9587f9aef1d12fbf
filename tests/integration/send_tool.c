/* SPDX-License-Identifier: MIT */
/*
 * send_tool: ringside-send as a user runs it. With healthy brokers every
 * line is delivered and it exits 0. With every broker down the records go
 * to ringsided's spool: it says so ("in ringsided's spool 5"), does not
 * count them as failures, and exits 0; when the brokers return the
 * records arrive, keys and headers as sent. A line from a writer that
 * keeps its pipe open reaches Kafka before the pipe closes, and 5,000
 * lines of many sizes (sent in batches) arrive once each, as written.
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

/* Records of topic in Kafka: waits up to 10 s for at least want. */
static size_t wait_records(struct h_env *e, const char *topic, size_t want,
			   struct h_msg **msgs)
{
	int64_t deadline = h_now_ms() + 10000;
	size_t n = 0;

	for (;;) {
		n = h_consume(e, topic, 1, msgs);
		if (n >= want || h_now_ms() >= deadline)
			return n;
		h_msgs_free(*msgs, n);
		usleep(100 * 1000);
	}
}

/* A writer that keeps its pipe open (tail -f | ringside-send): its line
 * must reach Kafka while ringside-send still waits for the next one, not
 * when the input ends. */
static void stream_line(struct h_env *e, const char *out)
{
	char cmd[1200];
	struct h_msg *msgs;
	FILE *p;
	size_t n;
	int rc;

	h_topic(e, "stream", 1);
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' -t stream -T 20000 >'%s' 2>&1",
		 h_env_or("RINGSIDE_SEND", "client/ringside-send"), e->sock,
		 out);
	p = popen(cmd, "w");
	CHECK(p != NULL, "popen ringside-send");
	fputs("first\n", p);
	fflush(p);
	n = wait_records(e, "stream", 1, &msgs);
	CHECK(n == 1 && msgs[0].value_len == 5 &&
		      memcmp(msgs[0].value, "first", 5) == 0,
	      "a line written to an open pipe was not in Kafka within 10 s "
	      "(%zu records)",
	      n);
	h_msgs_free(msgs, n);
	fputs("second", p); /* the last line, without a newline */
	rc = pclose(p);
	CHECK(rc == 0 && h_file_has(out, "sent 2, delivered 2, failed 0"),
	      "streamed lines: exit %d", rc);
	n = wait_records(e, "stream", 2, &msgs);
	CHECK(n == 2 && msgs[1].value_len == 6 &&
		      memcmp(msgs[1].value, "second", 6) == 0,
	      "the last line, without a newline, is not in Kafka as written");
	h_msgs_free(msgs, n);
}

#define BULK 5000

/* The value of line i: letters, 0 to 1,000 bytes (2.5 MB in all: the
 * mock keeps 5 MB a partition), some lines empty, so lines straddle the
 * reader's blocks. */
static size_t bulk_value(size_t i, char *buf)
{
	size_t len = (i * 7919) % 1001;

	if (i % 97 == 0)
		return 0;
	for (size_t j = 0; j < len; j++)
		buf[j] = (char)('a' + (i + j) % 26);
	if (len > 0)
		buf[0] = (char)('A' + i % 26);
	return len;
}

/* Many lines, more than a batch, of many sizes: every one in Kafka, once,
 * in order, as written (keys split at the delimiter). */
static void bulk_lines(struct h_env *e, const char *out)
{
	char path[400], cmd[1500], v[3001];
	struct h_msg *msgs;
	size_t n;
	FILE *f;
	int rc;

	h_topic(e, "bulk", 1);
	snprintf(path, sizeof(path), "%s/bulk.txt", e->dir);
	f = fopen(path, "w");
	CHECK(f != NULL, "fopen %s", path);
	for (size_t i = 0; i < BULK; i++) {
		size_t len = bulk_value(i, v);

		fprintf(f, "%zu:", i);
		fwrite(v, 1, len, f);
		fputc('\n', f);
	}
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "'%s' -s '%s' -t bulk -K : -T 30000 <'%s' >'%s' 2>&1",
		 h_env_or("RINGSIDE_SEND", "client/ringside-send"), e->sock,
		 path, out);
	rc = system(cmd);
	CHECK(rc == 0 && h_file_has(out, "sent 5000, delivered 5000, failed 0"),
	      "bulk: exit %d", rc);
	n = wait_records(e, "bulk", BULK, &msgs);
	CHECK(n == BULK, "bulk: %zu of %d lines in Kafka", n, BULK);
	for (size_t i = 0; i < n; i++) {
		char key[32];
		size_t len = bulk_value(i, v);
		int kl = snprintf(key, sizeof(key), "%zu", i);

		CHECK(msgs[i].key != NULL && msgs[i].key_len == (size_t)kl &&
			      memcmp(msgs[i].key, key, (size_t)kl) == 0 &&
			      msgs[i].value_len == len &&
			      (len == 0 || memcmp(msgs[i].value, v, len) == 0),
		      "bulk: record %zu is not line %zu as written", i, i);
	}
	h_msgs_free(msgs, n);
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

	stream_line(&e, out);
	bulk_lines(&e, out);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	printf("send_tool: 3 lines delivered; 5 more with every broker down: "
	       "reported in ringsided's spool, exit 0, and in Kafka, in "
	       "order, once the brokers returned; a line from a writer that "
	       "keeps its pipe open was in Kafka before the pipe closed; "
	       "%d lines in batches, every one in Kafka as written\n",
	       BULK);
	h_cleanup(&e);
	return 0;
}
