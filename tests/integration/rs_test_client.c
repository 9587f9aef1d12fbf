/* SPDX-License-Identifier: MIT */
/*
 * rs_test_client: a client process for the integration tests. Threads send
 * deterministic records (records.h) through libringside while the main
 * thread collects reports; at the end it writes every report and per-thread
 * counts to stdout for the test to check against what Kafka holds.
 *
 *   R opaque status kafka_error partition offset persistence stage topic
 *   T thread sent efull
 *   E thread first_ns last_ns   (when its sends were refused, if ever;
 *     CLOCK_MONOTONIC)
 *   L thread max_send_ns sends_over_1ms_not_preempted sends_over_1ms_preempted
 *   S thread start_ns end_ns cpu_ns voluntary_switches   (each of the first
 *     SLOW_MAX slow sends that were not preempted, CLOCK_MONOTONIC)
 *   F finals failures spooled
 *   X flush_rc records_finished reports_dropped
 *
 * --final waits for a final report for every record (not just for ring
 * space to be freed: a spooled record's final report comes later);
 * --no-reports leaves out the R lines; --batch N sends with
 * ringside_send_batch(), N records of one topic a call (per topic, in
 * sequence order, so per-key order is what it would be one by one).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "records.h"
#include "ringside.h"

#define MAX_TOPICS 8
#define MAX_THREADS 16

struct opts {
	const char *socket;
	unsigned int id;
	unsigned int threads;
	unsigned int records;
	unsigned int keys;
	unsigned int rate;	 /* per thread, records/s; 0: flat out */
	unsigned int exit_after; /* _exit without closing after this many */
	int until_stop;		 /* send until the daemon stops */
	int final;		 /* wait for every final report */
	int no_reports;		 /* do not print R lines */
	unsigned int batch; /* records per ringside_send_batch(); 0: none */
	int final_timeout_s;
	char *topic_names[MAX_TOPICS];
	unsigned int ntopics;
};

#define SLOW_MAX 32

/* a send over 1 ms that the scheduler did not preempt */
struct slow_send {
	uint64_t start_ns, end_ns, cpu_ns;
	long switches;
};

struct sender {
	pthread_t thread;
	unsigned int index;
	unsigned int sent;
	unsigned long long efull;
	uint64_t efull_first_ns, efull_last_ns; /* CLOCK_MONOTONIC */
	uint64_t max_ns;
	unsigned long long
		over_1ms; /* slow, and the thread was not preempted */
	unsigned long long preempted; /* slow, and the scheduler preempted it */
	unsigned long long hist[5];   /* >10us, >50us, >100us, >500us, >1ms */
	long nvcsw; /* voluntary switches when the thread last slept itself */
	struct slow_send slow[SLOW_MAX]; /* the first over_1ms of them */
	int joined;
};

static unsigned long long finals, failures, spooled;

static struct opts o = { .threads = 1, .records = 1000, .keys = 7 };
static ringside_t *rs;
static ringside_topic_t *topics[MAX_TOPICS];

static void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static int daemon_stopping(void)
{
	ringside_state_t st;

	ringside_state(rs, &st);
	return st.backpressure == RINGSIDE_STOPPING ||
	       st.backpressure == RINGSIDE_DISCONNECTED;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

/* Keeps a thread at o.rate records per second, sleeping in steps of a
 * millisecond or more rather than once per record. 1 if it slept. */
static int pace(uint64_t *next, unsigned int sent)
{
	uint64_t now;

	if (*next == 0)
		*next = mono_ns();
	*next += 1000000000ULL / o.rate;
	if (sent % 16 != 0)
		return 0;
	now = mono_ns();
	if (*next <= now + 1000000)
		return 0;
	sleep_us((long)((*next - now) / 1000));
	return 1;
}

/* The thread's voluntary context switches so far: any later one during a
 * send means the send slept. */
static void note_sleep(struct sender *sd)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	sd->nvcsw = ru.ru_nvcsw;
}

