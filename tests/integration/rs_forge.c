/* SPDX-License-Identifier: MIT */
/*
 * rs_forge: an attacker, for the takeover test. It speaks the control
 * protocol by hand to take sessions that are not its own, and floods what
 * a local user can flood:
 *
 *   forge SOCK ID RING SLOTS  a memfd of its own, laid out and sealed like
 *                             a daemon's, claiming session ID (a token of
 *                             zeros: it has none)
 *   steal SOCK ID             its own real session's memfd and token, the
 *                             header rewritten to claim session ID
 *   served SOCK               its own live session, resumed a second time
 *                             on another connection
 *   silent SOCK N SECONDS     N connections that never say HELLO
 *   topics SOCK N             resolves N made-up topic names
 *   http HOST PORT N SECONDS  N idle TCP connections to the metrics port
 *
 * For the resume attacks it prints "refused: <why>" or "accepted: N
 * reports" (the reports it could read in 2 s); exit 0 when the attack ran.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "ringside.h"
#include "ringside_proto.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void send_fd(int sock, const void *msg, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)msg,
			     .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len) {
		perror("sendmsg");
		exit(1);
	}
}

/* Sends a resuming HELLO and reads the answer: 0 and the mapping's reply
 * ring read for 2 s if WELCOMEd, else prints why and returns 1. */
static int resume(const char *path, uint64_t id, int memfd, uint64_t size,
		  const uint8_t *token)
{
	struct ringside_msg_hello h;
	char buf[RINGSIDE_MSG_MAX];
	struct pollfd pfd;
	int sock = connect_to(path);
	ssize_t n;

	memset(&h, 0, sizeof(h));
	h.hdr.type = RINGSIDE_MSG_HELLO;
	h.hdr.len = sizeof(h);
	h.magic = RINGSIDE_PROTO_MAGIC;
	h.version = RINGSIDE_PROTO_VERSION;
	h.flags = RINGSIDE_HELLO_F_RESUME;
	h.session_id = id;
	h.map_size = size;
#ifdef RINGSIDE_TOKEN_LEN /* built against an older protocol, it has none */
	if (token != NULL)
		memcpy(h.token, token, sizeof(h.token));
#else
	(void)token;
#endif
	snprintf(h.name, sizeof(h.name), "forger");
	send_fd(sock, &h, sizeof(h), memfd);
	pfd.fd = sock;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1) {
		printf("refused: no answer\n");
		return 1;
	}
	n = recv(sock, buf, sizeof(buf), 0);
	if (n >= (ssize_t)sizeof(struct ringside_msg) &&
	    ((struct ringside_msg *)buf)->type == RINGSIDE_MSG_ERROR) {
		printf("refused: %s\n",
		       ((struct ringside_msg_error *)buf)->text);
		return 1;
	}
	if (n <= 0) {
		printf("refused: connection closed\n");
		return 1;
	}
	{
		/* WELCOMEd: say RESUME (no topics) and read what comes */
		struct ringside_msg r = { RINGSIDE_MSG_RESUME, sizeof(r) };
		struct ringside_shm_hdr *hdr = mmap(NULL, size,
						    PROT_READ | PROT_WRITE,
						    MAP_SHARED, memfd, 0);
		int64_t end = now_ms() + 2000;
		uint64_t head;

		(void)send(sock, &r, sizeof(r), MSG_NOSIGNAL);
		if (hdr == MAP_FAILED) {
			printf("accepted: 0 reports (cannot map)\n");
			return 0;
		}
		head = hdr->reply_head;
		while (now_ms() < end)
			usleep(20 * 1000);
		printf("accepted: %llu reports\n",
		       (unsigned long long)(hdr->reply_tail - head));
	}
	return 0;
}

