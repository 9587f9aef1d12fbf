/* SPDX-License-Identifier: MIT */
/*
 * test_spool_faults.c: the spool under every storage failure, in turn.
 *
 * A scenario appends records to two topics, commits, ticks (interval
 * syncs, checkpoints, retries), and now and then reads and retires what it
 * read, as replay does. It reports a record SPOOLED only once
 * rs_spool_committed() covers it, DELIVERED once it has read and retired
 * it. The scenario is first run clean, counting the file-system calls the
 * spool makes; then once for each call N and each kind of fault, in a
 * child process that fails call N (and, for a full disk, the calls after
 * it) and then dies without closing the spool. The parent then restarts
 * the spool, with a fault injected into the restart too, then cleanly,
 * and checks that every record reported SPOOLED and not DELIVERED is
 * there, intact, and that each restart finished.
 *
 * The injected calls replace libc's for the spool code linked into this
 * program. A failed fdatasync() also zeroes what was written to the file
 * since its last good sync: after a writeback error the kernel may have
 * dropped those pages, which is what the spool must assume.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/ringside_clock.h"
#include "daemon/spool.h"
#include "spool_fixture.h"

#define ROUNDS 12
#define PER_ROUND 9
#define NREC (ROUNDS * PER_ROUND)

enum fault_kind {
	FAULT_EIO_ONCE,	    /* one call fails with EIO */
	FAULT_ENOSPC,	    /* the disk fills: this call and the next 5 */
	FAULT_EDQUOT,	    /* a quota: this call and the next 2 */
	FAULT_SHORT,	    /* a short write, then EIO on the rest */
	FAULT_EIO_STICKY,   /* the disk fails for 20 calls */
	FAULT_KINDS,
};

static const char *const kind_names[FAULT_KINDS] = {
	"EIO once", "ENOSPC x6", "EDQUOT x3", "short write + EIO",
	"EIO x20",
};

/* ----------------------------------------------------------- injector */

static struct {
	int armed;
	unsigned long calls;   /* fallible calls so far */
	unsigned long fail_at; /* the call that starts failing (0: none) */
	int err;
	int left;      /* calls still to fail */
	int short_one; /* the failing pwrite writes half first */
} inj;

/* [lo, hi) written to each descriptor since its last good sync */
static struct {
	off_t lo, hi;
} dirty[4096];

static int inject(void)
{
	if (!inj.armed)
		return 0;
	inj.calls++;
	if (inj.fail_at != 0 && inj.calls == inj.fail_at)
		inj.left = inj.left > 0 ? inj.left : 1;
	if (inj.fail_at == 0 || inj.calls < inj.fail_at || inj.left <= 0)
		return 0;
	inj.left--;
	errno = inj.err;
	return 1;
}

