/* SPDX-License-Identifier: MIT */
/*
 * notify.h: the service manager's notification protocol, spoken directly
 * (a datagram to $NOTIFY_SOCKET), as systemd documents for daemons that do
 * not link libsystemd: READY=1, STOPPING=1, STATUS=..., and WATCHDOG=1
 * every half of $WATCHDOG_USEC from the event loop, so a stuck loop stops
 * the pings and systemd restarts the service. A no-op outside systemd.
 */
#ifndef RS_NOTIFY_H
#define RS_NOTIFY_H

#include <event2/event.h>

/* Reads the environment; arms the watchdog timer on base if asked for. */
void rs_notify_init(struct event_base *base);
void rs_notify_free(void);

/* Sends one notification ("READY=1\nSTATUS=..."); errors are ignored:
 * the service manager may be gone. */
void rs_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
