/* SPDX-License-Identifier: MIT */
/*
 * bench.h: what the benchmark's parts share. The mock cluster runs in its
 * own process (cluster.c) so neither side pays for it in CPU or memory;
 * each measured side runs in a forked child so its CPU time and peak RSS
 * are its own (wait4); results come back through shared memory.
 */
#ifndef RS_BENCH_H
#define RS_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "hist.h"

#define MAX_THREADS 4
#define MAX_PROCS 4

/* ------------------------------------------------------------ cluster */
struct cluster {
	pid_t pid;
	FILE *cmd;  /* commands to the cluster process */
	FILE *resp; /* its answers */
	char bootstraps[512];
};

void cluster_start(struct cluster *c, int brokers);
/* 1 with RS_BENCH_KAFKA=real: a real Apache Kafka cluster, not the mock */
int cluster_is_real(void);
void cluster_stop(struct cluster *c);
void cluster_topic(struct cluster *c, const char *topic, int partitions);
void cluster_down(struct cluster *c);
void cluster_up(struct cluster *c);
void cluster_rtt(struct cluster *c, int ms);
/* Records the topic holds (sum of its partitions' high watermarks). */
long long cluster_count(struct cluster *c, const char *topic);

/* ------------------------------------------------------------- daemon */
struct daemon {
	pid_t pid;
	char dir[256];
	char sock[320];
	char conf[320];
	char spool[320];
};

/* Writes a config (acks for [topic:*], extra [ringside] lines) and starts
 * ringsided on it. The spool directory is kept across restarts. */
void daemon_start(struct daemon *d, const struct cluster *c, const char *acks,
		  const char *extra);
/* CPU seconds (user + system) the daemon has used, and its peak RSS. */
double daemon_cpu(const struct daemon *d);
long daemon_peak_rss_kb(const struct daemon *d);
void daemon_stop(struct daemon *d);
/* 1 if the daemon's log holds needle. */
int daemon_log_has(const struct daemon *d, const char *needle);
/* Records ringsided spilled to its spool, from the totals line it logs
 * when it stops (call after daemon_stop()). */
unsigned long long daemon_spilled(const struct daemon *d);
/* rm -rf */
void rmdir_tree(const char *dir);

/* ---------------------------------------------------------- workloads */
enum side { SIDE_KAFKA, SIDE_KAFKA_BLOCK, SIDE_RINGSIDE };

struct workload {
	enum side side;
	const char *topic;
	const char *acks;     /* "0", "1", "all" */
	size_t size;	      /* value bytes */
	unsigned int threads; /* per process */
	unsigned int procs;   /* ringside only: client processes */
	uint64_t records;     /* per thread */
	double rate;	      /* per thread, records/s; 0: flat out */
	int e2e;	      /* record send -> final report latency */
	int final_timeout_s;
	const char *bootstraps;	 /* SIDE_KAFKA* */
	const char *sock;	 /* SIDE_RINGSIDE */
	const char *kafka_props; /* extra "k=v;k=v" for the in-process side */
	int flush_only; /* no final reports expected: flush, do not count */
};

/* One process's results, in shared memory. */
struct result {
	struct hist send[MAX_THREADS]; /* from when each call was due */
	struct hist call[MAX_THREADS]; /* inside the call only */
	struct hist e2e;	       /* send -> final report */
	uint64_t sent;		       /* accepted */
	uint64_t rejected;	       /* refused at once (full) */
	uint64_t delivered;
	uint64_t failed;
	uint64_t spooled; /* SPOOLED reports seen */
	int64_t t_first_ns, t_last_send_ns, t_last_final_ns;
	int done;
	struct rusage ru;
};

/* Runs the workload in procs children (1 for librdkafka). res[] must be
 * shared memory for MAX_PROCS results. Blocks until they exit. */
void workload_run(const struct workload *w, struct result *res);
/* Starts it and returns the pids; workload_wait() collects them. */
void workload_start(const struct workload *w, struct result *res, pid_t *pids);
void workload_wait(const struct workload *w, struct result *res, pid_t *pids);

/* Merged view over the processes of a run. */
struct summary {
	struct hist send;
	struct hist call;
	struct hist e2e;
	uint64_t sent, rejected, delivered, failed, spooled;
	double seconds;	     /* first send to last final report */
	double send_seconds; /* first send to last send */
	double cpu_s;	     /* the children's user + system */
	long rss_kb;	     /* the largest child peak RSS */
};
void summarize(const struct workload *w, const struct result *res,
	       struct summary *s);

int64_t now_ns(void);
void *shared_alloc(size_t size);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
