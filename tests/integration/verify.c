/* SPDX-License-Identifier: MIT */
/*
 * verify.c: see verify.h.
 */
#include <stdlib.h>
#include <string.h>

#include "client/ringside.h"
#include "records.h"
#include "verify.h"

void v_init(struct v_ctx *v, unsigned int writers, unsigned int threads,
	    unsigned int per_thread, unsigned int keys,
	    const struct v_topic *topics, unsigned int ntopics)
{
	memset(v, 0, sizeof(*v));
	v->writers = writers;
	v->threads = threads;
	v->per_thread = per_thread;
	v->keys = keys;
	v->topics = topics;
	v->ntopics = ntopics;
	v->recs = calloc((size_t)writers * threads * per_thread,
			 sizeof(*v->recs));
	CHECK(v->recs != NULL, "calloc");
}

void v_free(struct v_ctx *v)
{
	free(v->recs);
}

static struct v_rec *rec_at(struct v_ctx *v, const struct rec_id *id)
{
	if (id->w >= v->writers || id->t >= v->threads ||
	    id->s >= v->per_thread)
		return NULL;
	return &v->recs[((size_t)id->w * v->threads + id->t) * v->per_thread +
			id->s];
}

struct v_rec *v_get(struct v_ctx *v, uint64_t opaque)
{
	struct rec_id id;

	rec_from_opaque(opaque, &id);
	return rec_at(v, &id);
}

static const char *find_header(const struct h_msg *m, const char *name,
			       int *found, size_t *len)
{
	*found = 0;
	for (size_t i = 0; i < m->nheaders; i++) {
		if (strcmp(m->headers[i].name, name) == 0) {
			*found = 1;
			*len = m->headers[i].len;
			return m->headers[i].value;
		}
	}
	return NULL;
}

/* 1 if the message is exactly what its writer sent. */
static int content_ok(struct v_ctx *v, const struct h_msg *m,
		      const struct rec_id *id, unsigned int topic)
{
	char key[REC_KEY_MAX], value[REC_VALUE_MAX], seq[16];
	size_t klen = rec_key(id, v->keys, key);
	size_t vlen = rec_value(id, value);
	const char *hv;
	size_t hlen = 0;
	int found, expect_headers = rec_has_nil_header(id) ? 2 : 1;

	if (strcmp(m->topic, v->topics[id->s % v->ntopics].name) != 0 ||
	    strcmp(m->topic, v->topics[topic].name) != 0)
		return 0;
	if (m->key == NULL || m->key_len != klen ||
	    memcmp(m->key, key, klen) != 0)
		return 0;
	if (m->value == NULL || m->value_len != vlen ||
	    memcmp(m->value, value, vlen) != 0)
		return 0;
	if (m->nheaders != (size_t)expect_headers)
		return 0;
	snprintf(seq, sizeof(seq), "%u", id->s);
	hv = find_header(m, "seq", &found, &hlen);
	if (!found || hv == NULL || hlen != strlen(seq) ||
	    memcmp(hv, seq, hlen) != 0)
		return 0;
	if (expect_headers == 2) {
		hv = find_header(m, "nil", &found, &hlen);
		if (!found || hv != NULL)
			return 0;
	}
	return 1;
}

