/* SPDX-License-Identifier: MIT */
/*
 * cluster.c: the cluster both sides of every comparison talk to over TCP,
 * in a process of its own driven by line commands over a pipe: "topic
 * NAME N", "down", "up", "rtt MS", "count NAME", "quit". librdkafka's
 * mock cluster, or with RS_BENCH_KAFKA=real a real Apache Kafka cluster
 * (tests/kafka/cluster.sh: a KRaft controller and three brokers; topics
 * with replication factor 3 and min.insync.replicas 2; "down" kills
 * every broker with -9, "up" restarts them and waits for every topic's
 * leaders; a real cluster has no "rtt").
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka_mock.h>

#include "bench.h"

#define MAX_TOPICS 256

static int nbrokers;
static struct {
	char name[200];
	int partitions;
} topics[MAX_TOPICS];
static int ntopics;

static long long count(rd_kafka_t *rk, const char *name)
{
	long long total = 0;

	for (int i = 0; i < ntopics; i++) {
		if (strcmp(topics[i].name, name) != 0)
			continue;
		for (int p = 0; p < topics[i].partitions; p++) {
			int64_t lo, hi;

			if (rd_kafka_query_watermark_offsets(rk, name, p, &lo,
							     &hi, 10000) != 0)
				return -1;
			total += hi;
		}
	}
	return total;
}

static void serve(FILE *in, FILE *out, int brokers)
{
	char errstr[512], line[256], arg[200];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_t *rk;
	int n;

	snprintf(arg, sizeof(arg), "%d", brokers);
	rd_kafka_conf_set(conf, "test.mock.num.brokers", arg, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		die("mock cluster: %s", errstr);
	mc = rd_kafka_handle_mock_cluster(rk);
	nbrokers = brokers;
	fprintf(out, "%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(out);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (sscanf(line, "topic %199s %d", arg, &n) == 2) {
			rd_kafka_mock_topic_create(mc, arg, n, 1);
			if (ntopics < MAX_TOPICS) {
				snprintf(topics[ntopics].name,
					 sizeof(topics[ntopics].name), "%s",
					 arg);
				topics[ntopics++].partitions = n;
			}
			fprintf(out, "ok\n");
		} else if (strncmp(line, "down", 4) == 0) {
			for (int b = 1; b <= nbrokers; b++)
				rd_kafka_mock_broker_set_down(mc, b);
			fprintf(out, "ok\n");
		} else if (strncmp(line, "up", 2) == 0) {
			for (int b = 1; b <= nbrokers; b++)
				rd_kafka_mock_broker_set_up(mc, b);
			fprintf(out, "ok\n");
		} else if (sscanf(line, "rtt %d", &n) == 1) {
			for (int b = 1; b <= nbrokers; b++)
				rd_kafka_mock_broker_set_rtt(mc, b, n);
			fprintf(out, "ok\n");
		} else if (sscanf(line, "count %199s", arg) == 1) {
			fprintf(out, "%lld\n", count(rk, arg));
		} else {
			break;
		}
		fflush(out);
	}
	rd_kafka_destroy(rk);
}

/* ---------------------------------------------------- the real cluster */

static char kdir[256];

static void kafka_script(const char *cmd, const char *arg)
{
	const char *script = getenv("RS_KAFKA_CLUSTER");
	char line[1024];

	if (script == NULL)
		script = "tests/kafka/cluster.sh";
	snprintf(line, sizeof(line), "sh '%s' %s '%s' %s >&2", script, cmd,
		 kdir, arg);
	if (system(line) != 0)
		die("%s failed", line);
}

static void admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);

	if (ev == NULL)
		die("%s: no answer", what);
	if (rd_kafka_event_error(ev) != 0)
		die("%s: %s", what, rd_kafka_event_error_string(ev));
	rd_kafka_event_destroy(ev);
}

/* Until every partition of every topic has a leader and two in sync. */
static void wait_leaders(rd_kafka_t *rk)
{
	for (int tries = 0; tries < 600; tries++) {
		const struct rd_kafka_metadata *md;
		int ok = 1;

		if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) != 0) {
			usleep(200 * 1000);
			continue;
		}
		for (int i = 0; i < ntopics && ok; i++) {
			int seen = 0;

			for (int t = 0; t < md->topic_cnt; t++) {
				const rd_kafka_metadata_topic_t *mt =
					&md->topics[t];

				if (strcmp(mt->topic, topics[i].name) != 0)
					continue;
				seen = mt->partition_cnt == topics[i].partitions;
				for (int p = 0; p < mt->partition_cnt; p++)
					if (mt->partitions[p].leader < 0 ||
					    mt->partitions[p].isr_cnt < 2)
						seen = 0;
			}
			ok = seen;
		}
		rd_kafka_metadata_destroy(md);
		if (ok)
			return;
		usleep(200 * 1000);
	}
	die("the real cluster's topics have no leaders after 120 s");
}

