/* SPDX-License-Identifier: MIT */
/*
 * test_config.c: ringside.ini parsing: values and defaults, topic policy
 * resolution, and every error path, each of which must name its file and
 * line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "client/ringside_proto.h"
#include "daemon/config.h"
#include "daemon/log.h"

static char path[64];

static void write_file(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/rs-test-config-%d.ini",
		 (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct rs_config *load_ok(const char *text)
{
	struct rs_config *cfg = NULL;
	char err[4096];

	write_file(text);
	if (rs_config_load(path, &cfg, err, sizeof(err)) != 0)
		print_error("unexpected error: %s\n", err);
	assert_non_null(cfg);
	unlink(path);
	return cfg;
}

/* The text must be refused with "file:line: <message>" (file NULL: the
 * config itself). */
static void load_bad_in(const char *text, const char *file, int line,
			const char *message)
{
	struct rs_config *cfg = NULL;
	char err[4096], want[128];

	write_file(text);
	assert_int_equal(rs_config_load(path, &cfg, err, sizeof(err)), -1);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:%d: ", file != NULL ? file : path,
		 line);
	if (strstr(err, want) == NULL || strstr(err, message) == NULL)
		print_error("wanted \"%s%s\", got \"%s\"\n", want, message,
			    err);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, message));
	unlink(path);
}

static void load_bad(const char *text, int line, const char *message)
{
	load_bad_in(text, NULL, line, message);
}

static void test_defaults(void **state)
{
	struct rs_config *cfg = load_ok("[ringside]\n");

	(void)state;
	assert_string_equal(cfg->socket_path, "/run/ringside/ringside.sock");
	assert_int_equal(cfg->socket_mode, 0660);
	assert_null(cfg->socket_group);
	assert_int_equal(cfg->ring_size, 4U << 20);
	assert_int_equal(cfg->reply_slots, 16384);
	assert_int_equal(cfg->max_record_bytes, 1000000);
	assert_int_equal(cfg->shutdown_timeout_ms, 10000);
	assert_int_equal(cfg->log_level, RS_LOG_INFO);
	assert_null(cfg->defaults);
	assert_int_equal(cfg->ntopics, 0);
	rs_config_free(cfg);
}

static void test_values(void **state)
{
	struct rs_config *cfg =
		load_ok("; comment\n"
			"# comment too\n"
			"[ringside]\n"
			"socket = /tmp/x.sock\n"
			"socket_mode = 0600\n"
			"socket_group = root\n"
			"ring_size = 16MiB\n"
			"reply_slots = 4096\n"
			"max_record_bytes = 64K\n"
			"report_backlog = 0\n"
			"shutdown_timeout_ms = 500 ; inline comment\n"
			"log_level = debug\n"
			"[kafka]\n"
			"bootstrap.servers = a:9092,b:9092\n"
			"linger.ms = 10\n");

	(void)state;
	assert_string_equal(cfg->socket_path, "/tmp/x.sock");
	assert_int_equal(cfg->socket_mode, 0600);
	assert_string_equal(cfg->socket_group, "root");
	assert_int_equal(cfg->socket_gid, 0);
	assert_int_equal(cfg->ring_size, 16U << 20);
	assert_int_equal(cfg->reply_slots, 4096);
	assert_int_equal(cfg->max_record_bytes, 64U << 10);
	assert_int_equal(cfg->report_backlog, 0);
	assert_int_equal(cfg->shutdown_timeout_ms, 500);
	assert_int_equal(cfg->log_level, RS_LOG_DEBUG);
	assert_int_equal(cfg->kafka.n, 2);
	assert_string_equal(cfg->kafka.v[0].key, "bootstrap.servers");
	assert_string_equal(cfg->kafka.v[0].value, "a:9092,b:9092");
	assert_int_equal(cfg->kafka.v[0].line, 14);
	rs_config_free(cfg);
}

