/* SPDX-License-Identifier: MIT */
/*
 * ringsidectl: asks ringsided how it is doing, over its control socket.
 *
 *   ringsidectl [-s SOCKET] status [--json]
 *   ringsidectl [-s SOCKET] health [--json] [--strict]
 *
 * health exits 0 when ringsided is ready (degraded too, unless --strict),
 * 1 when it is not, 3 when it cannot be asked; 2 is a usage error.
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: ringsidectl [-s SOCKET] status [--json]\n"
		"       ringsidectl [-s SOCKET] health [--json] [--strict]\n"
		"       ringsidectl --version\n"
		"  -s SOCKET  ringsided's socket (default $RINGSIDE_SOCKET, "
		"then %s)\n"
		"  --json     the report as JSON\n"
		"  --strict   health: exit 1 when degraded, not only when "
		"unready\n"
		"  -V, --version  print the version and exit\n"
		"health exits 0 ready, 1 unready (or degraded with --strict), "
		"3 no answer\n",
		RINGSIDE_DEFAULT_SOCKET);
}

/* Asks for a report and copies it to out. 0, or 1 when the daemon could
 * not be asked or did not answer in full (said on stderr). */
static int ctl_ask(const char *path, uint32_t flags, FILE *out)
{
	struct ringside_msg_status req = {
		.hdr = { RINGSIDE_MSG_STATUS, sizeof(req) },
		.flags = flags,
	};
	char buf[sizeof(struct ringside_msg) + RINGSIDE_STATUS_CHUNK];
	int sock, err, rc = 1;

	err = rs_conn_connect(path, 5000, &sock);
	if (err < 0) {
		fprintf(stderr, "ringsidectl: cannot connect to %s: %s\n", path,
			ringside_strerror(err));
		return 1;
	}
	if (send(sock, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
		perror("ringsidectl: send");
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		struct ringside_msg h;
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1) {
			fprintf(stderr, "ringsidectl: no answer in 5 s\n");
			goto out;
		}
		n = recv(sock, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(h)) {
			fprintf(stderr,
				"ringsidectl: the report was cut short\n");
			goto out;
		}
		memcpy(&h, buf, sizeof(h));
		if (h.len != (uint32_t)n) {
			fprintf(stderr, "ringsidectl: malformed answer\n");
			goto out;
		}
		if (h.type == RINGSIDE_MSG_STATUS_END)
			break;
		if (h.type == RINGSIDE_MSG_ERROR &&
		    (size_t)n == sizeof(struct ringside_msg_error)) {
			const struct ringside_msg_error *e = (const void *)buf;

			fprintf(stderr, "ringsidectl: %.*s\n",
				(int)sizeof(e->text), e->text);
			goto out;
		}
		if (h.type != RINGSIDE_MSG_STATUS_DATA) {
			fprintf(stderr, "ringsidectl: unexpected answer\n");
			goto out;
		}
		fwrite(buf + sizeof(h), 1, (size_t)n - sizeof(h), out);
	}
	rc = 0;
out:
	close(sock);
	return rc;
}

static int ctl_status(const char *path, int json)
{
	if (ctl_ask(path, json ? RINGSIDE_STATUS_F_JSON : 0, stdout) != 0)
		return 1;
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The level is the report's first word (text) or its "level" (JSON). */
static int ctl_health(const char *path, int json, int strict)
{
	char *text = NULL, *lvl;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (f == NULL) {
		perror("ringsidectl: open_memstream");
		return 3;
	}
	rc = ctl_ask(path,
		     RINGSIDE_STATUS_F_HEALTH |
			     (json ? RINGSIDE_STATUS_F_JSON : 0U),
		     f);
	if (fclose(f) != 0 || rc != 0) {
		free(text);
		return 3;
	}
	if (text == NULL)
		return 3;
	fwrite(text, 1, len, stdout);
	lvl = json ? strstr(text, "\"level\": \"") : text;
	if (lvl != NULL && json)
		lvl += strlen("\"level\": \"");
	if (lvl == NULL) {
		rc = 3;
	} else if (strncmp(lvl, "ready", 5) == 0) {
		rc = 0;
	} else if (strncmp(lvl, "degraded", 8) == 0) {
		rc = strict ? 1 : 0;
	} else if (strncmp(lvl, "unready", 7) == 0) {
		rc = 1;
	} else {
		fprintf(stderr, "ringsidectl: the daemon does not answer "
				"health (older than this ringsidectl?)\n");
		rc = 3;
	}
	free(text);
	return fflush(stdout) == 0 ? rc : 3;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "strict", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("RINGSIDE_SOCKET");
	int ch, json = 0, strict = 0;

	while ((ch = getopt_long(argc, argv, "s:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'S':
			strict = 1;
			break;
		case 'h':
			ctl_usage(stdout);
			return 0;
		case 'V':
			printf("ringsidectl %s (libringside %s)\n",
			       PACKAGE_VERSION, ringside_version());
			return 0;
		default:
			ctl_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1 ||
	    (strcmp(argv[optind], "status") != 0 &&
	     strcmp(argv[optind], "health") != 0) ||
	    (strict && strcmp(argv[optind], "health") != 0)) {
		ctl_usage(stderr);
		return 2;
	}
	if (path == NULL || *path == '\0')
		path = RINGSIDE_DEFAULT_SOCKET;
	if (strcmp(argv[optind], "health") == 0)
		return ctl_health(path, json, strict);
	return ctl_status(path, json);
}
