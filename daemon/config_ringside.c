/* SPDX-License-Identifier: MIT */
/*
 * config_ringside.c: the [ringside] section of ringside.ini. Each key is a
 * row of ringside_keys[] (its setter, where it is stored, its range);
 * the setters parse sizes, numbers, octal modes, group names, log levels,
 * the spool's policies and ADDRESS:PORT, and report errors with the
 * line they are on. config.c reads the file and hands each [ringside]
 * line to config_ringside_key().
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "client/ringside_proto.h"
#include "config_impl.h"
#include "log.h"

/* A decimal number with an optional binary suffix: K, M, G (or KiB...). */
int config_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1ULL << 10;
			break;
		case 'm':
		case 'M':
			mult = 1ULL << 20;
			break;
		case 'g':
		case 'G':
			mult = 1ULL << 30;
			break;
		default:
			return -1;
		}
		end++;
		if (strcmp(end, "iB") != 0 && strcmp(end, "B") != 0 &&
		    *end != '\0')
			return -1;
	}
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int config_parse_uint(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Where the parser remembers the line of a key that a later check
 * (after the whole file is read) names in its message. */
#define LINE_OF(field) offsetof(struct config_parser, field)

struct ringside_key;
/* Parses value for key k and stores it: 0, or -1 after config_perr(). */
typedef int (*config_set_fn)(struct config_parser *p,
			     const struct ringside_key *k, const char *value);

/*
 * The [ringside] keys. For each: its name; set, the function that parses
 * the value (a size such as 4M, a number, a string, an octal mode, a group
 * name, a log level, a spool_fsync policy, a spool_full policy, an
 * ADDRESS:PORT) and stores it; off, where in struct rs_config, for the
 * setters that take it (the others say where they store); min and max, the
 * range of a number (for spool_fsync, of its milliseconds); pow2, a number
 * that must be a power of two; line, where the parser keeps the key's line
 * number for the checks that need both ends of a file (0: none).
 */
struct ringside_key {
	const char *name;
	config_set_fn set;
	size_t off;
	uint64_t min;
	uint64_t max;
	int pow2;
	size_t line;
};

static void *config_field(struct config_parser *p, const struct ringside_key *k)
{
	return (char *)p->cfg + k->off;
}

static int config_range(struct config_parser *p, const struct ringside_key *k,
			uint64_t v)
{
	if (v < k->min || v > k->max) {
		config_perr(p, p->line, "%s: %llu is out of range [%llu, %llu]",
			    k->name, (unsigned long long)v,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
		return -1;
	}
	if (k->pow2 && !ringside_is_pow2(v)) {
		config_perr(p, p->line, "%s: %llu is not a power of two",
			    k->name, (unsigned long long)v);
		return -1;
	}
	return 0;
}

static int config_set_string(struct config_parser *p,
			     const struct ringside_key *k, const char *value)
{
	char **dst = config_field(p, k);

	if (*value == '\0') {
		config_perr(p, p->line, "%s: empty value", k->name);
		return -1;
	}
	free(*dst);
	*dst = config_xstrdup(value);
	return 0;
}

/* socket_mode */
static int config_set_mode(struct config_parser *p,
			   const struct ringside_key *k, const char *value)
{
	char *end;
	unsigned long m;

	errno = 0;
	m = strtoul(value, &end, 8);
	if (*value == '\0' || *end != '\0' || errno != 0 || m > k->max) {
		config_perr(p, p->line,
			    "%s: '%s' is not an octal mode (e.g. 0660)",
			    k->name, value);
		return -1;
	}
	p->cfg->socket_mode = (unsigned int)m;
	return 0;
}

/* socket_group */
static int config_set_group(struct config_parser *p,
			    const struct ringside_key *k, const char *value)
{
	struct group *gr = getgrnam(value);

	if (gr == NULL) {
		config_perr(p, p->line, "%s: no group named '%s'", k->name,
			    value);
		return -1;
	}
	free(p->cfg->socket_group);
	p->cfg->socket_group = config_xstrdup(value);
	p->cfg->socket_gid = gr->gr_gid;
	return 0;
}

static int config_set_log_level(struct config_parser *p,
				const struct ringside_key *k, const char *value)
{
	if (log_level_parse(value, &p->cfg->log_level) < 0) {
		config_perr(
			p, p->line,
			"%s: '%s' is not one of error, warning, notice, info, "
			"debug",
			k->name, value);
		return -1;
	}
	return 0;
}

/* spool_fsync: always, never, or an interval in ms */
static int config_set_fsync(struct config_parser *p,
			    const struct ringside_key *k, const char *value)
{
	uint64_t v;

	if (strcmp(value, "always") == 0) {
		p->cfg->spool_fsync = RS_SYNC_ALWAYS;
	} else if (strcmp(value, "never") == 0) {
		p->cfg->spool_fsync = RS_SYNC_NEVER;
	} else if (config_parse_uint(value, &v) == 0 && v >= k->min &&
		   v <= k->max) {
		p->cfg->spool_fsync = RS_SYNC_INTERVAL;
		p->cfg->spool_fsync_ms = (uint32_t)v;
	} else {
		config_perr(p, p->line,
			    "%s: '%s' is not always, never or a number of "
			    "milliseconds (%llu..%llu)",
			    k->name, value, (unsigned long long)k->min,
			    (unsigned long long)k->max);
		return -1;
	}
	return 0;
}

/* spool_full */
static int config_set_full(struct config_parser *p,
			   const struct ringside_key *k, const char *value)
{
	if (strcmp(value, "block") == 0) {
		p->cfg->spool_drop_oldest = 0;
	} else if (strcmp(value, "drop_oldest") == 0) {
		p->cfg->spool_drop_oldest = 1;
	} else {
		config_perr(p, p->line, "%s: '%s' is not block or drop_oldest",
			    k->name, value);
		return -1;
	}
	return 0;
}

static int config_set_size64(struct config_parser *p,
			     const struct ringside_key *k, const char *value)
{
	uint64_t v;

	if (config_parse_size(value, &v) < 0) {
		config_perr(p, p->line, "%s: '%s' is not a size (e.g. 4G)",
			    k->name, value);
		return -1;
	}
	if (config_range(p, k, v) < 0)
		return -1;
	*(uint64_t *)config_field(p, k) = v;
	return 0;
}

/* a size (4M) or a plain number, into a uint32_t */
static int config_set_u32(struct config_parser *p, const struct ringside_key *k,
			  const char *value, int size)
{
	uint64_t v;

	if ((size ? config_parse_size(value, &v)
		  : config_parse_uint(value, &v)) < 0) {
		config_perr(p, p->line, "%s: '%s' is not a %s", k->name, value,
			    size ? "size (e.g. 4M)" : "number");
		return -1;
	}
	if (config_range(p, k, v) < 0)
		return -1;
	*(uint32_t *)config_field(p, k) = (uint32_t)v;
	return 0;
}

static int config_set_size(struct config_parser *p,
			   const struct ringside_key *k, const char *value)
{
	return config_set_u32(p, k, value, 1);
}

static int config_set_uint(struct config_parser *p,
			   const struct ringside_key *k, const char *value)
{
	return config_set_u32(p, k, value, 0);
}

/* "127.0.0.1:9464" or "[::1]:9464": a literal address (no name lookup at
 * start-up) and a port. 0, or -1. */
static int config_parse_listen(const char *value, char **host, uint16_t *port)
{
	const char *colon = strrchr(value, ':');
	char addr[INET6_ADDRSTRLEN + 2];
	unsigned char bin[sizeof(struct in6_addr)];
	uint64_t v;
	size_t len;

	if (colon == NULL || config_parse_uint(colon + 1, &v) < 0 || v == 0 ||
	    v > 65535)
		return -1;
	len = (size_t)(colon - value);
	if (len >= 2 && value[0] == '[' && value[len - 1] == ']') {
		value++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, value, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 &&
	    inet_pton(AF_INET6, addr, bin) != 1)
		return -1;
	free(*host);
	*host = config_xstrdup(addr);
	*port = (uint16_t)v;
	return 0;
}

/* metrics_listen */
static int config_set_listen(struct config_parser *p,
			     const struct ringside_key *k, const char *value)
{
	if (config_parse_listen(value, &p->cfg->metrics_host,
				&p->cfg->metrics_port) < 0) {
		config_perr(
			p, p->line,
			"%s: '%s' is not ADDRESS:PORT (e.g. 127.0.0.1:9464 or "
			"[::1]:9464)",
			k->name, value);
		return -1;
	}
	return 0;
}

static const struct ringside_key ringside_keys[] = {
	{ "socket", config_set_string, offsetof(struct rs_config, socket_path),
	  0, 0, 0, LINE_OF(socket_line) },
	{ "socket_mode", config_set_mode,
	  offsetof(struct rs_config, socket_mode), 0, 0777, 0, 0 },
	{ "socket_group", config_set_group, 0, 0, 0, 0, 0 },
	{ "ring_size", config_set_size, offsetof(struct rs_config, ring_size),
	  RINGSIDE_RING_MIN, RINGSIDE_RING_MAX, 1, LINE_OF(ring_size_line) },
	{ "reply_slots", config_set_uint,
	  offsetof(struct rs_config, reply_slots), RINGSIDE_REPLY_MIN,
	  RINGSIDE_REPLY_MAX, 1, 0 },
	{ "max_record_bytes", config_set_size,
	  offsetof(struct rs_config, max_record_bytes), 1024, 512U << 20, 0,
	  LINE_OF(max_record_line) },
	{ "report_backlog", config_set_uint,
	  offsetof(struct rs_config, report_backlog), 0, 1U << 24, 0, 0 },
	{ "max_sessions", config_set_uint,
	  offsetof(struct rs_config, max_sessions), 1, 65536, 0, 0 },
	{ "max_sessions_per_uid", config_set_uint,
	  offsetof(struct rs_config, max_sessions_per_uid), 1, 65536, 0, 0 },
	{ "max_records_per_second", config_set_uint,
	  offsetof(struct rs_config, max_records_per_second), 0, 100000000, 0,
	  0 },
	{ "max_topics", config_set_uint, offsetof(struct rs_config, max_topics),
	  1, 1000000, 0, 0 },
	{ "max_topics_per_uid", config_set_uint,
	  offsetof(struct rs_config, max_topics_per_uid), 1, 1000000, 0, 0 },
	{ "drain_interval_us", config_set_uint,
	  offsetof(struct rs_config, drain_interval_us), 10, 1000000, 0, 0 },
	{ "idle_linger_ms", config_set_uint,
	  offsetof(struct rs_config, idle_linger_ms), 0, 60000, 0, 0 },
	{ "shutdown_timeout_ms", config_set_uint,
	  offsetof(struct rs_config, shutdown_timeout_ms), 0, 3600000, 0, 0 },
	{ "log_level", config_set_log_level, 0, 0, 0, 0, 0 },
	{ "spool_dir", config_set_string, offsetof(struct rs_config, spool_dir),
	  0, 0, 0, LINE_OF(spool_dir_line) },
	{ "spool_fsync", config_set_fsync, 0, 1, 3600000, 0, 0 },
	{ "spool_max_bytes", config_set_size64,
	  offsetof(struct rs_config, spool_max_bytes), 1U << 20, UINT64_MAX, 0,
	  LINE_OF(spool_max_line) },
	{ "spool_segment_bytes", config_set_size64,
	  offsetof(struct rs_config, spool_segment_bytes), 1U << 20, 1ULL << 32,
	  0, 0 },
	{ "spool_full", config_set_full, 0, 0, 0, 0, 0 },
	{ "metrics_listen", config_set_listen, 0, 0, 0, 0, 0 },
};

/* allow_users / allow_groups, in [ringside] or a topic section. 1 if name
 * was one of them. */
int config_acl_key(struct config_parser *p, struct rs_acl *acl,
		   const char *name, const char *value)
{
	int groups = strcmp(name, "allow_groups") == 0;
	const char *bad;

	if (!groups && strcmp(name, "allow_users") != 0)
		return 0;
	if (rs_acl_add(acl, value, groups, &bad) < 0)
		config_perr(p, p->line, "%s: no %s named '%s'", name,
			    groups ? "group" : "user", bad);
	return 1;
}

void config_ringside_key(struct config_parser *p, const char *name,
			 const char *value)
{
	const struct ringside_key *k = NULL;

	if (config_acl_key(p, &p->cfg->acl, name, value))
		return;
	for (size_t i = 0; i < sizeof(ringside_keys) / sizeof(*k); i++)
		if (strcmp(ringside_keys[i].name, name) == 0)
			k = &ringside_keys[i];
	if (k == NULL) {
		config_perr(p, p->line, "unknown key '%s' in [ringside]", name);
		return;
	}
	/* set: remember where, for the checks after the whole file */
	if (k->set(p, k, value) == 0 && k->line != 0)
		*(int *)((char *)p + k->line) = p->line;
}
