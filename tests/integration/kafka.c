/* SPDX-License-Identifier: MIT */
/*
 * kafka.c: the harness's side of a real Apache Kafka cluster. The JVMs
 * are started and signalled by tests/kafka/cluster.sh; topics, leaders,
 * in-sync replicas and ACLs go through librdkafka's admin API over the
 * PLAINTEXT listener, whose ANONYMOUS principal is a super user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *cluster_script(void)
{
	static char path[512];
	const char *src = getenv("RS_SRCDIR");

	if (getenv("RS_KAFKA_CLUSTER") != NULL)
		return getenv("RS_KAFKA_CLUSTER");
	snprintf(path, sizeof(path), "%s/tests/kafka/cluster.sh",
		 src != NULL ? src : ".");
	return path;
}

static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");

	CHECK(f != NULL, "%s: cannot open", path);
	CHECK(fgets(buf, (int)size, f) != NULL, "%s: empty", path);
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static int script(struct h_env *e, const char *cmd, const char *arg)
{
	char line[1400];

	snprintf(line, sizeof(line), "sh '%s' %s '%s' %s", cluster_script(),
		 cmd, e->kafka, arg != NULL ? arg : "");
	return system(line);
}

void h_kafka_start(struct h_env *e)
{
	char pid[32], path[400];
	int64_t t0 = h_now_ms();

	snprintf(e->kafka, sizeof(e->kafka), "%s/kafka", e->dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (script(e, "start", pid) != 0) {
		e->kafka[0] = '\0';
		CHECK(0, "the Kafka cluster did not start (%s)",
		      cluster_script());
	}
	snprintf(path, sizeof(path), "%s/bootstrap", e->kafka);
	read_line(path, e->bootstraps, sizeof(e->bootstraps));
	snprintf(path, sizeof(path), "%s/sasl_bootstrap", e->kafka);
	read_line(path, e->sasl_bootstraps, sizeof(e->sasl_bootstraps));
	printf("kafka: 3 brokers and a controller up in %lld ms at %s\n",
	       (long long)(h_now_ms() - t0), e->bootstraps);
}

void h_kafka_stop(struct h_env *e)
{
	if (e->kafka[0] == '\0')
		return;
	if (script(e, "stop", NULL) != 0)
		fprintf(stderr, "cannot stop the cluster in %s\n", e->kafka);
	e->kafka[0] = '\0';
}

void h_kafka_broker(struct h_env *e, const char *action, int broker)
{
	char arg[16];

	snprintf(arg, sizeof(arg), "%d", broker);
	CHECK(script(e, action, arg) == 0, "%s broker %d", action, broker);
}

static rd_kafka_t *admin(struct h_env *e)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", e->bootstraps, errstr,
			  sizeof(errstr));
	rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	CHECK(rk != NULL, "admin client: %s", errstr);
	return rk;
}

/* Waits for the one admin result and returns its event. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);

	CHECK(ev != NULL, "%s: no answer in 30 s", what);
	CHECK(rd_kafka_event_error(ev) == 0, "%s: %s", what,
	      rd_kafka_event_error_string(ev));
	return ev;
}

void h_kafka_topic(struct h_env *e, const char *topic, int partitions,
		   int replicas, const char *configs)
{
	rd_kafka_t *rk = admin(e);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	char errstr[256], *copy = strdup(configs != NULL ? configs : "");
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
		topic, partitions, replicas, errstr, sizeof(errstr));
	const rd_kafka_topic_result_t **res;
	rd_kafka_event_t *ev;
	char *save = NULL;
	size_t n;

	CHECK(nt != NULL, "topic %s: %s", topic, errstr);
	if (replicas > 1)
		rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", "2");
	for (char *kv = strtok_r(copy, ",", &save); kv != NULL;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		CHECK(eq != NULL, "topic config %s", kv);
		*eq = '\0';
		rd_kafka_NewTopic_set_config(nt, kv, eq + 1);
	}
	free(copy);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = admin_wait(q, "CreateTopics");
	res = rd_kafka_CreateTopics_result_topics(
		rd_kafka_event_CreateTopics_result(ev), &n);
	CHECK(n == 1 && rd_kafka_topic_result_error(res[0]) == 0,
	      "create topic %s: %s", topic,
	      n == 1 ? rd_kafka_topic_result_error_string(res[0]) : "?");
	rd_kafka_event_destroy(ev);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	h_kafka_wait_isr(e, topic, replicas, 60000);
}

/* The topic's metadata, or NULL while the cluster does not know it. */
static const rd_kafka_metadata_topic_t *
topic_meta(rd_kafka_t *rk, const char *topic, const rd_kafka_metadata_t **md)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);

	*md = NULL;
	if (rd_kafka_metadata(rk, 0, rkt, md, 5000) != 0) {
		rd_kafka_topic_destroy(rkt);
		return NULL;
	}
	rd_kafka_topic_destroy(rkt);
	for (int i = 0; i < (*md)->topic_cnt; i++)
		if (strcmp((*md)->topics[i].topic, topic) == 0 &&
		    (*md)->topics[i].err == 0)
			return &(*md)->topics[i];
	return NULL;
}

