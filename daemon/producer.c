/* SPDX-License-Identifier: MIT */
/*
 * producer.c: everything that talks to librdkafka. Delivery reports arrive
 * as events on each producer's main queue, which signals an eventfd watched
 * by the daemon's libevent loop; librdkafka never calls back into the daemon
 * from its own threads except to log.
 *
 * A producer instance that raises a fatal error (an idempotent producer
 * after an OUT_OF_ORDER_SEQUENCE_NUMBER, say) accepts nothing more. It is
 * replaced by a new instance for its acks class, its topics move to the
 * new one, and the old one is purged and kept only until every record it
 * held has come back with a report (each is sent again: rs_kafka_err_class
 * says a producer-fatal error is not the record's fault).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client/ringside.h"
#include "client/ringside_clock.h"
#include "kerr.h"
#include "log.h"
#include "producer.h"
#include "producer_impl.h"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, as it requires */

#define RS_STATS_MS "1000"

static void producer_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
			       const char *buf)
{
	if (level > RS_LOG_DEBUG)
		level = RS_LOG_DEBUG;
	if (level < RS_LOG_ERR)
		level = RS_LOG_ERR;
	log_msg(level, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static int producer_is_mock_key(const char *key)
{
	return strcmp(key, "test.mock.num.brokers") == 0;
}

/* 1 if [kafka] says where the cluster is (or asks for the mock). */
static int producer_names_brokers(const struct rs_config *cfg)
{
	for (size_t i = 0; i < cfg->kafka.n; i++) {
		const struct rs_prop *pr = &cfg->kafka.v[i];

		if ((strcmp(pr->key, "bootstrap.servers") == 0 ||
		     strcmp(pr->key, "metadata.broker.list") == 0 ||
		     producer_is_mock_key(pr->key)) &&
		    pr->value[strspn(pr->value, " \t")] != '\0')
			return 1;
	}
	return 0;
}

int producer_is_timeout_key(const char *key)
{
	return strcmp(key, "message.timeout.ms") == 0 ||
	       strcmp(key, "delivery.timeout.ms") == 0;
}

/* The operator's message.timeout.ms in props (the last one set), else
 * dflt. Checked by the config loader. */
uint32_t producer_props_timeout(const struct rs_props *props, uint32_t dflt)
{
	for (size_t i = 0; props != NULL && i < props->n; i++)
		if (producer_is_timeout_key(props->v[i].key))
			dflt = (uint32_t)strtoul(props->v[i].value, NULL, 10);
	return dflt;
}

/* The producer's global config for one acks class. */
static rd_kafka_conf_t *producer_class_conf(struct rs_producer *p,
					    enum rs_acks acks, char *err,
					    size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];

	/*
	 * librdkafka never gets a finite message.timeout.ms. Its own
	 * timeouts fail the older records of a partition while younger ones
	 * are still written (librdkafka's INTRODUCTION.md, "Message timeout
	 * considerations": "a final written message sequence of 1, 4, 5"),
	 * so resending the failed ones would put them after younger records
	 * of their key. ringsided spills by backlog_ms, and applies an
	 * operator's message.timeout.ms itself (flow.c): it moves all of a
	 * producer's records to the spool at once, which keeps the order.
	 */
	rd_kafka_conf_set(conf, "message.timeout.ms", "0", errstr,
			  sizeof(errstr));
	/* broker state and round-trip times for status and metrics; an
	 * operator's own statistics.interval.ms (0: off) wins */
	rd_kafka_conf_set(conf, "statistics.interval.ms", RS_STATS_MS, errstr,
			  sizeof(errstr));
	/* librdkafka backs off reconnecting up to 10 s: brokers back after a
	 * 1.5 s outage were reached 2.8 to 4.8 s later, while the spool grew
	 * by the full load. A sidecar's one job is to reach them again: at
	 * most a second (an operator's own value wins) */
	rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", errstr,
			  sizeof(errstr));
	/* a record keeps its ring space until Kafka has it, so the time it
	 * lingers in librdkafka is ring a client cannot use: one session
	 * with a 1M ring was refused sends from 512,000 records/s under
	 * librdkafka's 5 ms, and kept 768,000/s under 1 ms (batches fill
	 * anyway when many sessions share a producer). An operator's own
	 * linger.ms wins */
	rd_kafka_conf_set(conf, "linger.ms", "1", errstr, sizeof(errstr));
	/* a topic the cluster does not have: librdkafka waits 30 s for it
	 * to appear before it fails the records, and by then backlog_ms has
	 * spilled them; a real cluster (auto.create.topics.enable = false)
	 * showed it. Topic creation reaches every broker well within a
	 * second; an operator's own value wins */
	rd_kafka_conf_set(conf, "topic.metadata.propagation.max.ms", "1000",
			  errstr, sizeof(errstr));

	for (size_t i = 0; i < p->cfg->kafka.n; i++) {
		const struct rs_prop *pr = &p->cfg->kafka.v[i];

		if (acks != RS_ACKS_ALL &&
		    strcmp(pr->key, "enable.idempotence") == 0)
			continue; /* idempotence needs acks=all */
		if (producer_is_timeout_key(pr->key))
			continue; /* ringsided's (see above) */
		if (p->mock_bootstraps != NULL &&
		    (producer_is_mock_key(pr->key) ||
		     strcmp(pr->key, "bootstrap.servers") == 0))
			continue;
		if (rd_kafka_conf_set(conf, pr->key, pr->value, errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "%s:%d: [kafka] %s: %s",
				 pr->file != NULL ? pr->file : p->cfg->path,
				 pr->line, pr->key, errstr);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if (p->mock_bootstraps != NULL)
		rd_kafka_conf_set(conf, "bootstrap.servers", p->mock_bootstraps,
				  errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "acks", rs_acks_name(acks), errstr,
			  sizeof(errstr));
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR |
					       RD_KAFKA_EVENT_ERROR |
					       RD_KAFKA_EVENT_STATS);
	rd_kafka_conf_set_log_cb(conf, producer_kafka_log);
	return conf;
}

static void producer_on_queue(evutil_socket_t fd, short what, void *arg)
{
	struct rs_class *c = arg;
	eventfd_t v;

	(void)what;
	(void)eventfd_read(fd, &v);
	rs_producer_serve(c->p);
}

static int producer_class_start(struct rs_producer *p, enum rs_acks acks,
				char *err, size_t errlen)
{
	struct rs_class *c = &p->cls[acks];
	static const uint64_t one = 1;
	rd_kafka_conf_t *conf;
	char errstr[512];

	conf = producer_class_conf(p, acks, err, errlen);
	if (conf == NULL)
		return -1;
	c->p = p;
	c->acks = acks;
	c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (c->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, errlen, "%s: librdkafka: %s", p->cfg->path,
			 errstr);
		return -1;
	}
	c->queue = rd_kafka_queue_get_main(c->rk);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	rd_kafka_queue_io_event_enable(c->queue, c->efd, &one, sizeof(one));
	c->ev = event_new(p->base, c->efd, EV_READ | EV_PERSIST,
			  producer_on_queue, c);
	if (c->ev == NULL || event_add(c->ev, NULL) < 0) {
		snprintf(err, errlen, "libevent: cannot watch the queue");
		return -1;
	}
	if (p->mock_bootstraps == NULL && rd_kafka_handle_mock_cluster(c->rk)) {
		const char *b = rd_kafka_mock_cluster_bootstraps(
			rd_kafka_handle_mock_cluster(c->rk));

		p->mock_bootstraps = strdup(b);
		if (p->mock_bootstraps == NULL)
			fatal("strdup");
		c->owns_mock = 1;
		log_notice("embedded mock Kafka cluster at %s (test only: "
			   "records live in memory)",
			   b);
	}
	log_info("producer %s for acks=%s", rd_kafka_name(c->rk),
		 rs_acks_name(acks));
	return 0;
}

