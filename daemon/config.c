/* SPDX-License-Identifier: MIT */
/*
 * config.c: parses ringside.ini with inih. A reader wrapper counts lines, so
 * every error names its line; parsing goes on after an error so that one run
 * shows every problem. librdkafka properties are checked by applying them to
 * scratch configs, so a typo fails at start-up, not at first use.
 *
 * include = PATH, in [kafka] and topic sections, reads PATH's key = value
 * lines as if they stood there: secrets (sasl.password, ssl.key.password)
 * can live in a file only root and ringsided read, apart from the config.
 *
 * The [ringside] section's keys and their value parsers are in
 * config_ringside.c; what both files share, in config_impl.h. This file
 * reads the file and its sections ([kafka], [topic:*], [topic:NAME],
 * includes), then makes the checks that need the whole file.
 */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "client/ringside_proto.h"
#include "config_impl.h"
#include "log.h"

void config_perr(struct config_parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (++p->nerrors > MAX_ERRORS || p->erroff + 1 >= p->errlen)
		return;
	n = snprintf(p->err + p->erroff, p->errlen - p->erroff,
		     "%s%s:%d: ", p->erroff > 0 ? "\n" : "", p->path, line);
	if (n < 0 || (size_t)n >= p->errlen - p->erroff) {
		p->erroff = p->errlen - 1;
		return;
	}
	p->erroff += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(p->err + p->erroff, p->errlen - p->erroff, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= p->errlen - p->erroff)
		p->erroff = p->errlen - 1;
	else
		p->erroff += (size_t)n;
}

char *config_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		fatal("strdup");
	return d;
}

static void *config_xreallocarray(void *ptr, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		fatalx("allocation overflow");
	p = realloc(ptr, n * size);
	if (p == NULL && n * size != 0)
		fatal("realloc");
	return p;
}

static void config_props_add(struct config_parser *p, struct rs_props *props,
			     const char *key, const char *value)
{
	if (props->n == props->cap) {
		props->cap = props->cap ? props->cap * 2 : 8;
		props->v = config_xreallocarray(props->v, props->cap,
						sizeof(*props->v));
	}
	props->v[props->n].key = config_xstrdup(key);
	props->v[props->n].value = config_xstrdup(value);
	props->v[props->n].file =
		p->outer_file != NULL ? config_xstrdup(p->path) : NULL;
	props->v[props->n].line = p->line;
	props->n++;
}

static void config_props_free(struct rs_props *props)
{
	for (size_t i = 0; i < props->n; i++) {
		free(props->v[i].key);
		free(props->v[i].value);
		free(props->v[i].file);
	}
	free(props->v);
}

static void config_strs_add(char ***v, size_t *n, const char *s)
{
	*v = config_xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = config_xstrdup(s);
}

static int config_strs_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void config_strs_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

const char *rs_acks_name(enum rs_acks acks)
{
	switch (acks) {
	case RS_ACKS_0:
		return "0";
	case RS_ACKS_1:
		return "1";
	case RS_ACKS_ALL:
		return "all";
	}
	return "?";
}

const char *rs_reports_name(enum rs_reports reports)
{
	switch (reports) {
	case RS_REPORTS_ALL:
		return "all";
	case RS_REPORTS_ERRORS:
		return "errors";
	case RS_REPORTS_NONE:
		return "none";
	}
	return "?";
}

static int config_is_acks_key(const char *name)
{
	return strcmp(name, "acks") == 0 ||
	       strcmp(name, "request.required.acks") == 0;
}

/* PATH with each ${NAME} replaced by that environment variable (systemd's
 * LoadCredential= puts a root-only file in ${CREDENTIALS_DIRECTORY}); 0,
 * or -1 with an error. */
