/* SPDX-License-Identifier: MIT */
/*
 * log.h: the daemon's only way to speak, in the style of OpenBSD's daemons.
 * log_warn() and fatal() append strerror(errno); the *x forms do not.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

#include <stdarg.h>

/* syslog priorities, so journald can read them */
enum rs_log_level {
	RS_LOG_ERR = 3,
	RS_LOG_WARN = 4,
	RS_LOG_NOTICE = 5,
	RS_LOG_INFO = 6,
	RS_LOG_DEBUG = 7,
};

void log_init(int level);
void log_setlevel(int level);
int log_getlevel(void);
int log_level_parse(const char *name, int *level);
const char *log_level_name(int level);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * For messages a flood can drive (one per connection, per refused peer):
 * at most RS_LOG_RL_BURST from one call site (its own struct, static) per
 * RS_LOG_RL_WINDOW_S, then how many were left out. Event-loop thread
 * only.
 */
#define RS_LOG_RL_BURST 10
#define RS_LOG_RL_WINDOW_S 10
struct rs_log_rl {
	long long window; /* start of the window, seconds */
	unsigned int n;	  /* written in it */
	unsigned long left_out;
};
void log_rl(struct rs_log_rl *rl, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
