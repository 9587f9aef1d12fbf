/* SPDX-License-Identifier: MIT */
/*
 * harness.c: see harness.h. Failures print the daemon's log tail and stop
 * the daemon, so a failed run explains itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

struct h_env *h_current;

int64_t h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *h_env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && *v ? v : fallback;
}

int h_ctl(const struct h_env *e, const char *args, const char **out)
{
	static char buf[65536];
	char cmd[1200];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s",
		 h_env_or("RINGSIDECTL", "client/ringsidectl"), e->sock, args);
	p = popen(cmd, "r");
	CHECK(p != NULL, "popen %s: %s", cmd, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	while (fread(cmd, 1, sizeof(cmd), p) > 0)
		; /* the rest, so that it can exit */
	st = pclose(p);
	*out = buf;
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

void h_init(struct h_env *e, const char *name)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/rs-%s-XXXXXX", name);
	if (mkdtemp(e->dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(e->sock, sizeof(e->sock), "%s/rs.sock", e->dir);
	snprintf(e->conf, sizeof(e->conf), "%s/ringside.ini", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/ringsided.log", e->dir);
	e->daemon = -1;
	h_current = e;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
}

static void dump_log(const struct h_env *e)
{
	char cmd[512];

	fprintf(stderr, "---- tail of %s ----\n", e->log);
	snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", e->log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

/* Children still running when a test fails would outlive it: a client
 * that reconnects never stops by itself. */
static pid_t spawned[64];
static unsigned int nspawned;

static void remember(pid_t pid)
{
	if (nspawned < sizeof(spawned) / sizeof(spawned[0]))
		spawned[nspawned++] = pid;
}

void h_fail(const char *file, int line, const char *cond, const char *fmt,
	    ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL %s:%d: %s: %s\n", file, line, cond, why);
	for (unsigned int i = 0; i < nspawned; i++)
		kill(spawned[i], SIGKILL);
	if (h_current != NULL) {
		dump_log(h_current);
		if (h_current->daemon > 0)
			kill(h_current->daemon, SIGKILL);
		h_kafka_stop(h_current);
		fprintf(stderr, "files kept in %s\n", h_current->dir);
		fprintf(stderr, "FAIL %s:%d: %s\n", file, line, why);
	}
	exit(1);
}

void h_cleanup(struct h_env *e)
{
	char cmd[512];

	if (e->daemon > 0) {
		kill(e->daemon, SIGKILL);
		waitpid(e->daemon, NULL, 0);
	}
	if (e->mc != NULL)
		rd_kafka_mock_cluster_destroy(e->mc);
	if (e->mock_rk != NULL)
		rd_kafka_destroy(e->mock_rk);
	h_kafka_stop(e);
	if (getenv("RS_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", e->dir);
	}
}

void h_mock_start(struct h_env *e, int brokers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];

	rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
	e->mock_rk =
		rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	CHECK(e->mock_rk != NULL, "%s", errstr);
	e->mc = rd_kafka_mock_cluster_new(e->mock_rk, brokers);
	CHECK(e->mc != NULL, "cannot create the mock cluster");
	snprintf(e->bootstraps, sizeof(e->bootstraps), "%s",
		 rd_kafka_mock_cluster_bootstraps(e->mc));
}

void h_topic(struct h_env *e, const char *topic, int partitions)
{
	rd_kafka_resp_err_t err;

	if (e->kafka[0] != '\0') {
		h_kafka_topic(e, topic, partitions, 3, NULL);
		return;
	}
	err = rd_kafka_mock_topic_create(e->mc, topic, partitions, 1);
	CHECK(err == RD_KAFKA_RESP_ERR_NO_ERROR, "topic %s: %s", topic,
	      rd_kafka_err2str(err));
}

void h_write_config(struct h_env *e, const char *ringside_keys,
		    const char *sections)
{
	FILE *f = fopen(e->conf, "w");

	CHECK(f != NULL, "%s: %s", e->conf, strerror(errno));
	fprintf(f,
		"[ringside]\nsocket = %s\nspool_dir = %s/spool\n"
		"log_level = debug\n%s\n"
		"[kafka]\nbootstrap.servers = %s\n%s\n",
		e->sock, e->dir, ringside_keys ? ringside_keys : "",
		e->bootstraps, sections ? sections : "");
	fclose(f);
}

/* 1 once the daemon has said, after offset from of its log, that it
 * listens. Watching the log, not connecting: a probe connection would be
 * a client to the daemon (and one the ACL may refuse, and log). */
/* In a child about to exec: only stdin, stdout and stderr go with it.
 * The mock cluster runs in this process, and librdkafka does not open
 * its sockets close-on-exec: a child holding a copy of a broker's end of
 * a connection keeps it open after rd_kafka_mock_broker_set_down(), and
 * "brokers down" became a silent partition until every child exited. */
static void child_fds(void)
{
	closefrom(3);
}

static pid_t pidns_child = -1;

static void pidns_pass(int sig)
{
	if (pidns_child > 0)
		kill(pidns_child, sig);
}

/* In h_daemon_start()'s child: a new PID namespace, whose first process
 * (the daemon, pid 1 there) returns to exec; this one stays, passes it
 * SIGTERM, SIGINT and SIGHUP, and exits as it does. */
static void pidns_enter(void)
{
	struct sigaction sa = { .sa_handler = pidns_pass };
	int status;

	if (unshare(CLONE_NEWPID) < 0) {
		fprintf(stderr, "unshare(CLONE_NEWPID): %s\n", strerror(errno));
		_exit(126);
	}
	pidns_child = fork();
	if (pidns_child < 0)
		_exit(126);
	if (pidns_child == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		return;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (waitpid(pidns_child, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	signal(WTERMSIG(status), SIG_DFL);
	raise(WTERMSIG(status));
	_exit(128 + WTERMSIG(status));
}

static int daemon_ready(const char *log, long from)
{
	char line[4096];
	FILE *f = fopen(log, "r");
	int ready = 0;

	if (f == NULL)
		return 0;
	if (fseek(f, from, SEEK_SET) == 0)
		while (!ready && fgets(line, sizeof(line), f) != NULL)
			ready = strstr(line, "ringsided: notice: listening on") !=
				NULL;
	fclose(f);
	return ready;
}

static long file_length(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

pid_t h_daemon_start(struct h_env *e)
{
	const char *bin = h_env_or("RINGSIDED", "daemon/ringsided");
	const char *plain[] = { bin, "--config", e->conf, NULL };
	/* RS_VALGRIND=1: the daemon runs under memcheck; any error or
	 * definite leak makes it exit 99, which the tests see */
	const char *vg[] = { "/usr/bin/valgrind",
			     "--quiet",
			     "--error-exitcode=99",
			     "--leak-check=full",
			     "--errors-for-leak-kinds=definite",
			     "--show-leak-kinds=definite",
			     bin,
			     "--config",
			     e->conf,
			     NULL };
	const char *const *argv = getenv("RS_VALGRIND") != NULL ? vg : plain;
	int64_t deadline = h_now_ms() + 60000;
	long from = file_length(e->log);
	pid_t pid;
	int fd;

	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		child_fds();
		if (e->pidns)
			pidns_enter();
		/* execv's prototype predates const; it does not write */
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	e->daemon = pid;
	while (!daemon_ready(e->log, from)) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			e->daemon = -1;
			CHECK(0, "ringsided exited at start-up (status %d)",
			      status);
		}
		CHECK(h_now_ms() < deadline, "ringsided did not start");
		sleep_ms(20);
	}
	return pid;
}

int h_wait(pid_t pid, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (h_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "process %d killed after %d ms\n",
				(int)pid, timeout_ms);
			return -1;
		}
		sleep_ms(10);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int h_daemon_stop(struct h_env *e, int sig, int timeout_ms)
{
	int rc;

	if (e->daemon <= 0)
		return -1;
	kill(e->daemon, sig);
	rc = h_wait(e->daemon, timeout_ms);
	e->daemon = -1;
	return rc;
}

int h_log_count(const struct h_env *e, const char *needle)
{
	FILE *f = fopen(e->log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

int h_file_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

static long long log_numbers(const struct h_env *e, const char *needle, int sum)
{
	FILE *f = fopen(e->log, "r");
	char line[4096];
	long long v = sum ? 0 : -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *at = strstr(line, needle);
		long long n;

		if (at == NULL)
			continue;
		n = strtoll(at + strlen(needle), NULL, 10);
		v = sum ? v + n : n;
	}
	fclose(f);
	return v;
}

long long h_log_number(const struct h_env *e, const char *needle)
{
	return log_numbers(e, needle, 0);
}

long long h_log_sum(const struct h_env *e, const char *needle)
{
	return log_numbers(e, needle, 1);
}

pid_t h_spawn(const char *const argv[], const char *stdout_path)
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (stdout_path != NULL) {
			int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC,
				      0644);

			if (fd >= 0) {
				dup2(fd, 1);
				close(fd);
			}
		}
		child_fds();
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	remember(pid);
	return pid;
}

pid_t h_spawn_as(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		 const char *const argv[], const char *out_path)
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		char err_path[512];
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			close(fd);
		}
		snprintf(err_path, sizeof(err_path), "%s.err", out_path);
		fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		child_fds();
		if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(126);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	remember(pid);
	return pid;
}

static char *dup_mem(const void *p, size_t n)
{
	char *d = malloc(n + 1);

	CHECK(d != NULL, "malloc");
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

static void copy_headers(const rd_kafka_message_t *m, struct h_msg *out)
{
	rd_kafka_headers_t *hdrs;

	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	out->nheaders = rd_kafka_header_cnt(hdrs);
	out->headers = calloc(out->nheaders, sizeof(*out->headers));
	for (size_t i = 0; i < out->nheaders; i++) {
		const char *name;
		const void *val;
		size_t len;

		rd_kafka_header_get_all(hdrs, i, &name, &val, &len);
		out->headers[i].name = dup_mem(name, strlen(name));
		out->headers[i].value = val ? dup_mem(val, len) : NULL;
		out->headers[i].len = len;
	}
}

size_t h_consume(struct h_env *e, const char *topic, int partitions,
		 struct h_msg **out)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts;
	int64_t deadline = h_now_ms() + 60000;
	char errstr[256], group[64];
	size_t n = 0, cap = 1024;
	struct h_msg *msgs = calloc(cap, sizeof(*msgs));
	int eof = 0, *seen_eof = calloc((size_t)partitions, sizeof(int));
	rd_kafka_t *rk;

	snprintf(group, sizeof(group), "h-%d", (int)getpid());
	rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstraps, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	CHECK(rk != NULL, "consumer: %s", errstr);
	parts = rd_kafka_topic_partition_list_new(partitions);
	for (int p = 0; p < partitions; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
			RD_KAFKA_OFFSET_BEGINNING;
	CHECK(rd_kafka_assign(rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR,
	      "assign");
	rd_kafka_topic_partition_list_destroy(parts);
	while (eof < partitions) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		CHECK(h_now_ms() < deadline, "consuming %s timed out", topic);
		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (m->partition >= 0 && m->partition < partitions &&
			    !seen_eof[m->partition]) {
				seen_eof[m->partition] = 1;
				eof++;
			}
		} else {
			CHECK(m->err == 0, "consume %s: %s", topic,
			      rd_kafka_message_errstr(m));
			if (n == cap) {
				struct h_msg *more =
					realloc(msgs, 2 * cap * sizeof(*msgs));

				CHECK(more != NULL, "realloc"); /* exits */
				msgs = more;
				cap *= 2;
			}
			memset(&msgs[n], 0, sizeof(msgs[n]));
			snprintf(msgs[n].topic, sizeof(msgs[n].topic), "%s",
				 topic);
			msgs[n].partition = m->partition;
			msgs[n].offset = m->offset;
			msgs[n].key =
				m->key ? dup_mem(m->key, m->key_len) : NULL;
			msgs[n].key_len = m->key_len;
			msgs[n].value =
				m->payload ? dup_mem(m->payload, m->len) : NULL;
			msgs[n].value_len = m->len;
			copy_headers(m, &msgs[n]);
			n++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	free(seen_eof);
	*out = msgs;
	return n;
}

void h_msgs_free(struct h_msg *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(msgs[i].key);
		free(msgs[i].value);
		for (size_t j = 0; j < msgs[i].nheaders; j++) {
			free(msgs[i].headers[j].name);
			free(msgs[i].headers[j].value);
		}
		free(msgs[i].headers);
	}
	free(msgs);
}

void h_read_client(const char *path, struct h_client *c)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t cap = 1024;

	memset(c, 0, sizeof(*c));
	CHECK(f != NULL, "%s: %s", path, strerror(errno));
	c->reports = malloc(cap * sizeof(*c->reports));
	while (fgets(line, sizeof(line), f) != NULL) {
		struct h_report r;
		unsigned long long op, pre;
		long long off;
		unsigned int t, sent;
		unsigned long long efull;

		if (line[0] == 'R' &&
		    sscanf(line, "R %llu %d %d %d %lld %d %d %63s", &op,
			   &r.status, &r.kafka_error, &r.partition, &off,
			   &r.persistence, &r.stage, r.topic) == 8) {
			r.opaque = op;
			r.offset = off;
			if (c->nreports == cap) {
				cap *= 2;
				c->reports = realloc(c->reports,
						     cap * sizeof(*c->reports));
				CHECK(c->reports != NULL, "realloc");
			}
			c->reports[c->nreports++] = r;
		} else if (line[0] == 'T' &&
			   sscanf(line, "T %u %u %llu", &t, &sent, &efull) ==
				   3 &&
			   t < H_MAX_THREADS) {
			c->sent[t] = sent;
			c->efull[t] = efull;
			if (t + 1 > c->nthreads)
				c->nthreads = t + 1;
		} else if (line[0] == 'E' &&
			   sscanf(line, "E %u %llu %llu", &t, &op, &pre) == 3 &&
			   t < H_MAX_THREADS) {
			c->efull_first_ns[t] = op;
			c->efull_last_ns[t] = pre;
		} else if (line[0] == 'L' &&
			   sscanf(line, "L %u %llu %llu %llu", &t, &efull, &op,
				  &pre) == 4 &&
			   t < H_MAX_THREADS) {
			c->max_ns[t] = efull;
			c->over_1ms[t] = op;
			c->preempted[t] = pre;
		} else if (line[0] == 'S') {
			struct h_slow sl;
			unsigned long long a, b, cpu;

			CHECK(sscanf(line, "S %u %llu %llu %llu %ld", &sl.thread,
				     &a, &b, &cpu, &sl.switches) == 5,
			      "%s: bad line: %s", path, line);
			sl.start_ns = a;
			sl.end_ns = b;
			sl.cpu_ns = cpu;
			if (c->nslow < H_MAX_SLOW)
				c->slow[c->nslow++] = sl;
		} else if (line[0] == 'F' &&
			   sscanf(line, "F %llu %llu %llu", &c->finals,
				  &c->failures, &c->spooled) == 3) {
			continue;
		} else if (line[0] == 'X' &&
			   sscanf(line, "X %d %llu %llu", &c->flush_rc,
				  &c->finished, &c->dropped) == 3) {
			c->complete = 1;
		} else {
			CHECK(0, "%s: unexpected line: %s", path, line);
		}
	}
	fclose(f);
}

unsigned long long h_machine_stalls(const struct h_client *c, unsigned int n)
{
	unsigned long long machine = 0;

	for (unsigned int w = 0; w < n; w++) {
		for (unsigned int i = 0; i < c[w].nslow; i++) {
			const struct h_slow *s = &c[w].slow[i];
			int shared = 0;

			if (s->switches != 0)
				continue; /* it slept: never the machine's */
			for (unsigned int o = 0; o < n && !shared; o++) {
				for (unsigned int j = 0;
				     o != w && j < c[o].nslow && !shared; j++)
					shared = c[o].slow[j].start_ns <
							 s->end_ns &&
						 s->start_ns <
							 c[o].slow[j].end_ns;
			}
			machine += shared;
		}
	}
	return machine;
}

void h_client_free(struct h_client *c)
{
	free(c->reports);
	c->reports = NULL;
}
