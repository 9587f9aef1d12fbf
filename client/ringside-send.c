/* SPDX-License-Identifier: MIT */
/*
 * ringside-send: reads records from stdin, one per line, sends them through
 * ringsided, waits for every report and prints a summary. Like kcat -P, but
 * each record's fate is known before it exits.
 *
 * Every line has one state (sent, in the spool, delivered, failed), so the
 * counts are exact: a report that repeats one already seen (after a daemon
 * restart, reports can repeat) changes nothing. Every wait for ringsided,
 * for the session, for ring space and for reports, comes out of one budget
 * (-T): whatever the daemon does, ringside-send exits within it.
 */
/* memmem() is a GNU extension: _GNU_SOURCE comes from configure */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringside.h"
#include "ringside_clock.h"

#define MAX_HEADERS 64
#define DEFAULT_TIMEOUT_MS 30000

enum line_state {
	LINE_SENT = 1,	  /* in the ring, no report yet */
	LINE_SPOOLED = 2, /* in ringsided's spool, final report to come */
	LINE_DELIVERED = 3,
	LINE_FAILED = 4,
};

struct counts {
	unsigned long long sent;
	unsigned long long delivered;
	unsigned long long failed;  /* reported failed, or refused at send */
	unsigned long long spooled; /* last seen in the spool */
	unsigned long long repeats; /* reports for lines already final */
	unsigned char *state;	    /* per line (opaque), enum line_state */
	size_t cap;
	int verbose;
};

static void rsend_send_usage(FILE *f)
{
	fprintf(f,
		"usage: ringside-send -t TOPIC [-s SOCKET] [-K DELIM] "
		"[-H NAME=VALUE]...\n"
		"                     [-n NAME] [-T TIMEOUT_MS] [-v] [-q]\n"
		"  -t TOPIC        topic to send to\n"
		"  -s SOCKET       ringsided's socket (default "
		"$RINGSIDE_SOCKET, then %s)\n"
		"  -K DELIM        split each line at the first DELIM into key "
		"and value\n"
		"  -H NAME=VALUE   add a header to every record (repeatable)\n"
		"  -n NAME         session name for ringsided's log "
		"(default ringside-send)\n"
		"  -T TIMEOUT_MS   wait at most this long for ringsided in "
		"all: "
		"for the session,\n"
		"                  ring space and reports (default %d)\n"
		"  -v              print one line per report\n"
		"  -q              print no summary\n"
		"  -h, --help      print this help\n"
		"  -V, --version   print the version\n",
		RINGSIDE_DEFAULT_SOCKET, DEFAULT_TIMEOUT_MS);
}

static const char *rsend_persistence_name(ringside_persistence_t p)
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

/* The state of line n, growing the table for a line just sent; NULL for
 * a report naming no line this process sent. */
static unsigned char *rsend_line_state(struct counts *c, uint64_t n, int grow)
{
	if (n == 0 || n > c->sent)
		return NULL;
	if (n >= c->cap) {
		size_t want = c->cap ? c->cap : 4096;
		unsigned char *p;

		if (!grow)
			return NULL;
		while (want <= n)
			want *= 2;
		p = realloc(c->state, want);
		if (p == NULL) {
			fprintf(stderr, "ringside-send: out of memory\n");
			exit(1);
		}
		memset(p + c->cap, 0, want - c->cap);
		c->state = p;
		c->cap = want;
	}
	return &c->state[n];
}

/* Moves a line from one state to another, keeping the counts. */
static void rsend_line_move(struct counts *c, unsigned char *st,
			    enum line_state to)
{
	if (*st == LINE_SPOOLED)
		c->spooled--;
	*st = (unsigned char)to;
	if (to == LINE_SPOOLED)
		c->spooled++;
	else if (to == LINE_DELIVERED)
		c->delivered++;
	else if (to == LINE_FAILED)
		c->failed++;
}

static void rsend_on_report(const ringside_report_t *r, void *ctx)
{
	struct counts *c = ctx;
	unsigned char *st = rsend_line_state(c, r->opaque, 0);

	if (st == NULL)
		return; /* not a line of ours */
	if (*st == LINE_DELIVERED || *st == LINE_FAILED) {
		c->repeats++; /* a repeat after a daemon restart */
		return;
	}
	if (r->stage == RINGSIDE_STAGE_SPOOLED) {
		if (*st != LINE_SPOOLED && c->verbose)
			printf("line %llu: in ringsided's spool (Kafka cannot "
			       "take it now)\n",
			       (unsigned long long)r->opaque);
		rsend_line_move(c, st, LINE_SPOOLED);
		return;
	}
	if (r->status == 0) {
		rsend_line_move(c, st, LINE_DELIVERED);
		if (c->verbose)
			printf("line %llu: delivered to %s [%d] at offset "
			       "%lld\n",
			       (unsigned long long)r->opaque,
			       ringside_topic_name(r->topic), r->partition,
			       (long long)r->offset);
		return;
	}
	rsend_line_move(c, st, LINE_FAILED);
	fprintf(stderr, "ringside-send: line %llu: failed: %s (%s)\n",
		(unsigned long long)r->opaque, ringside_strerror(r->status),
		rsend_persistence_name(r->persistence));
}