/* The acks classes the config can reach: every listed topic's, and the
 * defaults' for unlisted ones. */
static void producer_classes_needed(const struct rs_config *cfg,
				    int need[RS_ACKS_N])
{
	struct rs_topic_policy pol;

	for (int i = 0; i < RS_ACKS_N; i++)
		need[i] = 0;
	if (cfg->defaults != NULL) {
		rs_config_topic(cfg, "", &pol); /* "" is never listed */
		need[pol.acks] = 1;
	}
	for (size_t i = 0; i < cfg->ntopics; i++) {
		rs_config_topic(cfg, cfg->topics[i].name, &pol);
		need[pol.acks] = 1;
	}
}

/* librdkafka's own timeout is left infinite unless the operator asks for
 * one; say what that choice costs. */
static void producer_warn_timeouts(const struct rs_config *cfg)
{
	int set = 0;

	for (size_t i = 0; i < cfg->kafka.n; i++)
		set |= producer_is_timeout_key(cfg->kafka.v[i].key);
	for (size_t t = 0; t <= cfg->ntopics; t++) {
		const struct rs_topic_config *tc =
			t < cfg->ntopics ? &cfg->topics[t] : cfg->defaults;

		for (size_t i = 0; tc != NULL && i < tc->props.n; i++)
			set |= producer_is_timeout_key(tc->props.v[i].key);
	}
	if (set)
		log_notice("message.timeout.ms is set: ringsided moves a "
			   "producer's records into the spool once one has "
			   "waited that long in librdkafka (which is not given "
			   "the timeout: its own leaves gaps in a partition), "
			   "and counts the in-flight ones as possible "
			   "duplicates");
}