static void test_topic_policy(void **state)
{
	struct rs_config *cfg = load_ok("[topic:*]\n"
					"acks = 1\n"
					"message.timeout.ms = 1000\n"
					"[topic:orders]\n"
					"acks = all\n"
					"[topic:logs]\n"
					"reports = none\n"
					"acks = 0\n");
	struct rs_topic_policy p;

	(void)state;
	assert_int_equal(rs_config_topic(cfg, "orders", &p), 0);
	assert_int_equal(p.acks, RS_ACKS_ALL);
	assert_int_equal(p.reports, RS_REPORTS_ALL);
	assert_non_null(p.section);
	assert_non_null(p.defaults);
	assert_int_equal(rs_config_topic(cfg, "logs", &p), 0);
	assert_int_equal(p.acks, RS_ACKS_0);
	assert_int_equal(p.reports, RS_REPORTS_NONE);
	assert_int_equal(rs_config_topic(cfg, "other", &p), 0);
	assert_int_equal(p.acks, RS_ACKS_1);
	assert_null(p.section);
	assert_int_equal(cfg->defaults->props.n, 1);
	rs_config_free(cfg);

	/* without [topic:*] only listed topics are allowed */
	cfg = load_ok("[topic:orders]\nreports = errors\n");
	assert_int_equal(rs_config_topic(cfg, "orders", &p), 0);
	assert_int_equal(p.acks, RS_ACKS_ALL);
	assert_int_equal(p.reports, RS_REPORTS_ERRORS);
	assert_int_equal(rs_config_topic(cfg, "other", &p), -1);
	rs_config_free(cfg);
}

static void test_ringside_errors(void **state)
{
	(void)state;
	load_bad("[ringside]\nfoo = 1\n", 2, "unknown key 'foo' in [ringside]");
	load_bad("[ringside]\n\nsocket =\n", 3, "socket: empty value");
	load_bad("[ringside]\nsocket = relative.sock\n", 2,
		 "is not an absolute path");
	load_bad(
		"[ringside]\nsocket = /tmp/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
		2, "path longer than");
	load_bad("[ringside]\nsocket_mode = 0999\n", 2, "is not an octal mode");
	load_bad("[ringside]\nsocket_mode = 01777\n", 2,
		 "is not an octal mode");
	load_bad("[ringside]\nsocket_group = no-such-group-here\n", 2,
		 "no group named 'no-such-group-here'");
	load_bad("[ringside]\nlog_level = loud\n", 2,
		 "log_level: 'loud' is not one of");
	load_bad("[ringside]\nring_size = lots\n", 2, "is not a size");
	load_bad("[ringside]\nring_size = 4X\n", 2, "is not a size");
	load_bad("[ringside]\nring_size = -4M\n", 2, "is not a size");
	load_bad("[ringside]\nring_size = 99999999999999999999\n", 2,
		 "is not a size");
	load_bad("[ringside]\nring_size = 3M\n", 2, "not a power of two");
	load_bad("[ringside]\nring_size = 32K\n", 2, "out of range");
	load_bad("[ringside]\nring_size = 2G\n", 2, "out of range");
	load_bad("[ringside]\nreply_slots = 1000\n", 2, "not a power of two");
	load_bad("[ringside]\nreply_slots = 12k\n", 2, "is not a number");
	load_bad("[ringside]\nmax_sessions = 0\n", 2, "out of range");
	load_bad("[ringside]\ndrain_interval_us = 5\n", 2, "out of range");
	load_bad("[ringside]\nring_size = 1M\nmax_record_bytes = 600K\n", 3,
		 "must be at most half of ring_size");
	load_bad("[ringside]\nring_size = 64K\n", 2,
		 "must be at most half of ring_size");
}

static void test_kafka_errors(void **state)
{
	(void)state;
	load_bad("[kafka]\nno.such.thing = 1\n", 2,
		 "[kafka] no.such.thing: No such configuration property");
	load_bad("[kafka]\nlinger.ms = soon\n", 2, "[kafka] linger.ms:");
	load_bad("[kafka]\nacks = 1\n", 2, "set acks per topic");
	load_bad("[kafka]\nrequest.required.acks = 1\n", 2,
		 "set acks per topic");
}

