/*
 * ringside-send: reads records from stdin, one per line, sends them through
 * ringsided, waits for every report and prints a summary. Like kcat -P, but
 * each record's fate is known before it exits.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringside.h"

#define MAX_HEADERS 64

struct counts {
	unsigned long long sent;
	unsigned long long delivered;
	unsigned long long failed;
	unsigned long long spooled; /* in ringsided's spool, not yet final */
	unsigned char *was_spooled; /* per line */
	size_t nlines;
	int verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringside-send -t TOPIC [-s SOCKET] [-K DELIM] "
		"[-H NAME=VALUE]...\n"
		"                     [-n NAME] [-T TIMEOUT_MS] [-v] [-q]\n"
		"  -t TOPIC        topic to send to\n"
		"  -s SOCKET       ringsided's socket (default "
		"$RINGSIDE_SOCKET, "
		"then %s)\n"
		"  -K DELIM        split each line at the first DELIM into key "
		"and value\n"
		"  -H NAME=VALUE   add a header to every record (repeatable)\n"
		"  -n NAME         session name for ringsided's log "
		"(default ringside-send)\n"
		"  -T TIMEOUT_MS   wait at most this long for the reports "
		"(default 30000)\n"
		"  -v              print one line per report\n"
		"  -q              print no summary\n",
		RINGSIDE_DEFAULT_SOCKET);
}

static const char *persistence_name(ringside_persistence_t p)
{
	switch (p) {
	case RINGSIDE_PERSISTED:
		return "persisted";
	case RINGSIDE_POSSIBLY_PERSISTED:
		return "possibly persisted";
	default:
		return "not persisted";
	}
}

/* 1 the first time line n is seen spooled; 0 if it was already, or
 * cannot be remembered (then it is counted once more, never lost). */
static int mark_spooled(struct counts *c, uint64_t n, int set)
{
	if (n >= c->nlines) {
		size_t want = c->nlines ? c->nlines : 1024;
		unsigned char *p;

		if (!set)
			return 0;
		while (want <= n)
			want *= 2;
		p = realloc(c->was_spooled, want);
		if (p == NULL)
			return 0;
		memset(p + c->nlines, 0, want - c->nlines);
		c->was_spooled = p;
		c->nlines = want;
	}
	if (!set) {
		int was = c->was_spooled[n];

		c->was_spooled[n] = 0;
		return was;
	}
	if (c->was_spooled[n])
		return 0;
	c->was_spooled[n] = 1;
	return 1;
}

static void on_report(const ringside_report_t *r, void *ctx)
{
	struct counts *c = ctx;

	if (r->stage == RINGSIDE_STAGE_SPOOLED) {
		c->spooled += mark_spooled(c, r->opaque, 1);
		if (c->verbose)
			printf("line %llu: in ringsided's spool (Kafka cannot "
			       "take it now)\n",
			       (unsigned long long)r->opaque);
		return;
	}
	if (mark_spooled(c, r->opaque, 0))
		c->spooled--;
	if (r->status == 0) {
		c->delivered++;
		if (c->verbose)
			printf("line %llu: delivered to %s [%d] at offset "
			       "%lld\n",
			       (unsigned long long)r->opaque,
			       ringside_topic_name(r->topic), r->partition,
			       (long long)r->offset);
		return;
	}
	c->failed++;
	fprintf(stderr, "ringside-send: line %llu: failed: %s (%s)\n",
		(unsigned long long)r->opaque, ringside_strerror(r->status),
		persistence_name(r->persistence));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until every record is finished, then, within the same timeout, for
 * the final reports of records that went to the spool. A record still in
 * the spool then is safe, not failed: ringsided delivers it later. */
static int wait_reports(ringside_t *rs, int timeout, struct counts *c)
{
	int64_t deadline = now_ms() + timeout;
	int rc = ringside_flush(rs, timeout, on_report, c);

	while (rc == 0 && c->spooled > 0) {
		struct pollfd pfd = { .fd = ringside_fd(rs), .events = POLLIN };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			break;
		n = ringside_poll(rs, on_report, c);
		if (n < 0)
			return n == RINGSIDE_ENOTCONN ? 0 : n;
		if (n == 0)
			(void)poll(&pfd, 1, left > 100 ? 100 : (int)left);
	}
	return rc;
}

static int parse_header(char *arg, ringside_header_t *h)
{
	char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg)
		return -1;
	*eq = '\0';
	h->name = arg;
	h->value = eq + 1;
	h->value_len = strlen(eq + 1);
	return 0;
}