int rs_producer_new(const struct rs_config *cfg, struct event_base *base,
		    rs_dr_fn dr, rs_dr_batch_fn batch, void *arg,
		    struct rs_producer **pp, char *err, size_t errlen)
{
	struct rs_producer *p = calloc(1, sizeof(*p));
	int need[RS_ACKS_N],
		order[RS_ACKS_N] = { RS_ACKS_ALL, RS_ACKS_1, RS_ACKS_0 };

	if (p == NULL)
		fatal("calloc");
	if (!producer_names_brokers(cfg)) {
		/* librdkafka would start, log a notice, and hold every
		 * record until its timeout */
		snprintf(err, errlen,
			 "%s: [kafka] names no bootstrap.servers: write the "
			 "brokers to contact first (bootstrap.servers = "
			 "host1:9092,host2:9092)",
			 cfg->path);
		free(p);
		return -1;
	}
	p->cfg = cfg;
	p->base = base;
	p->dr = dr;
	p->batch = batch;
	p->arg = arg;
	p->first = -1;
	for (int i = 0; i < RS_ACKS_N; i++)
		p->cls[i].efd = -1;
	producer_classes_needed(cfg, need);
	for (int i = 0; i < RS_ACKS_N; i++) {
		if (!need[order[i]])
			continue;
		if (producer_class_start(p, order[i], err, errlen) < 0) {
			rs_producer_free(p);
			return -1;
		}
		if (p->first < 0)
			p->first = order[i];
	}
	if (p->first < 0)
		log_warnx("%s lists no topics and has no [topic:*]: no client "
			  "can send anything",
			  cfg->path);
	producer_warn_timeouts(cfg);
	*pp = p;
	return 0;
}

static void producer_class_free(struct rs_class *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->queue != NULL) {
		rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
		rd_kafka_queue_destroy(c->queue);
	}
	if (c->rk != NULL)
		rd_kafka_destroy(c->rk);
	if (c->efd >= 0)
		close(c->efd);
	memset(c, 0, sizeof(*c));
	c->efd = -1;
}

