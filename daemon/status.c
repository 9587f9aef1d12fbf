/* SPDX-License-Identifier: MIT */
/*
 * status.c: renders the status report from the daemon's own counters (no
 * value is read from shared memory a client could have written, except
 * the ring fill, which is clamped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "client/ringside_proto.h"
#include "config.h"
#include "flow.h"
#include "health.h"
#include "producer.h"
#include "server.h"
#include "session.h"
#include "spool.h"
#include "status.h"
#include "topic.h"

static const char *status_state_name(const struct rs_session *s)
{
	switch (s->state) {
	case RS_SESSION_HANDSHAKE:
		return "handshake";
	case RS_SESSION_OPEN:
		return s->resuming ? "resuming" : "open";
	case RS_SESSION_CLOSING:
		return "closing";
	default:
		return "dead";
	}
}

static unsigned long long status_ring_used(const struct rs_session *s)
{
	uint64_t used;

	if (!s->shm_ready)
		return 0;
	used = s->ring.tail - s->ring.release;
	return used > s->shm.ring_size ? s->shm.ring_size : used;
}

/* A JSON string of a name the daemon already checked: topic names are
 * [a-zA-Z0-9._-], session names printable ASCII; quote and backslash are
 * the only characters to escape. */
static void status_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void status_sessions_json(FILE *f, struct rs_server *srv)
{
	struct rs_session *s;
	int first = 1;

	fputs("  \"sessions\": [", f);
	TAILQ_FOREACH (s, &srv->sessions, entry) {
		if (s->state == RS_SESSION_HANDSHAKE)
			continue;
		fprintf(f,
			"%s\n    {\"id\": %llu, \"pid\": %d, \"pid_claimed\": "
			"%u, "
			"\"uid\": %u, \"name\": ",
			first ? "" : ",", (unsigned long long)s->id,
			(int)s->peer.pid, (unsigned int)s->claimed_pid,
			(unsigned int)s->peer.uid);
		status_json_str(f, s->name);
		fprintf(f,
			", \"state\": \"%s\", \"ring_size\": %u, "
			"\"ring_used\": %llu, \"records_in\": %llu, "
			"\"delivered\": %llu, \"failed\": %llu, \"spooled\": "
			"%llu, \"finished\": %llu, \"reports_dropped\": %llu, "
			"\"sends_refused\": %llu}",
			status_state_name(s), s->shm.ring_size,
			status_ring_used(s), (unsigned long long)s->records_in,
			(unsigned long long)s->delivered,
			(unsigned long long)s->failed,
			(unsigned long long)s->spilled,
			(unsigned long long)s->finished,
			(unsigned long long)(s->shm_ready ? s->reply.dropped
							  : 0),
			(unsigned long long)rs_session_refused(s));
		first = 0;
	}
	fputs(first ? "],\n" : "\n  ],\n", f);
}

static void status_topics_json(FILE *f, struct rs_server *srv)
{
	size_t n = rs_producer_ntopics(srv->producer);

	fputs("  \"topics\": [", f);
	for (size_t i = 0; i < n; i++) {
		const struct rs_topic *t =
			rs_producer_topic_at(srv->producer, i);

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		status_json_str(f, t->name);
		fprintf(f,
			", \"acks\": \"%s\", \"mode\": \"%s\", "
			"\"in_flight\": %llu, \"delivered\": %llu, "
			"\"failed\": %llu, \"spooled\": %llu, \"replayed\": "
			"%llu, \"possible_duplicates\": %llu}",
			rs_acks_name(t->acks),
			t->mode == RS_MODE_SPOOLED ? "spooled" : "direct",
			(unsigned long long)t->inflight,
			(unsigned long long)t->delivered,
			(unsigned long long)t->failed,
			(unsigned long long)t->spilled,
			(unsigned long long)t->replayed,
			(unsigned long long)t->possible_dups);
	}
	fputs(n ? "\n  ],\n" : "],\n", f);
}

