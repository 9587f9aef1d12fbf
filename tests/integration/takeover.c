/* SPDX-License-Identifier: MIT */
/*
 * takeover: a local user tries to take another's session, or to lock
 * other users out. The victim is this process (libringside); the attacker
 * is rs_forge, run as another uid when the test runs as root (else as the
 * same uid, for the attacks that do not need a second one).
 *
 * Before: a resume was accepted for any well-formed memfd claiming a
 * session id no live session held, with no uid check, and ids were
 * sequential: a second uid received a closed root session's 5 final
 * reports, and claiming the next id stole a new victim's 5. A resume
 * could declare a 1 GiB ring. Silent connections counted toward
 * max_sessions without a cap of their own, idle ones filled the metrics
 * port's descriptors, and one uid's made-up topic names used up
 * max_topics for everyone.
 *
 * Now every resume must carry the token the session's own uid was given,
 * for that memfd's sizes; a memfd or id a live session holds is refused;
 * credentials are checked at accept; connections before HELLO are
 * bounded per uid; the metrics port takes 32 connections for 5 s each;
 * topics are counted per uid.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/internal.h"
#include "client/ringside.h"
#include "harness.h"

#define ATTACKER 61010 /* allowed to use ringsided */
#define REFUSED 61011  /* not in allow_users */

static const char *forge_bin;
static int as_root;
static unsigned int reports;

static void on_report(const ringside_report_t *r, void *ctx)
{
	(void)ctx;
	if (r->stage != RINGSIDE_STAGE_SPOOLED)
		reports++;
}

/* Runs rs_forge (as uid, if root) and returns its output's first line. */
static const char *attack(struct h_env *e, uid_t uid, const char *const *args,
			  int wait_ms)
{
	static char line[512];
	const char *argv[12] = { forge_bin };
	char out[400];
	FILE *f;
	pid_t pid;
	int n = 1;

	for (; args[n - 1] != NULL && n < 11; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/forge.out", e->dir);
	pid = as_root ? h_spawn_as(uid, uid, NULL, 0, argv, out)
		      : h_spawn(argv, out);
	CHECK(h_wait(pid, wait_ms) == 0, "rs_forge %s failed", args[0]);
	line[0] = '\0';
	f = fopen(out, "r");
	if (f != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	printf("takeover: %s as uid %u: %s\n", args[0],
	       as_root ? (unsigned int)uid : (unsigned int)getuid(), line);
	return line;
}

static ringside_t *victim_open(struct h_env *e, ringside_topic_t **t)
{
	ringside_options_t opts = { .socket_path = e->sock, .name = "victim" };
	char err[256];
	ringside_t *rs = ringside_open_opts(&opts, err, sizeof(err));

	CHECK(rs != NULL, "victim: %s", err);
	CHECK(ringside_topic(rs, "t", t) == 0, "victim topic");
	return rs;
}

static void send5(ringside_t *rs, ringside_topic_t *t)
{
	for (uint64_t i = 0; i < 5; i++)
		CHECK(ringside_send(rs, t, "k", 1, "secret", 6, i) == 0,
		      "send");
}

static int daemon_fds(const struct h_env *e)
{
	char cmd[128], buf[32] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)e->daemon);
	p = popen(cmd, "r");
	if (p != NULL) {
		if (fgets(buf, sizeof(buf), p) == NULL)
			buf[0] = '\0';
		pclose(p);
	}
	return atoi(buf);
}

/* GET path on 127.0.0.1:port; 1 if the answer contains want. */
static int http_has(const char *port, const char *path, const char *want)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char req[128], buf[65536];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_port = htons((uint16_t)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return 0;
	}
	while (got < sizeof(buf) - 1 &&
	       (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	return strstr(buf, want) != NULL;
}

static long daemon_rss_kb(const struct h_env *e)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)e->daemon);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

