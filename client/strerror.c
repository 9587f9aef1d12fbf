/* SPDX-License-Identifier: MIT */
/*
 * strerror.c: one sentence per error code, for ringside_strerror(); and
 * ringside_version().
 */
#include <string.h>

#include "ringside.h"

static const struct {
	int code;
	const char *text;
} messages[] = {
	{ RINGSIDE_EFULL, "ring full: the daemon has not freed space yet" },
	{ RINGSIDE_ETOOBIG, "record too large for the daemon's limit" },
	{ RINGSIDE_ENOTCONN, "not connected to ringsided" },
	{ RINGSIDE_EINVAL, "invalid argument" },
	{ RINGSIDE_ETOPIC, "topic unknown or not allowed" },
	{ RINGSIDE_EPROTO, "protocol violation or version mismatch" },
	{ RINGSIDE_EDENIED, "not allowed by ringsided's configuration" },
	{ RINGSIDE_ELIMIT, "a ringsided limit was reached" },
	{ RINGSIDE_ETIMEDOUT, "ringsided did not answer in time" },
	{ RINGSIDE_EDROPPED, "every record is finished, but some reports "
			     "were dropped (the reply queue was full)" },
	{ RINGSIDE_EMSG_TIMEOUT, "not delivered before message.timeout.ms" },
	{ RINGSIDE_ERECORD_TOO_LARGE, "the broker refused the record's size" },
	{ RINGSIDE_EUNKNOWN_TOPIC, "the topic or partition does not exist" },
	{ RINGSIDE_EAUTH, "not authorized to write to the topic" },
	{ RINGSIDE_ESHUTDOWN, "ringsided stopped before the record was "
			      "delivered" },
	{ RINGSIDE_EKAFKA, "Kafka error: see the report's kafka_error" },
};

const char *ringside_strerror(int err)
{
	if (err == 0)
		return "success";
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (messages[i].code == err)
			return messages[i].text;
	if (err < 0 && err > -1000)
		return strerror(-err);
	return "unknown error";
}

const char *ringside_version(void)
{
	return PACKAGE_VERSION;
}