static void status_brokers_json(FILE *f, const struct rs_kstats *ks)
{
	fputs(", \"brokers\": [", f);
	for (uint32_t i = 0; i < ks->nbrokers; i++) {
		const struct rs_kbroker *b = &ks->broker[i];

		fprintf(f, "%s\n      {\"name\": ", i ? "," : "");
		status_json_str(f, b->name);
		fprintf(f,
			", \"nodeid\": %d, \"state\": \"%s\", "
			"\"rtt_avg_us\": %lld, \"rtt_p99_us\": %lld, "
			"\"outbuf\": %lld, \"waitresp\": %lld, "
			"\"requests\": %lld, \"request_errors\": %lld, "
			"\"connects\": %lld, \"disconnects\": %lld}",
			(int)b->nodeid, b->state, (long long)b->rtt_avg_us,
			(long long)b->rtt_p99_us, (long long)b->outbuf_cnt,
			(long long)b->waitresp_cnt, (long long)b->tx,
			(long long)b->txerrs, (long long)b->connects,
			(long long)b->disconnects);
	}
	fputs(ks->nbrokers ? "\n    ]}" : "]}", f);
}

/* Each librdkafka producer (one per acks class in use) and its brokers,
 * as of its last statistics (every second). */
static void status_kafka_json(FILE *f, struct rs_server *srv)
{
	int first = 1;

	fputs("  \"kafka\": [", f);
	for (int a = 0; a < RS_ACKS_N; a++) {
		const char *name;
		const struct rs_kstats *ks = rs_producer_kstats(
			srv->producer, (enum rs_acks)a, &name);

		if (ks == NULL)
			continue;
		fprintf(f, "%s\n    {\"producer\": ", first ? "" : ",");
		status_json_str(f, name);
		fprintf(f,
			", \"acks\": \"%s\", \"stats\": %s, "
			"\"queued\": %lld, \"brokers_up\": %u",
			rs_acks_name((enum rs_acks)a),
			ks->valid ? "true" : "false", (long long)ks->msg_cnt,
			rs_kstats_up(ks));
		status_brokers_json(f, ks);
		first = 0;
	}
	fputs(first ? "],\n" : "\n  ],\n", f);
}

static void status_kafka_text(FILE *f, struct rs_server *srv)
{
	fprintf(f, "\n%-22s %-4s %-32s %-8s %9s %9s %7s %8s\n", "PRODUCER",
		"ACKS", "BROKER", "STATE", "RTT-AVG", "RTT-P99", "OUTBUF",
		"WAITRESP");
	for (int a = 0; a < RS_ACKS_N; a++) {
		const char *name;
		const struct rs_kstats *ks = rs_producer_kstats(
			srv->producer, (enum rs_acks)a, &name);

		if (ks == NULL)
			continue;
		if (ks->nbrokers == 0)
			fprintf(f, "%-22s %-4s %s\n", name,
				rs_acks_name((enum rs_acks)a),
				ks->valid ? "(no brokers known)"
					  : "(no statistics yet)");
		for (uint32_t i = 0; i < ks->nbrokers; i++) {
			const struct rs_kbroker *b = &ks->broker[i];

			fprintf(f,
				"%-22s %-4s %-32.32s %-8s %7.1fms %7.1fms "
				"%7lld "
				"%8lld\n",
				name, rs_acks_name((enum rs_acks)a), b->name,
				b->state, (double)b->rtt_avg_us / 1000.0,
				(double)b->rtt_p99_us / 1000.0,
				(long long)b->outbuf_cnt,
				(long long)b->waitresp_cnt);
		}
	}
}

static long long status_oldest_age_s(const struct rs_spool_stats *ss)
{
	return ss->oldest_ms > 0 ? (long long)time(NULL) - ss->oldest_ms / 1000
				 : 0;
}

static void status_render_json(FILE *f, struct rs_server *srv)
{
	struct rs_spool_stats ss;

	rs_spool_stats(srv->spool, &ss);
	fprintf(f,
		"{\n  \"daemon\": {\"version\": \"%s\", \"pid\": %d, "
		"\"sessions\": %u, \"stopping\": %s},\n  \"health\": ",
		PACKAGE_VERSION, (int)getpid(), rs_server_open_sessions(srv),
		srv->stopping ? "true" : "false");
	(void)rs_health_json(srv, f);
	fputs(",\n", f);
	status_sessions_json(f, srv);
	status_topics_json(f, srv);
	status_kafka_json(f, srv);
	fputs("  \"spool\": {\"dir\": ", f);
	status_json_str(f, srv->cfg->spool_dir);
	fprintf(f,
		", \"segments\": %llu, \"bytes\": %llu, \"records\": %llu, "
		"\"oldest_segment_age_s\": %lld, \"dropped\": %llu, "
		"\"full\": %s, \"writes_failing\": %s}\n}\n",
		(unsigned long long)ss.segments, (unsigned long long)ss.bytes,
		(unsigned long long)ss.records, status_oldest_age_s(&ss),
		(unsigned long long)ss.dropped, ss.full ? "true" : "false",
		ss.broken ? "true" : "false");
}

