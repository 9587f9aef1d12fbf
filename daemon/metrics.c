/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: the HTTP endpoint's three paths (/metrics, /healthz,
 * /readyz) and the Prometheus text exposition of the daemon's counters: per
 * topic (a topic unused for 10 minutes is forgotten, and its counters
 * start again from 0 if it comes back), the spool, sessions, reloads, and each
 * librdkafka producer's brokers from its statistics. Per-session figures are
 * left to ringsidectl status: sessions come and go, and a label per pid would
 * make a time series per process ever started.
 */
#include <dirent.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/ringside_clock.h"

#include "flow.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "producer.h"
#include "server.h"
#include "session.h"
#include "spool.h"
#include "topic.h"

static int64_t metrics_started_ms; /* wall clock, set by rs_metrics_new */

struct rs_metrics {
	struct rs_server *srv;
	struct rs_http *http; /* owned */
};

/* A label value: backslash, quote and newline escaped. */
static void metrics_label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
	fputc('"', f);
}

static void metrics_help(FILE *f, const char *name, const char *type,
			 const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* One line per topic of a per-topic counter or gauge. */
#define TOPIC_METRIC(f, srv, mname, type, text, expr)                          \
	do {                                                                   \
		metrics_help(f, mname, type, text);                            \
		for (size_t i_ = 0; i_ < rs_producer_ntopics((srv)->producer); \
		     i_++) {                                                   \
			const struct rs_topic *t =                             \
				rs_producer_topic_at((srv)->producer, i_);     \
			fputs(mname "{topic=", f);                             \
			metrics_label(f, t->name);                             \
			fprintf(f, "} %llu\n", (unsigned long long)(expr));    \
		}                                                              \
	} while (0)

static void metrics_topics(FILE *f, struct rs_server *srv)
{
	TOPIC_METRIC(f, srv, "ringside_topic_delivered_total", "counter",
		     "Records delivered (acks=0: sent).", t->delivered);
	TOPIC_METRIC(f, srv, "ringside_topic_delivered_bytes_total", "counter",
		     "Bytes of the keys and values of records delivered.",
		     t->delivered_bytes);
	TOPIC_METRIC(f, srv, "ringside_topic_failed_total", "counter",
		     "Records reported failed.", t->failed);
	TOPIC_METRIC(f, srv, "ringside_topic_spilled_total", "counter",
		     "Records written to the spool.", t->spilled);
	TOPIC_METRIC(f, srv, "ringside_topic_replayed_total", "counter",
		     "Records produced from the spool.", t->replayed);
	TOPIC_METRIC(f, srv, "ringside_topic_possible_duplicates_total",
		     "counter",
		     "Records sent again after a possibly "
		     "persisted failure.",
		     t->possible_dups);
	TOPIC_METRIC(f, srv, "ringside_topic_in_flight", "gauge",
		     "Records inside librdkafka.", t->inflight);
	TOPIC_METRIC(f, srv, "ringside_topic_spooling", "gauge",
		     "1 while the topic's records go through the spool.",
		     t->mode == RS_MODE_SPOOLED);
}

/* What live sessions' clients say they refused, and those gone. */
static uint64_t metrics_refused(struct rs_server *srv)
{
	struct rs_session *s;
	uint64_t n = srv->refused_gone;

	TAILQ_FOREACH (s, &srv->sessions, entry)
		n += rs_session_refused(s);
	return n;
}

static void metrics_latency(FILE *f, struct rs_server *srv)
{
	metrics_help(f, "ringside_record_latency_seconds", "histogram",
		     "From ringsided taking a record from its ring to its "
		     "final report, for records not spooled (coarse clock: "
		     "a few ms of resolution).");
	for (int a = 0; a < RS_ACKS_N; a++) {
		const char *name;
		const struct rs_latency *l =
			rs_flow_latency(srv->flow, (enum rs_acks)a);
		uint64_t cum = 0;

		if (rs_producer_kstats(srv->producer, (enum rs_acks)a, &name) ==
			    NULL &&
		    l->count == 0)
			continue;
		for (int i = 0; i < RS_LATENCY_BOUNDS; i++) {
			cum += l->bucket[i];
			fprintf(f,
				"ringside_record_latency_seconds_bucket{acks="
				"\"%s\",le=\"%g\"} %llu\n",
				rs_acks_name((enum rs_acks)a),
				(double)rs_latency_le_ms[i] / 1e3,
				(unsigned long long)cum);
		}
		fprintf(f,
			"ringside_record_latency_seconds_bucket{acks=\"%s\","
			"le=\"+Inf\"} %llu\n"
			"ringside_record_latency_seconds_sum{acks=\"%s\"} "
			"%.3f\n"
			"ringside_record_latency_seconds_count{acks=\"%s\"} "
			"%llu\n",
			rs_acks_name((enum rs_acks)a),
			(unsigned long long)l->count,
			rs_acks_name((enum rs_acks)a), (double)l->sum_ms / 1e3,
			rs_acks_name((enum rs_acks)a),
			(unsigned long long)l->count);
	}
}

/* The process_* metrics Prometheus' own clients export, from /proc and
 * getrusage(). */
static void metrics_process(FILE *f)
{
	struct rusage ru;
	struct rlimit rl;
	unsigned long long vsz = 0, rss = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *st = fopen("/proc/self/statm", "re");
	DIR *d = opendir("/proc/self/fd");
	unsigned int fds = 0;

	if (st != NULL) {
		if (fscanf(st, "%llu %llu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(st);
	}
	if (d != NULL) {
		const struct dirent *de;

		while ((de = readdir(d)) != NULL)
			fds += de->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	(void)getrusage(RUSAGE_SELF, &ru);
	metrics_help(f, "process_cpu_seconds_total", "counter",
		     "User and system CPU time spent, seconds.");
	fprintf(f, "process_cpu_seconds_total %.3f\n",
		(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) /
				1e6);
	metrics_help(f, "process_resident_memory_bytes", "gauge",
		     "Resident memory size, bytes.");
	fprintf(f, "process_resident_memory_bytes %llu\n",
		rss * (unsigned long long)page);
	metrics_help(f, "process_virtual_memory_bytes", "gauge",
		     "Virtual memory size, bytes.");
	fprintf(f, "process_virtual_memory_bytes %llu\n",
		vsz * (unsigned long long)page);
	if (d != NULL) {
		metrics_help(f, "process_open_fds", "gauge",
			     "Open file descriptors.");
		fprintf(f, "process_open_fds %u\n", fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metrics_help(f, "process_max_fds", "gauge",
			     "The limit on open file descriptors.");
		fprintf(f, "process_max_fds %llu\n",
			(unsigned long long)rl.rlim_cur);
	}
	metrics_help(f, "process_start_time_seconds", "gauge",
		     "Start time of the process, seconds since the epoch.");
	fprintf(f, "process_start_time_seconds %.3f\n",
		(double)metrics_started_ms / 1e3);
}

static void metrics_daemon(FILE *f, struct rs_server *srv)
{
	struct rs_spool_stats ss;
	unsigned int n = rs_server_open_sessions(srv);

	rs_spool_stats(srv->spool, &ss);
	metrics_help(f, "ringside_build_info", "gauge",
		     "The ringsided version.");
	fprintf(f, "ringside_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metrics_help(f, "ringside_health", "gauge",
		     "0 ready, 1 degraded (ready, a topic spooling), 2 "
		     "unready (see /readyz).");
	fprintf(f, "ringside_health %d\n",
		(int)rs_health_check(srv, NULL, NULL));
	metrics_help(f, "ringside_sessions", "gauge", "Client sessions open.");
	fprintf(f, "ringside_sessions %u\n", n);
	metrics_help(f, "ringside_sessions_opened_total", "counter",
		     "Client sessions opened since start.");
	fprintf(f, "ringside_sessions_opened_total %llu\n",
		(unsigned long long)srv->sessions_opened);
	metrics_help(f, "ringside_sends_refused_total", "counter",
		     "Sends the clients refused with RINGSIDE_EFULL, as "
		     "their libraries count them.");
	fprintf(f, "ringside_sends_refused_total %llu\n",
		(unsigned long long)metrics_refused(srv));
	metrics_help(f, "ringside_records_read_total", "counter",
		     "Records read from client rings.");
	fprintf(f, "ringside_records_read_total %llu\n",
		(unsigned long long)srv->records_read);
	metrics_help(f, "ringside_reports_orphaned_total", "counter",
		     "Final reports for sessions already gone.");
	fprintf(f, "ringside_reports_orphaned_total %llu\n",
		(unsigned long long)srv->reports_orphaned);
	metrics_help(f, "ringside_config_reloads_total", "counter",
		     "Configuration reloads, by result.");
	fprintf(f,
		"ringside_config_reloads_total{result=\"ok\"} %llu\n"
		"ringside_config_reloads_total{result=\"failed\"} %llu\n",
		(unsigned long long)srv->reloads,
		(unsigned long long)srv->reload_failures);
	metrics_help(f, "ringside_spool_records", "gauge",
		     "Records in the spool not yet delivered.");
	fprintf(f, "ringside_spool_records %llu\n",
		(unsigned long long)ss.records);
	metrics_help(f, "ringside_spool_bytes", "gauge",
		     "Bytes of spool segments.");
	fprintf(f, "ringside_spool_bytes %llu\n", (unsigned long long)ss.bytes);
	metrics_help(f, "ringside_spool_segments", "gauge",
		     "Spool segment files.");
	fprintf(f, "ringside_spool_segments %llu\n",
		(unsigned long long)ss.segments);
	metrics_help(f, "ringside_spool_oldest_segment_age_seconds", "gauge",
		     "Age of the oldest spool segment (0 when none): no "
		     "spooled record waiting is older.");
	fprintf(f, "ringside_spool_oldest_segment_age_seconds %.3f\n",
		ss.oldest_ms > 0 ? (double)(rs_wall_ms() - ss.oldest_ms) / 1e3
				 : 0.0);
	metrics_help(f, "ringside_spool_dropped_total", "counter",
		     "Records dropped by spool_full = drop_oldest.");
	fprintf(f, "ringside_spool_dropped_total %llu\n",
		(unsigned long long)ss.dropped);
	metrics_help(f, "ringside_spool_full", "gauge",
		     "1 while the spool is full.");
	fprintf(f, "ringside_spool_full %d\n", ss.full ? 1 : 0);
	metrics_help(f, "ringside_spool_writes_failing", "gauge",
		     "1 while spool writes fail.");
	fprintf(f, "ringside_spool_writes_failing %d\n", ss.broken ? 1 : 0);
}

/* {producer="...",acks="...",broker="...",nodeid="..."} */
static void metrics_broker_labels(FILE *f, const char *prod, int acks,
				  const struct rs_kbroker *b)
{
	fputs("{producer=", f);
	metrics_label(f, prod);
	fprintf(f, ",acks=\"%s\",broker=", rs_acks_name((enum rs_acks)acks));
	metrics_label(f, b->name);
	fprintf(f, ",nodeid=\"%d\"}", (int)b->nodeid);
}

struct broker_metric {
	const char *name;
	const char *type;
	const char *help;
};

static double metrics_broker_value(const struct rs_kbroker *b, int which)
{
	switch (which) {
	case 0:
		return rs_kbroker_up(b);
	case 1:
		return (double)b->rtt_avg_us / 1e6;
	case 2:
		return (double)b->rtt_p99_us / 1e6;
	case 3:
		return (double)b->outbuf_cnt;
	case 4:
		return (double)b->waitresp_cnt;
	case 5:
		return (double)b->tx;
	case 6:
		return (double)b->txerrs;
	default:
		return (double)b->disconnects;
	}
}

static void metrics_kafka(FILE *f, struct rs_server *srv)
{
	static const struct broker_metric bm[] = {
		{ "ringside_kafka_broker_up", "gauge",
		  "1 if librdkafka's connection to the broker is UP (it "
		  "connects only to brokers it needs: an idle one may be 0)." },
		{ "ringside_kafka_broker_rtt_avg_seconds", "gauge",
		  "Average request round trip, last statistics interval." },
		{ "ringside_kafka_broker_rtt_p99_seconds", "gauge",
		  "99th percentile request round trip, last interval." },
		{ "ringside_kafka_broker_outbuf_requests", "gauge",
		  "Requests waiting to be sent to the broker." },
		{ "ringside_kafka_broker_waitresp_requests", "gauge",
		  "Requests sent, waiting for the broker's response." },
		{ "ringside_kafka_broker_requests_total", "counter",
		  "Requests sent to the broker." },
		{ "ringside_kafka_broker_request_errors_total", "counter",
		  "Requests that failed to be sent." },
		{ "ringside_kafka_broker_disconnects_total", "counter",
		  "Connections to the broker lost." },
	};

	metrics_help(f, "ringside_kafka_queued_records", "gauge",
		     "Records queued or in flight in a librdkafka producer.");
	for (int a = 0; a < RS_ACKS_N; a++) {
		const char *name;
		const struct rs_kstats *ks = rs_producer_kstats(
			srv->producer, (enum rs_acks)a, &name);

		if (ks == NULL || !ks->valid)
			continue;
		fputs("ringside_kafka_queued_records{producer=", f);
		metrics_label(f, name);
		fprintf(f, ",acks=\"%s\"} %lld\n",
			rs_acks_name((enum rs_acks)a), (long long)ks->msg_cnt);
	}
	for (size_t m = 0; m < sizeof(bm) / sizeof(bm[0]); m++) {
		metrics_help(f, bm[m].name, bm[m].type, bm[m].help);
		for (int a = 0; a < RS_ACKS_N; a++) {
			const char *name;
			const struct rs_kstats *ks = rs_producer_kstats(
				srv->producer, (enum rs_acks)a, &name);

			for (uint32_t i = 0; ks != NULL && i < ks->nbrokers;
			     i++) {
				fputs(bm[m].name, f);
				metrics_broker_labels(f, name, a,
						      &ks->broker[i]);
				fprintf(f, " %.9g\n",
					metrics_broker_value(&ks->broker[i],
							     (int)m));
			}
		}
	}
}

int rs_metrics_render(struct rs_server *srv, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);

	if (f == NULL)
		return -1;
	metrics_daemon(f, srv);
	metrics_topics(f, srv);
	metrics_latency(f, srv);
	metrics_kafka(f, srv);
	metrics_process(f);
	return fclose(f) == 0 ? 0 : -1;
}

/* /readyz answers 503 when unready, and with ?strict also when degraded
 * (health.h). The body is the health report either way. */
static int metrics_ready(struct rs_server *srv, const char *query,
			 struct evbuffer *body)
{
	char *text = NULL;
	size_t len = 0;
	enum rs_health_level level;
	FILE *f = open_memstream(&text, &len);
	int strict = query != NULL && (strcmp(query, "strict") == 0 ||
				       strcmp(query, "strict=1") == 0);

	if (f == NULL)
		return 500;
	level = rs_health_text(srv, f);
	if (fclose(f) != 0) {
		free(text);
		return 500;
	}
	evbuffer_add(body, text, len);
	free(text);
	if (level == RS_HEALTH_UNREADY ||
	    (strict && level == RS_HEALTH_DEGRADED))
		return 503;
	return 200;
}

/* The HTTP handler (http.c): /metrics; /healthz, which answers whenever the
 * event loop does; /readyz; anything else 404. */
static int metrics_serve(void *arg, const char *path, struct evbuffer *body,
			 const char **ctype)
{
	struct rs_metrics *m = arg;
	const char *q = strchr(path, '?');
	size_t plen = q != NULL ? (size_t)(q - path) : strlen(path);
	char *text = NULL;
	size_t len = 0;

	if (plen == 8 && memcmp(path, "/healthz", 8) == 0) {
		evbuffer_add_printf(body, "ok\n");
		return 200;
	}
	if (plen == 7 && memcmp(path, "/readyz", 7) == 0)
		return metrics_ready(m->srv, q != NULL ? q + 1 : NULL, body);
	if (plen != 8 || memcmp(path, "/metrics", 8) != 0) {
		evbuffer_add_printf(body,
				    "served: /metrics, /healthz, /readyz\n");
		return 404;
	}
	if (rs_metrics_render(m->srv, &text, &len) < 0) {
		free(text);
		return 500;
	}
	evbuffer_add(body, text, len);
	free(text);
	*ctype = "text/plain; version=0.0.4";
	return 200;
}

struct rs_metrics *rs_metrics_new(struct rs_server *srv, char *err,
				  size_t errlen)
{
	const struct rs_config *cfg = srv->cfg;
	struct rs_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		fatal("calloc");
	m->srv = srv;
	if (metrics_started_ms == 0)
		metrics_started_ms = rs_wall_ms();
	m->http = rs_http_new(srv->base, cfg->metrics_host, cfg->metrics_port,
			      metrics_serve, m, err, errlen);
	if (m->http == NULL) {
		free(m);
		return NULL;
	}
	log_notice("metrics on http://%s%s%s:%u/metrics",
		   strchr(cfg->metrics_host, ':') ? "[" : "", cfg->metrics_host,
		   strchr(cfg->metrics_host, ':') ? "]" : "",
		   (unsigned int)cfg->metrics_port);
	return m;
}

void rs_metrics_free(struct rs_metrics *m)
{
	if (m == NULL)
		return;
	rs_http_free(m->http);
	free(m);
}
