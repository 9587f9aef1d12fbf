/* SPDX-License-Identifier: MIT */
/*
 * daemon.c: the real ringsided binary ($RINGSIDED) on a config written for
 * the run, pointed at the mock cluster; its CPU time and peak RSS read
 * from /proc.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void daemon_start(struct daemon *d, const struct cluster *c, const char *acks,
		  const char *extra)
{
	const char *bin = getenv("RINGSIDED");
	char log[400];
	FILE *f;

	if (d->dir[0] == '\0') {
		snprintf(d->dir, sizeof(d->dir), "%s/rs-bench-XXXXXX",
			 getenv("RS_BENCH_DIR") ? getenv("RS_BENCH_DIR")
						: "/var/tmp");
		if (mkdtemp(d->dir) == NULL)
			die("mkdtemp %s: %s", d->dir, strerror(errno));
	}
	snprintf(d->sock, sizeof(d->sock), "%s/rs.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/ringside.ini", d->dir);
	snprintf(d->spool, sizeof(d->spool), "%s/spool", d->dir);
	f = fopen(d->conf, "w");
	if (f == NULL)
		die("%s: %s", d->conf, strerror(errno));
	fprintf(f,
		"[ringside]\nsocket = %s\nspool_dir = %s\nlog_level = notice\n"
		"%s\n[kafka]\nbootstrap.servers = %s\nlinger.ms = 5\n"
		"[topic:*]\nacks = %s\n",
		d->sock, d->spool, extra ? extra : "", c->bootstraps, acks);
	fclose(f);
	snprintf(log, sizeof(log), "%s/ringsided.log", d->dir);
	(void)unlink(d->sock);
	d->pid = fork();
	if (d->pid < 0)
		die("fork");
	if (d->pid == 0) {
		FILE *l = freopen(log, "a", stderr);

		(void)l;
		execl(bin ? bin : "daemon/ringsided", "ringsided", "--config",
		      d->conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (stat(d->sock, &st) == 0)
			return;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
			die("ringsided exited at start; see %s", log);
		usleep(10 * 1000);
	}
	die("ringsided did not listen; see %s", log);
}

double daemon_cpu(const struct daemon *d)
{
	char path[64], buf[2048], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->pid);
	f = fopen(path, "r");
	if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
		die("%s", path);
	fclose(f);
	p = strrchr(buf, ')'); /* the command may hold spaces */
	/* fields after ')': state(3) ... utime(14) stime(15) */
	if (p == NULL || sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				"%lu %lu",
				&ut, &st) != 2)
		die("%s: unreadable", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long daemon_peak_rss_kb(const struct daemon *d)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int daemon_log_has(const struct daemon *d, const char *needle)
{
	char path[400], line[1024];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ringsided.log", d->dir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

void daemon_stop(struct daemon *d)
{
	int status;

	kill(d->pid, SIGTERM);
	if (waitpid(d->pid, &status, 0) != d->pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("ringsided did not exit cleanly; see %s/ringsided.log",
		    d->dir);
	d->pid = 0;
}

void rmdir_tree(const char *dir)
{
	char cmd[600];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("%s failed", cmd);
}

unsigned long long daemon_spilled(const struct daemon *d)
{
	char path[400], line[2048];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ringsided.log", d->dir);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *at = strstr(line, "totals: spilled ");

		if (at != NULL)
			n = strtoull(at + strlen("totals: spilled "), NULL, 10);
	}
	if (f != NULL)
		fclose(f);
	return n;
}
