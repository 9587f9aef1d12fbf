/* SPDX-License-Identifier: MIT */
/*
 * producer_topic.c: topics. Each one the config allows gets a librdkafka
 * topic handle in the producer instance of its acks class, built from
 * [kafka], [topic:*] and its own section; the daemon-wide and per-uid
 * limits on how many are held apply here, and a topic moves to another
 * instance when its acks change or its instance is replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringside_clock.h"
#include "log.h"
#include "producer.h"
#include "producer_impl.h"

void producer_topic_free(struct rs_topic *t)
{
	rs_spool_cursor_free(&t->cursor);
	free(t->pending.v);
	if (t->rkt != NULL)
		rd_kafka_topic_destroy(t->rkt);
	free(t->name);
	free(t);
}

static int producer_apply_props(rd_kafka_topic_conf_t *tconf,
				const struct rs_topic_config *tc, char *err,
				size_t errlen)
{
	char errstr[512];

	if (tc == NULL)
		return 0;
	for (size_t i = 0; i < tc->props.n; i++) {
		const struct rs_prop *pr = &tc->props.v[i];

		if (producer_is_timeout_key(pr->key))
			continue; /* ringsided's, never librdkafka's */
		if (rd_kafka_topic_conf_set(tconf, pr->key, pr->value, errstr,
					    sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "config line %d: %s: %s",
				 pr->line, pr->key, errstr);
			return -1;
		}
	}
	return 0;
}

void rs_producer_on_topic(struct rs_producer *p, rs_topic_new_fn fn, void *arg)
{
	p->on_topic = fn;
	p->on_topic_arg = arg;
}

static struct rs_topic *producer_find_topic(struct rs_producer *p,
					    const char *name)
{
	for (size_t i = 0; i < p->ntopics; i++)
		if (strcmp(p->topics[i]->name, name) == 0)
			return p->topics[i];
	return NULL;
}

/* The librdkafka topic config for pol in class c: the producer's defaults
 * (so topic properties set in [kafka] apply), then [topic:*], then the
 * topic's section. */
