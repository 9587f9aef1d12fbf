/* SPDX-License-Identifier: MIT */
/*
 * many_clients: the load a real host makes, many services each sending a
 * little, on a healthy cluster. N client processes (rs_rate_client), each
 * with its own session, send R records/s of 100 B with an 8-byte key for
 * RS_MANY_SECONDS (default 10; RS_MANY_RATE_SCALE scales R), acks=all,
 * idempotence off, ring_size 1M,
 * everything else as shipped.
 *
 * Then 128 x 1,500, and 64 x 1,500 with every broker down for 1.5 s.
 * Before, 64 x 4,000 turned a healthy cluster into a disk backlog: the
 * topic spilled 1.5 s in ("librdkafka queue full") and never came back,
 * 24 to 47 % of the records were delivered by the end, and thousands of
 * sends were refused. Now: no send refused, nothing spilled, every record
 * in Kafka (the partitions' high watermarks add up to what was sent) and
 * reported within a second of the end, and ringsided answers a STATUS
 * request every 100 ms throughout.
 */
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/ringside_proto.h"
#include "harness.h"

#define PARTITIONS 16

static long long real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds ringsided took to answer a STATUS request. */
static double status_ms(const char *sock)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ringside_msg_status m = {
		.hdr = { RINGSIDE_MSG_STATUS, sizeof(m) },
	};
	char buf[sizeof(struct ringside_msg) + RINGSIDE_STATUS_CHUNK];
	int64_t t0 = h_now_ms();
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0 && strlen(sock) < sizeof(sun.sun_path), "socket");
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	CHECK(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
		      send(fd, &m, sizeof(m), 0) == (ssize_t)sizeof(m),
	      "status request");
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		CHECK(poll(&p, 1, 30000) == 1, "no status answer in 30 s");
		n = recv(fd, buf, sizeof(buf), 0);
		CHECK(n >= (ssize_t)sizeof(struct ringside_msg), "status");
		if (((struct ringside_msg *)buf)->type ==
		    RINGSIDE_MSG_STATUS_END)
			break;
	}
	close(fd);
	return (double)(h_now_ms() - t0);
}

/* The STATUS prober: a process of its own, at a higher priority, so that
 * what it measures is ringsided's answer and not its own wait for a core
 * beside the mock cluster's threads in this one (ringsided keeps its
 * normal priority). Asks every 100 ms until until_ms and writes the
 * slowest answer after from_ms to the pipe it returns. */
static pid_t status_prober(const char *sock, long long from_ms,
			   long long until_ms, int *rfd)
{
	int fds[2];
	pid_t pid;

	CHECK(pipe(fds) == 0, "pipe");
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		double worst = 0;

		/* not the mock brokers' listeners: a copy held here would
		 * keep a broker brought up again from listening */
		CHECK(dup2(fds[1], 3) == 3, "dup2");
		fds[1] = 3;
		(void)close_range(4, ~0U, 0);
		(void)setpriority(PRIO_PROCESS, 0, -10);
		while (real_ms() < until_ms) {
			double ms = status_ms(sock);

			if (real_ms() > from_ms && ms > worst)
				worst = ms;
			usleep(100 * 1000);
		}
		_exit(write(fds[1], &worst, sizeof(worst)) ==
				      (ssize_t)sizeof(worst)
			      ? 0
			      : 1);
	}
	close(fds[1]);
	*rfd = fds[0];
	return pid;
}

/* Records the topic holds, appended in all: its high watermarks. */
static long long topic_total(struct h_env *e, const char *topic)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;
	long long sum = 0;

	rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstraps, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", "many-clients", errstr,
			  sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	CHECK(rk != NULL, "%s", errstr);
	for (int p = 0; p < PARTITIONS; p++) {
		int64_t lo, hi;

		CHECK(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
						       10000) == 0,
		      "watermarks of %s [%d]", topic, p);
		sum += hi;
	}
	rd_kafka_destroy(rk);
	return sum;
}

/* Brokers down for down_s from down_at_s into the run (0: healthy). */
struct outage {
	double down_at_s, down_s;
};

