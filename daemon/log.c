/* SPDX-License-Identifier: MIT */
/*
 * log.c: writes one line per message to stderr, in one write(2) so lines
 * from librdkafka's threads never interleave mid-line. Exits only in fatal().
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/ringside_proto.h"
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

static int log_stderr_is_journal(void)
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
	to_journal = log_stderr_is_journal();
}

void log_setlevel(int level)
{
	rs_store_relaxed(&log_level, level);
}

int log_getlevel(void)
{
	return rs_load_relaxed(&log_level);
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

/*
 * The same message again and again (a disk that stays full, a broker that
 * stays down) is written once per REPEAT_WINDOW_S; the next different
 * message is preceded by how many were left out. Threads (librdkafka's
 * log callback) share this state, hence the lock.
 */
#define REPEAT_WINDOW_S 10

static pthread_mutex_t repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_hash;
static time_t last_time;
static unsigned long suppressed;

static uint64_t log_fnv1a(const char *s, size_t n, int level)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)level;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int log_prefix(char *line, size_t len, int level)
{
	struct timespec ts;
	struct tm tm;
	int n;

	if (to_journal) /* the levels are syslog's, as sd-daemon(3) wants */
		return snprintf(line, len, "<%d>%s: ", level,
				log_level_name(level));
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(line, len, "%H:%M:%S", &tm);
	return n + snprintf(line + n, len - (size_t)n,
			    ".%03ld ringsided: %s: ", ts.tv_nsec / 1000000,
			    log_level_name(level));
}

/* 1 if this message is a repeat to leave out; otherwise writes the count
 * of the ones left out before it, if any. */
static int log_repeated(int level, const char *body, size_t n)
{
	uint64_t h = log_fnv1a(body, n, level);
	time_t now = time(NULL);
	unsigned long count;

	pthread_mutex_lock(&repeat_lock);
	if (h == last_hash && now - last_time < REPEAT_WINDOW_S) {
		suppressed++;
		pthread_mutex_unlock(&repeat_lock);
		return 1;
	}
	count = suppressed;
	last_hash = h;
	last_time = now;
	suppressed = 0;
	pthread_mutex_unlock(&repeat_lock);
	if (count > 0) {
		char line[256];
		int k = log_prefix(line, sizeof(line), RS_LOG_NOTICE);

		k += snprintf(line + k, sizeof(line) - (size_t)k,
			      "last message repeated %lu more times\n", count);
		(void)!write(STDERR_FILENO, line, (size_t)k);
	}
	return 0;
}

static void log_vlog_to(int level, int errnum, int dedupe, const char *fmt,
			va_list ap)
{
	char line[2048];
	int n, m, body;

	if (level > log_getlevel())
		return;
	n = log_prefix(line, sizeof(line), level);
	body = n;
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
	if (dedupe && log_repeated(level, line + body, (size_t)(n - body)))
		return;
	line[n++] = '\n';
	/* nowhere to say that stderr failed (a cast to void does not quiet
	 * _FORTIFY_SOURCE's warn_unused_result, which package builds use) */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

static void log_vlog(int level, int errnum, const char *fmt, va_list ap)
{
	log_vlog_to(level, errnum, 1, fmt, ap);
}

#define LOGFN(name, level, with_errno)                                         \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vlog((level), (with_errno) ? saved : 0, fmt, ap);          \
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
	log_vlog(level, 0, fmt, ap);
	va_end(ap);
}

void log_rl(struct rs_log_rl *rl, int level, const char *fmt, ...)
{
	long long now = (long long)time(NULL);
	va_list ap;

	if (now - rl->window >= RS_LOG_RL_WINDOW_S) {
		if (rl->left_out > 0)
			log_msg(level,
				"%lu more like the next were left out in %d s "
				"(rate limited)",
				rl->left_out, RS_LOG_RL_WINDOW_S);
		rl->window = now;
		rl->n = 0;
		rl->left_out = 0;
	}
	if (rl->n >= RS_LOG_RL_BURST) {
		rl->left_out++;
		return;
	}
	rl->n++;
	va_start(ap, fmt);
	log_vlog(level, 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog_to(RS_LOG_ERR, saved, 0, fmt, ap); /* always heard */
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog_to(RS_LOG_ERR, 0, 0, fmt, ap); /* always heard */
	va_end(ap);
	exit(1);
}