int h_kafka_leader(struct h_env *e, const char *topic, int partition)
{
	rd_kafka_t *rk = admin(e);
	const rd_kafka_metadata_t *md;
	const rd_kafka_metadata_topic_t *t = topic_meta(rk, topic, &md);
	int leader = -1;

	for (int i = 0; t != NULL && i < t->partition_cnt; i++)
		if (t->partitions[i].id == partition)
			leader = t->partitions[i].leader;
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return leader;
}

void h_kafka_wait_isr(struct h_env *e, const char *topic, int isr,
		      int timeout_ms)
{
	rd_kafka_t *rk = admin(e);
	int64_t deadline = h_now_ms() + timeout_ms;

	for (;;) {
		const rd_kafka_metadata_t *md;
		const rd_kafka_metadata_topic_t *t = topic_meta(rk, topic, &md);
		int ok = t != NULL && t->partition_cnt > 0;

		for (int i = 0; ok && i < t->partition_cnt; i++)
			ok = t->partitions[i].leader >= 0 &&
			     t->partitions[i].isr_cnt >= isr;
		if (md != NULL)
			rd_kafka_metadata_destroy(md);
		if (ok)
			break;
		CHECK(h_now_ms() < deadline,
		      "%s: not every partition has a leader and %d in sync "
		      "after %d ms",
		      topic, isr, timeout_ms);
		usleep(200 * 1000);
	}
	rd_kafka_destroy(rk);
}

void h_kafka_allow_write(struct h_env *e, const char *principal,
			 const char *topic)
{
	rd_kafka_t *rk = admin(e);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	char errstr[256];
	rd_kafka_AclBinding_t *acl[2];
	rd_kafka_event_t *ev;

	/* WRITE to produce, DESCRIBE for the topic's metadata */
	acl[0] = rd_kafka_AclBinding_new(
		RD_KAFKA_RESOURCE_TOPIC, topic,
		RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal, "*",
		RD_KAFKA_ACL_OPERATION_WRITE,
		RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
	CHECK(acl[0] != NULL, "ACL: %s", errstr);
	acl[1] = rd_kafka_AclBinding_new(
		RD_KAFKA_RESOURCE_TOPIC, topic,
		RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal, "*",
		RD_KAFKA_ACL_OPERATION_DESCRIBE,
		RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
	CHECK(acl[1] != NULL, "ACL: %s", errstr);
	rd_kafka_CreateAcls(rk, acl, 2, NULL, q);
	ev = admin_wait(q, "CreateAcls");
	{
		size_t n;
		const rd_kafka_acl_result_t **r = rd_kafka_CreateAcls_result_acls(
			rd_kafka_event_CreateAcls_result(ev), &n);

		for (size_t i = 0; i < n; i++)
			CHECK(rd_kafka_acl_result_error(r[i]) == NULL,
			      "ACL for %s on %s: %s", principal, topic,
			      rd_kafka_error_string(
				      rd_kafka_acl_result_error(r[i])));
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_AclBinding_destroy_array(acl, 2);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
}
