/* SPDX-License-Identifier: MIT */
/*
 * config_impl.h: what the parts of the config parser share: the state of
 * one parse (config.c reads the file and its sections; config_ringside.c
 * holds the [ringside] keys' table and their value parsers).
 */
#ifndef RS_CONFIG_IMPL_H
#define RS_CONFIG_IMPL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define MAX_ERRORS 20

enum section_kind { SEC_NONE, SEC_RINGSIDE, SEC_KAFKA, SEC_TOPIC, SEC_BAD };

struct config_parser {
	struct rs_config *cfg;
	FILE *file;
	const char *path; /* file's, for errors: the config or an include */
	int line;
	/* while an include is read (path is its span's): the config's
	 * file and line */
	FILE *outer_file;
	int outer_line;
	/* inih counts the lines of both: where each include's lines were */
	int total;
	struct include_span {
		int first, last; /* in inih's count */
		char *path;
	} * spans;
	size_t nspans;
	char *err;
	size_t errlen;
	size_t erroff;
	int nerrors;

	char section[256];
	enum section_kind kind;
	struct rs_topic_config *topic; /* current [topic:...] */
	char **seen_sections;
	size_t nseen;
	char **seen_keys; /* keys of the current section */
	size_t nkeys;
	int ring_size_line;
	int max_record_line;
	int socket_line;
	int spool_max_line;
	int spool_dir_line;
	rd_kafka_conf_t *scratch;
	rd_kafka_topic_conf_t *scratch_topic;
};

/* Where the parser keeps a key's line, for the [ringside] key table. */
#define LINE_OF(field) offsetof(struct config_parser, field)

/* An error at line of the file being read: "file:line: message". */
void config_perr(struct config_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* strdup, or exit on no memory. */
char *config_xstrdup(const char *s);

/* A decimal number with an optional binary suffix (K, M, G, KiB...), and
 * a plain one: 0, or -1 if s is not one. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_uint(const char *s, uint64_t *out);

/* allow_users / allow_groups, in [ringside] or a topic section: 1 if name
 * was one of them (added to acl, or an error reported). */
int config_acl_key(struct config_parser *p, struct rs_acl *acl,
		   const char *name, const char *value);
/* One key = value line of [ringside]. */
void config_ringside_key(struct config_parser *p, const char *name,
			 const char *value);

#endif