void v_consume(struct v_ctx *v, struct h_env *e)
{
	size_t nlast = (size_t)v->writers * v->threads * v->keys;
	long long *last = malloc(nlast * sizeof(*last));

	CHECK(last != NULL, "malloc");
	for (unsigned int t = 0; t < v->ntopics; t++) {
		struct h_msg *msgs;
		size_t n = h_consume(e, v->topics[t].name,
				     v->topics[t].partitions, &msgs);

		/* per key, sequence numbers must grow in partition order;
		 * a key lives on one partition, and h_consume returns each
		 * partition in offset order */
		for (size_t i = 0; i < nlast; i++)
			last[i] = -1;
		if (getenv("RS_VERIFY_DUMP") != NULL) {
			long long lo[8], hi[8], cnt[8];

			for (int p = 0; p < 8; p++)
				lo[p] = -1, hi[p] = -1, cnt[p] = 0;
			for (size_t i = 0; i < n; i++) {
				int p = msgs[i].partition & 7;

				if (lo[p] < 0 || msgs[i].offset < lo[p])
					lo[p] = msgs[i].offset;
				if (msgs[i].offset > hi[p])
					hi[p] = msgs[i].offset;
				cnt[p]++;
			}
			for (int p = 0; p < v->topics[t].partitions; p++)
				fprintf(stderr, "dump %s [%d]: %lld records, offsets %lld..%lld\n",
					v->topics[t].name, p, cnt[p], lo[p], hi[p]);
		}
		for (size_t i = 0; i < n; i++) {
			struct rec_id id;
			struct v_rec *r;
			size_t k;

			v->consumed++;
			if (rec_parse_value(msgs[i].value, msgs[i].value_len,
					    &id) < 0 ||
			    (r = rec_at(v, &id)) == NULL ||
			    !content_ok(v, &msgs[i], &id, t)) {
				v->bad_content++;
				fprintf(stderr,
					"unexpected record in %s [%d] @%lld: "
					"%.60s\n",
					msgs[i].topic, msgs[i].partition,
					(long long)msgs[i].offset,
					msgs[i].value ? msgs[i].value
						      : "(null)");
				continue;
			}
			if (r->count++ > 0) {
				v->duplicates++;
				continue;
			}
			r->partition = msgs[i].partition;
			r->offset = msgs[i].offset;
			k = ((size_t)id.w * v->threads + id.t) * v->keys +
			    rec_key_index(&id, v->keys);
			if ((long long)id.s <= last[k]) {
				if (v->order_violations++ < 10)
					fprintf(stderr,
						"order: %s [%d] @%lld: w%u-t%u "
						"seq %u after seq %lld of the "
						"same key\n",
						msgs[i].topic, msgs[i].partition,
						(long long)msgs[i].offset, id.w,
						id.t, id.s, last[k]);
			}
			last[k] = id.s;
		}
		h_msgs_free(msgs, n);
	}
	free(last);
}

unsigned int v_arrived(struct v_ctx *v, unsigned int w, unsigned int t,
		       int *contiguous)
{
	unsigned int n = 0, prefix = 0;
	int gap = 0;

	for (unsigned int s = 0; s < v->per_thread; s++) {
		struct rec_id id = { .w = w, .t = t, .s = s };
		struct v_rec *r = rec_at(v, &id);

		if (r->count > 0) {
			n++;
			if (!gap)
				prefix++;
		} else {
			gap = 1;
		}
	}
	*contiguous = prefix == n;
	return n;
}

const char *v_report_matches(struct v_ctx *v, const struct h_report *r)
{
	struct rec_id id;
	struct v_rec *rec;
	const struct v_topic *topic;

	rec_from_opaque(r->opaque, &id);
	rec = rec_at(v, &id);
	if (rec == NULL)
		return "report for a record never sent";
	topic = &v->topics[id.s % v->ntopics];
	if (strcmp(r->topic, topic->name) != 0)
		return "report names the wrong topic";
	if (r->status != 0)
		return "report is a failure";
	if (rec->count == 0)
		return "reported delivered, but not in Kafka";
	if (r->partition != rec->partition)
		return "reported partition differs from Kafka's";
	if (topic->acks == 0) {
		if (r->stage != RINGSIDE_STAGE_SENT)
			return "acks=0 report not at stage SENT";
		return NULL;
	}
	if (r->offset != rec->offset)
		return "reported offset differs from Kafka's";
	if (r->persistence != RINGSIDE_PERSISTED)
		return "acked record not PERSISTED";
	if (r->stage != RINGSIDE_STAGE_ACKED)
		return "acked record not at stage ACKED";
	return NULL;
}