static void run(struct h_env *e, unsigned int n, double rate, double seconds,
		const char *topic, const struct outage *fault)
{
	double status_bound = atof(h_env_or("RS_MANY_STATUS_MS", "150"));
	const char *bin =
		h_env_or("RS_RATE_CLIENT", "tests/integration/rs_rate_client");
	const char *min_sleep = h_env_or("RS_MANY_MIN_SLEEP_US", "1000");
	unsigned long long sent = 0, refused = 0, delivered = 0, failed = 0,
			   spooled = 0;
	long long start_ms, end_ms, last = 0;
	static pid_t pids[256];
	double worst = 0;
	char rate_s[32], secs[32], start_s[32];
	int probe_fd;
	pid_t prober;
	int spooling, drained, down = 0;
	long long up_ms = 0, direct_ms = 0;

	h_topic(e, topic, PARTITIONS);
	spooling = h_log_count(e, "spooling");
	drained = h_log_count(e, "replay caught up");
	start_ms = real_ms() + 2000 + (long long)n * 20;
	end_ms = start_ms + (long long)(seconds * 1000);
	snprintf(rate_s, sizeof(rate_s), "%.0f", rate);
	snprintf(secs, sizeof(secs), "%.1f", seconds);
	snprintf(start_s, sizeof(start_s), "%lld", start_ms);
	for (unsigned int i = 0; i < n; i++) {
		char out[400];
		const char *argv[] = { bin,	 e->sock, topic,     rate_s,
				       secs,	 start_s, min_sleep, NULL };

		snprintf(out, sizeof(out), "%s/rate-%u.out", e->dir, i);
		pids[i] = h_spawn(argv, out);
	}
	/* the control socket, every 100 ms, until the end and a second */
	prober = status_prober(e->sock, start_ms, end_ms + 1000, &probe_fd);
	while (real_ms() < end_ms + 1000) {
		long long now = real_ms();

		if (fault != NULL && !down && up_ms == 0 &&
		    now >= start_ms + (long long)(fault->down_at_s * 1000)) {
			CHECK(rd_kafka_mock_broker_set_down(e->mc, -1) == 0,
			      "brokers down");
			down = 1;
		}
		if (fault != NULL && down &&
		    now >= start_ms + (long long)((fault->down_at_s +
							   fault->down_s) *
							  1000)) {
			CHECK(rd_kafka_mock_broker_set_up(e->mc, -1) == 0,
			      "brokers up");
			down = 0;
			up_ms = now;
		}
		if (up_ms != 0 && direct_ms == 0 &&
		    h_log_count(e, "replay caught up") > drained)
			direct_ms = now;
		usleep(fault != NULL ? 50 * 1000 : 250 * 1000);
	}
	CHECK(read(probe_fd, &worst, sizeof(worst)) == (ssize_t)sizeof(worst),
	      "the STATUS prober gave no result");
	close(probe_fd);
	CHECK(h_wait(prober, 30000) == 0, "the STATUS prober failed");
	for (unsigned int i = 0; i < n; i++) {
		char out[400], line[256] = "";
		unsigned long long s, r, d, f, sp;
		long long l;
		FILE *fp;

		CHECK(h_wait(pids[i], 120000) == 0, "client %u failed", i);
		snprintf(out, sizeof(out), "%s/rate-%u.out", e->dir, i);
		fp = fopen(out, "r");
		CHECK(fp != NULL && fgets(line, sizeof(line), fp) != NULL,
		      "client %u wrote nothing", i);
		fclose(fp);
		CHECK(sscanf(line,
			     "sent %llu refused %llu delivered %llu failed "
			     "%llu spooled %llu last_ms %lld",
			     &s, &r, &d, &f, &sp, &l) == 6,
		      "client %u: %s", i, line);
		sent += s;
		refused += r;
		delivered += d;
		failed += f;
		spooled += sp;
		if (l > last)
			last = l;
	}
	printf("many_clients: %u x %.0f for %.0f s (%.0fk/s): sent %llu, "
	       "refused %llu, spooled %llu, delivered %llu, failed %llu, last "
	       "report %.2f s after the end, Kafka holds %lld; STATUS "
	       "answered within %.0f ms\n",
	       n, rate, seconds, n * rate / 1000, sent, refused, spooled,
	       delivered, failed, (double)(last - end_ms) / 1000.0,
	       topic_total(e, topic), worst);
	if (fault != NULL) {
		/* the topic spilled while the brokers were down, and must be
		 * back on the direct path while the load still lasts */
		printf("many_clients: brokers down %.1f s from %.1f s: %llu "
		       "spilled; straight to Kafka again %.2f s after they "
		       "came back (%.1f s before the end)\n",
		       fault->down_s, fault->down_at_s, spooled,
		       direct_ms ? (double)(direct_ms - up_ms) / 1000.0 : -1.0,
		       direct_ms ? (double)(end_ms - direct_ms) / 1000.0
				 : -1.0);
		CHECK(spooled > 0, "nothing spilled while the brokers were "
				   "down");
		CHECK(direct_ms != 0 && direct_ms < end_ms,
		      "the topic did not leave the spool while the load "
		      "lasted");
	} else {
		CHECK(spooled == 0 && h_log_count(e, "spooling") == spooling,
		      "a healthy cluster spilled to disk");
	}
	CHECK(refused == 0, "%llu sends refused", refused);
	CHECK(failed == 0 && delivered == sent, "%llu of %llu delivered",
	      delivered, sent);
	CHECK(last - end_ms <= 1000, "the last report came %.2f s after the "
				     "end",
	      (double)(last - end_ms) / 1000.0);
	/* idempotence is off, as the users ran it: when the brokers
	 * drop their connections librdkafka itself sends again requests
	 * whose answer was lost (75 copies in one CI run), which ringsided
	 * cannot count; on a healthy cluster there are none */
	if (fault != NULL)
		CHECK(topic_total(e, topic) >= (long long)sent,
		      "Kafka holds %lld of %llu records",
		      topic_total(e, topic), sent);
	else
		CHECK(topic_total(e, topic) == (long long)sent,
		      "Kafka holds %lld of %llu records",
		      topic_total(e, topic), sent);
	/* 150 ms on a healthy cluster: 128 x 1,500 was answered within 16
	 * to 112 ms in the runs that bounded a pass of the event loop to
	 * 5 ms, and in 106 ms in a clean CI run (100 ms was the bound
	 * until then); while the spill writes 800k records a quiet machine
	 * answered within 53 ms, and 197 ms once with four JVMs starting on
	 * the same 2 cores. RS_MANY_STATUS_MS sets the bound (ASan's build
	 * answered once in 103 ms) */
	CHECK(worst <= (fault != NULL ? 3 : 1) * status_bound,
	      "STATUS took %.0f ms", worst);
}