void rs_producer_free(struct rs_producer *p)
{
	struct rs_class *mock = NULL;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ntopics; i++)
		producer_topic_free(p->topics[i]);
	free(p->topics);
	/* the instance that owns the embedded mock cluster goes last */
	while (p->retired != NULL) {
		struct rs_class *c = p->retired;

		p->retired = c->next;
		if (c->owns_mock) {
			mock = c;
			continue;
		}
		producer_class_free(c);
		free(c);
	}
	for (int i = 0; i < RS_ACKS_N; i++)
		if (!p->cls[i].owns_mock)
			producer_class_free(&p->cls[i]);
	for (int i = 0; i < RS_ACKS_N; i++)
		producer_class_free(&p->cls[i]);
	if (mock != NULL) {
		producer_class_free(mock);
		free(mock);
	}
	free(p->mock_bootstraps);
	free(p->msgs);
	free(p);
}

int rs_producer_send(struct rs_producer *p, struct rs_record *rec,
		     struct rs_outcome *o)
{
	const struct rs_frame *f = &rec->frame;
	struct rs_topic *t = rec->topic;
	struct rs_class *c = &p->cls[t->acks];
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_vu_t vu[7];
	rd_kafka_error_t *error;
	rd_kafka_resp_err_t err;
	size_t n = 0;

	if (c->rk == NULL || c->fatal)
		return RS_SEND_AGAIN; /* being replaced */
	vu[n].vtype = RD_KAFKA_VTYPE_RKT;
	vu[n++].u.rkt = t->rkt;
	vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
	vu[n++].u.i32 = f->partition;
	vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vu[n].u.mem.ptr = (void *)(uintptr_t)f->value; /* only read */
	vu[n++].u.mem.size = f->value_len;
	vu[n].vtype = RD_KAFKA_VTYPE_KEY;
	vu[n].u.mem.ptr = (void *)(uintptr_t)f->key; /* copied */
	vu[n++].u.mem.size = f->key_len;
	vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
	vu[n++].u.i64 = rec->frame.timestamp;
	vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
	vu[n++].u.ptr = rec;
	if (f->header_count > 0) {
		struct rs_frame_header h;
		uint32_t pos = 0;

		hdrs = rd_kafka_headers_new(f->header_count);
		while (rs_frame_header_next(f, &pos, &h))
			rd_kafka_header_add(
				hdrs, h.name, h.name_len, h.value,
				h.value == NULL ? 0 : (ssize_t)h.value_len);
		vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
		vu[n++].u.headers = hdrs;
	}
	/* msgflags 0: librdkafka neither copies nor frees the value; the
	 * record owns it until its delivery report */
	error = rd_kafka_produceva(c->rk, vu, n);
	if (error == NULL) {
		t->inflight++;
		p->inflight++;
		return RS_SEND_OK;
	}
	err = rd_kafka_error_code(error);
	rd_kafka_error_destroy(error);
	if (hdrs != NULL)
		rd_kafka_headers_destroy(hdrs);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return RS_SEND_FULL;
	if (rs_kafka_err_class(err) == RS_ERR_PRODUCER) {
		/* replaced at the next serve; the record waits for it */
		c->fatal = 1;
		return RS_SEND_AGAIN;
	}
	if (rs_kafka_err_class(err) != RS_ERR_PERMANENT)
		return RS_SEND_AGAIN;
	rs_outcome_from_kafka(err, RD_KAFKA_MSG_STATUS_NOT_PERSISTED, t->acks,
			      o);
	o->partition = f->partition;
	o->offset = -1;
	o->timestamp = rec->frame.timestamp;
	return RS_SEND_FAILED;
}

uint64_t rs_producer_inflight(const struct rs_producer *p)
{
	return p->inflight;
}

/* A broker refuses a whole batch with MESSAGE_TOO_LARGE when the batch
 * is over the topic's max.message.bytes, so records that would fit alone
 * fail with the one that does not (librdkafka 2.0.2 does not split a
 * batch, as the Java producer does). Of the records of one report event
 * that failed so, the largest fails for good; each of the others is
 * produced again, up to RS_SIZE_RETRIES times. Each round fails at
 * least one record, so it ends; a record that failed alone fails for
 * good. */
#define RS_SIZE_RETRIES 3

