/* SPDX-License-Identifier: MIT */
/*
 * acl: who may open a session and who may send to which topic, decided by
 * [ringside] and [topic:NAME] allow_users / allow_groups against the
 * peer's SO_PEERCRED and SO_PEERGROUPS. Clients run as made-up uids and
 * gids (no account needed), so the test needs root; elsewhere it is
 * skipped, and says so.
 *
 *   uid 61001                 listed user: opens, sends to every topic
 *   uid 61002                 not listed: refused at open, with the reason
 *   uid 61003, group 61100    listed group: opens, but not "secret"
 *   root (this process)       not listed: refused; root is not special
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/ringside.h"
#include "harness.h"
#include "verify.h"

static const struct v_topic topics[] = { { "open", 2, -1 },
					 { "secret", 2, -1 } };

static int run_as(struct h_env *e, unsigned int uid, const gid_t *groups,
		  int ngroups, const char *topic_list, unsigned int id,
		  char *out, size_t outlen)
{
	const char *client =
		h_env_or("RS_TEST_CLIENT", "tests/integration/rs_test_client");
	char idbuf[16];
	const char *argv[] = { client,	   "--socket",	e->sock, "--id",
			       idbuf,	   "--records", "200",	 "--topics",
			       topic_list, NULL };

	snprintf(idbuf, sizeof(idbuf), "%u", id);
	snprintf(out, outlen, "%s/client-%u.out", e->dir, uid);
	return h_wait(
		h_spawn_as((uid_t)uid, (gid_t)uid, groups, ngroups, argv, out),
		30000);
}

static void bad_name(struct h_env *e)
{
	const char *bin = h_env_or("RINGSIDED", "daemon/ringsided");
	char conf[400], cmd[1200], out[400];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/bad.ini", e->dir);
	snprintf(out, sizeof(out), "%s/bad.out", e->dir);
	f = fopen(conf, "w");
	CHECK(f != NULL, "%s", conf);
	fprintf(f, "[ringside]\nallow_users = root, no-such-user-ringside\n"
		   "[kafka]\nbootstrap.servers = x:9092\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' --check --config '%s' >'%s' 2>&1", bin,
		 conf, out);
	CHECK(system(cmd) != 0, "a config naming a missing user was accepted");
	CHECK(h_file_has(out, "bad.ini:2: allow_users: no user named "
			      "'no-such-user-ringside'"),
	      "no file:line error for a missing user");
}

int main(void)
{
	const gid_t group61100[] = { 61100 };
	char out[400], err[256];
	struct h_client c;
	struct h_env e;
	ringside_t *rs;
	int rc;

	if (geteuid() != 0) {
		printf("acl: SKIP: running clients as other users needs "
		       "root\n");
		return 77;
	}
	h_init(&e, "acl");
	CHECK(chmod(e.dir, 0755) == 0, "chmod %s", e.dir);
	h_mock_start(&e, 1);
	h_topic(&e, "open", 2);
	h_topic(&e, "secret", 2);
	h_write_config(&e,
		       "socket_mode = 0666\nallow_users = 61001\n"
		       "allow_groups = 61100\nmax_sessions_per_uid = 1\n",
		       "[topic:*]\nacks = all\n"
		       "[topic:secret]\nallow_users = 61001\n");
	h_daemon_start(&e);

	rc = run_as(&e, 61001, NULL, 0, "open,secret", 0, out, sizeof(out));
	CHECK(rc == 0, "uid 61001 (listed) failed: %d", rc);
	h_read_client(out, &c);
	CHECK(c.complete && c.flush_rc == 0 && c.nreports == 200,
	      "uid 61001: %zu reports", c.nreports);
	for (size_t i = 0; i < c.nreports; i++)
		CHECK(c.reports[i].status == 0, "uid 61001: a record failed");
	h_client_free(&c);

	/* one session per uid: a second one at the same time is refused */
	{
		const char *client = h_env_or(
			"RS_TEST_CLIENT", "tests/integration/rs_test_client");
		const char *argv[] = { client, "--socket",  e.sock, "--id",
				       "0",    "--records", "2000", "--rate",
				       "1000", "--topics",  "open", NULL };
		char out2[400];
		pid_t first;

		snprintf(out2, sizeof(out2), "%s/first.out", e.dir);
		first = h_spawn_as(61001, 61001, NULL, 0, argv, out2);
		usleep(500 * 1000);
		rc = run_as(&e, 61001, NULL, 0, "open", 0, out, sizeof(out));
		CHECK(rc != 0, "a second session of uid 61001 was let in");
		strncat(out, ".err", sizeof(out) - strlen(out) - 1);
		CHECK(h_file_has(out, "uid 61001 already has 1 sessions "
				      "(max_sessions_per_uid)"),
		      "the second session was refused without the reason");
		CHECK(h_wait(first, 30000) == 0, "the first session failed");
	}

	rc = run_as(&e, 61002, NULL, 0, "open", 1, out, sizeof(out));
	CHECK(rc != 0, "uid 61002 (not listed) was let in");
	strncat(out, ".err", sizeof(out) - strlen(out) - 1);
	CHECK(h_file_has(out, "uid 61002 may not use ringsided"),
	      "uid 61002 was refused without the reason");

	rc = run_as(&e, 61003, group61100, 1, "open", 2, out, sizeof(out));
	CHECK(rc == 0, "uid 61003 (group 61100, listed) failed: %d", rc);
	rc = run_as(&e, 61003, group61100, 1, "secret", 2, out, sizeof(out));
	CHECK(rc != 0, "uid 61003 resolved topic secret");
	strncat(out, ".err", sizeof(out) - strlen(out) - 1);
	CHECK(h_file_has(out, "topic secret: not allowed"),
	      "uid 61003 was refused topic secret without the reason");

	rs = ringside_open(e.sock, err, sizeof(err));
	CHECK(rs == NULL, "root, not listed, was let in");
	CHECK(strstr(err, "uid 0 may not use ringsided") != NULL,
	      "root refused with '%s'", err);

	CHECK(h_log_count(&e, "denied topic secret: uid 61003") == 1,
	      "the daemon did not log the denied topic");
	CHECK(h_log_count(&e, "denied: uid 61002") == 1 &&
		      h_log_count(&e, "denied: uid 0 ") == 1,
	      "the daemon did not log the refused sessions");
	CHECK(h_daemon_stop(&e, SIGTERM, 30000) == 0, "ringsided exit status");

	/* what the allowed clients sent is there, and nothing else: uid
	 * 61001's 200 records over both topics and 2,000 more in open, uid
	 * 61003's 200 in open */
	{
		size_t want[2][3] = { { 2100, 0, 200 }, { 100, 0, 0 } };

		for (int t = 0; t < 2; t++) {
			size_t got[3] = { 0, 0, 0 };
			struct h_msg *msgs;
			size_t n = h_consume(&e, topics[t].name, 2, &msgs);

			for (size_t i = 0; i < n; i++) {
				unsigned int w = 9;

				CHECK(msgs[i].value != NULL &&
					      sscanf(msgs[i].value, "w%u-",
						     &w) == 1 &&
					      w < 3,
				      "a record no allowed client sent");
				got[w]++;
			}
			for (int w = 0; w < 3; w++)
				CHECK(got[w] == want[t][w],
				      "topic %s: %zu records from client %d, "
				      "want %zu",
				      topics[t].name, got[w], w, want[t][w]);
			h_msgs_free(msgs, n);
		}
	}
	bad_name(&e);
	printf("acl: listed user in; unlisted user and root refused at open; "
	       "listed group in, refused topic secret; every refusal logged "
	       "and explained; a missing user name is a config error\n");
	h_cleanup(&e);
	return 0;
}