int main(void)
{
	char id[32], next[32], port[16], host_port[64], keys[512];
	uint64_t victim_id;
	ringside_topic_t *t;
	ringside_t *rs;
	struct h_env e;
	const char *r;
	int fds0, fds1;
	long rss0, rss1;

	forge_bin = h_env_or("RS_FORGE", "tests/integration/rs_forge");
	as_root = getuid() == 0;
	h_init(&e, "takeover");
	CHECK(chmod(e.dir, 0755) == 0, "chmod %s", e.dir);
	h_mock_start(&e, 1);
	h_topic(&e, "t", 2);
	snprintf(port, sizeof(port), "%d", 20000 + (int)(getpid() % 20000));
	snprintf(host_port, sizeof(host_port), "127.0.0.1:%s", port);
	snprintf(keys, sizeof(keys),
		 "socket_mode = 0666\nmax_topics_per_uid = 50\n"
		 "max_sessions_per_uid = 8\n"
		 "metrics_listen = %s\n%s",
		 host_port,
		 as_root ? "allow_users = root, 61010\n" : "");
	h_write_config(&e, keys, "[topic:*]\nacks = all\n");
	h_daemon_start(&e);

	/* 1. a closed session's reports: brokers down, the victim sends 5
	 * and closes; its records wait in the spool under its session id */
	CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0, "down");
	rs = victim_open(&e, &t);
	victim_id = rs->session_id;
	send5(rs, t);
	ringside_close(rs);
	{
		int64_t deadline = h_now_ms() + 10000;

		while (h_log_count(&e, "finished") == 0) {
			CHECK(h_now_ms() < deadline, "victim session lingers");
			usleep(50 * 1000);
		}
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)victim_id);
	{
		const char *a[] = { "forge", e.sock, id, "65536", "64", NULL };

		r = attack(&e, ATTACKER, a, 20000);
		CHECK(strncmp(r, "refused", 7) == 0,
		      "a forged resume of another's session was accepted");
	}
	if (as_root) {
		/* a memfd of the daemon's own uid: only the token stops it */
		const char *a[] = { "forge", e.sock, id, "65536", "64", NULL };

		r = attack(&e, 0, a, 20000);
		CHECK(strcmp(r, "refused: resume refused: not this uid's "
				"session") == 0,
		      "a forged resume without the token was accepted");
	}
	{
		const char *a[] = { "steal", e.sock, id, NULL };

		r = attack(&e, ATTACKER, a, 20000);
		CHECK(strncmp(r, "refused", 7) == 0,
		      "a resume with the attacker's own token was accepted");
	}
	CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "up");

	/* 2. the next id: ids are random, and a guess gets nothing */
	snprintf(next, sizeof(next), "%llu",
		 (unsigned long long)(victim_id + 1));
	{
		const char *a[] = { "forge", e.sock, next, "65536", "64",
				    NULL };

		r = attack(&e, ATTACKER, a, 20000);
		CHECK(strncmp(r, "refused", 7) == 0, "the next id was taken");
	}
	rs = victim_open(&e, &t);
	CHECK(rs->session_id != victim_id + 1, "ids are sequential");
	reports = 0;
	send5(rs, t);
	CHECK(ringside_flush(rs, 20000, on_report, NULL) == 0, "flush");
	CHECK(reports == 5, "the new victim got %u of its 5 reports",
	      reports);
	printf("takeover: the new victim session (id %llu) got all 5 of its "
	       "reports\n",
	       (unsigned long long)rs->session_id);

	/* 3. a resume declaring a 1 GiB ring and 4M reply slots */
	rss0 = daemon_rss_kb(&e);
	{
		const char *a[] = { "forge", e.sock, next, "1073741824",
				    "4194304", NULL };

		r = attack(&e, ATTACKER, a, 20000);
		CHECK(strncmp(r, "refused", 7) == 0, "a 1 GiB ring was taken");
	}
	rss1 = daemon_rss_kb(&e);
	CHECK(rss1 - rss0 < 8 * 1024, "RSS grew from %ld to %ld kB", rss0,
	      rss1);

	/* 4. its own live session, resumed a second time */
	{
		const char *a[] = { "served", e.sock, NULL };

		r = attack(&e, ATTACKER, a, 20000);
		CHECK(strncmp(r, "refused", 7) == 0,
		      "a memfd a live session serves was taken again");
	}

	/* 5. connections that never say HELLO */
	fds0 = daemon_fds(&e);
	{
		char out[400];
		const char *argv[] = { forge_bin, "silent", e.sock,
				       "1100",	  "4",	    NULL };
		pid_t pid;

		snprintf(out, sizeof(out), "%s/silent.out", e.dir);
		pid = as_root ? h_spawn_as(REFUSED, REFUSED, NULL, 0, argv, out)
			      : h_spawn(argv, out);
		sleep(2);
		fds1 = daemon_fds(&e);
		if (as_root) {
			/* another uid opens a session meanwhile */
			ringside_t *other = victim_open(&e, &t);

			reports = 0;
			send5(other, t);
			CHECK(ringside_flush(other, 20000, on_report, NULL) ==
				      0,
			      "flush during the flood");
			CHECK(reports == 5, "%u of 5 reports during the flood",
			      reports);
			ringside_close(other);
		}
		CHECK(h_wait(pid, 30000) == 0, "the flood failed");
	}
	printf("takeover: 1,100 silent connections%s: ringsided held %d "
	       "descriptors, %d before\n",
	       as_root ? " of a refused uid" : "", fds1, fds0);
	CHECK(fds1 < fds0 + 16, "the flood took %d descriptors", fds1 - fds0);
	if (as_root) {
		/* the same from a uid that may use ringsided: it gets its
		 * max_sessions_per_uid (8 here) */
		char out[400];
		const char *argv[] = { forge_bin, "silent", e.sock,
				       "1100",	  "4",	    NULL };
		ringside_t *other;
		pid_t pid;

		snprintf(out, sizeof(out), "%s/silent2.out", e.dir);
		pid = h_spawn_as(ATTACKER, ATTACKER, NULL, 0, argv, out);
		usleep(1000 * 1000); /* within their 2 s handshake */
		fds1 = daemon_fds(&e);
		other = victim_open(&e, &t);
		reports = 0;
		send5(other, t);
		CHECK(ringside_flush(other, 20000, on_report, NULL) == 0,
		      "flush during the flood");
		CHECK(reports == 5, "%u of 5 reports during the flood",
		      reports);
		ringside_close(other);
		CHECK(h_wait(pid, 30000) == 0, "the flood failed");
		printf("takeover: 1,100 silent connections of an allowed uid: "
		       "ringsided held %d descriptors, %d before; another uid "
		       "opened a session and got its 5 reports\n",
		       fds1, fds0);
		CHECK(fds1 <= fds0 + 8, "the flood took %d descriptors",
		      fds1 - fds0);
	}

	/* 6. idle connections to the metrics port */
	fds0 = daemon_fds(&e);
	{
		char out[400];
		const char *argv[] = { forge_bin, "http", "127.0.0.1", port,
				       "1000",	  "3",	  NULL };
		pid_t pid;

		snprintf(out, sizeof(out), "%s/http.out", e.dir);
		pid = as_root ? h_spawn_as(ATTACKER, ATTACKER, NULL, 0, argv,
					   out)
			      : h_spawn(argv, out);
		sleep(2);
		fds1 = daemon_fds(&e);
		CHECK(h_wait(pid, 30000) == 0, "the metrics flood failed");
	}
	printf("takeover: 1,000 idle metrics connections: ringsided held %d "
	       "descriptors, %d before\n",
	       fds1, fds0);
	CHECK(fds1 < fds0 + 40, "the metrics flood took %d descriptors",
	      fds1 - fds0);
	sleep(6); /* the held ones time out */
	CHECK(http_has(port, "/metrics", "ringside_records_read_total"),
	      "/metrics does not answer after the flood");
	CHECK(h_log_count(&e, "metrics: 32 connections open") <= 10,
	      "the refusals were not rate limited");

	/* 7. made-up topic names: one uid's limit, not everyone's (as one
	 * uid, the victim's topic "t" counts toward it too) */
	{
		const char *a[] = { "topics", e.sock, "100", NULL };
		const char *want = as_root
					   ? "topics: 50 resolved, 50 refused "
					     "by a limit"
					   : "topics: 49 resolved, 51 refused "
					     "by a limit";

		r = attack(&e, ATTACKER, a, 60000);
		CHECK(strcmp(r, want) == 0, "max_topics_per_uid did not hold: "
					    "%s",
		      r);
	}
	if (as_root) {
		ringside_topic_t *fresh;

		CHECK(ringside_topic(rs, "a-fresh-topic", &fresh) == 0,
		      "another uid could not resolve a topic");
	}
	if (as_root) {
		/* its topics are unused now: a new session of the same uid
		 * gets room again */
		const char *a[] = { "topics", e.sock, "10", NULL };

		r = attack(&e, ATTACKER, a, 60000);
		CHECK(strcmp(r, "topics: 10 resolved, 0 refused by a limit") ==
			      0,
		      "unused topics kept counting: %s", r);
	}
	ringside_close(rs);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	h_cleanup(&e);
	return 0;
}
