/* SPDX-License-Identifier: MIT */
/*
 * notify.c: see notify.h. The socket path may be abstract ("@name"), as
 * systemd uses; the watchdog interval comes from WATCHDOG_USEC, and only
 * if WATCHDOG_PID, when set, is this process.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static struct sockaddr_un addr;
static socklen_t addrlen;
static int fd = -1;
static struct event *watchdog_ev;

static void notify_on_watchdog(evutil_socket_t s, short what, void *arg)
{
	(void)s;
	(void)what;
	(void)arg;
	rs_notify("WATCHDOG=1");
}

static void notify_init_watchdog(struct event_base *base)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	struct timeval tv;

	if (usec == NULL)
		return;
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return; /* meant for another process */
	us = strtoull(usec, NULL, 10);
	if (us == 0)
		return;
	us /= 2; /* systemd's advice: ping at half the interval */
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	watchdog_ev = event_new(base, -1, EV_PERSIST, notify_on_watchdog, NULL);
	if (watchdog_ev == NULL || event_add(watchdog_ev, &tv) < 0)
		fatalx("libevent: cannot arm the watchdog timer");
	log_info("systemd watchdog: pinging every %llu ms", us / 1000);
}

void rs_notify_init(struct event_base *base)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(addr.sun_path)) {
		log_warnx("NOTIFY_SOCKET is too long; not notifying systemd");
		return;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, len);
	if (path[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract namespace */
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("notify socket");
		return;
	}
	notify_init_watchdog(base);
}

void rs_notify_free(void)
{
	if (watchdog_ev != NULL)
		event_free(watchdog_ev);
	watchdog_ev = NULL;
	if (fd >= 0)
		close(fd);
	fd = -1;
}

void rs_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if (sendto(fd, msg,
		   (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1,
		   MSG_NOSIGNAL, (struct sockaddr *)&addr, addrlen) < 0 &&
	    errno != ECONNREFUSED && errno != ENOENT)
		log_warn("notify");
}