/* Waits until every record is finished, then, within what is left of the
 * budget, for the final reports of records that went to the spool. A
 * record still in the spool then is safe, not failed: ringsided delivers
 * it later. */
static int rsend_wait_reports(ringside_t *rs, int64_t deadline,
			      struct counts *c)
{
	int64_t left = deadline - rs_now_ms();
	int rc;

	rc = ringside_flush(rs, left > 0 ? (int)left : 0, rsend_on_report, c);
	if (rc == RINGSIDE_EDROPPED)
		rc = 0; /* the counts say which lines went unreported */
	while (rc == 0 && c->spooled > 0) {
		struct pollfd pfd = { .fd = ringside_fd(rs), .events = POLLIN };
		int n;

		left = deadline - rs_now_ms();
		if (left <= 0)
			break;
		n = ringside_poll(rs, rsend_on_report, c);
		if (n < 0)
			return n == RINGSIDE_ENOTCONN ? 0 : n;
		if (n == 0)
			(void)poll(&pfd, 1, left > 100 ? 100 : (int)left);
	}
	return rc;
}

static int rsend_parse_header(char *arg, ringside_header_t *h)
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

/* A whole decimal number of milliseconds, 1 to INT_MAX. */
static int rsend_parse_timeout(const char *arg, int *ms)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v <= 0 || v > INT_MAX)
		return -1;
	*ms = (int)v;
	return 0;
}

static void rsend_pause_1ms(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 1000000 };

	nanosleep(&ts, NULL);
}

#define BATCH 64 /* lines per ringside_send_batch() */

/* stdin, read in blocks; lines are split here, so the program knows when
 * no whole line is left and sends what it has before it blocks. */
struct input {
	char *buf;
	size_t start; /* the first byte not yet returned as a line */
	size_t len;
	size_t cap;
	int eof;
};

/* The next line (without its newline): 1; 0 at the end of the input; -1
 * when no whole line is buffered (rsend_input_fill() reads more, and moves the
 * buffer, so every line returned before is gone then). */
static int rsend_input_line(struct input *in, char **line, size_t *len)
{
	char *nl = in->len > in->start ? memchr(in->buf + in->start, '\n',
						in->len - in->start)
				       : NULL;

	if (nl == NULL && !in->eof)
		return -1;
	if (nl == NULL && in->start == in->len)
		return 0;
	*line = in->buf + in->start;
	*len = nl != NULL ? (size_t)(nl - *line) : in->len - in->start;
	in->start += *len + (nl != NULL);
	return 1;
}

