/* SPDX-License-Identifier: MIT */
/*
 * record.c: the end of a record's life. A record can be held by several
 * owners at once (its ring list, librdkafka, a topic list, the spool's
 * commit list); the last one to let go frees it.
 */
#include <stdlib.h>

#include "record.h"

void rs_record_release(struct rs_record *rec)
{
	if (rec->in_ring || rec->in_kafka || rec->in_wait ||
	    rec->list != RS_LIST_NONE)
		return;
	free(rec);
}
