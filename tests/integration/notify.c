/* SPDX-License-Identifier: MIT */
/*
 * notify: this test plays systemd. It binds a datagram socket, passes it
 * as NOTIFY_SOCKET with WATCHDOG_USEC = 200 ms, starts ringsided and
 * expects READY=1 (with a STATUS), WATCHDOG=1 about every 100 ms,
 * RELOADING=1 then READY=1 on SIGHUP (for a good config and for a broken
 * one, which must say so), and STOPPING=1 after SIGTERM, then exit 0.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* Waits up to ms for a datagram containing needle; counts WATCHDOG=1
 * pings on the way. */
static int wait_for(int fd, const char *needle, int ms, int *pings)
{
	int64_t deadline = h_now_ms() + ms;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - h_now_ms();
		char buf[512];
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			return 0;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "WATCHDOG=1") != NULL)
			(*pings)++;
		if (strstr(buf, needle) != NULL)
			return 1;
	}
}

int main(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[400];
	struct h_env e;
	int fd, pings = 0, ready, rc;
	int64_t t0;

	h_init(&e, "notify");
	h_mock_start(&e, 1);
	snprintf(path, sizeof(path), "%s/notify.sock", e.dir);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0,
	      "notify socket: %s", strerror(errno));
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "200000", 1);
	h_write_config(&e, NULL, "[topic:*]\nacks = 1\n");
	h_daemon_start(&e);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");

	ready = wait_for(fd, "READY=1", 10000, &pings);
	CHECK(ready, "no READY=1");
	t0 = h_now_ms();
	pings = 0;
	(void)wait_for(fd, "never sent", 1000, &pings);
	CHECK(pings >= 7 && pings <= 13,
	      "%d WATCHDOG=1 in %lld ms with WATCHDOG_USEC = 200 ms", pings,
	      (long long)(h_now_ms() - t0));

	/* a good reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 */
	h_write_config(&e, NULL, "[topic:*]\nacks = all\n");
	CHECK(kill(e.daemon, SIGHUP) == 0, "kill");
	CHECK(wait_for(fd, "RELOADING=1", 5000, &pings), "no RELOADING=1");
	CHECK(wait_for(fd, "READY=1", 5000, &pings),
	      "no READY=1 after RELOADING=1");
	CHECK(h_log_count(&e, "reloaded ") == 1, "no 'reloaded' log line");

	/* a broken one: READY=1 again, the status says it failed */
	h_write_config(&e, NULL, "[topic:*]\nacks = most\n");
	CHECK(kill(e.daemon, SIGHUP) == 0, "kill");
	CHECK(wait_for(fd, "RELOADING=1", 5000, &pings), "no RELOADING=1");
	CHECK(wait_for(fd, "reload failed", 5000, &pings),
	      "no READY=1 with 'reload failed' after a broken config");
	CHECK(h_log_count(&e, "ringside.ini:") >= 1,
	      "the log does not name the broken line");

	rc = h_daemon_stop(&e, SIGTERM, 30000);
	CHECK(rc == 0, "ringsided exit status %d", rc);
	/* the datagram waits in the socket after the sender has gone */
	CHECK(wait_for(fd, "STOPPING=1", 1000, &pings), "no STOPPING=1");
	printf("notify: READY=1, %d WATCHDOG=1 a second at WATCHDOG_USEC = "
	       "200 ms, RELOADING=1/READY=1 on SIGHUP, STOPPING=1 on "
	       "SIGTERM, exit 0\n",
	       pings);
	close(fd);
	h_cleanup(&e);
	return 0;
}
