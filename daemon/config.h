/* SPDX-License-Identifier: MIT */
/*
 * config.h: ringside.ini, parsed and checked once. The rest of the daemon
 * sees only validated values; librdkafka properties are kept as text (with
 * their line numbers) because they are applied to several producers.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "acl.h"

enum rs_acks { RS_ACKS_0 = 0, RS_ACKS_1 = 1, RS_ACKS_ALL = 2 };
#define RS_ACKS_N 3

enum rs_reports { RS_REPORTS_ALL = 0, RS_REPORTS_ERRORS, RS_REPORTS_NONE };

struct rs_prop {
	char *key;
	char *value;
	char *file; /* the included file it came from; NULL: the config */
	int line;
};

struct rs_props {
	struct rs_prop *v;
	size_t n;
	size_t cap;
};

/* One [topic:NAME] or [topic:*] section. acks and reports are -1 when the
 * section does not set them. */
struct rs_topic_config {
	char *name;
	int line;
	int acks;
	int reports;
	int write_ahead;       /* -1 unset, 0, 1 */
	int64_t backlog_bytes; /* -1 unset */
	int64_t backlog_ms;    /* -1 unset */
	struct rs_acl acl;     /* who may send to it */
	struct rs_props props; /* librdkafka topic properties */
};

enum rs_fsync_policy { RS_SYNC_ALWAYS, RS_SYNC_INTERVAL, RS_SYNC_NEVER };

/* Owns every string and array it points to; rs_config_free() frees all. */
struct rs_config {
	char *path;

	/* [ringside] */
	char *socket_path;
	unsigned int socket_mode;
	char *socket_group; /* NULL: the daemon's group */
	gid_t socket_gid;
	uint32_t ring_size;
	uint32_t reply_slots;
	uint32_t max_record_bytes;
	uint32_t report_backlog;
	uint32_t max_sessions;
	uint32_t max_sessions_per_uid;
	uint32_t max_records_per_second; /* per session; 0: no limit */
	uint32_t max_topics;
	uint32_t max_topics_per_uid; /* topics one uid's sessions brought in */
	uint32_t drain_interval_us;
	uint32_t idle_linger_ms;
	uint32_t shutdown_timeout_ms;
	int log_level;
	char *spool_dir;
	enum rs_fsync_policy spool_fsync;
	uint32_t spool_fsync_ms; /* with RS_SYNC_INTERVAL */
	uint64_t spool_max_bytes;
	uint64_t spool_segment_bytes;
	int spool_drop_oldest;
	struct rs_acl acl;  /* who may open a session */
	char *metrics_host; /* NULL: no metrics endpoint */
	uint16_t metrics_port;

	/* [kafka] */
	struct rs_props kafka;

	/* [topic:*] (NULL if absent) and every [topic:NAME] */
	struct rs_topic_config *defaults;
	struct rs_topic_config *topics;
	size_t ntopics;
};

/* What applies to one topic: its section over [topic:*] over built-ins. */
struct rs_topic_policy {
	enum rs_acks acks;
	enum rs_reports reports;
	int write_ahead;
	uint64_t backlog_bytes;
	uint32_t backlog_ms;
	const struct rs_acl *acl; /* NULL: anyone with a session */
	const struct rs_topic_config *defaults; /* may be NULL */
	const struct rs_topic_config *section;	/* may be NULL */
};

/*
 * Parses and validates path. On failure returns -1 and writes one
 * "path:line: message" line per problem found into err.
 */
int rs_config_load(const char *path, struct rs_config **cfgp, char *err,
		   size_t errlen);
void rs_config_free(struct rs_config *cfg);

/* Returns 0 and fills policy if the topic may be used, -1 if the config
 * neither lists it nor has [topic:*]. */
int rs_config_topic(const struct rs_config *cfg, const char *name,
		    struct rs_topic_policy *policy);

const char *rs_acks_name(enum rs_acks acks);
const char *rs_reports_name(enum rs_reports reports);

#endif