static void *send_loop(void *arg)
{
	struct sender *sd = arg;
	uint64_t next = 0;

	note_sleep(sd);
	char key[REC_KEY_MAX], value[REC_VALUE_MAX], seq[16];
	ringside_header_t hdrs[2];
	ringside_record_t rec;
	struct rec_id id = { .w = o.id, .t = sd->index };

	for (id.s = 0; o.until_stop || id.s < o.records; id.s++) {
		int err;

		if (o.exit_after && sd->index == 0 && id.s == o.exit_after) {
			fflush(stdout);
			_exit(0); /* no ringside_close(): a crash, for the
				     daemon */
		}
		memset(&rec, 0, sizeof(rec));
		rec.key = key;
		rec.key_len = rec_key(&id, o.keys, key);
		rec.value = value;
		rec.value_len = rec_value(&id, value);
		snprintf(seq, sizeof(seq), "%u", id.s);
		hdrs[0].name = "seq";
		hdrs[0].value = seq;
		hdrs[0].value_len = strlen(seq);
		hdrs[1].name = "nil";
		hdrs[1].value = NULL;
		hdrs[1].value_len = 0;
		rec.headers = hdrs;
		rec.header_count = rec_has_nil_header(&id) ? 2 : 1;
		rec.opaque = rec_opaque(&id);
		for (;;) {
			struct timespec a, b, ca, cb;
			struct rusage rb;
			uint64_t ns, cpu;

			/*
			 * Wall time, and the thread's own CPU time, which the
			 * kernel charges for page faults and spinning but not
			 * for time the scheduler or the hypervisor took the
			 * CPU away. A slow send is ringside's when it used
			 * over a millisecond of CPU or slept (a voluntary
			 * context switch); otherwise the machine was busy.
			 */
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
			clock_gettime(CLOCK_MONOTONIC, &a);
			err = ringside_sendv(rs, topics[id.s % o.ntopics],
					     &rec);
			clock_gettime(CLOCK_MONOTONIC, &b);
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
			ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ULL +
			     (uint64_t)(b.tv_nsec - a.tv_nsec);
			cpu = (uint64_t)(cb.tv_sec - ca.tv_sec) *
				      1000000000ULL +
			      (uint64_t)(cb.tv_nsec - ca.tv_nsec);
			if (ns > sd->max_ns)
				sd->max_ns = ns;
			sd->hist[0] += ns > 10000;
			sd->hist[1] += ns > 50000;
			sd->hist[2] += ns > 100000;
			sd->hist[3] += ns > 500000;
			sd->hist[4] += ns > 1000000;
			if (ns > 1000000) {
				getrusage(RUSAGE_THREAD, &rb);
				if (cpu > 1000000 || rb.ru_nvcsw != sd->nvcsw) {
					if (sd->over_1ms < SLOW_MAX)
						sd->slow[sd->over_1ms] =
							(struct slow_send){
								ts_ns(&a),
								ts_ns(&b), cpu,
								rb.ru_nvcsw -
									sd->nvcsw
							};
					sd->over_1ms++;
				} else
					sd->preempted++;
			}
			if (err != RINGSIDE_EFULL)
				break;
			if (sd->efull++ == 0)
				sd->efull_first_ns = ts_ns(&b);
			sd->efull_last_ns = ts_ns(&b);
			if (o.until_stop && daemon_stopping())
				return NULL;
			sleep_us(100);
			note_sleep(sd);
		}
		if (err < 0) {
			fprintf(stderr, "client %u: send: %s\n", o.id,
				ringside_strerror(err));
			if (o.until_stop)
				return NULL;
			exit(3);
		}
		sd->sent++;
		if (o.until_stop && daemon_stopping())
			return NULL;
		if (o.rate && pace(&next, sd->sent))
			note_sleep(sd);
	}
	return NULL;
}

#define BATCH_MAX 64

/* One topic's records waiting for a ringside_send_batch(), with the
 * bytes they point to. */
struct batch {
	ringside_record_t recs[BATCH_MAX];
	char key[BATCH_MAX][REC_KEY_MAX];
	char value[BATCH_MAX][REC_VALUE_MAX];
	char seq[BATCH_MAX][16];
	ringside_header_t hdrs[BATCH_MAX][2];
	size_t n;
};

static void batch_flush(struct sender *sd, unsigned int topic, struct batch *b)
{
	size_t done = 0;

	while (done < b->n) {
		size_t k = 0;
		int err = ringside_send_batch(rs, topics[topic], b->recs + done,
					      b->n - done, &k);

		done += k;
		sd->sent += (unsigned int)k;
		if (err == RINGSIDE_EFULL) {
			sd->efull++;
			sleep_us(100);
			continue;
		}
		if (err < 0) {
			fprintf(stderr, "client %u: send batch: %s\n", o.id,
				ringside_strerror(err));
			exit(3);
		}
	}
	b->n = 0;
}