/* A memfd laid out and sealed as a daemon would, claiming session id. */
static int forge(const char *path, uint64_t id, uint32_t ring, uint32_t slots)
{
	struct ringside_shm_layout l;
	struct ringside_shm_hdr h;
	uint8_t zeros[16] = { 0 };
	int fd = memfd_create("forged", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ringside_shm_layout(ring, slots, &l);
	memset(&h, 0, sizeof(h));
	h.magic = RINGSIDE_PROTO_MAGIC;
	h.version = RINGSIDE_PROTO_VERSION;
	h.ring_size = ring;
	h.reply_slots = slots;
	h.max_frame = 4096;
	h.bitmap_off = l.bitmap_off;
	h.ring_off = l.ring_off;
	h.reply_off = l.reply_off;
	h.map_size = l.map_size;
	h.session_id = id;
	if (fd < 0 || ftruncate(fd, (off_t)l.map_size) < 0 ||
	    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
		    0) {
		perror("memfd");
		return 1;
	}
	(void)resume(path, id, fd, l.map_size, zeros);
	return 0;
}

static ringside_t *open_own(const char *path)
{
	char err[256];
	ringside_t *rs = ringside_open(path, err, sizeof(err));

	if (rs == NULL) {
		printf("refused: cannot open a session: %s\n", err);
		exit(0);
	}
	return rs;
}

static const uint8_t *own_token(const ringside_t *rs)
{
#ifdef RINGSIDE_TOKEN_LEN
	return rs->token;
#else
	(void)rs;
	return NULL;
#endif
}

/* Its own memfd and token, the header claiming someone else's id. */
static int steal(const char *path, uint64_t id)
{
	ringside_t *rs = open_own(path);

	__atomic_store_n(&rs->shm->session_id, id, __ATOMIC_RELAXED);
	(void)resume(path, id, rs->memfd, rs->map_size, own_token(rs));
	_exit(0);
}

/* Its own live session, handed "back" a second time. */
static int served(const char *path)
{
	ringside_t *rs = open_own(path);

	(void)resume(path, rs->session_id, rs->memfd, rs->map_size,
		     own_token(rs));
	_exit(0);
}

static int silent(const char *path, int n, int seconds)
{
	int opened = 0;

	for (int i = 0; i < n; i++) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			opened++;
	}
	printf("silent: %d of %d connections made\n", opened, n);
	fflush(stdout);
	sleep((unsigned int)seconds);
	return 0;
}

static int topics(const char *path, int n)
{
	ringside_t *rs = open_own(path);
	int ok = 0, limit = 0;

	for (int i = 0; i < n; i++) {
		char name[64];
		ringside_topic_t *t;
		int rc;

		snprintf(name, sizeof(name), "made-up-%d-%d", (int)getpid(), i);
		rc = ringside_topic(rs, name, &t);
		ok += rc == 0;
		limit += rc == RINGSIDE_ELIMIT;
	}
	printf("topics: %d resolved, %d refused by a limit\n", ok, limit);
	_exit(0);
}

static int http(const char *host, int port, int n, int seconds)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port) };
	int opened = 0;

	inet_pton(AF_INET, host, &sin.sin_addr);
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			opened++;
	}
	printf("http: %d of %d connections made\n", opened, n);
	fflush(stdout);
	sleep((unsigned int)seconds);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "forge") == 0)
		return forge(argv[2], strtoull(argv[3], NULL, 10),
			     (uint32_t)strtoul(argv[4], NULL, 10),
			     (uint32_t)strtoul(argv[5], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "steal") == 0)
		return steal(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "served") == 0)
		return served(argv[2]);
	if (argc == 5 && strcmp(argv[1], "silent") == 0)
		return silent(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "topics") == 0)
		return topics(argv[2], atoi(argv[3]));
	if (argc == 6 && strcmp(argv[1], "http") == 0)
		return http(argv[2], atoi(argv[3]), atoi(argv[4]),
			    atoi(argv[5]));
	fprintf(stderr, "usage: see rs_forge.c\n");
	return 2;
}
