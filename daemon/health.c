/* SPDX-License-Identifier: MIT */
/*
 * health.c: see health.h. Every figure is the daemon's own: the spool's
 * state, each topic's mode, and librdkafka's last statistics (each second)
 * for whether a broker connection is up.
 */
#include <stdarg.h>
#include <stdio.h>

#include "client/ringside_clock.h"
#include "config.h"
#include "flow.h"
#include "health.h"
#include "kstats.h"
#include "producer.h"
#include "server.h"
#include "spool.h"
#include "topic.h"

/* Spooling topics named one by one; the rest are counted. */
#define HEALTH_TOPICS_NAMED 8
/* Unready for this long after the spool last dropped records. */
#define HEALTH_DROPPED_MS 10000

static void health_say(rs_health_fn fn, void *arg, enum rs_health_level *worst,
		       enum rs_health_level level, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void health_say(rs_health_fn fn, void *arg, enum rs_health_level *worst,
		       enum rs_health_level level, const char *fmt, ...)
{
	char reason[256];
	va_list ap;

	if (level > *worst)
		*worst = level;
	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	fn(arg, level, reason);
}

static void health_kafka(struct rs_server *srv, rs_health_fn fn, void *arg,
			 enum rs_health_level *worst)
{
	for (int a = 0; a < RS_ACKS_N; a++) {
		const char *name;
		const struct rs_kstats *ks = rs_producer_kstats(
			srv->producer, (enum rs_acks)a, &name);

		if (ks == NULL)
			continue;
		if (!ks->valid)
			health_say(fn, arg, worst, RS_HEALTH_UNREADY,
				   "kafka: producer %s (acks=%s) has no "
				   "statistics yet",
				   name, rs_acks_name((enum rs_acks)a));
		else if (rs_kstats_up(ks) == 0)
			health_say(fn, arg, worst, RS_HEALTH_UNREADY,
				   "kafka: producer %s (acks=%s) has no broker "
				   "connection up (%u brokers known)",
				   name, rs_acks_name((enum rs_acks)a),
				   (unsigned int)ks->nbrokers);
	}
}

static void health_topics(struct rs_server *srv, rs_health_fn fn, void *arg,
			  enum rs_health_level *worst)
{
	size_t n = rs_producer_ntopics(srv->producer), spooling = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rs_topic *t =
			rs_producer_topic_at(srv->producer, i);

		if (t->mode != RS_MODE_SPOOLED)
			continue;
		if (++spooling <= HEALTH_TOPICS_NAMED)
			health_say(fn, arg, worst, RS_HEALTH_DEGRADED,
				   "topic %s: spooling (its records go through "
				   "the disk)",
				   t->name);
	}
	if (spooling > HEALTH_TOPICS_NAMED)
		health_say(fn, arg, worst, RS_HEALTH_DEGRADED,
			   "and %zu more topics spooling",
			   spooling - HEALTH_TOPICS_NAMED);
}

enum rs_health_level rs_health_check(struct rs_server *srv, rs_health_fn fn,
				     void *arg)
{
	enum rs_health_level worst = RS_HEALTH_OK;
	struct rs_spool_stats ss;

	if (srv->stopping)
		health_say(fn, arg, &worst, RS_HEALTH_UNREADY,
			   "stopping: delivering what it holds, opening no "
			   "new sessions");
	rs_spool_stats(srv->spool, &ss);
	if (ss.broken)
		health_say(fn, arg, &worst, RS_HEALTH_UNREADY,
			   "spool: writes are failing (the log says why)");
	if (ss.full)
		health_say(
			fn, arg, &worst, RS_HEALTH_UNREADY,
			"spool: full (spool_max_bytes, or its filesystem); %s",
			srv->cfg->spool_drop_oldest
				? "its oldest records are dropped for new "
				  "ones (spool_full = drop_oldest)"
				: "records wait in the rings, and a send "
				  "to a full ring is refused (spool_full = "
				  "block)");
	if (ss.dropped_ms > 0 &&
	    rs_now_ms() - ss.dropped_ms < HEALTH_DROPPED_MS)
		health_say(fn, arg, &worst, RS_HEALTH_UNREADY,
			   "spool: full, dropped its oldest records %lld ms "
			   "ago (%llu since start; spool_full = drop_oldest)",
			   (long long)(rs_now_ms() - ss.dropped_ms),
			   (unsigned long long)ss.dropped);
	health_kafka(srv, fn, arg, &worst);
	health_topics(srv, fn, arg, &worst);
	return worst;
}

const char *rs_health_name(enum rs_health_level level)
{
	switch (level) {
	case RS_HEALTH_OK:
		return "ready";
	case RS_HEALTH_DEGRADED:
		return "degraded";
	default:
		return "unready";
	}
}

struct health_out {
	FILE *f;
	int n; /* reasons written */
};

static void health_line(void *arg, enum rs_health_level level,
			const char *reason)
{
	struct health_out *o = arg;

	fprintf(o->f, "%s: %s\n", rs_health_name(level), reason);
}

enum rs_health_level rs_health_text(struct rs_server *srv, FILE *f)
{
	struct health_out o = { f, 0 };
	enum rs_health_level level = rs_health_check(srv, NULL, NULL);

	fprintf(f, "%s\n", rs_health_name(level));
	(void)rs_health_check(srv, health_line, &o);
	return level;
}

/* Reasons are the daemon's own text: topic names are [a-zA-Z0-9._-],
 * producer names librdkafka's; quote and backslash are escaped all the
 * same, and control characters dropped. */
static void health_json_reason(void *arg, enum rs_health_level level,
			       const char *reason)
{
	struct health_out *o = arg;

	fprintf(o->f, "%s{\"level\": \"%s\", \"reason\": \"", o->n ? ", " : "",
		rs_health_name(level));
	for (; *reason != '\0'; reason++) {
		if (*reason == '"' || *reason == '\\')
			fputc('\\', o->f);
		if ((unsigned char)*reason >= 0x20)
			fputc(*reason, o->f);
	}
	fputs("\"}", o->f);
	o->n++;
}

enum rs_health_level rs_health_json(struct rs_server *srv, FILE *f)
{
	struct health_out o = { f, 0 };
	enum rs_health_level level = rs_health_check(srv, NULL, NULL);

	fprintf(f, "{\"level\": \"%s\", \"ready\": %s, \"reasons\": [",
		rs_health_name(level),
		level == RS_HEALTH_UNREADY ? "false" : "true");
	(void)rs_health_check(srv, health_json_reason, &o);
	fputs("]}", f);
	return level;
}