/* Reads more of fd, keeping the partial line. 0, or -1 (errno). */
static int rsend_input_fill(struct input *in, int fd)
{
	ssize_t n;

	if (in->start > 0)
		memmove(in->buf, in->buf + in->start, in->len - in->start);
	in->len -= in->start;
	in->start = 0;
	if (in->cap - in->len < 65536) {
		size_t want = in->cap ? in->cap * 2 : 131072;
		char *p = realloc(in->buf, want);

		if (p == NULL) {
			fprintf(stderr, "ringside-send: out of memory\n");
			exit(1);
		}
		in->buf = p;
		in->cap = want;
	}
	do
		n = read(fd, in->buf + in->len, in->cap - in->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		in->eof = 1;
	in->len += (size_t)n;
	return 0;
}

/* The record of one line: split at the first delim, if there is one
 * (binary-safe: a line may hold NUL bytes). */
static void rsend_line_record(ringside_record_t *rec, char *line, size_t len,
			      const char *delim, const ringside_header_t *h,
			      size_t nh, uint64_t opaque)
{
	*rec = (ringside_record_t){
		.value = line,
		.value_len = len,
		.headers = h,
		.header_count = nh,
		.opaque = opaque,
	};
	if (delim != NULL) {
		size_t dl = strlen(delim);
		char *at = memmem(line, len, delim, dl);

		if (at != NULL) {
			rec->key = line;
			rec->key_len = (size_t)(at - line);
			rec->value = at + dl;
			rec->value_len = len - rec->key_len - dl;
		}
	}
}

/* Sends n lines' records (opaque: their line numbers, from c->sent + 1),
 * waiting while the ring is full, but not past the deadline. A line
 * refused for itself is reported failed and the rest go on. 0, 1 when the
 * deadline passed (c->sent says how many lines went), -1 when the
 * session is gone. */
static int rsend_send_lines(ringside_t *rs, const ringside_topic_t *t,
			    const ringside_record_t *recs, size_t n,
			    int64_t deadline, struct counts *c)
{
	size_t done = 0;

	while (done < n) {
		size_t k;
		int err = ringside_send_batch(rs, t, recs + done, n - done, &k);

		for (size_t i = 0; i < k; i++) {
			c->sent++;
			*rsend_line_state(c, c->sent, 1) = LINE_SENT;
		}
		done += k;
		if (err == RINGSIDE_EFULL) {
			if (rs_now_ms() >= deadline)
				return 1;
			if (ringside_poll(rs, rsend_on_report, c) == 0)
				rsend_pause_1ms();
			continue;
		}
		if (err < 0) {
			c->sent++;
			done++;
			rsend_line_move(c, rsend_line_state(c, c->sent, 1),
					LINE_FAILED);
			fprintf(stderr, "ringside-send: line %llu: %s\n",
				c->sent, ringside_strerror(err));
			if (err == RINGSIDE_ENOTCONN)
				return -1;
		}
	}
	(void)ringside_poll(rs, rsend_on_report, c);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	ringside_options_t opts = { .name = "ringside-send" };
	ringside_header_t headers[MAX_HEADERS];
	struct counts c = { 0 };
	const char *topic = NULL, *delim = NULL;
	ringside_topic_t *t;
	ringside_t *rs;
	ringside_record_t recs[BATCH];
	struct input in = { 0 };
	char err[256];
	size_t nh = 0, nrecs = 0;
	int64_t deadline;
	int ch, quiet = 0, timeout = DEFAULT_TIMEOUT_MS, rc, stopped = 0;

	while ((ch = getopt_long(argc, argv, "t:s:K:H:n:T:vqhV", longopts,
				 NULL)) != -1) {
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
			    rsend_parse_header(optarg, &headers[nh]) < 0) {
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
			if (rsend_parse_timeout(optarg, &timeout) < 0) {
				fprintf(stderr,
					"ringside-send: -T wants a number of "
					"milliseconds from 1 to %d, not '%s'\n",
					INT_MAX, optarg);
				return 2;
			}
			break;
		case 'v':
			c.verbose = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			rsend_send_usage(stdout);
			return 0;
		case 'V':
			printf("ringside-send %s\n", PACKAGE_VERSION);
			return 0;
		default:
			rsend_send_usage(stderr);
			return 2;
		}
	}
	if (topic == NULL || optind != argc || (delim != NULL && !*delim)) {
		rsend_send_usage(stderr);
		return 2;
	}
	deadline = rs_now_ms() + timeout;
	opts.timeout_ms = timeout; /* open and topic: within the budget */
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
	/* lines go out in batches, and whatever is read goes out before
	 * the next read can block: a slow writer's lines are not held back */
	for (rc = 0; rc == 0;) {
		char *line;
		size_t len;
		int got = rsend_input_line(&in, &line, &len);

		if (got == 1) {
			rsend_line_record(&recs[nrecs], line, len, delim,
					  headers, nh, c.sent + nrecs + 1);
			if (++nrecs < BATCH)
				continue;
		}
		if (nrecs > 0) {
			rc = rsend_send_lines(rs, t, recs, nrecs, deadline, &c);
			nrecs = 0;
		}
		if (rc == 0 && got == 0)
			break;
		if (rc == 0 && got < 0 && rsend_input_fill(&in, 0) < 0) {
			fprintf(stderr, "ringside-send: reading stdin: %s\n",
				strerror(errno));
			stopped = 1;
			break;
		}
	}
	if (rc == 1) {
		stopped = 1;
		fprintf(stderr,
			"ringside-send: ringsided took no records for the "
			"rest of -T (%d ms): stopping after %llu lines\n",
			timeout, c.sent);
	}
	free(in.buf);
	rc = rsend_wait_reports(rs, deadline, &c);
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
		if (c.repeats > 0)
			fprintf(stderr, " (%llu repeated reports ignored)",
				c.repeats);
		if (stopped)
			fprintf(stderr, "; input left unsent");
		fputc('\n', stderr);
	}
	free(c.state);
	return c.failed > 0 || rc < 0 || stopped ? 1 : 0;
}
