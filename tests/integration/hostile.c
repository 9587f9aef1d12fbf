/* SPDX-License-Identifier: MIT */
/*
 * hostile: while two honest clients send, hostile ones (rs_hostile) write
 * garbage into their rings, claim frames past the end or of 4 GiB, move
 * tail backwards, rewrite frames while the daemon may be reading them,
 * move the reply head past its tail, try to truncate or reseal the memfd,
 * and send descriptors with control messages. ringsided must stay up,
 * disconnect each rule-breaker with the reason in its log, refuse the
 * truncation (seals), close every descriptor it was sent, and deliver all
 * of the honest clients' records exactly once, in per-key order.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "verify.h"

#define WRITERS 2U
#define THREADS 2U
#define PER_THREAD 10000U

static const struct v_topic topics[] = { { "honest", 6, -1 } };

/* 1 if the socket inode is a Unix socket (what a client connects with). */
static int unix_socket(pid_t pid, unsigned long inode)
{
	char path[64], line[512];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/net/unix", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 1;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long ino;

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &ino) == 1)
			found = ino == inode;
	}
	fclose(f);
	return found;
}

/* The daemon's descriptors, but not its TCP connections to brokers, which
 * librdkafka opens and closes as it likes. */
static int count_fds(pid_t pid)
{
	char path[64], fdpath[320], target[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		unsigned long inode;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		len = readlink(fdpath, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) == 1 &&
		    !unix_socket(pid, inode))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

int main(void)
{
	static const struct {
		const char *mode;
		const char *reason; /* NULL: no violation required */
	} attacks[] = {
		{ "garbage", "protocol violation" },
		{ "past-end", "protocol violation: frame" },
		{ "huge", "protocol violation: frame" },
		{ "backwards", "protocol violation: tail moved backwards" },
		{ "reply-head", "protocol violation: reply head out of range" },
		{ "flip", NULL },
		{ "truncate", NULL },
		{ "fds", NULL },
	};
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	const char *hostile =
		h_env_or("RS_HOSTILE", "tests/integration/rs_hostile");
	char out[WRITERS][400], id[WRITERS][16], nrec[16], hout[400];
	struct h_client c[WRITERS];
	unsigned int lost = 0;
	int fds_before, fds_after = -1;
	pid_t pids[WRITERS];
	struct h_env e;
	struct v_ctx v;

	h_init(&e, "hostile");
	h_mock_start(&e, 3);
	h_topic(&e, "honest", 6);
	h_topic(&e, "hostile", 2);
	h_topic(&e, "warmup", 6); /* a leader on every broker */
	/* a small reply ring, so the daemon soon needs a client's head */
	h_write_config(&e,
		       "ring_size = 1M\nmax_record_bytes = 64K\n"
		       "reply_slots = 64\n",
		       "linger.ms = 5\n[topic:*]\nacks = all\n");
	h_daemon_start(&e);
	{
		/* both topics in use, so librdkafka's broker connections are
		 * all open before the descriptors are counted */
		const char *argv[] = { client, "--socket", e.sock,
				       "--id", "9",	   "--records",
				       "20",   "--topics", "warmup,hostile",
				       NULL };

		snprintf(hout, sizeof(hout), "%s/warmup.out", e.dir);
		CHECK(h_wait(h_spawn(argv, hout), 30000) == 0, "warm-up");
	}
	usleep(300 * 1000);
	fds_before = count_fds(e.daemon);

	snprintf(nrec, sizeof(nrec), "%u", PER_THREAD);
	for (unsigned int w = 0; w < WRITERS; w++) {
		const char *argv[] = { client,	 "--socket",  e.sock,
				       "--id",	 id[w],	      "--threads",
				       "2",	 "--records", nrec,
				       "--rate", "2500",      "--keys",
				       "7",	 "--topics",  "honest",
				       NULL };

		snprintf(id[w], sizeof(id[w]), "%u", w);
		snprintf(out[w], sizeof(out[w]), "%s/client-%u.out", e.dir, w);
		pids[w] = h_spawn(argv, out[w]);
	}

	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const char *argv[] = { hostile, e.sock, attacks[i].mode, NULL };
		char needle[200];
		int rc;

		snprintf(hout, sizeof(hout), "%s/hostile-%s.out", e.dir,
			 attacks[i].mode);
		rc = h_wait(h_spawn(argv, hout), 30000);
		CHECK(rc == 0, "rs_hostile %s: exit %d", attacks[i].mode, rc);
		CHECK(kill(e.daemon, 0) == 0, "ringsided died of %s",
		      attacks[i].mode);
		if (attacks[i].reason != NULL) {
			snprintf(needle, sizeof(needle), "name hostile-%s): %s",
				 attacks[i].mode, attacks[i].reason);
			CHECK(h_log_count(&e, needle) == 1,
			      "no \"%s\" in the log", needle);
		}
		printf("hostile: %-10s daemon up%s%s\n", attacks[i].mode,
		       attacks[i].reason ? ", disconnected: " : "",
		       attacks[i].reason ? attacks[i].reason : "");
	}
	snprintf(hout, sizeof(hout), "%s/hostile-truncate.out", e.dir);
	CHECK(h_file_has(hout, "shrink: Operation not permitted; grow: "
			       "Operation not permitted; new seal: Operation "
			       "not permitted"),
	      "the memfd could be truncated, grown or resealed");

	for (unsigned int w = 0; w < WRITERS; w++) {
		CHECK(h_wait(pids[w], 120000) == 0, "honest client %u failed",
		      w);
		h_read_client(out[w], &c[w]);
		CHECK(c[w].complete && c[w].flush_rc == 0 && c[w].failures == 0,
		      "honest client %u: flush %d, failures %llu", w,
		      c[w].flush_rc, c[w].failures);
	}
	/* every hostile session is gone: so is every descriptor they sent */
	for (int tries = 0; tries < 50; tries++) {
		fds_after = count_fds(e.daemon);
		if (fds_after <= fds_before)
			break;
		usleep(100 * 1000);
	}
	CHECK(fds_after <= fds_before,
	      "ringsided holds %d descriptors, %d before the attacks",
	      fds_after, fds_before);
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");

	v_init(&v, WRITERS, THREADS, PER_THREAD, 7, topics, 1);
	v_consume(&v, &e);
	for (unsigned int w = 0; w < WRITERS; w++)
		for (unsigned int t = 0; t < THREADS; t++) {
			int contiguous;

			lost += c[w].sent[t] - v_arrived(&v, w, t, &contiguous);
		}
	printf("hostile: %zu attacks survived; honest clients: %u records, "
	       "lost %u, duplicates %zu, bad %zu, per-key order violations "
	       "%zu; descriptors %d before, %d after\n",
	       sizeof(attacks) / sizeof(attacks[0]),
	       PER_THREAD * WRITERS * THREADS, lost, v.duplicates,
	       v.bad_content, v.order_violations, fds_before, fds_after);
	CHECK(lost == 0 && v.duplicates == 0 && v.bad_content == 0 &&
		      v.order_violations == 0,
	      "the honest clients' records were harmed");
	for (unsigned int w = 0; w < WRITERS; w++)
		h_client_free(&c[w]);
	v_free(&v);
	h_cleanup(&e);
	return 0;
}
