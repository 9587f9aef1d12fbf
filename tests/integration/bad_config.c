/* SPDX-License-Identifier: MIT */
/*
 * bad_config: ringsided refuses a broken ringside.ini with a non-zero exit
 * and "file:line: message" for every problem, and accepts the shipped
 * example as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static const struct {
	const char *text;
	int line;
	const char *message;
} cases[] = {
	{ "[ringside]\nsocket = /tmp/x.sock\nring_sise = 4M\n", 3,
	  "unknown key 'ring_sise' in [ringside]" },
	{ "[ringside]\nring_size = 3M\n", 2, "is not a power of two" },
	{ "[ringside]\n[kafka]\nno.such.property = 1\n", 3,
	  "[kafka] no.such.property: No such configuration property" },
	{ "[topic:*]\nacks = 2\n", 2, "acks: '2' is not 0, 1 or all" },
	{ "[ringside]\nlog_level = info\nlog_level = debug\n", 3,
	  "duplicate key 'log_level'" },
	{ "[ringside]\nlog_level = info\n[topics:x]\nacks = 1\n", 4,
	  "unknown section [topics:x]" },
	{ "[ringside]\nthis line is not a key\n", 2, "syntax error" },
	{ "[kafka]\nacks = all\n", 2, "set acks per topic" },
};

static void run(const char *conf, const char *errfile, int *rc)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd),
		 "'%s' --check --config '%s' 2>'%s' >/dev/null",
		 h_env_or("RINGSIDED", "daemon/ringsided"), conf, errfile);
	*rc = system(cmd);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* --check on what a config needs beyond its syntax: each of these once
 * passed --check and then failed at start (or started and sent nothing).
 * NULL line: the message names the file without a line. */
static void check_start_needs(struct h_env *e, const char *conf,
			      const char *errf)
{
	char open_spool[400], text[1200], want[600];
	const struct {
		const char *what;
		const char *socket_dir, *spool, *kafka;
		int line;
		const char *message;
	} needs[] = {
		{ "a socket in a directory that does not exist", "/nonexistent",
		  NULL, "bootstrap.servers = localhost:9092\n", 0,
		  "socket: directory /nonexistent: No such file or directory" },
		{ "a spool_dir whose parent does not exist", NULL,
		  "/nonexistent/spool", "bootstrap.servers = localhost:9092\n",
		  0, "directory /nonexistent: No such file or directory" },
		{ "a spool_dir others can write", NULL, open_spool,
		  "bootstrap.servers = localhost:9092\n", 0,
		  "is writable by its group or others" },
		{ "an ssl.ca.location that does not exist", NULL, NULL,
		  "bootstrap.servers = localhost:9093\n"
		  "security.protocol = ssl\n"
		  "ssl.ca.location = /nonexistent/ca.pem\n",
		  8, "[kafka] ssl.ca.location: /nonexistent/ca.pem: No such" },
		{ "transactional.id", NULL, NULL,
		  "bootstrap.servers = localhost:9092\n"
		  "transactional.id = app\n",
		  7, "ringsided does not use transactions" },
		{ "no bootstrap.servers", NULL, NULL, "linger.ms = 5\n", 0,
		  "names no bootstrap.servers" },
	};
	int rc;

	snprintf(open_spool, sizeof(open_spool), "%s/open-spool-2", e->dir);
	CHECK(mkdir(open_spool, 0700) == 0 && chmod(open_spool, 0777) == 0,
	      "%s", open_spool);
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		FILE *f = fopen(conf, "w");
		char *err;

		CHECK(f != NULL, "cannot write %s", conf);
		/* [kafka]'s keys start at line 6 */
		snprintf(text, sizeof(text),
			 "[ringside]\nsocket = %s/s.sock\nspool_dir = %s\n"
			 "[topic:*]\n[kafka]\n%s",
			 needs[i].socket_dir ? needs[i].socket_dir : e->dir,
			 needs[i].spool ? needs[i].spool : e->dir,
			 needs[i].kafka);
		fputs(text, f);
		fclose(f);
		run(conf, errf, &rc);
		err = slurp(errf);
		if (needs[i].line > 0)
			snprintf(want, sizeof(want), "%s:%d: ", conf,
				 needs[i].line);
		else
			snprintf(want, sizeof(want), "%s: ", conf);
		CHECK(rc != 0, "--check accepted %s", needs[i].what);
		CHECK(strstr(err, want) != NULL &&
			      strstr(err, needs[i].message) != NULL,
		      "%s: wanted '%s...%s', got '%s'", needs[i].what, want,
		      needs[i].message, err);
		printf("bad_config: --check, %s: %s", needs[i].what, err);
	}
}