static rd_kafka_topic_conf_t *
producer_topic_conf(struct rs_class *c, const struct rs_topic_policy *pol,
		    char *err, size_t errlen)
{
	rd_kafka_topic_conf_t *tconf;
	char errstr[512];

	if (c->rk == NULL) {
		snprintf(err, errlen, "no producer for acks=%s",
			 rs_acks_name(pol->acks));
		return NULL;
	}
	tconf = rd_kafka_default_topic_conf_dup(c->rk);
	if (producer_apply_props(tconf, pol->defaults, err, errlen) < 0 ||
	    producer_apply_props(tconf, pol->section, err, errlen) < 0 ||
	    rd_kafka_topic_conf_set(tconf, "acks", rs_acks_name(pol->acks),
				    errstr,
				    sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rd_kafka_topic_conf_destroy(tconf);
		return NULL;
	}
	return tconf;
}

/* Topics uid brought in that are still held. */
static uint32_t producer_topics_of(const struct rs_producer *p, uid_t uid)
{
	uint32_t n = 0;

	for (size_t i = 0; i < p->ntopics; i++)
		n += p->topics[i]->owner == uid;
	return n;
}

static int producer_topic_create(struct rs_producer *p, const char *name,
				 const struct rs_topic_policy *pol, uid_t uid,
				 struct rs_topic **tp, char *err, size_t errlen)
{
	struct rs_class *c = &p->cls[pol->acks];
	rd_kafka_topic_conf_t *tconf;
	struct rs_topic *t, **v;

	if (p->ntopics >= p->cfg->max_topics) {
		snprintf(err, errlen, "max_topics (%u) reached",
			 p->cfg->max_topics);
		return RS_TOPIC_LIMIT;
	}
	if (uid != RS_TOPIC_NO_OWNER &&
	    producer_topics_of(p, uid) >= p->cfg->max_topics_per_uid) {
		snprintf(err, errlen,
			 "uid %u already uses %u topics (max_topics_per_uid)",
			 (unsigned int)uid, p->cfg->max_topics_per_uid);
		return RS_TOPIC_LIMIT;
	}
	tconf = producer_topic_conf(c, pol, err, errlen);
	if (tconf == NULL)
		return RS_TOPIC_ERROR;
	t = calloc(1, sizeof(*t));
	v = realloc(p->topics, (p->ntopics + 1) * sizeof(*v));
	if (t != NULL)
		t->kafka_timeout_ms = producer_props_timeout(
			pol->section != NULL ? &pol->section->props : NULL,
			producer_props_timeout(
				pol->defaults != NULL ? &pol->defaults->props
						      : NULL,
				producer_props_timeout(&p->cfg->kafka, 0)));
	if (t == NULL || v == NULL)
		fatal("allocating a topic");
	p->topics = v;
	t->name = strdup(name);
	if (t->name == NULL)
		fatal("strdup");
	t->owner = uid;
	t->unused_ms = rs_now_ms();
	t->acks = pol->acks;
	t->acks_next = -1;
	t->reports = pol->reports;
	t->write_ahead = pol->write_ahead;
	t->backlog_bytes = pol->backlog_bytes;
	t->backlog_ms = pol->backlog_ms;
	TAILQ_INIT(&t->direct);
	TAILQ_INIT(&t->hold);
	TAILQ_INIT(&t->replaying);
	t->rkt = rd_kafka_topic_new(c->rk, name, tconf);
	if (t->rkt == NULL) {
		snprintf(err, errlen, "librdkafka: %s",
			 rd_kafka_err2str(rd_kafka_last_error()));
		producer_topic_free(t);
		return RS_TOPIC_ERROR;
	}
	p->topics[p->ntopics++] = t;
	log_info("topic %s: acks=%s reports=%s%s", name, rs_acks_name(t->acks),
		 rs_reports_name(t->reports),
		 t->write_ahead ? " write_ahead" : "");
	if (p->on_topic != NULL)
		p->on_topic(t, p->on_topic_arg);
	*tp = t;
	return 0;
}

int rs_producer_topic(struct rs_producer *p, const char *name, uid_t uid,
		      struct rs_topic **tp, char *err, size_t errlen)
{
	struct rs_topic_policy pol;

	/* the config first: a reload may have removed a topic in use */
	if (rs_config_topic(p->cfg, name, &pol) < 0) {
		snprintf(err, errlen,
			 "topic '%s' is not configured (no [topic:%s] and no "
			 "[topic:*])",
			 name, name);
		return RS_TOPIC_DENIED;
	}
	if ((*tp = producer_find_topic(p, name)) != NULL)
		return 0;
	return producer_topic_create(p, name, &pol, uid, tp, err, errlen);
}

void rs_producer_topic_forget(struct rs_producer *p, struct rs_topic *t)
{
	for (size_t i = 0; i < p->ntopics; i++) {
		if (p->topics[i] != t)
			continue;
		log_debug("topic %s: no session uses it and nothing of it is "
			  "in flight: forgotten",
			  t->name);
		p->topics[i] = p->topics[--p->ntopics];
		producer_topic_free(t);
		return;
	}
}

int rs_producer_topic_force(struct rs_producer *p, const char *name,
			    struct rs_topic **tp, char *err, size_t errlen)
{
	struct rs_topic_policy pol = {
		.acks = RS_ACKS_ALL,
		.reports = RS_REPORTS_ALL,
		.backlog_bytes = 64ULL << 20,
		.backlog_ms = 2000,
	};

	if ((*tp = producer_find_topic(p, name)) != NULL)
		return 0;
	if (rs_config_topic(p->cfg, name, &pol) == 0)
		return producer_topic_create(p, name, &pol, RS_TOPIC_NO_OWNER,
					     tp, err, errlen);
	log_warnx("topic %s: the spool holds records for it but the "
		  "configuration no longer allows it; delivering them with "
		  "acks=all",
		  name);
	if (p->cls[RS_ACKS_ALL].rk == NULL)
		for (int i = 0; i < RS_ACKS_N; i++)
			if (p->cls[i].rk != NULL)
				pol.acks = (enum rs_acks)i;
	return producer_topic_create(p, name, &pol, RS_TOPIC_NO_OWNER, tp, err,
				     errlen);
}

size_t rs_producer_ntopics(const struct rs_producer *p)
{
	return p->ntopics;
}

struct rs_topic *rs_producer_topic_at(const struct rs_producer *p, size_t i)
{
	return i < p->ntopics ? p->topics[i] : NULL;
}

int rs_producer_topic_acks(struct rs_producer *p, struct rs_topic *t,
			   enum rs_acks acks, char *err, size_t errlen)
{
	struct rs_topic_policy pol = { .acks = acks };
	rd_kafka_topic_conf_t *tconf;
	rd_kafka_topic_t *rkt;

	if (rs_config_topic(p->cfg, t->name, &pol) < 0)
		pol.defaults = pol.section = NULL;
	pol.acks = acks;
	tconf = producer_topic_conf(&p->cls[acks], &pol, err, errlen);
	if (tconf == NULL)
		return -1;
	rkt = rd_kafka_topic_new(p->cls[acks].rk, t->name, tconf);
	if (rkt == NULL) {
		snprintf(err, errlen, "librdkafka: %s",
			 rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	rd_kafka_topic_destroy(t->rkt);
	t->rkt = rkt;
	t->acks = acks;
	return 0;
}
