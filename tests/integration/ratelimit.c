/* SPDX-License-Identifier: MIT */
/*
 * ratelimit: max_records_per_second. A client sending flat out is held to
 * the rate (it takes at least as long as the limit allows, its ring fills
 * and its sends get RINGSIDE_EFULL), while a client under the rate is
 * not slowed down at all (no ring-full retry); every record of both
 * arrives exactly once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "verify.h"

#define RATE 2000
#define FAST_RECORDS 8000U
#define SLOW_RECORDS 400U

static const struct v_topic topics[] = { { "rate", 4, -1 } };

int main(void)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	char out[2][400], keys[128];
	struct h_client c[2];
	struct h_env e;
	struct v_ctx v;
	int64_t t0, fast_ms;
	pid_t fast, slow;

	h_init(&e, "ratelimit");
	h_mock_start(&e, 1);
	h_topic(&e, "rate", 4);
	snprintf(keys, sizeof(keys),
		 "ring_size = 64K\nmax_record_bytes = 16K\n"
		 "max_records_per_second = %d\n",
		 RATE);
	h_write_config(&e, keys, "linger.ms = 5\n[topic:*]\nacks = 1\n");
	h_daemon_start(&e);
	{
		const char *a[] = { client, "--socket",	 e.sock, "--id",
				    "0",    "--records", "8000", "--topics",
				    "rate", NULL };
		const char *b[] = { client, "--socket",	 e.sock, "--id",
				    "1",    "--records", "400",	 "--rate",
				    "100",  "--topics",	 "rate", NULL };

		snprintf(out[0], sizeof(out[0]), "%s/fast.out", e.dir);
		snprintf(out[1], sizeof(out[1]), "%s/slow.out", e.dir);
		t0 = h_now_ms();
		fast = h_spawn(a, out[0]);
		slow = h_spawn(b, out[1]);
	}
	CHECK(h_wait(fast, 60000) == 0, "the fast client failed");
	fast_ms = h_now_ms() - t0;
	CHECK(h_wait(slow, 60000) == 0, "the slow client failed");
	for (int i = 0; i < 2; i++) {
		h_read_client(out[i], &c[i]);
		CHECK(c[i].complete && c[i].flush_rc == 0 && c[i].failures == 0,
		      "client %d did not finish cleanly", i);
	}
	/* a second's burst, then RATE a second */
	CHECK(fast_ms >= (FAST_RECORDS - RATE) * 1000 / RATE - 200,
	      "8,000 records at %d/s took only %lld ms", RATE,
	      (long long)fast_ms);
	CHECK(c[0].efull[0] > 0, "the fast client never found its ring full");
	CHECK(c[1].efull[0] == 0,
	      "the slow client was held back: %llu ring-full retries",
	      c[1].efull[0]);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");

	v_init(&v, 2, 1, FAST_RECORDS, 7, topics, 1);
	v_consume(&v, &e);
	CHECK(v.consumed == FAST_RECORDS + SLOW_RECORDS && v.duplicates == 0 &&
		      v.bad_content == 0,
	      "consumed %zu, duplicates %zu, bad %zu", v.consumed, v.duplicates,
	      v.bad_content);
	printf("ratelimit: %d records/s per session: 8,000 records flat out "
	       "took %lld ms (%llu ring-full retries); a client at 100/s "
	       "alongside: 0 retries; all %u records arrived once\n",
	       RATE, (long long)fast_ms, c[0].efull[0],
	       FAST_RECORDS + SLOW_RECORDS);
	h_client_free(&c[0]);
	h_client_free(&c[1]);
	v_free(&v);
	h_cleanup(&e);
	return 0;
}