/* send_loop() with batches: the same records, o.batch of a topic a call */
static void *batch_loop(void *arg)
{
	struct sender *sd = arg;
	struct batch *b = calloc(o.ntopics, sizeof(*b));
	struct rec_id id = { .w = o.id, .t = sd->index };
	uint64_t next = 0;

	if (b == NULL) {
		fprintf(stderr, "client %u: out of memory\n", o.id);
		exit(3);
	}
	for (id.s = 0; id.s < o.records; id.s++) {
		unsigned int t = id.s % o.ntopics;
		struct batch *q = &b[t];
		size_t i = q->n;
		ringside_record_t *rec = &q->recs[i];

		memset(rec, 0, sizeof(*rec));
		rec->key = q->key[i];
		rec->key_len = rec_key(&id, o.keys, q->key[i]);
		rec->value = q->value[i];
		rec->value_len = rec_value(&id, q->value[i]);
		snprintf(q->seq[i], sizeof(q->seq[i]), "%u", id.s);
		q->hdrs[i][0] = (ringside_header_t){
			.name = "seq",
			.value = q->seq[i],
			.value_len = strlen(q->seq[i]),
		};
		q->hdrs[i][1] = (ringside_header_t){ .name = "nil" };
		rec->headers = q->hdrs[i];
		rec->header_count = rec_has_nil_header(&id) ? 2 : 1;
		rec->opaque = rec_opaque(&id);
		if (++q->n == o.batch) {
			batch_flush(sd, t, q);
			if (o.rate)
				(void)pace(&next, sd->sent);
		}
	}
	for (unsigned int t = 0; t < o.ntopics; t++)
		batch_flush(sd, t, &b[t]);
	free(b);
	return NULL;
}

static void on_report(const ringside_report_t *r, void *ctx)
{
	(void)ctx;
	if (r->stage == RINGSIDE_STAGE_SPOOLED)
		spooled++;
	else if (r->status == 0)
		finals++;
	else
		failures++;
	if (o.no_reports)
		return;
	printf("R %llu %d %d %d %lld %d %d %s\n", (unsigned long long)r->opaque,
	       r->status, r->kafka_error, r->partition, (long long)r->offset,
	       (int)r->persistence, (int)r->stage,
	       r->topic ? ringside_topic_name(r->topic) : "?");
}

static void parse_topics(char *arg)
{
	for (char *tok = strtok(arg, ","); tok && o.ntopics < MAX_TOPICS;
	     tok = strtok(NULL, ","))
		o.topic_names[o.ntopics++] = tok;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "id", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 'T' },
		{ "records", required_argument, NULL, 'r' },
		{ "keys", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'R' },
		{ "topics", required_argument, NULL, 't' },
		{ "exit-after", required_argument, NULL, 'x' },
		{ "until-stop", no_argument, NULL, 'u' },
		{ "final", required_argument, NULL, 'f' },
		{ "no-reports", no_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned int v =
			optarg ? (unsigned int)strtoul(optarg, NULL, 0) : 0;

		switch (ch) {
		case 's':
			o.socket = optarg;
			break;
		case 'i':
			o.id = v;
			break;
		case 'T':
			o.threads = v;
			break;
		case 'r':
			o.records = v;
			break;
		case 'k':
			o.keys = v;
			break;
		case 'R':
			o.rate = v;
			break;
		case 't':
			parse_topics(optarg);
			break;
		case 'x':
			o.exit_after = v;
			break;
		case 'u':
			o.until_stop = 1;
			break;
		case 'f':
			o.final = 1;
			o.final_timeout_s = (int)v;
			break;
		case 'n':
			o.no_reports = 1;
			break;
		case 'b':
			o.batch = v;
			break;
		default:
			exit(2);
		}
	}
	if (o.ntopics == 0 || o.threads == 0 || o.threads > MAX_THREADS ||
	    o.keys == 0 || o.batch > BATCH_MAX ||
	    (o.batch > 0 && (o.until_stop || o.exit_after))) {
		fprintf(stderr, "rs_test_client: bad arguments\n");
		exit(2);
	}
}

static void poll_until(int (*done)(void))
{
	while (!done()) {
		struct pollfd pfd = { .fd = ringside_fd(rs), .events = POLLIN };
		int n = ringside_poll(rs, on_report, NULL);

		if (n == RINGSIDE_ENOTCONN)
			return;
		if (n == 0)
			(void)poll(&pfd, 1, 10);
	}
}

static int never(void)
{
	return 0;
}

