/*
 * cluster.c: librdkafka's mock cluster in a process of its own, driven by
 * line commands over a pipe: "topic NAME N", "down", "up", "rtt MS",
 * "count NAME", "quit". Both sides of every comparison talk to it over TCP.
 */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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
