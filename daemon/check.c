/* SPDX-License-Identifier: MIT */
/*
 * check.c: ringsided --check, past the file's own syntax: what start-up
 * will need from the system. The socket's directory, the spool directory
 * (or the one it would be made in) and its owner and mode, the files
 * librdkafka's *.location properties name, and librdkafka accepting the
 * whole configuration: each producer start-up would create is created
 * and destroyed again. Every problem is printed, not only the first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "check.h"
#include "config.h"
#include "producer.h"
#include "spool.h"

/* dir's parent, in buf ("/" for "/x"). */
static const char *check_parent(const char *dir, char *buf, size_t len)
{
	const char *slash = strrchr(dir, '/');
	size_t n = slash == NULL ? 0 : (size_t)(slash - dir);

	if (n == 0 || n >= len)
		return "/";
	memcpy(buf, dir, n);
	buf[n] = '\0';
	return buf;
}

/* A directory ringsided must create files in: 0, or 1 with a line. */
static int check_dir(FILE *out, const struct rs_config *cfg, const char *key,
		     const char *dir, const char *fix)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		fprintf(out, "%s: %s: directory %s: %s; %s\n", cfg->path, key,
			dir, strerror(errno), fix);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(out, "%s: %s: %s is not a directory\n", cfg->path, key,
			dir);
		return 1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		fprintf(out,
			"%s: %s: ringsided (uid %u) cannot create files in "
			"%s: %s\n",
			cfg->path, key, (unsigned int)geteuid(), dir,
			strerror(errno));
		return 1;
	}
	return 0;
}

static int check_socket(FILE *out, const struct rs_config *cfg)
{
	char buf[4096];

	return check_dir(out, cfg, "socket",
			 check_parent(cfg->socket_path, buf, sizeof(buf)),
			 "make it, or let systemd make it (the unit's "
			 "RuntimeDirectory=ringside makes /run/ringside)");
}

/* The spool directory as rs_spool_open() will want it: this uid's, closed
 * to others; or, missing, a parent it can be made in. */
static int check_spool(FILE *out, const struct rs_config *cfg)
{
	struct stat st;
	char buf[4096];

	if (stat(cfg->spool_dir, &st) < 0) {
		if (errno != ENOENT) {
			fprintf(out, "%s: spool_dir %s: %s\n", cfg->path,
				cfg->spool_dir, strerror(errno));
			return 1;
		}
		return check_dir(out, cfg,
				 "spool_dir (missing, made at start) in",
				 check_parent(cfg->spool_dir, buf, sizeof(buf)),
				 "make it, or let systemd make it (the unit's "
				 "StateDirectory=ringside makes "
				 "/var/lib/ringside)");
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(out, "%s: spool_dir %s is not a directory\n", cfg->path,
			cfg->spool_dir);
		return 1;
	}
	if (rs_spool_dir_ok(cfg->spool_dir, &st, buf, sizeof(buf)) < 0) {
		fprintf(out, "%s: %s\n", cfg->path, buf);
		return 1;
	}
	return check_dir(out, cfg, "spool_dir", cfg->spool_dir, "");
}

/* ssl.ca.location and the other *.location keys: files librdkafka reads
 * only when a connection needs them, long after start-up. */
static int check_locations(FILE *out, const struct rs_config *cfg)
{
	int bad = 0;

	for (size_t i = 0; i < cfg->kafka.n; i++) {
		const struct rs_prop *pr = &cfg->kafka.v[i];
		size_t n = strlen(pr->key);

		if (n < 9 || strcmp(pr->key + n - 9, ".location") != 0 ||
		    strcmp(pr->value, "probe") == 0 || pr->value[0] == '\0')
			continue;
		if (access(pr->value, R_OK) < 0) {
			fprintf(out, "%s:%d: [kafka] %s: %s: %s\n",
				pr->file != NULL ? pr->file : cfg->path,
				pr->line, pr->key, pr->value, strerror(errno));
			bad++;
		}
	}
	return bad;
}

static void check_on_report(struct rs_record *rec, const struct rs_outcome *o,
			    void *arg)
{
	(void)rec;
	(void)o;
	(void)arg;
}

static void check_on_batch(void *arg, int more)
{
	(void)arg;
	(void)more;
}

/* The producers start-up would make, made and destroyed. */
static int check_producers(FILE *out, const struct rs_config *cfg)
{
	struct event_base *base = event_base_new();
	struct rs_producer *p = NULL;
	char err[1024];
	int bad = 0;

	if (base == NULL) {
		fprintf(out, "%s: libevent: cannot create an event base\n",
			cfg->path);
		return 1;
	}
	if (rs_producer_new(cfg, base, check_on_report, check_on_batch, NULL,
			    &p, err, sizeof(err)) < 0) {
		fprintf(out, "%s\n", err);
		bad = 1;
	} else {
		rs_producer_free(p);
	}
	event_base_free(base);
	return bad;
}

int rs_check_start(const struct rs_config *cfg, FILE *out)
{
	int bad = 0;

	bad += check_socket(out, cfg);
	bad += check_spool(out, cfg);
	bad += check_locations(out, cfg);
	bad += check_producers(out, cfg);
	return bad;
}