static void status_health_reason(void *arg, enum rs_health_level level,
				 const char *reason)
{
	fprintf(arg, "  %s: %s\n", rs_health_name(level), reason);
}

/* "health: LEVEL", then its reasons indented, then a blank line. */
static void status_health_text(FILE *f, struct rs_server *srv)
{
	fprintf(f, "health: %s\n",
		rs_health_name(rs_health_check(srv, NULL, NULL)));
	(void)rs_health_check(srv, status_health_reason, f);
	fputc('\n', f);
}

static void status_render_text(FILE *f, struct rs_server *srv)
{
	const struct rs_session *s;
	struct rs_spool_stats ss;
	size_t n = rs_producer_ntopics(srv->producer);

	rs_spool_stats(srv->spool, &ss);
	fprintf(f, "ringsided %s, pid %d, %u sessions%s\n\n", PACKAGE_VERSION,
		(int)getpid(), rs_server_open_sessions(srv),
		srv->stopping ? ", stopping" : "");
	status_health_text(f, srv);
	fprintf(f, "%-18s %10s %6s %-16s %-9s %6s %10s %10s %8s %8s\n",
		"SESSION", "PID", "UID", "NAME", "STATE", "RING%", "IN",
		"DELIVERED", "FAILED", "SPOOLED");
	TAILQ_FOREACH (s, &srv->sessions, entry) {
		char pid[24];

		if (s->state == RS_SESSION_HANDSHAKE)
			continue;
		fprintf(f,
			"%-18llu %10s %6u %-16.16s %-9s %5llu%% %10llu %10llu "
			"%8llu %8llu\n",
			(unsigned long long)s->id,
			rs_session_pid_str(s, pid, sizeof(pid)),
			(unsigned int)s->peer.uid, s->name[0] ? s->name : "-",
			status_state_name(s),
			s->shm_ready
				? status_ring_used(s) * 100 / s->shm.ring_size
				: 0ULL,
			(unsigned long long)s->records_in,
			(unsigned long long)s->delivered,
			(unsigned long long)s->failed,
			(unsigned long long)s->spilled);
	}
	fprintf(f, "\n%-24s %-4s %-8s %9s %10s %8s %8s %8s\n", "TOPIC", "ACKS",
		"MODE", "IN-FLIGHT", "DELIVERED", "FAILED", "SPOOLED",
		"REPLAYED");
	for (size_t i = 0; i < n; i++) {
		const struct rs_topic *t =
			rs_producer_topic_at(srv->producer, i);

		fprintf(f,
			"%-24.24s %-4s %-8s %9llu %10llu %8llu %8llu %8llu\n",
			t->name, rs_acks_name(t->acks),
			t->mode == RS_MODE_SPOOLED ? "spooled" : "direct",
			(unsigned long long)t->inflight,
			(unsigned long long)t->delivered,
			(unsigned long long)t->failed,
			(unsigned long long)t->spilled,
			(unsigned long long)t->replayed);
	}
	status_kafka_text(f, srv);
	fprintf(f,
		"\nspool %s: %llu records to deliver, %llu bytes in %llu "
		"segments, oldest segment %llds old, %llu dropped%s%s\n",
		srv->cfg->spool_dir, (unsigned long long)ss.records,
		(unsigned long long)ss.bytes, (unsigned long long)ss.segments,
		status_oldest_age_s(&ss), (unsigned long long)ss.dropped,
		ss.full ? ", FULL" : "", ss.broken ? ", WRITES FAILING" : "");
}

int rs_status_render(struct rs_server *srv, uint32_t flags, char **out,
		     size_t *len)
{
	int json = (flags & RINGSIDE_STATUS_F_JSON) != 0;
	FILE *f = open_memstream(out, len);

	if (f == NULL)
		return -1;
	if (flags & RINGSIDE_STATUS_F_HEALTH) {
		if (json) {
			(void)rs_health_json(srv, f);
			fputc('\n', f);
		} else {
			(void)rs_health_text(srv, f);
		}
	} else if (json) {
		status_render_json(f, srv);
	} else {
		status_render_text(f, srv);
	}
	return fclose(f) == 0 ? 0 : -1;
}
