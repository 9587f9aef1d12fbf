/* SPDX-License-Identifier: MIT */
/*
 * spoolfull: the brokers are down and the spool runs out of room, first
 * at spool_max_bytes, then on a real full filesystem (a small tmpfs
 * mounted over the spool directory, which gives ENOSPC; skipped, and said
 * so, where the test may not mount). With the default spool_full = block,
 * ringsided must stay up, stop draining the rings, so sends return
 * RINGSIDE_EFULL at once, and lose nothing: when the brokers come back,
 * every record arrives exactly as sent, in per-key order, and every final
 * report reaches its client.
 *
 * Then with spool_full = drop_oldest: the sends are never refused, the
 * oldest segments are dropped, no more records are missing than ringsided
 * counted as dropped, and the rest arrive in per-key order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "verify.h"

#define WRITERS 2U
#define THREADS 2U
#define PER_THREAD 20000U
#define DOWN_S 5

static const struct v_topic topics[] = { { "spoolfull", 6, -1 } };
static char mounted[320];

static void unmount_spool(void)
{
	/* lazily: a ringsided killed a moment ago may still hold it */
	if (mounted[0] != '\0' && umount2(mounted, MNT_DETACH) == 0)
		mounted[0] = '\0';
}

struct scenario {
	const char *name;
	const char *ringside_keys;
	unsigned int tmpfs_mib; /* 0: no tmpfs */
	const char *expect_log;
	int drop; /* spool_full = drop_oldest */
};

static int mount_spool(struct h_env *e, unsigned int mib)
{
	char opts[64];

	snprintf(mounted, sizeof(mounted), "%s/spool", e->dir);
	CHECK(mkdir(mounted, 0700) == 0, "mkdir %s: %s", mounted,
	      strerror(errno));
	snprintf(opts, sizeof(opts), "size=%um,mode=0700", mib);
	if (mount("ringside-test", mounted, "tmpfs", 0, opts) < 0) {
		printf("%s: SKIP: cannot mount a tmpfs on the spool "
		       "directory (%s); this part needs root with "
		       "CAP_SYS_ADMIN\n",
		       e->dir, strerror(errno));
		mounted[0] = '\0';
		return -1;
	}
	return 0;
}