static size_t producer_msg_size(const rd_kafka_message_t *m)
{
	return m->len + m->key_len;
}

static const rd_kafka_message_t *
producer_size_culprit(const rd_kafka_message_t **msgs, size_t n,
		      size_t *nfailed)
{
	const rd_kafka_message_t *big = NULL;

	*nfailed = 0;
	for (size_t i = 0; i < n; i++) {
		if (msgs[i]->err != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
			continue;
		(*nfailed)++;
		if (big == NULL ||
		    producer_msg_size(msgs[i]) > producer_msg_size(big))
			big = msgs[i];
	}
	return big;
}

/* The event's messages, in p's array (grown as needed); NULL if it
 * cannot grow, and then they are taken one at a time. */
static const rd_kafka_message_t **
producer_event_messages(struct rs_producer *p, rd_kafka_event_t *ev, size_t *n)
{
	size_t count = rd_kafka_event_message_count(ev);

	if (count > p->msgs_cap) {
		const rd_kafka_message_t **more =
			realloc(p->msgs, count * sizeof(*more));

		if (more == NULL)
			return NULL;
		p->msgs = more;
		p->msgs_cap = count;
	}
	*n = rd_kafka_event_message_array(ev, p->msgs, count);
	return p->msgs;
}

static void producer_deliver_one(struct rs_producer *p,
				 const rd_kafka_message_t *m, int resend)
{
	struct rs_record *rec = m->_private;
	struct rs_topic *t = rec->topic;
	struct rs_outcome o;

	t->inflight--;
	p->inflight--;
	if (resend && rec->size_retries < RS_SIZE_RETRIES &&
	    rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED) {
		rec->size_retries++;
		p->size_retries++;
		if (rs_producer_send(p, rec, &o) == RS_SEND_OK)
			return;
	}
	rs_outcome_from_kafka(m->err, rd_kafka_message_status(m), t->acks, &o);
	o.partition = m->partition;
	o.offset = m->offset >= 0 ? m->offset : -1;
	o.timestamp = rec->frame.timestamp;
	p->dr(rec, &o, p->arg);
}

static void producer_deliver(struct rs_producer *p, rd_kafka_event_t *ev)
{
	const rd_kafka_message_t **msgs, *m, *culprit;
	size_t n = 0, nfailed;

	p->served += rd_kafka_event_message_count(ev);
	msgs = producer_event_messages(p, ev, &n);
	if (msgs == NULL) {
		while ((m = rd_kafka_event_message_next(ev)) != NULL)
			producer_deliver_one(p, m, 0);
		return;
	}
	culprit = producer_size_culprit(msgs, n, &nfailed);
	if (nfailed > 1)
		log_info("topic %s: the broker refused a batch of %zu records "
			 "as too large; the largest (%zu bytes) fails, the "
			 "others go again",
			 rd_kafka_topic_name(culprit->rkt), nfailed,
			 producer_msg_size(culprit));
	for (size_t i = 0; i < n; i++)
		producer_deliver_one(
			p, msgs[i],
			nfailed > 1 && msgs[i] != culprit &&
				msgs[i]->err ==
					RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
}

/* 0 once this rs_producer_serve() is at its budget or out of time. */
static int producer_serve_on(struct rs_producer *p)
{
	if (p->served >= RS_SERVE_BUDGET || rs_now_us() >= p->serve_until)
		p->serve_cut = 1;
	return !p->serve_cut;
}

static void producer_serve_class(struct rs_producer *p, struct rs_class *c)
{
	rd_kafka_event_t *ev;

	/* an event is served whole: the budget may be passed by one */
	while (producer_serve_on(p) &&
	       (ev = rd_kafka_queue_poll(c->queue, 0)) != NULL) {
		switch (rd_kafka_event_type(ev)) {
		case RD_KAFKA_EVENT_DR:
			producer_deliver(p, ev);
			break;
		case RD_KAFKA_EVENT_STATS:
			if (rs_kstats_parse(rd_kafka_event_stats(ev),
					    &c->stats) < 0)
				log_debug("kafka %s: unreadable statistics",
					  rd_kafka_name(c->rk));
			break;
		case RD_KAFKA_EVENT_ERROR:
			log_msg(rd_kafka_event_error_is_fatal(ev) ? RS_LOG_ERR
								  : RS_LOG_WARN,
				"kafka %s: %s%s", rd_kafka_name(c->rk),
				rd_kafka_event_error_is_fatal(ev) ? "fatal: "
								  : "",
				rd_kafka_event_error_string(ev));
			if (rd_kafka_event_error_is_fatal(ev))
				c->fatal = 1;
			break;
		default:
			break;
		}
		rd_kafka_event_destroy(ev);
	}
}

/* Points topic t at the instance now serving its acks class. */
static int producer_topic_rebind(struct rs_producer *p, struct rs_topic *t,
				 char *err, size_t errlen)
{
	return rs_producer_topic_acks(p, t, t->acks, err, errlen);
}

/*
 * Replaces the instance of class acks after a fatal error: a new one
 * takes the class's topics, the old one is purged (its records come back
 * with retriable reports, and are sent again in order through the spool)
 * and kept until they have all come back.
 */
static void producer_class_replace(struct rs_producer *p, enum rs_acks acks)
{
	struct rs_class *c = &p->cls[acks], *old = malloc(sizeof(*old));
	char reason[512] = "", err[600];
	rd_kafka_resp_err_t code;

	if (old == NULL)
		fatal("malloc");
	code = rd_kafka_fatal_error(c->rk, reason, sizeof(reason));
	*old = *c;
	old->fatal = 0;
	/* its queue's wake-ups now serve the retired instance */
	event_free(old->ev);
	old->ev = event_new(p->base, old->efd, EV_READ | EV_PERSIST,
			    producer_on_queue, old);
	if (old->ev == NULL || event_add(old->ev, NULL) < 0)
		fatalx("libevent: cannot watch a retired producer's queue");
	old->next = p->retired;
	p->retired = old;
	memset(c, 0, sizeof(*c));
	c->efd = -1;
	p->replacements++;
	log_msg(RS_LOG_ERR,
		"kafka %s (acks=%s) had a fatal error (%s: %s): replacing it; "
		"the %llu records it holds are sent again through the new one",
		rd_kafka_name(old->rk), rs_acks_name(acks),
		rd_kafka_err2name(code), reason,
		(unsigned long long)rd_kafka_outq_len(old->rk));
	if (producer_class_start(p, acks, err, sizeof(err)) < 0) {
		/* retried at the next serve; sends wait meanwhile */
		log_warnx("cannot start a new acks=%s producer: %s",
			  rs_acks_name(acks), err);
		producer_class_free(c);
		p->restart[acks] = 1;
	} else {
		for (size_t i = 0; i < p->ntopics; i++)
			if (p->topics[i]->acks == acks &&
			    producer_topic_rebind(p, p->topics[i], err,
						  sizeof(err)) < 0)
				log_warnx("topic %s: %s", p->topics[i]->name,
					  err);
	}
	(void)rd_kafka_purge(old->rk, RD_KAFKA_PURGE_F_QUEUE |
					      RD_KAFKA_PURGE_F_INFLIGHT);
	if (p->on_fatal != NULL)
		p->on_fatal(acks, p->on_fatal_arg);
}

/* Frees retired instances whose every record has been reported. */
static void producer_reap_retired(struct rs_producer *p)
{
	struct rs_class **pp = &p->retired;

	while (*pp != NULL) {
		struct rs_class *c = *pp;

		if (c->owns_mock || rd_kafka_outq_len(c->rk) > 0) {
			pp = &c->next;
			continue;
		}
		log_info("kafka %s: every record it held is reported; "
			 "destroyed",
			 rd_kafka_name(c->rk));
		*pp = c->next;
		producer_class_free(c);
		free(c);
	}
}

int rs_producer_serve(struct rs_producer *p)
{
	struct rs_class *r;
	int more;

	p->served = 0;
	p->serve_until = rs_now_us() + RS_SERVE_US;
	p->serve_cut = 0;
	for (int i = 0; i < RS_ACKS_N; i++)
		if (p->cls[i].rk != NULL)
			producer_serve_class(p, &p->cls[i]);
	for (r = p->retired; r != NULL; r = r->next)
		producer_serve_class(p, r);
	for (int i = 0; i < RS_ACKS_N; i++) {
		if (p->cls[i].rk != NULL && p->cls[i].fatal) {
			producer_class_replace(p, (enum rs_acks)i);
		} else if (p->cls[i].rk == NULL && p->restart[i]) {
			char err[600];

			/* a replacement that could not start: again */
			if (producer_class_start(p, (enum rs_acks)i, err,
						 sizeof(err)) < 0) {
				producer_class_free(&p->cls[i]);
				continue;
			}
			p->restart[i] = 0;
			for (size_t t = 0; t < p->ntopics; t++)
				if (p->topics[t]->acks == (enum rs_acks)i)
					(void)producer_topic_rebind(
						p, p->topics[t], err,
						sizeof(err));
		}
	}
	/* at the budget, some queue may still hold events: the next pass
	 * looks (librdkafka writes a queue's eventfd once until then) */
	more = p->serve_cut;
	producer_reap_retired(p);
	p->batch(p->arg, more);
	return more;
}

void rs_producer_on_fatal(struct rs_producer *p, rs_fatal_fn fn, void *arg)
{
	p->on_fatal = fn;
	p->on_fatal_arg = arg;
}

uint64_t rs_producer_replacements(const struct rs_producer *p)
{
	return p->replacements;
}

void rs_producer_flush(struct rs_producer *p, int timeout_ms)
{
	for (int i = 0; i < RS_ACKS_N; i++)
		if (p->cls[i].rk != NULL && rd_kafka_outq_len(p->cls[i].rk) > 0)
			(void)rd_kafka_flush(p->cls[i].rk, timeout_ms);
}

static void producer_purge_retired(struct rs_producer *p)
{
	for (struct rs_class *r = p->retired; r != NULL; r = r->next)
		(void)rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE |
						    RD_KAFKA_PURGE_F_INFLIGHT);
}

void rs_producer_purge_class(struct rs_producer *p, enum rs_acks acks,
			     int inflight)
{
	if (p->cls[acks].rk != NULL)
		(void)rd_kafka_purge(
			p->cls[acks].rk,
			RD_KAFKA_PURGE_F_QUEUE |
				(inflight ? RD_KAFKA_PURGE_F_INFLIGHT : 0));
}

void rs_producer_purge(struct rs_producer *p)
{
	producer_purge_retired(p);
	for (int i = 0; i < RS_ACKS_N; i++)
		if (p->cls[i].rk != NULL)
			(void)rd_kafka_purge(p->cls[i].rk,
					     RD_KAFKA_PURGE_F_QUEUE |
						     RD_KAFKA_PURGE_F_INFLIGHT);
}

int rs_producer_reconfigure(struct rs_producer *p, const struct rs_config *cfg,
			    char *err, size_t errlen)
{
	const struct rs_config *old = p->cfg;
	int need[RS_ACKS_N];

	p->cfg = cfg;
	producer_classes_needed(cfg, need);
	for (int i = 0; i < RS_ACKS_N; i++) {
		if (!need[i] || p->cls[i].rk != NULL)
			continue;
		if (producer_class_start(p, (enum rs_acks)i, err, errlen) < 0) {
			producer_class_free(&p->cls[i]);
			p->cfg = old;
			return -1;
		}
		if (p->first < 0)
			p->first = i;
	}
	return 0;
}

const struct rs_kstats *rs_producer_kstats(const struct rs_producer *p,
					   enum rs_acks acks, const char **name)
{
	const struct rs_class *c = &p->cls[acks];

	if (c->rk == NULL)
		return NULL;
	*name = rd_kafka_name(c->rk);
	return &c->stats;
}