static void real_topic(rd_kafka_t *rk, const char *name, int partitions)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	char errstr[256];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 3,
							errstr, sizeof(errstr));

	if (nt == NULL)
		die("topic %s: %s", name, errstr);
	rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", "2");
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	admin_wait(q, "CreateTopics");
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
}

static void serve_real(FILE *in, FILE *out)
{
	char errstr[512], line[512], arg[200], boot[512], path[300], pid[32];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	FILE *f;
	int n;

	snprintf(kdir, sizeof(kdir), "/tmp/rs-bench-kafka-XXXXXX");
	if (mkdtemp(kdir) == NULL)
		die("mkdtemp");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	kafka_script("start", pid);
	snprintf(path, sizeof(path), "%s/bootstrap", kdir);
	f = fopen(path, "r");
	if (f == NULL || fgets(boot, sizeof(boot), f) == NULL)
		die("%s: no bootstrap servers", path);
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		die("admin client: %s", errstr);
	nbrokers = 3;
	fprintf(out, "%s\n", boot);
	fflush(out);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (sscanf(line, "topic %199s %d", arg, &n) == 2) {
			real_topic(rk, arg, n);
			if (ntopics < MAX_TOPICS) {
				snprintf(topics[ntopics].name,
					 sizeof(topics[ntopics].name), "%s",
					 arg);
				topics[ntopics++].partitions = n;
			}
			wait_leaders(rk);
			fprintf(out, "ok\n");
		} else if (strncmp(line, "down", 4) == 0) {
			for (int b = 1; b <= nbrokers; b++) {
				snprintf(arg, sizeof(arg), "%d", b);
				kafka_script("kill", arg);
			}
			fprintf(out, "ok\n");
		} else if (strncmp(line, "up", 2) == 0) {
			for (int b = 1; b <= nbrokers; b++) {
				snprintf(arg, sizeof(arg), "%d", b);
				kafka_script("restart", arg);
			}
			wait_leaders(rk);
			fprintf(out, "ok\n");
		} else if (sscanf(line, "rtt %d", &n) == 1) {
			fprintf(out, "ok\n"); /* a real cluster has its own */
		} else if (sscanf(line, "count %199s", arg) == 1) {
			fprintf(out, "%lld\n", count(rk, arg));
		} else {
			break;
		}
		fflush(out);
	}
	rd_kafka_destroy(rk);
	kafka_script("stop", "");
	snprintf(line, sizeof(line), "rm -rf '%s'", kdir);
	if (system(line) != 0)
		fprintf(stderr, "cannot remove %s\n", kdir);
}

int cluster_is_real(void)
{
	const char *k = getenv("RS_BENCH_KAFKA");

	return k != NULL && strcmp(k, "real") == 0;
}

void cluster_start(struct cluster *c, int brokers)
{
	int to[2], from[2];

	if (pipe(to) < 0 || pipe(from) < 0)
		die("pipe");
	c->pid = fork();
	if (c->pid < 0)
		die("fork");
	if (c->pid == 0) {
		FILE *in = fdopen(to[0], "r"), *out = fdopen(from[1], "w");

		close(to[1]);
		close(from[0]);
		if (cluster_is_real())
			serve_real(in, out);
		else
			serve(in, out, brokers);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	c->cmd = fdopen(to[1], "w");
	c->resp = fdopen(from[0], "r");
	if (fgets(c->bootstraps, sizeof(c->bootstraps), c->resp) == NULL)
		die("the mock cluster did not start");
	c->bootstraps[strcspn(c->bootstraps, "\n")] = '\0';
}

static void command(struct cluster *c, char *answer, size_t len,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void command(struct cluster *c, char *answer, size_t len,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(c->cmd, fmt, ap);
	va_end(ap);
	fputc('\n', c->cmd);
	fflush(c->cmd);
	if (fgets(answer, (int)len, c->resp) == NULL)
		die("the mock cluster went away");
}

void cluster_topic(struct cluster *c, const char *topic, int partitions)
{
	char a[64];

	command(c, a, sizeof(a), "topic %s %d", topic, partitions);
}

void cluster_down(struct cluster *c)
{
	char a[64];

	command(c, a, sizeof(a), "down");
}

void cluster_up(struct cluster *c)
{
	char a[64];

	command(c, a, sizeof(a), "up");
}

void cluster_rtt(struct cluster *c, int ms)
{
	char a[64];

	command(c, a, sizeof(a), "rtt %d", ms);
}

long long cluster_count(struct cluster *c, const char *topic)
{
	char a[64];

	command(c, a, sizeof(a), "count %s", topic);
	return atoll(a);
}

void cluster_stop(struct cluster *c)
{
	fprintf(c->cmd, "quit\n");
	fclose(c->cmd);
	fclose(c->resp);
	waitpid(c->pid, NULL, 0);
}
