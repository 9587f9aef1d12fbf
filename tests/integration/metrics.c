/* SPDX-License-Identifier: MIT */
/*
 * metrics: the Prometheus endpoint (metrics_listen), scraped over TCP with
 * plain HTTP/1.0 requests. After a client has sent 1000 records the
 * per-topic and daemon counters say exactly that; the mock broker is UP
 * with a round-trip time; a reload is counted; with the broker down the
 * next statistics show it not UP. /healthz answers ok throughout; /readyz
 * says ready (200, with ?strict too), then with the broker down unready
 * (503), as do ringside_health and ringsidectl health's exit status. Other paths get
 * 404, other methods 501.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static char page[1 << 20];

/* A port nothing listens on right now. */
static int free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		      getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
	      "a free port: %s", strerror(errno));
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Sends one request; returns the HTTP status, the body in page. */
static int http(int port, const char *method, const char *path)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
	char req[256], *body;
	size_t got = 0;
	ssize_t n;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	      "connect to the metrics port: %s", strerror(errno));
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n",
		 method, path);
	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req), "write");
	while ((n = read(fd, page + got, sizeof(page) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	page[got] = '\0';
	CHECK(sscanf(page, "HTTP/1.%*d %d", &status) == 1, "no status line: %s",
	      page);
	body = strstr(page, "\r\n\r\n");
	if (body != NULL)
		memmove(page, body + 4, strlen(body + 4) + 1);
	return status;
}

/* The page, parsed by the Prometheus project's own Python parser (Debian's
 * python3-prometheus-client, which tests/setup-debian.sh installs). */
static void prom_check(const struct h_env *e)
{
	char path[400], cmd[1200];
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/metrics.txt", e->dir);
	f = fopen(path, "w");
	CHECK(f != NULL && fputs(page, f) >= 0 && fclose(f) == 0, "write %s",
	      path);
	snprintf(cmd, sizeof(cmd), "%s '%s/tests/integration/prom_check.py' '%s'",
		 h_env_or("RS_SYSTEM_PYTHON", "/usr/bin/python3"),
		 h_env_or("RS_SRCDIR", "."), path);
	st = system(cmd);
	CHECK(st == 0, "%s: the Prometheus parser refused the page", cmd);
}

/* The value of the sample whose name and labels start with prefix. */
static double sample(const char *prefix)
{
	const char *p = page;
	size_t len = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, len) == 0) {
			const char *v = strchr(p + len, ' ');

			CHECK(v != NULL, "malformed sample: %.80s", p);
			return strtod(v + 1, NULL);
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	CHECK(0, "no sample %s in:\n%s", prefix, page);
	return -1;
}

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	const char *argv[] = { client,	 "--socket", NULL, "--records",
			       "1000",	 "--rate",   "0",  "--topics",
			       "m",	 "--final",  "30", NULL };
	char keys[100], out[400];
	struct h_env e;
	int port = free_port();
	unsigned long long bytes = 0;
	double scraped_bytes;
	pid_t pid;

	h_init(&e, "metrics");
	h_mock_start(&e, 1);
	h_topic(&e, "m", 2);
	snprintf(keys, sizeof(keys), "metrics_listen = 127.0.0.1:%d\n", port);
	h_write_config(&e, keys, "[topic:m]\nacks = 1\n");
	h_daemon_start(&e);
	argv[2] = e.sock;
	snprintf(out, sizeof(out), "%s/client.out", e.dir);
	pid = h_spawn(argv, out);
	CHECK(h_wait(pid, 30000) == 0, "client failed");
	usleep(1200 * 1000); /* a fresh librdkafka statistics event */

	CHECK(http(port, "GET", "/metrics") == 200, "GET /metrics");
	CHECK(sample("ringside_topic_delivered_total{topic=\"m\"}") == 1000,
	      "delivered");
	CHECK(sample("ringside_topic_failed_total{topic=\"m\"}") == 0,
	      "failed");
	CHECK(sample("ringside_topic_in_flight{topic=\"m\"}") == 0,
	      "in flight");
	CHECK(sample("ringside_records_read_total") == 1000, "read");
	CHECK(sample("ringside_sessions_opened_total") == 1, "sessions");
	CHECK(sample("ringside_spool_records") == 0, "spool");
	CHECK(sample("ringside_kafka_broker_up{producer=\"rdkafka#producer-1\","
		     "acks=\"1\",broker=") == 1,
	      "broker up");
	CHECK(sample("ringside_kafka_broker_rtt_avg_seconds{") > 0,
	      "broker rtt");
	CHECK(sample("ringside_kafka_broker_requests_total{") > 0, "requests");
	CHECK(strstr(page, "# TYPE ringside_topic_delivered_total counter") !=
		      NULL,
	      "TYPE line");
	CHECK(sample("ringside_health") == 0, "health not 0 (ready)");
	scraped_bytes =
		sample("ringside_topic_delivered_bytes_total{topic=\"m\"}");
	CHECK(sample("ringside_record_latency_seconds_count{acks=\"1\"}") ==
			      1000 &&
		      sample("ringside_record_latency_seconds_bucket{acks="
			     "\"1\",le=\"+Inf\"}") == 1000,
	      "latency histogram count");
	CHECK(sample("ringside_sends_refused_total") == 0, "refused");
	CHECK(sample("process_open_fds") > 10 &&
		      sample("process_resident_memory_bytes") > 1e6 &&
		      sample("process_cpu_seconds_total") > 0,
	      "process metrics");
	prom_check(&e);
	CHECK(http(port, "GET", "/healthz") == 200 && strcmp(page, "ok\n") == 0,
	      "GET /healthz: %s", page);
	CHECK(http(port, "GET", "/readyz") == 200 &&
		      strcmp(page, "ready\n") == 0,
	      "GET /readyz: %s", page);
	CHECK(http(port, "GET", "/readyz?strict") == 200, "strict, healthy");

	/* after the scrape: librdkafka's statistics of the last second
	 * are the producer's, and keep its round trips */
	{
		struct h_msg *msgs;
		size_t n = h_consume(&e, "m", 2, &msgs);

		CHECK(n == 1000, "%zu records in Kafka", n);
		for (size_t i = 0; i < n; i++)
			bytes += msgs[i].key_len + msgs[i].value_len;
		h_msgs_free(msgs, n);
	}
	CHECK(scraped_bytes == (double)bytes,
	      "ringside_topic_delivered_bytes_total %.0f, the records in Kafka "
	      "%llu",
	      scraped_bytes, bytes);

	CHECK(kill(e.daemon, SIGHUP) == 0, "kill");
	usleep(300 * 1000);
	CHECK(http(port, "GET", "/metrics") == 200, "GET /metrics");
	CHECK(sample("ringside_config_reloads_total{result=\"ok\"}") == 1,
	      "reloads");

	rd_kafka_mock_broker_set_down(e.mc, 1);
	usleep(2500 * 1000);
	CHECK(http(port, "GET", "/metrics") == 200, "GET /metrics");
	CHECK(sample("ringside_kafka_broker_up{producer=\"rdkafka#producer-1\","
		     "acks=\"1\",broker=") == 0,
	      "broker still up after set_down");
	CHECK(sample("ringside_health") == 2, "health not 2 (unready)");
	CHECK(http(port, "GET", "/readyz") == 503 &&
		      strncmp(page, "unready\n", 8) == 0 &&
		      strstr(page, "no broker connection up") != NULL,
	      "GET /readyz, broker down: %s", page);
	printf("GET /readyz, the broker down: 503\n%s", page);
	CHECK(http(port, "HEAD", "/readyz") == 503 && page[0] == '\0',
	      "HEAD /readyz: a body: %s", page);
	CHECK(http(port, "GET", "/healthz") == 200, "GET /healthz, broker down");
	{
		const char *o;

		CHECK(h_ctl(&e, "health", &o) == 1 &&
			      strstr(o, "no broker connection up") != NULL,
		      "ringsidectl health, broker down: %s", o);
	}
	rd_kafka_mock_broker_set_up(e.mc, 1);

	CHECK(http(port, "GET", "/other") == 404, "GET /other");
	/* libevent answers a method it is not allowed to serve with 501 */
	CHECK(http(port, "POST", "/metrics") == 501, "POST /metrics");
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	printf("metrics: scraped http://127.0.0.1:%d/metrics: 1000 delivered, "
	       "broker UP then down, a reload counted; /healthz ok, /readyz ready "
	       "then unready (503); 404 and 501 elsewhere\n",
	       port);
	h_cleanup(&e);
	return 0;
}
