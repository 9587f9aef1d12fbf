/* SPDX-License-Identifier: MIT */
/*
 * rs_rate_client: one of many small services, for the many_clients test.
 * Opens a session, waits until START_MS (CLOCK_REALTIME, ms), sends RATE
 * records/s of 100 B with an 8-byte key for SECONDS, sleeping between
 * sends (in steps of a millisecond or more, as rs_test_client does: a
 * sleep per record at 4,000/s would be 4,000 timer wake-ups a second per
 * process, more than 64 of them leave of two cores), then waits for every
 * report. A refused send is not retried.
 * Prints one line:
 *
 *   sent N refused M delivered D failed F spooled S last_ms L
 *
 * where L is when the last final report came, in CLOCK_REALTIME ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringside.h"

static unsigned long long delivered, failed, spooled;
static long long last_ms;

static long long real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_report(const ringside_report_t *r, void *ctx)
{
	(void)ctx;
	if (r->stage == RINGSIDE_STAGE_SPOOLED) {
		spooled++;
		return;
	}
	if (r->status == 0)
		delivered++;
	else
		failed++;
	last_ms = real_ms();
}

static long long min_sleep_ns = 1000000;

/* Sleeps until at, unless that is under min_sleep_ns away. */
static void sleep_until_ns(const struct timespec *at)
{
	struct timespec now;
	long long left;

	clock_gettime(CLOCK_REALTIME, &now);
	left = (long long)(at->tv_sec - now.tv_sec) * 1000000000LL +
	       (at->tv_nsec - now.tv_nsec);
	if (left <= 0 || left < min_sleep_ns)
		return;
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, at, NULL) != 0)
		;
}

int main(int argc, char **argv)
{
	unsigned long long sent = 0, refused = 0, total;
	ringside_topic_t *topic;
	struct timespec at;
	double rate, seconds;
	long long start_ms;
	char value[100], err[256];
	ringside_t *rs;
	int64_t step;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: rs_rate_client SOCKET TOPIC RATE "
				"SECONDS START_MS [MIN_SLEEP_US]\n");
		return 2;
	}
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	start_ms = atoll(argv[5]);
	if (argc == 7)
		min_sleep_ns = atoll(argv[6]) * 1000;
	rs = ringside_open(argv[1], err, sizeof(err));
	if (rs == NULL || ringside_topic(rs, argv[2], &topic) != 0) {
		fprintf(stderr, "rs_rate_client: %s\n", err);
		return 1;
	}
	memset(value, 'v', sizeof(value));
	total = (unsigned long long)(rate * seconds);
	step = (int64_t)(1e9 / rate);
	at.tv_sec = (time_t)(start_ms / 1000);
	at.tv_nsec = (long)(start_ms % 1000) * 1000000L;
	for (unsigned long long i = 0; i < total; i++) {
		char key[8];

		sleep_until_ns(&at);
		memcpy(key, &i, sizeof(key));
		if (ringside_send(rs, topic, key, sizeof(key), value,
				  sizeof(value), i) == 0)
			sent++;
		else
			refused++;
		(void)ringside_poll(rs, on_report, NULL);
		at.tv_nsec += step;
		while (at.tv_nsec >= 1000000000L) {
			at.tv_nsec -= 1000000000L;
			at.tv_sec++;
		}
	}
	(void)ringside_flush(rs, 60000, on_report, NULL);
	ringside_close(rs);
	printf("sent %llu refused %llu delivered %llu failed %llu spooled %llu "
	       "last_ms %lld\n",
	       sent, refused, delivered, failed, spooled, last_ms);
	return 0;
}
