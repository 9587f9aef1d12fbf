/* SPDX-License-Identifier: MIT */
/*
 * harness.h: what every integration scenario needs: a librdkafka mock
 * cluster in this process (real Kafka protocol over TCP), the real ringsided
 * binary started against it, client processes, and a consumer that reads
 * every record back.
 */
#ifndef RS_HARNESS_H
#define RS_HARNESS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka_mock.h>

struct h_env {
	char dir[256];
	char sock[320];
	char conf[320];
	char log[320];
	rd_kafka_t *mock_rk;
	rd_kafka_mock_cluster_t *mc;
	char bootstraps[512];
	pid_t daemon;
	/* h_daemon_start() runs ringsided as pid 1 of a PID namespace of its
	 * own (a container's), below a process that passes it signals: that
	 * process is e->daemon */
	int pidns;
	/* the real Apache Kafka cluster (tests/kafka/cluster.sh), if any */
	char kafka[320];
	char sasl_bootstraps[512];
};

struct h_header {
	char *name;
	char *value; /* NULL: null value */
	size_t len;
};

struct h_msg {
	char topic[256];
	int32_t partition;
	int64_t offset;
	char *key; /* NULL: no key */
	size_t key_len;
	char *value; /* NULL: null value */
	size_t value_len;
	size_t nheaders;
	struct h_header *headers;
};

extern struct h_env *h_current;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);        \
	} while (0)

void h_init(struct h_env *e, const char *name);
/* Prints "FAIL file:line: cond: message", the daemon's log tail, then the
 * message again (a CI summary shows only the end), kills what the test
 * started and exits 1. */
void h_fail(const char *file, int line, const char *cond, const char *fmt,
	    ...) __attribute__((noreturn, format(printf, 4, 5)));
void h_cleanup(struct h_env *e);

void h_mock_start(struct h_env *e, int brokers);
/* Creates the topic: on the mock, replication factor 1; on the real
 * cluster, replication factor 3 and min.insync.replicas 2, returning once
 * every partition has a leader and three replicas in sync. */
void h_topic(struct h_env *e, const char *topic, int partitions);

/* The real cluster (kafka.c): one KRaft controller and brokers 1 to 3 in
 * their own JVMs, started by tests/kafka/cluster.sh ($RS_KAFKA_CLUSTER)
 * in the test's directory and stopped by h_cleanup() or h_fail(), or by
 * the script's watchdog when this process is gone. */
void h_kafka_start(struct h_env *e);
/* Kills every process of the cluster, if one was started. */
void h_kafka_stop(struct h_env *e);
/* kill (-9), term, pause (SIGSTOP), resume or restart broker 1, 2 or 3 */
void h_kafka_broker(struct h_env *e, const char *action, int broker);
/* h_topic() with extra topic configs ("name=value,name=value" or NULL)
 * and a replication factor */
void h_kafka_topic(struct h_env *e, const char *topic, int partitions,
		   int replicas, const char *configs);
/* The broker leading the partition, or -1 if none does. */
int h_kafka_leader(struct h_env *e, const char *topic, int partition);
/* Waits until every partition of topic has isr replicas in sync and a
 * leader; fails the test after timeout_ms. */
void h_kafka_wait_isr(struct h_env *e, const char *topic, int isr,
		      int timeout_ms);
/* Allows principal ("User:alice") to write to topic, by a Kafka ACL. */
void h_kafka_allow_write(struct h_env *e, const char *principal,
			 const char *topic);

/* Writes the daemon's config: [ringside] with the socket, the given extra
 * [ringside] keys, [kafka] with the mock's bootstrap servers, then the rest
 * (topic sections) verbatim. */
void h_write_config(struct h_env *e, const char *ringside_keys,
		    const char *sections);
pid_t h_daemon_start(struct h_env *e);
/* Sends sig and waits up to timeout_ms. Returns the exit status, or 128 +
 * signal number if it died of one. */
int h_daemon_stop(struct h_env *e, int sig, int timeout_ms);
/* 1 if the file at path (its first 8 KiB) contains needle. */
int h_file_has(const char *path, const char *needle);
/* Counts occurrences of needle in the daemon's log. */
int h_log_count(const struct h_env *e, const char *needle);
/* The number right after the last occurrence of needle, or -1. */
long long h_log_number(const struct h_env *e, const char *needle);
/* The sum of the numbers right after every occurrence of needle. */
long long h_log_sum(const struct h_env *e, const char *needle);

pid_t h_spawn(const char *const argv[], const char *stdout_path);
/* As another user (needs root); stdout to out_path, stderr to
 * out_path.err. */
pid_t h_spawn_as(uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		 const char *const argv[], const char *out_path);
int h_wait(pid_t pid, int timeout_ms);

/* Reads every record of topic back from offset 0. */
size_t h_consume(struct h_env *e, const char *topic, int partitions,
		 struct h_msg **out);
void h_msgs_free(struct h_msg *msgs, size_t n);

int64_t h_now_ms(void);
const char *h_env_or(const char *name, const char *fallback);
/* Runs $RINGSIDECTL -s e->sock ARGS; its stdout (cut to 64 KiB) in a
 * static buffer at *out. Returns its exit status, or -1 if it did not
 * exit. */
int h_ctl(const struct h_env *e, const char *args, const char **out);

/* What rs_test_client wrote. */
struct h_report {
	uint64_t opaque;
	int status;
	int kafka_error;
	int partition;
	int64_t offset;
	int persistence;
	int stage;
	char topic[64];
};

#define H_MAX_THREADS 16
#define H_MAX_SLOW (H_MAX_THREADS * 32)

/* one of rs_test_client's S lines: a send over 1 ms, not preempted */
struct h_slow {
	unsigned int thread;
	uint64_t start_ns, end_ns, cpu_ns; /* CLOCK_MONOTONIC; thread CPU */
	long switches; /* voluntary context switches during it */
};

struct h_client {
	struct h_report *reports;
	size_t nreports;
	unsigned int nthreads;
	unsigned int sent[H_MAX_THREADS];
	unsigned long long efull[H_MAX_THREADS];
	/* when sends were refused (CLOCK_MONOTONIC ns), if efull[t] > 0 */
	unsigned long long efull_first_ns[H_MAX_THREADS];
	unsigned long long efull_last_ns[H_MAX_THREADS];
	unsigned long long max_ns[H_MAX_THREADS];
	unsigned long long over_1ms[H_MAX_THREADS];
	unsigned long long preempted[H_MAX_THREADS];
	struct h_slow slow[H_MAX_SLOW]; /* the first 32 of over_1ms[t] */
	unsigned int nslow;
	unsigned long long finals;
	unsigned long long failures;
	unsigned long long spooled;
	int flush_rc;
	unsigned long long finished;
	unsigned long long dropped;
	int complete; /* the X line was present */
};

void h_read_client(const char *path, struct h_client *c);
/* How many of the slow sends of c[0..n) that were not preempted the whole
 * machine explains: they used no voluntary switch and overlap in time a
 * slow send of another client process. This kernel charges interrupt time
 * to the thread it interrupts (no IRQ time accounting), so a send can seem
 * to use milliseconds of CPU while the machine was busy elsewhere; a loop
 * of 50 additions sees the same stalls beside a disk writer. */
unsigned long long h_machine_stalls(const struct h_client *c, unsigned int n);
void h_client_free(struct h_client *c);

#endif