static void note_dirty(int fd, off_t off, size_t n)
{
	if (fd < 0 || fd >= 4096 || n == 0)
		return;
	if (dirty[fd].hi == 0 || off < dirty[fd].lo)
		dirty[fd].lo = off;
	if (off + (off_t)n > dirty[fd].hi)
		dirty[fd].hi = off + (off_t)n;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (inject())
		return -1;
	fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
	if (fd >= 0 && fd < 4096)
		dirty[fd].lo = dirty[fd].hi = 0;
	return fd;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	ssize_t k;

	if (inj.armed && inj.short_one && inj.fail_at != 0 &&
	    inj.calls + 1 == inj.fail_at && n > 8) {
		/* half now; the call for the rest fails */
		inj.calls++;
		inj.fail_at++;
		k = (ssize_t)syscall(SYS_pwrite64, fd, buf, n / 2, off);
		if (k > 0)
			note_dirty(fd, off, (size_t)k);
		return k;
	}
	if (inject())
		return -1;
	k = (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
	if (k > 0)
		note_dirty(fd, off, (size_t)k);
	return k;
}

int fdatasync(int fd)
{
	if (inject()) {
		/* the kernel may have dropped what it could not write */
		if (fd >= 0 && fd < 4096 && dirty[fd].hi > dirty[fd].lo) {
			static const char zeros[65536];

			for (off_t o = dirty[fd].lo; o < dirty[fd].hi;) {
				size_t len = dirty[fd].hi - o > 65536
						     ? 65536
						     : (size_t)(dirty[fd].hi -
								o);

				(void)syscall(SYS_pwrite64, fd, zeros, len, o);
				o += (off_t)len;
			}
			dirty[fd].lo = dirty[fd].hi = 0;
		}
		return -1;
	}
	if (fd >= 0 && fd < 4096)
		dirty[fd].lo = dirty[fd].hi = 0;
	return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
	if (inject())
		return -1;
	return (int)syscall(SYS_fsync, fd);
}

int renameat(int a, const char *from, int b, const char *to)
{
	if (inject())
		return -1;
	return (int)syscall(SYS_renameat, a, from, b, to);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (inject())
		return -1;
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

int ftruncate(int fd, off_t len)
{
	if (inject())
		return -1;
	return (int)syscall(SYS_ftruncate, fd, len);
}

int unlinkat(int dirfd, const char *path, int flags)
{
	if (inject())
		return -1;
	return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	if (inject())
		return -1;
	return (ssize_t)syscall(SYS_pread64, fd, buf, n, off);
}

static void arm(unsigned long fail_at, enum fault_kind kind)
{
	memset(&inj, 0, sizeof(inj));
	inj.fail_at = fail_at;
	switch (kind) {
	case FAULT_EIO_ONCE:
		inj.err = EIO;
		inj.left = 1;
		break;
	case FAULT_ENOSPC:
		inj.err = ENOSPC;
		inj.left = 6;
		break;
	case FAULT_EDQUOT:
		inj.err = EDQUOT;
		inj.left = 3;
		break;
	case FAULT_SHORT:
		inj.err = EIO;
		inj.left = 1;
		inj.short_one = 1;
		break;
	default:
		inj.err = EIO;
		inj.left = 20;
		break;
	}
	inj.armed = 1;
}

/* ----------------------------------------------------------- scenario */

/*
 * Runs the scenario, writing "S opaque" and "D opaque" lines to out.
 * heal: at the end the disk recovers and the spool gets its retries
 * before the crash (interval syncing promises nothing for records that
 * are only in memory when the process dies). Returns the calls made.
 */
static unsigned long scenario(struct fixture *fx, FILE *out, int heal)
{
	uint64_t seqs[NREC];
	int reported[NREC] = { 0 };
	unsigned int appended = 0;
	struct rs_spool_cursor cur[2] = { { 0 }, { 0 } };
	const char *topics[2] = { "a", "b" };
	int64_t now = rs_now_ms(); /* the spool's retries use this clock */
	char err[256], value[400];

	fx->nfound = 0;
	if (rs_spool_open(&fx->cfg, NULL, NULL, &fx->sp, err,
			  sizeof(err)) < 0) {
		fx->sp = NULL;
		return inj.calls;
	}
	for (int t = 0; t < 2; t++) {
		struct rs_spool_pos end;

		rs_spool_end(fx->sp, &end);
		rs_spool_cursor_init(&cur[t],
				     rs_spool_topic(fx->sp, topics[t], 1),
				     &end, rs_spool_last_seq(fx->sp));
	}
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t committed;

		for (int i = 0; i < PER_ROUND; i++) {
			unsigned int id = appended;
			const char *topic = topics[id % 2];
			struct rs_srec_in in = {
				.topic = topic,
				.topic_len = 1,
				.opaque = id,
				.partition = -1,
				.key = topic,
				.key_len = 1,
				.value = value,
				.value_len = (uint32_t)fx_value(id, value),
			};
			struct rs_spool_pos pos;

			if (rs_spool_append(fx->sp,
					    rs_spool_topic(fx->sp, topic, 1),
					    &in, &seqs[id], &pos) == 0)
				appended++;
		}
		(void)rs_spool_commit(fx->sp);
		committed = rs_spool_committed(fx->sp);
		for (unsigned int i = 0; i < appended; i++)
			if (!reported[i] && seqs[i] <= committed) {
				reported[i] = 1;
				fprintf(out, "S %u\n", i);
			}
		now += 120;
		rs_spool_tick(fx->sp, now);
		if (round % 2 == 1) {
			/* deliver what can be read, as replay does */
			for (int t = 0; t < 2; t++) {
				struct rs_srec r;
				struct rs_spool_pos at;
				uint64_t n = 0, below = 0;
				int k;

				while ((k = rs_spool_next(fx->sp, &cur[t], &r,
							  &at)) != 0 &&
				       k != RS_SPOOL_NEXT_EIO) {
					if (k < 0)
						continue;
					fprintf(out, "D %llu\n",
						(unsigned long long)r.opaque);
					below = r.seq + 1;
					n++;
				}
				if (n > 0)
					rs_spool_retire(
						fx->sp,
						rs_spool_topic(fx->sp,
							       topics[t], 1),
						below, n);
			}
		}
	}
	if (heal) {
		uint64_t committed;

		inj.left = 0;
		inj.fail_at = 0;
		for (int i = 0; i < 5; i++) {
			now += 1500;
			rs_spool_tick(fx->sp, now);
			(void)rs_spool_commit(fx->sp);
		}
		rs_spool_tick(fx->sp, now + 1500);
		committed = rs_spool_committed(fx->sp);
		for (unsigned int i = 0; i < appended; i++)
			if (!reported[i] && seqs[i] <= committed)
				fprintf(out, "S %u\n", i);
	}
	fflush(out);
	rs_spool_cursor_free(&cur[0]);
	rs_spool_cursor_free(&cur[1]);
	return inj.calls; /* and the caller dies without closing */
}

/* Reads the child's lines: spooled[i], delivered[i]. */
static void read_lines(const char *path, int *spooled, int *delivered)
{
	FILE *f = fopen(path, "r");
	char kind;
	unsigned int id;

	assert_non_null(f);
	memset(spooled, 0, NREC * sizeof(int));
	memset(delivered, 0, NREC * sizeof(int));
	while (fscanf(f, " %c %u", &kind, &id) == 2) {
		assert_true(id < NREC);
		if (kind == 'S')
			spooled[id] = 1;
		else
			delivered[id] = 1;
	}
	fclose(f);
}

/* Restarts the spool and checks nothing reported SPOOLED and not
 * DELIVERED is missing. */
static void verify(struct fixture *fx, const int *spooled,
		   const int *delivered, const char *what)
{
	static unsigned int seen[NREC];
	int found[NREC] = { 0 };
	const char *topics[2] = { "a", "b" };

	alarm(20); /* a recovery that never ends fails the test */
	fx_open(fx);
	alarm(0);
	for (int t = 0; t < 2; t++) {
		unsigned int n = fx_read(fx, topics[t], &fx_start, seen, NREC);

		for (unsigned int i = 0; i < n; i++)
			found[seen[i]] = 1;
	}
	fx_close(fx);
	for (unsigned int i = 0; i < NREC; i++)
		if (spooled[i] && !delivered[i] && !found[i])
			fail_msg("%s: record %u was reported SPOOLED and is "
				 "missing after the restart",
				 what, i);
}

static void empty_dir(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", dir);
	assert_int_equal(system(cmd), 0);
}

static void run_matrix(struct fixture *fx, enum rs_fsync_mode mode)
{
	static int spooled[NREC], delivered[NREC];
	char out[128], what[160];
	unsigned long total, runs = 0, restarts_failed = 0;
	FILE *f;

	fx->cfg.fsync = mode;
	fx->cfg.fsync_interval_ms = 100;
	fx->cfg.segment_bytes = 8192; /* rotations, checkpoints, deletes */
	fx->cfg.max_bytes = 6 * 8192; /* and a full spool now and then */
	snprintf(out, sizeof(out), "%s.out", fx->dir);

	/* a clean run, counting the calls */
	f = fopen(out, "w");
	arm(0, FAULT_EIO_ONCE);
	total = scenario(fx, f, 0);
	inj.armed = 0;
	rs_spool_close(fx->sp);
	fx->sp = NULL;
	fclose(f);
	read_lines(out, spooled, delivered);
	verify(fx, spooled, delivered, "clean run");
	assert_true(total > 50);

	for (int kind = 0; kind < FAULT_KINDS; kind++) {
		for (unsigned long at = 1; at <= total + 2; at++) {
			int heal = mode != RS_FSYNC_ALWAYS || at % 2 == 0;
			pid_t pid;
			int status;

			empty_dir(fx->dir);
			pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				f = fopen(out, "w");
				arm(at, (enum fault_kind)kind);
				(void)scenario(fx, f, heal);
				fclose(f);
				_exit(0); /* a crash: nothing is closed */
			}
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFEXITED(status) &&
				    WEXITSTATUS(status) == 0);
			read_lines(out, spooled, delivered);
			/* a restart that itself meets the fault */
			{
				char err[256];

				arm(1 + at % 40, (enum fault_kind)kind);
				alarm(20);
				if (fx_try_open(fx, err, sizeof(err)) == 0) {
					alarm(0);
					inj.armed = 0;
					fx_close(fx);
				} else {
					alarm(0);
					restarts_failed++;
				}
				inj.armed = 0;
			}
			snprintf(what, sizeof(what),
				 "%s, fsync %s, call %lu of %lu",
				 kind_names[kind],
				 mode == RS_FSYNC_ALWAYS ? "always"
							 : "interval",
				 at, total);
			verify(fx, spooled, delivered, what);
			runs++;
		}
	}
	printf("fsync %s: %lu fallible calls in the clean run; %lu faulty "
	       "runs, each then restarted under a fault (%lu of those "
	       "restarts refused to open) and cleanly: nothing reported "
	       "SPOOLED was lost\n",
	       mode == RS_FSYNC_ALWAYS ? "always" : "interval", total, runs,
	       restarts_failed);
	unlink(out);
}

static void test_faults_fsync_always(void **state)
{
	run_matrix(*state, RS_FSYNC_ALWAYS);
}

static void test_faults_fsync_interval(void **state)
{
	run_matrix(*state, RS_FSYNC_INTERVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_faults_fsync_always,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_faults_fsync_interval,
						fx_setup, fx_teardown),
	};

	if (access("/dev/shm", W_OK) == 0)
		fx_base_dir = "/dev/shm";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
