/* SPDX-License-Identifier: MIT */
/*
 * health.h: is ringsided alive, and can it take records now without losing
 * any? The one answer behind /healthz and /readyz (metrics.c), the status
 * report's health line (status.c) and ringsidectl health.
 *
 * Ready means a record sent now goes to Kafka: the daemon is not stopping,
 * each producer in use has a broker connection up (as of librdkafka's last
 * statistics, each second), and its spool is not failing, full or dropping
 * records. Degraded means ready, but some topic's records go through the
 * spool; a strict probe counts it as unready.
 */
#ifndef RS_HEALTH_H
#define RS_HEALTH_H

#include <stdio.h>

struct rs_server;

enum rs_health_level {
	RS_HEALTH_OK,
	RS_HEALTH_DEGRADED, /* ready, but a topic's records go to the spool */
	RS_HEALTH_UNREADY,  /* Kafka unreachable, or sends refused or lost */
};

/* Called for each reason, in no particular order. */
typedef void (*rs_health_fn)(void *arg, enum rs_health_level level,
			     const char *reason);

/* The worst level among the reasons (RS_HEALTH_OK when there are none);
 * fn, if not NULL, is told each. */
enum rs_health_level rs_health_check(struct rs_server *srv, rs_health_fn fn,
				     void *arg);

/* "ready", "degraded" or "unready". */
const char *rs_health_name(enum rs_health_level level);

/* The first line is the level's name, then one reason per line, each
 * prefixed by its level ("degraded: ..."). Returns the level. */
enum rs_health_level rs_health_text(struct rs_server *srv, FILE *f);

/* "{"level": ..., "ready": ..., "reasons": [...]}" without a newline. */
enum rs_health_level rs_health_json(struct rs_server *srv, FILE *f);

#endif