int main(void)
{
	double seconds = atof(h_env_or("RS_MANY_SECONDS", "10"));
	/* ASan makes ringsided several times slower: check-all runs the
	 * sanitizer build at a quarter of the rates */
	double scale = atof(h_env_or("RS_MANY_RATE_SCALE", "1"));
	struct h_env e;

	h_init(&e, "many-clients");
	h_mock_start(&e, 3);
	char sections[512], keys[256];

	/* RS_MANY_KAFKA: more [kafka] lines, to try the same load under
	 * other producer limits */
	snprintf(sections, sizeof(sections), "%s\n[topic:*]\nacks = all\n",
		 h_env_or("RS_MANY_KAFKA", ""));
	snprintf(keys, sizeof(keys),
		 "ring_size = %s\nmax_record_bytes = 100000\n"
		 "max_sessions_per_uid = 256\n",
		 h_env_or("RS_MANY_RING", "1M"));
	h_write_config(&e, keys, sections);
	h_daemon_start(&e);
	if (getenv("RS_MANY_ONLY") != NULL) {
		/* RS_MANY_ONLY=N:R: that one healthy run, to try a load;
		 * N:R:outage, that load with the outage of the last case */
		unsigned int n = 0;
		double r = 0;
		char what[8] = "";
		int k = sscanf(getenv("RS_MANY_ONLY"), "%u:%lf:%7s", &n, &r,
			       what);

		CHECK((k == 2 || (k == 3 && strcmp(what, "outage") == 0)) &&
			      n > 0 && n <= 256 && r > 0,
		      "RS_MANY_ONLY=N:R[:outage], N up to 256");
		run(&e, n, r, seconds, "many-only",
		    k == 3 ? &(struct outage){ .down_at_s = 3 * seconds / 10,
					       .down_s = 1.5 * seconds / 10 }
			   : NULL);
		CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0,
		      "ringsided exit status");
		h_cleanup(&e);
		return 0;
	}
	run(&e, 64, 4000 * scale, seconds, "many-64", NULL);
	/* 128 sessions at three quarters of the rate: at 256,000 records/s
	 * the 2 cores here were short of CPU (ringsided's event loop
	 * waited to run half the time, beside 128 clients waking 1,000
	 * times a second each), and reports came up to 3 s late or the
	 * topic spilled in half the runs */
	run(&e, 128, 1500 * scale, seconds, "many-128", NULL);
	/* the brokers down for 1.5 s at 3 s: the spill must end, replay
	 * faster than the load it competes with. At 96,000 records/s: while
	 * a topic is spooled each record is written, read back and produced
	 * on the event loop, and on 2 cores beside 64 clients and the mock
	 * cluster 64 x 4,000 replayed about 130,000 records/s, never
	 * catching up (a quieter host replayed 900,000/s). At 64 x 2,000,
	 * 2 of 8 runs (and 4 of 8 with a replay window of 50,000) spilled
	 * 3.4 s after the brokers were back, when the backlog had kept a
	 * ring half full, and replay then kept pace with the load but never
	 * overtook it; 64 x 1,500 caught up in 8 of 8, 1.0-1.6 s after the
	 * brokers came back */
	run(&e, 64, 1500 * scale, seconds, "many-outage",
	    &(struct outage){ .down_at_s = 3 * seconds / 10,
			      .down_s = 1.5 * seconds / 10 });
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_cleanup(&e);
	return 0;
}