static void test_topic_errors(void **state)
{
	(void)state;
	load_bad("[topic:*]\nacks = most\n", 2,
		 "acks: 'most' is not 0, 1 or all");
	load_bad("[topic:*]\nreports = some\n", 2,
		 "reports: 'some' is not all, errors or none");
	load_bad("[topic:x]\nrequest.required.acks = 1\n", 2,
		 "write 'acks = 0|1|all' instead");
	load_bad("[topic:x]\nno.such.topic.prop = 1\n", 2,
		 "[topic:x] no.such.topic.prop:");
	load_bad("[topic:x]\nmessage.timeout.ms = never\n", 2,
		 "[topic:x] message.timeout.ms:");
	load_bad("\n[topic:bad/name]\nacks = 1\n", 3,
		 "'bad/name' is not a valid Kafka topic name");
	load_bad("[topic:..]\nacks = 1\n", 2,
		 "is not a valid Kafka topic name");
}

static void test_structure_errors(void **state)
{
	char longline[400];

	(void)state;
	load_bad("acks = 1\n", 1, "'acks' is outside any section");
	load_bad("[ringside]\nlog_level = info\n[kafka]\nlinger.ms = 1\n"
		 "[ringside]\nring_size = 4M\n",
		 6, "duplicate section [ringside]");
	load_bad("[ringside]\nlog_level = info\nlog_level = debug\n", 3,
		 "duplicate key 'log_level' in [ringside]");
	load_bad("[ringside]\nlog_level = info\n[rinside]\nfoo = 1\n", 4,
		 "unknown section [rinside]");
	load_bad("[ringside]\nlog_level = info\nnot a key value pair\n", 3,
		 "syntax error");
	load_bad("[ringside\nlog_level = info\n", 1, "syntax error");
	memset(longline, 'x', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	{
		char text[600];

		snprintf(text, sizeof(text), "[ringside]\n;%s", longline);
		load_bad(text, 2, "line longer than");
	}
}

static void test_many_errors(void **state)
{
	struct rs_config *cfg = NULL;
	char err[4096], want[96];

	(void)state;
	write_file("[ringside]\nring_size = 3M\nbogus = 1\n[topic:*]\n"
		   "acks = 7\n");
	assert_int_equal(rs_config_load(path, &cfg, err, sizeof(err)), -1);
	for (int line = 2; line <= 5; line += (line == 3 ? 2 : 1)) {
		snprintf(want, sizeof(want), "%s:%d: ", path, line);
		assert_non_null(strstr(err, want));
	}
	unlink(path);
	/* a short buffer is cut, never overrun */
	write_file("[ringside]\nring_size = 3M\nbogus = 1\n");
	assert_int_equal(rs_config_load(path, &cfg, err, 20), -1);
	assert_true(strlen(err) < 20);
	unlink(path);
}

static void test_unreadable(void **state)
{
	struct rs_config *cfg = NULL;
	char err[256];

	(void)state;
	assert_int_equal(rs_config_load("/nonexistent/ringside.ini", &cfg, err,
					sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/ringside.ini: No such file"));
}

static void test_topic_names(void **state)
{
	(void)state;
	assert_true(ringside_topic_name_valid("orders.v1_x-y", 13));
	assert_false(ringside_topic_name_valid("", 0));
	assert_false(ringside_topic_name_valid(".", 1));
	assert_false(ringside_topic_name_valid("..", 2));
	assert_false(ringside_topic_name_valid("a b", 3));
	assert_false(ringside_topic_name_valid("é", 2));
}

/* A file beside the config, with that mode; its path in out. */
static void write_include(char *out, size_t len, const char *text, int mode)
{
	FILE *f;

	snprintf(out, len, "/tmp/rs-test-include-%d.ini", (int)getpid());
	unlink(out);
	f = fopen(out, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(out, (mode_t)mode), 0);
}

/* include = PATH: secrets apart from the config, in [kafka] and topic
 * sections; each error names the file it is in and its line there. */
static void test_include(void **state)
{
	char inc[96], text[512];
	struct rs_config *cfg = NULL;

	(void)state;
	write_include(inc, sizeof(inc),
		      "; the SASL secret\nsasl.username = app\n"
		      "sasl.password = s3cret\n",
		      0600);
	snprintf(text, sizeof(text),
		 "[ringside]\n[kafka]\nsecurity.protocol = sasl_ssl\n"
		 "include = %s\nsasl.mechanism = SCRAM-SHA-512\n"
		 "[topic:t]\nacks = 1\n",
		 inc);
	cfg = load_ok(text);
	assert_int_equal(cfg->kafka.n, 4);
	assert_string_equal(cfg->kafka.v[2].key, "sasl.password");
	assert_string_equal(cfg->kafka.v[2].value, "s3cret");
	assert_string_equal(cfg->kafka.v[2].file, inc);
	assert_int_equal(cfg->kafka.v[2].line, 3);
	assert_null(cfg->kafka.v[0].file);
	assert_string_equal(cfg->kafka.v[3].key, "sasl.mechanism");
	assert_null(cfg->kafka.v[3].file);
	assert_int_equal(cfg->kafka.v[3].line, 5);
	rs_config_free(cfg);

	/* ${NAME} from the environment (systemd's CREDENTIALS_DIRECTORY) */
	assert_int_equal(setenv("RS_TEST_CRED", "/tmp", 1), 0);
	snprintf(text, sizeof(text), "[kafka]\ninclude = ${RS_TEST_CRED}/%s\n",
		 inc + 5);
	cfg = load_ok(text);
	assert_string_equal(cfg->kafka.v[1].value, "s3cret");
	rs_config_free(cfg);
	load_bad("[kafka]\ninclude = ${RS_TEST_UNSET_VAR}/x\n", 2,
		 "${RS_TEST_UNSET_VAR} is not set");
	load_bad("[kafka]\ninclude = ${RS_TEST_CRED/x\n", 2, "unclosed");
	load_bad("[kafka]\ninclude = relative.ini\n", 2,
		 "not an absolute path");
	load_bad("[kafka]\ninclude = /nonexistent/secrets.ini\n", 2,
		 "No such file");

	/* readable by others: refused, and nothing of it read */
	write_include(inc, sizeof(inc), "sasl.password = s3cret\n", 0644);
	snprintf(text, sizeof(text), "[kafka]\ninclude = %s\n", inc);
	load_bad(text, 2, "readable by others");
	write_include(inc, sizeof(inc), "sasl.password = s3cret\n", 0660);
	load_bad(text, 2, "writable by its group");

	/* errors inside it name it, at its own line numbers; the config's
	 * lines after it keep theirs */
	write_include(inc, sizeof(inc),
		      "sasl.password = x\nno.such.property = 1\n", 0640);
	snprintf(text, sizeof(text),
		 "[kafka]\ninclude = %s\n[topic:t]\nacks = 2\n", inc);
	load_bad_in(text, inc, 2, "[kafka] no.such.property");
	load_bad_in(text, NULL, 4, "acks");
	write_include(inc, sizeof(inc), "sasl.password = x\nnot a key\n", 0640);
	load_bad_in(text, inc, 2, "syntax error");

	/* keys, not sections; no include in an include; a key set twice */
	write_include(inc, sizeof(inc), "[ringside]\nsocket = /tmp/x\n", 0640);
	load_bad_in(text, inc, 1, "an included file holds keys");
	write_include(inc, sizeof(inc), "include = /etc/passwd\n", 0640);
	snprintf(text, sizeof(text), "[kafka]\ninclude = %s\n", inc);
	load_bad_in(text, inc, 1, "an included file cannot include");
	write_include(inc, sizeof(inc), "linger.ms = 5\n", 0640);
	snprintf(text, sizeof(text), "[kafka]\nlinger.ms = 1\ninclude = %s\n",
		 inc);
	load_bad_in(text, inc, 1, "duplicate key 'linger.ms'");
	unlink(inc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_topic_policy),
		cmocka_unit_test(test_ringside_errors),
		cmocka_unit_test(test_kafka_errors),
		cmocka_unit_test(test_topic_errors),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_topic_names),
		cmocka_unit_test(test_include),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
