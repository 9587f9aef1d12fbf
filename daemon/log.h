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
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
