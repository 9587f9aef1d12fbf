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

	/* the shipped example works as shipped */
	snprintf(want, sizeof(want), "%s/conf/ringside.ini",
		 h_env_or("RS_SRCDIR", "."));
	run(want, errf, &rc);
	CHECK(rc == 0, "the shipped ringside.ini is refused: %s", slurp(errf));
	printf("bad_config: every error names its line; the shipped example "
	       "is accepted\n");
	h_cleanup(&e);
	return 0;
}
