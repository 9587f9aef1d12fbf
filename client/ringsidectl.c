/* SPDX-License-Identifier: MIT */
/*
 * ringsidectl: asks ringsided how it is doing, over its control socket.
 *
 *   ringsidectl [-s SOCKET] status [--json]
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
		"       ringsidectl --version\n"
		"  -s SOCKET  ringsided's socket (default $RINGSIDE_SOCKET, "
		"then %s)\n"
		"  --json     the report as JSON\n"
		"  -V, --version  print the version and exit\n",
		RINGSIDE_DEFAULT_SOCKET);
}

static int ctl_status(const char *path, int json)
{
	struct ringside_msg_status req = {
		.hdr = { RINGSIDE_MSG_STATUS, sizeof(req) },
		.flags = json ? RINGSIDE_STATUS_F_JSON : 0,
	};
	char buf[sizeof(struct ringside_msg) + RINGSIDE_STATUS_CHUNK];
	int sock, err;

	err = rs_conn_connect(path, 5000, &sock);
	if (err < 0) {
		fprintf(stderr, "ringsidectl: cannot connect to %s: %s\n", path,
			ringside_strerror(err));
		return 1;
	}
	if (send(sock, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req)) {
		perror("ringsidectl: send");
		return 1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		struct ringside_msg h;
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1) {
			fprintf(stderr, "ringsidectl: no answer in 5 s\n");
			return 1;
		}
		n = recv(sock, buf, sizeof(buf), 0);
		if (n < (ssize_t)sizeof(h)) {
			fprintf(stderr,
				"ringsidectl: the report was cut short\n");
			return 1;
		}
		memcpy(&h, buf, sizeof(h));
		if (h.len != (uint32_t)n) {
			fprintf(stderr, "ringsidectl: malformed answer\n");
			return 1;
		}
		if (h.type == RINGSIDE_MSG_STATUS_END)
			break;
		if (h.type == RINGSIDE_MSG_ERROR &&
		    (size_t)n == sizeof(struct ringside_msg_error)) {
			const struct ringside_msg_error *e = (const void *)buf;

			fprintf(stderr, "ringsidectl: %.*s\n",
				(int)sizeof(e->text), e->text);
			return 1;
		}
		if (h.type != RINGSIDE_MSG_STATUS_DATA) {
			fprintf(stderr, "ringsidectl: unexpected answer\n");
			return 1;
		}
		fwrite(buf + sizeof(h), 1, (size_t)n - sizeof(h), stdout);
	}
	close(sock);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("RINGSIDE_SOCKET");
	int ch, json = 0;

	while ((ch = getopt_long(argc, argv, "s:hV", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = 1;
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
	if (optind != argc - 1 || strcmp(argv[optind], "status") != 0) {
		ctl_usage(stderr);
		return 2;
	}
	if (path == NULL || *path == '\0')
		path = RINGSIDE_DEFAULT_SOCKET;
	return ctl_status(path, json);
}