static void run(const struct scenario *sc)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	char out[WRITERS][400], id[WRITERS][16], nrec[16];
	struct h_client c[WRITERS];
	unsigned long long efull = 0, finals = 0;
	unsigned int lost = 0;
	pid_t pids[WRITERS];
	long long dups, dropped;
	struct h_env e;
	struct v_ctx v;

	h_init(&e, sc->name);
	if (sc->tmpfs_mib > 0 && mount_spool(&e, sc->tmpfs_mib) < 0) {
		h_cleanup(&e);
		return;
	}
	h_mock_start(&e, 3);
	h_topic(&e, topics[0].name, topics[0].partitions);
	h_write_config(&e, sc->ringside_keys,
		       "queue.buffering.max.messages = 2000\n"
		       "linger.ms = 5\nsocket.timeout.ms = 5000\n"
		       "[topic:*]\nacks = all\nbacklog_ms = 200\n");
	h_daemon_start(&e);
	CHECK(rd_kafka_mock_broker_set_down(e.mc, -1) == 0, "brokers down");

	snprintf(nrec, sizeof(nrec), "%u", PER_THREAD);
	for (unsigned int w = 0; w < WRITERS; w++) {
		const char *argv[] = { client,
				       "--socket",
				       e.sock,
				       "--id",
				       id[w],
				       "--threads",
				       "2",
				       "--records",
				       nrec,
				       "--rate",
				       "10000",
				       "--keys",
				       "5",
				       "--topics",
				       topics[0].name,
				       "--no-reports",
				       "--final",
				       "120",
				       NULL };

		/* dropped records get no final report: wait only until
		 * each record is spooled or final */
		if (sc->drop)
			argv[16] = NULL;

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e.dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}
	sleep(DOWN_S);
	CHECK(kill(e.daemon, 0) == 0, "ringsided died with a full spool");
	CHECK(h_log_count(&e, sc->expect_log) > 0,
	      "the log does not say \"%s\"", sc->expect_log);
	{
		const char *o;
		int st = h_ctl(&e, "health", &o);

		/* a full spool: records wait in rings, or old ones are
		 * dropped (the log said so above, a moment ago) */
		CHECK(st == 1 && strncmp(o, "unready\n", 8) == 0 &&
			      strstr(o, "unready: spool: ") != NULL,
		      "ringsidectl health with the spool full: exit %d: %s",
		      st, o);
		printf("%s: ringsidectl health: exit 1\n%s", sc->name, o);
		if (!sc->drop) {
			/* the clients count the sends their full rings
			 * refused, and status adds them up per session */
			unsigned long long refused = 0, one;
			const char *p;

			CHECK(h_ctl(&e, "status --json", &o) == 0, "status");
			for (p = o; (p = strstr(p, "\"sends_refused\": ")) !=
				    NULL;
			     p++)
				if (sscanf(p, "\"sends_refused\": %llu", &one) ==
				    1)
					refused += one;
			CHECK(refused > 0,
			      "no session counted a refused send: %s", o);
			printf("%s: sessions' sends_refused add up to %llu\n",
			       sc->name, refused);
		}
	}
	CHECK(rd_kafka_mock_broker_set_up(e.mc, -1) == 0, "brokers up");
	for (unsigned int w = 0; w < WRITERS; w++)
		CHECK(h_wait(pids[w], 180000) == 0, "client %u failed", w);
	if (sc->drop) {
		int64_t deadline = h_now_ms() + 120000;

		while (h_log_count(&e, "spool drained") == 0) {
			CHECK(h_now_ms() < deadline, "the spool never drained");
			usleep(50 * 1000);
		}
	}

	for (unsigned int w = 0; w < WRITERS; w++) {
		h_read_client(out[w], &c[w]);
		CHECK(c[w].complete, "client %u did not finish", w);
		CHECK(c[w].failures == 0, "client %u: %llu records failed", w,
		      c[w].failures);
		for (unsigned int t = 0; t < THREADS; t++) {
			CHECK(c[w].sent[t] == PER_THREAD,
			      "client %u thread %u sent %u", w, t,
			      c[w].sent[t]);
			efull += c[w].efull[t];
		}
		finals += c[w].finals + (sc->drop ? c[w].spooled : 0);
		h_client_free(&c[w]);
	}
	if (!sc->drop)
		CHECK(efull > 0,
		      "the rings never filled: the spool was not full");
	CHECK(finals == (unsigned long long)PER_THREAD * WRITERS * THREADS,
	      "%llu final reports for %u records", finals,
	      PER_THREAD * WRITERS * THREADS);

	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");
	dups = h_log_sum(&e, "possible duplicates ");
	/* the totals line, last: "... N records to deliver, D dropped" */
	dropped = h_log_number(&e, "records to deliver, ");
	v_init(&v, WRITERS, THREADS, PER_THREAD, 5, topics, 1);
	v_consume(&v, &e);
	for (unsigned int w = 0; w < WRITERS; w++)
		for (unsigned int t = 0; t < THREADS; t++) {
			int contiguous;

			lost += PER_THREAD - v_arrived(&v, w, t, &contiguous);
		}
	printf("%s: %u records, spool out of room while brokers were down "
	       "%d s: ring-full retries %llu, lost %u (ringsided counted %lld "
	       "dropped), duplicates %zu (ringsided counted %lld possible), "
	       "per-key order violations %zu\n",
	       sc->name, PER_THREAD * WRITERS * THREADS, DOWN_S, efull, lost,
	       dropped, v.duplicates, dups, v.order_violations);
	CHECK(v.bad_content == 0, "%zu records differ from what was sent",
	      v.bad_content);
	if (sc->drop) {
		CHECK(lost > 0, "nothing was dropped");
		/* an upper bound: a dropped record whose copy was still in
		 * librdkafka may yet be delivered from there */
		CHECK((long long)lost <= dropped,
		      "%u records missing, ringsided counted %lld dropped",
		      lost, dropped);
	} else {
		CHECK(lost == 0, "%u records lost", lost);
	}
	CHECK(v.order_violations == 0, "%zu per-key order violations",
	      v.order_violations);
	CHECK((long long)v.duplicates <= dups,
	      "more duplicates than ringsided counted");
	v_free(&v);
	unmount_spool();
	h_cleanup(&e);
}

int main(void)
{
	/* about 6 MB of records: the spool holds 2 MB */
	const struct scenario limit = {
		"spool-limit",
		"ring_size = 256K\nmax_record_bytes = 64K\nspool_max_bytes = "
		"2M\n"
		"spool_segment_bytes = 1M\n",
		0,
		"spool: full",
		0,
	};
	const struct scenario enospc = {
		"spool-enospc",
		"ring_size = 256K\nmax_record_bytes = 64K\nspool_max_bytes = "
		"1G\n"
		"spool_segment_bytes = 1M\n",
		3,
		"No space left on device",
		0,
	};

	const struct scenario drop = {
		"spool-drop",
		"ring_size = 256K\nmax_record_bytes = 64K\n"
		"spool_max_bytes = 2M\nspool_segment_bytes = 1M\n"
		"spool_full = drop_oldest\n",
		0,
		"spool: dropping segment",
		1,
	};

	atexit(unmount_spool);
	run(&limit);
	run(&enospc);
	run(&drop);
	return 0;
}