static int config_include_expand(struct config_parser *p, const char *value,
				 char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *v = value; *v != '\0';) {
		const char *add = v, *end;
		size_t n = 1;
		char name[128];

		if (v[0] == '$' && v[1] == '{') {
			end = strchr(v + 2, '}');
			if (end == NULL ||
			    (size_t)(end - v - 2) >= sizeof(name) ||
			    end == v + 2) {
				config_perr(p, p->line,
					    "include: '%s': an unclosed "
					    "or empty ${NAME}",
					    value);
				return -1;
			}
			memcpy(name, v + 2, (size_t)(end - v - 2));
			name[end - v - 2] = '\0';
			add = getenv(name);
			if (add == NULL) {
				config_perr(
					p, p->line,
					"include: '%s': ${%s} is not set in "
					"ringsided's environment",
					value, name);
				return -1;
			}
			n = strlen(add);
			v = end + 1;
		} else {
			v++;
		}
		if (o + n >= outlen) {
			config_perr(p, p->line, "include: '%s': path too long",
				    value);
			return -1;
		}
		memcpy(out + o, add, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* include = PATH: the reader goes on in PATH, then back in the config. */
static void config_include_key(struct config_parser *p, const char *value)
{
	char path[PATH_MAX];
	struct stat st;
	FILE *f;

	if (config_include_expand(p, value, path, sizeof(path)) < 0)
		return;
	if (path[0] != '/') {
		config_perr(p, p->line, "include: '%s' is not an absolute path",
			    path);
		return;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		config_perr(p, p->line, "include: %s: %s", path,
			    strerror(errno));
		return;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		config_perr(p, p->line, "include: %s is not a regular file",
			    path);
		fclose(f);
		return;
	}
	/* it holds secrets: nobody but its owner and group reads it, and
	 * only its owner writes it */
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
		config_perr(
			p, p->line,
			"include: %s is readable by others or writable by its "
			"group or others (mode %04o): chmod 0640 or 0600",
			path, (unsigned int)(st.st_mode & 07777));
		fclose(f);
		return;
	}
	p->spans = config_xreallocarray(p->spans, p->nspans + 1,
					sizeof(*p->spans));
	p->spans[p->nspans].first = p->total + 1;
	p->spans[p->nspans].last = p->total;
	p->spans[p->nspans].path = config_xstrdup(path);
	p->outer_file = p->file;
	p->outer_line = p->line;
	p->file = f;
	p->path = p->spans[p->nspans].path;
	p->line = 0;
	p->nspans++;
}

/* The end of an included file: back in the config, after its include. */
static void config_include_done(struct config_parser *p)
{
	if (ferror(p->file))
		config_perr(p, p->line, "read error: %s", strerror(errno));
	fclose(p->file);
	p->spans[p->nspans - 1].last = p->total;
	p->file = p->outer_file;
	p->line = p->outer_line;
	p->path = p->cfg->path;
	p->outer_file = NULL;
}

static void config_kafka_key(struct config_parser *p, const char *name,
			     const char *value)
{
	char errstr[512];

	if (strcmp(name, "include") == 0) {
		config_include_key(p, value);
		return;
	}

	if (config_is_acks_key(name)) {
		config_perr(p, p->line,
			    "[kafka] %s: set acks per topic, in [topic:*] or "
			    "[topic:NAME]",
			    name);
		return;
	}
	if (strcmp(name, "transactional.id") == 0) {
		config_perr(
			p, p->line,
			"[kafka] %s: ringsided does not use transactions (each "
			"record is delivered and reported on its own, in one "
			"producer shared by every client); remove it",
			name);
		return;
	}
	if (strcmp(name, "delivery.report.only.error") == 0) {
		config_perr(p, p->line,
			    "[kafka] %s: ringsided needs every delivery "
			    "report; use "
			    "reports = errors in a topic section instead",
			    name);
		return;
	}
	if (rd_kafka_conf_set(p->scratch, name, value, errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		config_perr(p, p->line, "[kafka] %s: %s", name, errstr);
		return;
	}
	config_props_add(p, &p->cfg->kafka, name, value);
}

static void config_topic_key(struct config_parser *p, const char *name,
			     const char *value)
{
	struct rs_topic_config *t = p->topic;
	char errstr[512];

	if (strcmp(name, "include") == 0) {
		config_include_key(p, value);
		return;
	}

	if (config_acl_key(p, &t->acl, name, value))
		return;
	if (strcmp(name, "acks") == 0) {
		if (strcmp(value, "0") == 0)
			t->acks = RS_ACKS_0;
		else if (strcmp(value, "1") == 0)
			t->acks = RS_ACKS_1;
		else if (strcmp(value, "all") == 0 || strcmp(value, "-1") == 0)
			t->acks = RS_ACKS_ALL;
		else
			config_perr(p, p->line, "acks: '%s' is not 0, 1 or all",
				    value);
		return;
	}
	if (strcmp(name, "reports") == 0) {
		if (strcmp(value, "all") == 0)
			t->reports = RS_REPORTS_ALL;
		else if (strcmp(value, "errors") == 0)
			t->reports = RS_REPORTS_ERRORS;
		else if (strcmp(value, "none") == 0)
			t->reports = RS_REPORTS_NONE;
		else
			config_perr(p, p->line,
				    "reports: '%s' is not all, errors or none",
				    value);
		return;
	}
	if (strcmp(name, "write_ahead") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			t->write_ahead = 1;
		else if (strcmp(value, "no") == 0 ||
			 strcmp(value, "false") == 0)
			t->write_ahead = 0;
		else
			config_perr(p, p->line,
				    "write_ahead: '%s' is not yes or no",
				    value);
		return;
	}
	if (strcmp(name, "backlog_bytes") == 0 ||
	    strcmp(name, "backlog_ms") == 0) {
		uint64_t v;
		int bytes = name[8] == 'b';

		if ((bytes ? config_parse_size(value, &v)
			   : config_parse_uint(value, &v)) < 0 ||
		    v == 0 || v > (bytes ? (1ULL << 40) : 86400000ULL)) {
			config_perr(p, p->line, "%s: '%s' is not a %s", name,
				    value,
				    bytes ? "size from 1 byte to 1T"
					  : "number of milliseconds from 1 to "
					    "86400000");
			return;
		}
		if (bytes)
			t->backlog_bytes = (int64_t)v;
		else
			t->backlog_ms = (int64_t)v;
		return;
	}
	if (config_is_acks_key(name)) {
		config_perr(p, p->line, "%s: write 'acks = 0|1|all' instead",
			    name);
		return;
	}
	if (rd_kafka_topic_conf_set(p->scratch_topic, name, value, errstr,
				    sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		config_perr(p, p->line, "[%s] %s: %s", p->section, name,
			    errstr);
		return;
	}
	config_props_add(p, &t->props, name, value);
}

static struct rs_topic_config *config_topic_new(struct config_parser *p,
						const char *name)
{
	struct rs_config *cfg = p->cfg;
	struct rs_topic_config *t;

	if (strcmp(name, "*") == 0) {
		t = calloc(1, sizeof(*t));
		if (t == NULL)
			fatal("calloc");
		cfg->defaults = t;
	} else {
		cfg->topics = config_xreallocarray(
			cfg->topics, cfg->ntopics + 1, sizeof(*cfg->topics));
		t = &cfg->topics[cfg->ntopics++];
		memset(t, 0, sizeof(*t));
	}
	t->name = config_xstrdup(name);
	t->line = p->line;
	t->acks = -1;
	t->reports = -1;
	t->write_ahead = -1;
	t->backlog_bytes = -1;
	t->backlog_ms = -1;
	return t;
}

/* Called on the first key of each section (inih reports sections only
 * through their keys): classifies it and catches duplicates. */
static void config_enter_section(struct config_parser *p, const char *section)
{
	snprintf(p->section, sizeof(p->section), "%s", section);
	config_strs_free(&p->seen_keys, &p->nkeys);
	p->topic = NULL;
	if (config_strs_has(p->seen_sections, p->nseen, section)) {
		config_perr(p, p->line, "duplicate section [%s]", section);
		p->kind = SEC_BAD;
		return;
	}
	config_strs_add(&p->seen_sections, &p->nseen, section);
	if (strcmp(section, "ringside") == 0) {
		p->kind = SEC_RINGSIDE;
	} else if (strcmp(section, "kafka") == 0) {
		p->kind = SEC_KAFKA;
	} else if (strncmp(section, "topic:", 6) == 0) {
		const char *name = section + 6;

		if (strcmp(name, "*") != 0 &&
		    !ringside_topic_name_valid(name, strlen(name))) {
			config_perr(
				p, p->line,
				"[%s]: '%s' is not a valid Kafka topic name",
				section, name);
			p->kind = SEC_BAD;
			return;
		}
		p->kind = SEC_TOPIC;
		p->topic = config_topic_new(p, name);
	} else if (section[0] == '\0') {
		p->kind = SEC_NONE;
	} else {
		config_perr(
			p, p->line,
			"unknown section [%s] (expected [ringside], [kafka], "
			"[topic:NAME] or [topic:*])",
			section);
		p->kind = SEC_BAD;
	}
}

static int config_handler(void *user, const char *section, const char *name,
			  const char *value)
{
	struct config_parser *p = user;

	if (p->nseen == 0 || strcmp(section, p->section) != 0)
		config_enter_section(p, section);
	if (p->kind == SEC_BAD)
		return 1;
	if (p->kind == SEC_NONE) {
		config_perr(p, p->line, "'%s' is outside any section", name);
		return 1;
	}
	if (p->outer_file != NULL && strcmp(name, "include") == 0) {
		config_perr(p, p->line,
			    "include: an included file cannot include");
		return 1;
	}
	if (config_strs_has(p->seen_keys, p->nkeys, name)) {
		config_perr(p, p->line, "duplicate key '%s' in [%s]", name,
			    section);
		return 1;
	}
	config_strs_add(&p->seen_keys, &p->nkeys, name);
	if (p->kind == SEC_RINGSIDE)
		config_ringside_key(p, name, value);
	else if (p->kind == SEC_KAFKA)
		config_kafka_key(p, name, value);
	else
		config_topic_key(p, name, value);
	return 1;
}

/* fgets for inih that counts lines and refuses lines it would split. */
static char *config_reader(char *str, int num, void *stream)
{
	struct config_parser *p = stream;
	size_t len;

	while (fgets(str, num, p->file) == NULL) {
		if (p->outer_file == NULL)
			return NULL;
		config_include_done(p);
	}
	p->line++;
	p->total++;
	len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' && !feof(p->file)) {
		int c;

		config_perr(p, p->line, "line longer than %d characters",
			    num - 3);
		while ((c = fgetc(p->file)) != EOF && c != '\n')
			;
		str[0] = '\0'; /* the whole line is dropped */
	}
	if (p->outer_file != NULL && str[strspn(str, " \t")] == '[') {
		config_perr(p, p->line,
			    "an included file holds keys of the section that "
			    "includes it, not sections");
		str[0] = '\0';
	}
	return str;
}

static void config_defaults(struct rs_config *cfg)
{
	cfg->socket_path = config_xstrdup("/run/ringside/ringside.sock");
	cfg->socket_mode = 0660;
	cfg->ring_size = 4U << 20;
	cfg->reply_slots = 16384;
	cfg->max_record_bytes = 1000000;
	cfg->report_backlog = 65536;
	cfg->max_sessions = 1024;
	cfg->max_sessions_per_uid = 64;
	cfg->max_topics = 10000;
	cfg->max_topics_per_uid = 1000;
	cfg->drain_interval_us = 200;
	cfg->idle_linger_ms = 20;
	cfg->shutdown_timeout_ms = 10000;
	cfg->log_level = RS_LOG_INFO;
	cfg->spool_dir = config_xstrdup("/var/lib/ringside/spool");
	cfg->spool_fsync = RS_SYNC_INTERVAL;
	cfg->spool_fsync_ms = 100;
	cfg->spool_max_bytes = 1ULL << 30;
	cfg->spool_segment_bytes = 64ULL << 20;
	cfg->spool_drop_oldest = 0;
}

static void config_check(struct config_parser *p)
{
	struct rs_config *cfg = p->cfg;
	struct sockaddr_un sun;
	uint32_t frame_max = ringside_align8((uint64_t)cfg->max_record_bytes +
					     sizeof(struct ringside_frame));

	if (frame_max > cfg->ring_size / 2)
		config_perr(p,
			    p->max_record_line ? p->max_record_line
					       : p->ring_size_line,
			    "max_record_bytes (%u) must be at most half of "
			    "ring_size "
			    "(%u) less 48 bytes of framing",
			    cfg->max_record_bytes, cfg->ring_size);
	if (cfg->spool_segment_bytes > cfg->spool_max_bytes)
		config_perr(
			p, p->spool_max_line ? p->spool_max_line : 1,
			"spool_max_bytes (%llu) is smaller than one segment "
			"(spool_segment_bytes %llu)",
			(unsigned long long)cfg->spool_max_bytes,
			(unsigned long long)cfg->spool_segment_bytes);
	if (cfg->spool_segment_bytes < 2ULL * frame_max + 1024)
		config_perr(
			p, p->spool_max_line ? p->spool_max_line : 1,
			"spool_segment_bytes must hold at least two records of "
			"max_record_bytes");
	if (cfg->spool_dir[0] != '/')
		config_perr(p, p->spool_dir_line,
			    "spool_dir: '%s' is not an absolute "
			    "path",
			    cfg->spool_dir);
	if (cfg->socket_path[0] != '/')
		config_perr(p, p->socket_line,
			    "socket: '%s' is not an absolute path",
			    cfg->socket_path);
	else if (strlen(cfg->socket_path) >= sizeof(sun.sun_path))
		config_perr(p, p->socket_line,
			    "socket: path longer than %zu bytes",
			    sizeof(sun.sun_path) - 1);
}

/* inih's line n, in the file it was in: an include's or the config's. */
static void config_syntax_error(struct config_parser *p, int n)
{
	int before = 0; /* lines of includes before n */

	for (size_t i = 0; i < p->nspans; i++) {
		const struct include_span *sp = &p->spans[i];

		if (n >= sp->first && n <= sp->last) {
			p->path = sp->path;
			n -= sp->first - 1;
			before = 0;
			break;
		}
		if (sp->last < n)
			before += sp->last - sp->first + 1;
	}
	config_perr(p, n - before,
		    "syntax error: expected '[section]' or 'key = value'");
	p->path = p->cfg->path;
}

int rs_config_load(const char *path, struct rs_config **cfgp, char *err,
		   size_t errlen)
{
	struct config_parser p;
	struct rs_config *cfg;
	int rc;

	memset(&p, 0, sizeof(p));
	if (errlen > 0)
		err[0] = '\0';
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		fatal("calloc");
	cfg->path = config_xstrdup(path);
	config_defaults(cfg);
	p.cfg = cfg;
	p.path = cfg->path;
	p.err = err;
	p.errlen = errlen;
	p.file = fopen(path, "r");
	if (p.file == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rs_config_free(cfg);
		return -1;
	}
	p.scratch = rd_kafka_conf_new();
	p.scratch_topic = rd_kafka_topic_conf_new();
	rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (p.outer_file != NULL) /* inih stopped inside an include */
		config_include_done(&p);
	if (ferror(p.file))
		config_perr(&p, p.line, "read error: %s", strerror(errno));
	fclose(p.file);
	/* our handler never fails, so a line number from inih is always a
	 * line it could not parse (it reports only the first) */
	if (rc > 0)
		config_syntax_error(&p, rc);
	else if (rc < 0)
		config_perr(&p, p.line, "cannot parse (error %d)", rc);
	if (p.nerrors == 0)
		config_check(&p);
	rd_kafka_conf_destroy(p.scratch);
	rd_kafka_topic_conf_destroy(p.scratch_topic);
	for (size_t i = 0; i < p.nspans; i++)
		free(p.spans[i].path);
	free(p.spans);
	config_strs_free(&p.seen_sections, &p.nseen);
	config_strs_free(&p.seen_keys, &p.nkeys);
	if (p.nerrors > 0) {
		rs_config_free(cfg);
		return -1;
	}
	*cfgp = cfg;
	return 0;
}

static void config_topic_config_free(struct rs_topic_config *t)
{
	free(t->name);
	rs_acl_free(&t->acl);
	config_props_free(&t->props);
}

void rs_config_free(struct rs_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->socket_path);
	free(cfg->socket_group);
	free(cfg->spool_dir);
	free(cfg->metrics_host);
	rs_acl_free(&cfg->acl);
	config_props_free(&cfg->kafka);
	if (cfg->defaults != NULL) {
		config_topic_config_free(cfg->defaults);
		free(cfg->defaults);
	}
	for (size_t i = 0; i < cfg->ntopics; i++)
		config_topic_config_free(&cfg->topics[i]);
	free(cfg->topics);
	free(cfg);
}

int rs_config_topic(const struct rs_config *cfg, const char *name,
		    struct rs_topic_policy *policy)
{
	const struct rs_topic_config *section = NULL;

	for (size_t i = 0; i < cfg->ntopics; i++)
		if (strcmp(cfg->topics[i].name, name) == 0)
			section = &cfg->topics[i];
	if (section == NULL && cfg->defaults == NULL)
		return -1;
	policy->defaults = cfg->defaults;
	policy->section = section;
	policy->acl = section != NULL && section->acl.set ? &section->acl
		      : cfg->defaults != NULL && cfg->defaults->acl.set
			      ? &cfg->defaults->acl
			      : NULL;
	policy->acks = RS_ACKS_ALL;
	policy->reports = RS_REPORTS_ALL;
	if (cfg->defaults != NULL && cfg->defaults->acks >= 0)
		policy->acks = (enum rs_acks)cfg->defaults->acks;
	if (cfg->defaults != NULL && cfg->defaults->reports >= 0)
		policy->reports = (enum rs_reports)cfg->defaults->reports;
	if (section != NULL && section->acks >= 0)
		policy->acks = (enum rs_acks)section->acks;
	if (section != NULL && section->reports >= 0)
		policy->reports = (enum rs_reports)section->reports;
	policy->write_ahead = 0;
	policy->backlog_bytes = 64ULL << 20;
	policy->backlog_ms = 2000;
	for (int i = 0; i < 2; i++) {
		const struct rs_topic_config *tc =
			i == 0 ? cfg->defaults : section;

		if (tc == NULL)
			continue;
		if (tc->write_ahead >= 0)
			policy->write_ahead = tc->write_ahead;
		if (tc->backlog_bytes > 0)
			policy->backlog_bytes = (uint64_t)tc->backlog_bytes;
		if (tc->backlog_ms > 0)
			policy->backlog_ms = (uint32_t)tc->backlog_ms;
	}
	return 0;
}