static void pause_1ms(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 1000000 };

	nanosleep(&ts, NULL);
}

/* Sends one line, waiting (this is a CLI) while the ring is full. */
static int send_line(ringside_t *rs, const ringside_topic_t *t, char *line,
		     size_t len, const char *delim, const ringside_header_t *h,
		     size_t nh, struct counts *c)
{
	ringside_record_t rec = {
		.value = line,
		.value_len = len,
		.headers = h,
		.header_count = nh,
		.opaque = c->sent + 1,
	};
	int err;

	if (delim != NULL) {
		char *at = strstr(line, delim);

		if (at != NULL) {
			rec.key = line;
			rec.key_len = (size_t)(at - line);
			rec.value = at + strlen(delim);
			rec.value_len = len - rec.key_len - strlen(delim);
		}
	}
	while ((err = ringside_sendv(rs, t, &rec)) == RINGSIDE_EFULL) {
		if (ringside_poll(rs, on_report, c) == 0)
			pause_1ms();
	}
	c->sent++;
	if (err < 0) {
		c->failed++;
		fprintf(stderr, "ringside-send: line %llu: %s\n", c->sent,
			ringside_strerror(err));
		return err == RINGSIDE_ENOTCONN ? -1 : 0;
	}
	(void)ringside_poll(rs, on_report, c);
	return 0;
}

int main(int argc, char **argv)
{
	ringside_options_t opts = { .name = "ringside-send" };
	ringside_header_t headers[MAX_HEADERS];
	struct counts c = { 0 };
	const char *topic = NULL, *delim = NULL;
	ringside_topic_t *t;
	ringside_t *rs;
	char err[256], *line = NULL;
	size_t cap = 0, nh = 0;
	ssize_t len;
	int ch, quiet = 0, timeout = 30000, rc;

	while ((ch = getopt(argc, argv, "t:s:K:H:n:T:vqh")) != -1) {
		switch (ch) {
		case 't':
			topic = optarg;
			break;
		case 's':
			opts.socket_path = optarg;
			break;
		case 'K':
			delim = optarg;
			break;
		case 'H':
			if (nh == MAX_HEADERS ||
			    parse_header(optarg, &headers[nh]) < 0) {
				fprintf(stderr,
					"ringside-send: -H wants NAME=VALUE "
					"(at most %d)\n",
					MAX_HEADERS);
				return 2;
			}
			nh++;
			break;
		case 'n':
			opts.name = optarg;
			break;
		case 'T':
			timeout = atoi(optarg);
			break;
		case 'v':
			c.verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (topic == NULL || optind != argc || (delim != NULL && !*delim)) {
		usage(stderr);
		return 2;
	}
	rs = ringside_open_opts(&opts, err, sizeof(err));
	if (rs == NULL) {
		fprintf(stderr, "ringside-send: %s\n", err);
		return 1;
	}
	rc = ringside_topic(rs, topic, &t);
	if (rc < 0) {
		fprintf(stderr, "ringside-send: topic %s: %s\n", topic,
			ringside_strerror(rc));
		ringside_close(rs);
		return 1;
	}
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (send_line(rs, t, line, (size_t)len, delim, headers, nh,
			      &c) < 0)
			break;
	}
	free(line);
	rc = wait_reports(rs, timeout, &c);
	if (rc < 0)
		fprintf(stderr, "ringside-send: waiting for reports: %s\n",
			ringside_strerror(rc));
	ringside_close(rs);
	fflush(stdout); /* reports first, then the summary */
	if (!quiet) {
		unsigned long long unknown =
			c.sent - c.delivered - c.failed - c.spooled;

		fprintf(stderr,
			"ringside-send: sent %llu, delivered %llu, failed %llu",
			c.sent, c.delivered, c.failed);
		if (c.spooled > 0)
			fprintf(stderr,
				", in ringsided's spool %llu (it delivers "
				"them when Kafka takes them)",
				c.spooled);
		if (unknown > 0)
			fprintf(stderr, ", unreported %llu", unknown);
		fputc('\n', stderr);
	}
	free(c.was_spooled);
	return c.failed > 0 || rc < 0 ? 1 : 0;
}
