/*
 * log.c: writes one line per message to stderr, in one write(2) so lines
 * from librdkafka's threads never interleave mid-line. Exits only in fatal().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = RS_LOG_INFO;

static const struct {
	const char *name;
	int level;
} levels[] = {
	{ "error", RS_LOG_ERR },     { "warning", RS_LOG_WARN },
	{ "notice", RS_LOG_NOTICE }, { "info", RS_LOG_INFO },
	{ "debug", RS_LOG_DEBUG },
};

/* Under systemd, with stderr going to the journal: "<N>" priority
 * prefixes, and no timestamp (the journal has its own). */
static int to_journal;

static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(int level)
{
	log_level = level;
	to_journal = stderr_is_journal();
}

void log_setlevel(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int log_getlevel(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name, int *level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcasecmp(name, levels[i].name) == 0) {
			*level = levels[i].level;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(int level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (levels[i].level == level)
			return levels[i].name;
	return "?";
}

static void vlog(int level, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (level > log_getlevel())
		return;
	if (to_journal) {
		/* the levels are syslog's, as sd-daemon(3) wants them */
		n = snprintf(line, sizeof(line), "<%d>%s: ", level,
			     log_level_name(level));
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n,
			      ".%03ld ringsided: %s: ", ts.tv_nsec / 1000000,
			      log_level_name(level));
	}
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n >= (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (errnum != 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
			      strerror(errnum));
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, (size_t)n);
}

#define LOGFN(name, level, with_errno)                                         \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog((level), (with_errno) ? saved : 0, fmt, ap);              \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOGFN(log_warn, RS_LOG_WARN, 1)
LOGFN(log_warnx, RS_LOG_WARN, 0)
LOGFN(log_notice, RS_LOG_NOTICE, 0)
LOGFN(log_info, RS_LOG_INFO, 0)
LOGFN(log_debug, RS_LOG_DEBUG, 0)

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(RS_LOG_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(RS_LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