int main(int argc, char **argv)
{
	ringside_options_t opts = { 0 };
	struct sender sd[MAX_THREADS];
	ringside_state_t st;
	char err[256], name[32];
	int rc;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	parse_args(argc, argv);
	snprintf(name, sizeof(name), "test-client-%u", o.id);
	opts.socket_path = o.socket;
	opts.name = name;
	/* --until-stop runs until the daemon goes, not into the next one */
	if (o.until_stop)
		opts.flags = RINGSIDE_OPEN_NO_RECONNECT;
	rs = ringside_open_opts(&opts, err, sizeof(err));
	if (rs == NULL) {
		fprintf(stderr, "client %u: %s\n", o.id, err);
		return 1;
	}
	for (unsigned int i = 0; i < o.ntopics; i++) {
		rc = ringside_topic(rs, o.topic_names[i], &topics[i]);
		if (rc < 0) {
			fprintf(stderr, "client %u: topic %s: %s\n", o.id,
				o.topic_names[i], ringside_strerror(rc));
			return 1;
		}
	}
	for (unsigned int i = 0; i < o.threads; i++) {
		memset(&sd[i], 0, sizeof(sd[i]));
		sd[i].index = i;
		pthread_create(&sd[i].thread, NULL,
			       o.batch > 0 ? batch_loop : send_loop, &sd[i]);
	}
	/* join the senders while reports keep flowing */
	for (unsigned int running = o.threads; running > 0;) {
		for (unsigned int i = 0; i < o.threads; i++) {
			if (!sd[i].joined &&
			    pthread_tryjoin_np(sd[i].thread, NULL) == 0) {
				sd[i].joined = 1;
				running--;
			}
		}
		(void)ringside_poll(rs, on_report, NULL);
		sleep_us(1000);
	}
	if (o.until_stop) {
		poll_until(never); /* until the daemon has gone */
		rc = RINGSIDE_ENOTCONN;
	} else if (o.final) {
		unsigned long long sent = 0;
		struct timespec t0, now;

		for (unsigned int i = 0; i < o.threads; i++)
			sent += sd[i].sent;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = 0;
		while (finals + failures < sent) {
			struct pollfd pfd = { .fd = ringside_fd(rs),
					      .events = POLLIN };
			int n = ringside_poll(rs, on_report, NULL);

			if (n < 0) {
				rc = n;
				break;
			}
			if (n == 0)
				(void)poll(&pfd, 1, 10);
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec > o.final_timeout_s) {
				rc = RINGSIDE_ETIMEDOUT;
				break;
			}
		}
	} else {
		rc = ringside_flush(rs, 60000, on_report, NULL);
	}
	for (unsigned int i = 0; i < o.threads; i++) {
		printf("T %u %u %llu\n", i, sd[i].sent, sd[i].efull);
		if (sd[i].efull > 0)
			printf("E %u %llu %llu\n", i,
			       (unsigned long long)sd[i].efull_first_ns,
			       (unsigned long long)sd[i].efull_last_ns);
		printf("L %u %llu %llu %llu\n", i,
		       (unsigned long long)sd[i].max_ns, sd[i].over_1ms,
		       sd[i].preempted);
		for (unsigned long long k = 0;
		     k < sd[i].over_1ms && k < SLOW_MAX; k++)
			printf("S %u %llu %llu %llu %ld\n", i,
			       (unsigned long long)sd[i].slow[k].start_ns,
			       (unsigned long long)sd[i].slow[k].end_ns,
			       (unsigned long long)sd[i].slow[k].cpu_ns,
			       sd[i].slow[k].switches);
		fprintf(stderr,
			"client %u thread %u: sends over 10us %llu, 50us %llu, "
			"100us %llu, 500us %llu, 1ms %llu\n",
			o.id, i, sd[i].hist[0], sd[i].hist[1], sd[i].hist[2],
			sd[i].hist[3], sd[i].hist[4]);
	}
	printf("F %llu %llu %llu\n", finals, failures, spooled);
	ringside_state(rs, &st);
	printf("X %d %llu %llu\n", rc, (unsigned long long)st.records_finished,
	       (unsigned long long)st.reports_dropped);
	fflush(stdout);
	ringside_close(rs);
	/* every record finished; dropped reports are in the X line for the
	 * test to judge (a restart drops some by design) */
	return rc == 0 || rc == RINGSIDE_EDROPPED || o.until_stop ? 0 : 4;
}
