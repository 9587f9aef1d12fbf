/* SPDX-License-Identifier: MIT */
/*
 * kstats.c: reads librdkafka's statistics JSON with json-c. The document
 * is large (every partition of every topic) and only a few fields matter;
 * a real parser is used because its layout is librdkafka's, not ours.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "kstats.h"

static int64_t kstats_get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	return json_object_get_int64(v);
}

static void kstats_get_str(struct json_object *o, const char *key, char *buf,
			   size_t size)
{
	struct json_object *v;
	const char *s = NULL;

	if (json_object_object_get_ex(o, key, &v))
		s = json_object_get_string(v);
	snprintf(buf, size, "%s", s != NULL ? s : "");
}

static void kstats_broker(struct json_object *o, struct rs_kbroker *b)
{
	struct json_object *rtt;

	memset(b, 0, sizeof(*b));
	kstats_get_str(o, "name", b->name, sizeof(b->name));
	kstats_get_str(o, "state", b->state, sizeof(b->state));
	b->nodeid = (int32_t)kstats_get_int(o, "nodeid");
	b->outbuf_cnt = kstats_get_int(o, "outbuf_cnt");
	b->waitresp_cnt = kstats_get_int(o, "waitresp_cnt");
	b->tx = kstats_get_int(o, "tx");
	b->txerrs = kstats_get_int(o, "txerrs");
	b->connects = kstats_get_int(o, "connects");
	b->disconnects = kstats_get_int(o, "disconnects");
	if (json_object_object_get_ex(o, "rtt", &rtt)) {
		b->rtt_avg_us = kstats_get_int(rtt, "avg");
		b->rtt_p99_us = kstats_get_int(rtt, "p99");
	}
}

int rs_kstats_parse(const char *json, struct rs_kstats *st)
{
	struct json_object *root = json_tokener_parse(json), *brokers;
	struct rs_kstats n;

	if (root == NULL)
		return -1;
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "brokers", &brokers) ||
	    !json_object_is_type(brokers, json_type_object)) {
		json_object_put(root);
		return -1;
	}
	memset(&n, 0, sizeof(n));
	n.valid = 1;
	n.ts_us = kstats_get_int(root, "ts");
	n.msg_cnt = kstats_get_int(root, "msg_cnt");
	n.msg_size = kstats_get_int(root, "msg_size");
	json_object_object_foreach(brokers, key, val)
	{
		struct json_object *src;

		(void)key;
		/* librdkafka's internal pseudo-broker is not a connection */
		if (json_object_object_get_ex(val, "source", &src) &&
		    strcmp(json_object_get_string(src), "internal") == 0)
			continue;
		n.nbrokers_seen++;
		if (n.nbrokers < RS_KSTATS_BROKERS)
			kstats_broker(val, &n.broker[n.nbrokers++]);
	}
	json_object_put(root);
	*st = n;
	return 0;
}

int rs_kbroker_up(const struct rs_kbroker *b)
{
	return strcmp(b->state, "UP") == 0;
}

uint32_t rs_kstats_up(const struct rs_kstats *st)
{
	uint32_t up = 0;

	for (uint32_t i = 0; i < st->nbrokers; i++)
		up += (uint32_t)rs_kbroker_up(&st->broker[i]);
	return up;
}