int main(void)
{
	char conf[400], errf[400], want[600];
	struct h_env e;
	char *err;
	FILE *f;
	int rc;

	h_init(&e, "badconf");
	snprintf(conf, sizeof(conf), "%s/bad.ini", e.dir);
	snprintf(errf, sizeof(errf), "%s/err.txt", e.dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = fopen(conf, "w");
		CHECK(f != NULL, "cannot write %s", conf);
		fputs(cases[i].text, f);
		fclose(f);
		run(conf, errf, &rc);
		err = slurp(errf);
		snprintf(want, sizeof(want), "%s:%d: ", conf, cases[i].line);
		CHECK(rc != 0, "case %zu: accepted", i);
		CHECK(strstr(err, want) != NULL &&
			      strstr(err, cases[i].message) != NULL,
		      "case %zu: wanted '%s...%s', got '%s'", i, want,
		      cases[i].message, err);
		printf("bad_config: %s", err);
	}

	/* all problems at once, each with its line */
	f = fopen(conf, "w");
	fputs("[ringside]\nring_size = 5\nbogus = 1\n[topic:*]\nreports = "
	      "some\n",
	      f);
	fclose(f);
	run(conf, errf, &rc);
	err = slurp(errf);
	snprintf(want, sizeof(want), "%s:2: ", conf);
	CHECK(rc != 0 && strstr(err, want) != NULL, "line 2 missing: %s", err);
	snprintf(want, sizeof(want), "%s:3: ", conf);
	CHECK(strstr(err, want) != NULL, "line 3 missing: %s", err);
	snprintf(want, sizeof(want), "%s:5: ", conf);
	CHECK(strstr(err, want) != NULL, "line 5 missing: %s", err);

	/* an unreadable file */
	snprintf(want, sizeof(want), "%s/missing.ini", e.dir);
	run(want, errf, &rc);
	CHECK(rc != 0 && strstr(slurp(errf), "No such file") != NULL,
	      "missing file: %s", slurp(errf));

	/* a spool directory others could write into: refused at start */
	{
		char dir[400], cmd[1200];

		snprintf(dir, sizeof(dir), "%s/open-spool", e.dir);
		CHECK(mkdir(dir, 0700) == 0 && chmod(dir, 0777) == 0, "%s",
		      dir);
		f = fopen(conf, "w");
		fprintf(f,
			"[ringside]\nsocket = %s/s.sock\nspool_dir = %s\n"
			"[kafka]\ntest.mock.num.brokers = 1\n"
			"[topic:*]\nacks = 1\n",
			e.dir, dir);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
			 "timeout 10 '%s' --config '%s' 2>'%s' >/dev/null",
			 h_env_or("RINGSIDED", "daemon/ringsided"), conf, errf);
		rc = system(cmd);
		CHECK(rc != 0 && strstr(slurp(errf), "is writable by its "
						     "group or others") != NULL,
		      "a world-writable spool_dir: %s", slurp(errf));
	}

	check_start_needs(&e, conf, errf);

	/* the shipped example passes --check, with its socket and spool
	 * where this test may write (a host without the package has no
	 * /run/ringside: --check says so, as the case above shows) */
	{
		char cmd[1600];

		snprintf(cmd, sizeof(cmd),
			 "sed -e 's#^socket = .*#socket = %s/s.sock#' "
			 "-e 's#^spool_dir = .*#spool_dir = %s/spool#' "
			 "'%s/conf/ringside.ini' >'%s'",
			 e.dir, e.dir, h_env_or("RS_SRCDIR", "."), conf);
		CHECK(system(cmd) == 0, "%s", cmd);
	}
	run(conf, errf, &rc);
	CHECK(rc == 0, "the shipped ringside.ini is refused: %s", slurp(errf));
	printf("bad_config: every error names its line; --check finds what "
	       "start-up would; the shipped example is accepted\n");
	h_cleanup(&e);
	return 0;
}
