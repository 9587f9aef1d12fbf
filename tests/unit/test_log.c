/* SPDX-License-Identifier: MIT */
/*
 * test_log.c: the daemon's log lines, captured from stderr: a message
 * repeated within the window is written once, and the next different
 * message is preceded by how many were left out; priority prefixes when
 * stderr is the journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"

static char path[64];

/* Points stderr at a fresh file; returns what was written so far. */
static int capture(void)
{
	int fd, saved = dup(2);

	snprintf(path, sizeof(path), "/tmp/rs-test-log-%d", (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	return saved;
}

static char *release(int saved)
{
	static char buf[65536];
	FILE *f;
	size_t n;

	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	return buf;
}

static unsigned int count(const char *s, const char *needle)
{
	unsigned int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static void test_repeats(void **state)
{
	int saved;
	char *out;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_init(RS_LOG_DEBUG);
	saved = capture();
	for (int i = 0; i < 100; i++)
		log_warnx("spool: full (%d segments)", 3);
	log_notice("spool: space freed; accepting records");
	log_notice("a different one");
	out = release(saved);
	assert_int_equal(count(out, "spool: full (3 segments)"), 1);
	assert_int_equal(count(out, "last message repeated 99 more times"), 1);
	assert_int_equal(count(out, "space freed"), 1);
	assert_int_equal(count(out, "a different one"), 1);
	/* in that order */
	assert_true(strstr(out, "repeated 99") < strstr(out, "space freed"));
}

static void test_journal_prefix(void **state)
{
	struct stat st;
	char env[64];
	int saved;
	char *out;

	(void)state;
	saved = capture();
	assert_int_equal(fstat(2, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init(RS_LOG_DEBUG);
	log_warnx("to the journal");
	log_info("and this");
	out = release(saved);
	unsetenv("JOURNAL_STREAM");
	log_init(RS_LOG_DEBUG);
	assert_non_null(strstr(out, "<4>warning: to the journal\n"));
	assert_non_null(strstr(out, "<6>info: and this\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_journal_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
