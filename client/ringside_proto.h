/* SPDX-License-Identifier: MIT */
/*
 * ringside_proto.h: the one definition of what the daemon and the client
 * library must agree on: the shared-memory layout, the frame format, the
 * reply slots and the control-socket messages. doc/protocol.md describes the
 * same thing in prose; nothing else may redefine an offset or a flag.
 *
 * Not installed: applications use ringside.h only.
 */
#ifndef RINGSIDE_PROTO_H
#define RINGSIDE_PROTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Atomic operations on shared (and shared-between-threads) words, named by
 * their memory order so that a reader sees the order before the operand.
 * Every acquire, release and seq_cst use keeps a comment naming the other
 * half of its pair. Type-generic, as the GCC builtins they spell.
 */
#define rs_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define rs_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define rs_load_seq_cst(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define rs_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define rs_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define rs_store_seq_cst(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define rs_fetch_or_seq_cst(p, v) __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define rs_fetch_and_seq_cst(p, v)                                             \
	__atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define rs_fetch_and_relaxed(p, v)                                             \
	__atomic_fetch_and((p), (v), __ATOMIC_RELAXED)
#define rs_add_relaxed(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define rs_exchange_acquire(p, v)                                              \
	__atomic_exchange_n((p), (v), __ATOMIC_ACQUIRE)
/* weak: may fail spuriously, so only inside a retry loop; on failure
 * *expected is the current value */
#define rs_cas_weak_relaxed(p, expected, desired)                              \
	__atomic_compare_exchange_n((p), (expected), (desired), 1,             \
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED)

#define RINGSIDE_PROTO_MAGIC 0x5253484dU /* "RSHM" */
#define RINGSIDE_PROTO_VERSION 3U
#define RINGSIDE_CACHELINE 64U
#define RINGSIDE_PAGE 4096U

/* Limits both sides enforce. */
#define RINGSIDE_RING_MIN (64U * 1024U)
#define RINGSIDE_RING_MAX (1U << 30)
#define RINGSIDE_REPLY_MIN 64U
#define RINGSIDE_REPLY_MAX (1U << 22)
#define RINGSIDE_TOPIC_NAME_MAX 249U /* Kafka's own limit */
#define RINGSIDE_SESSION_NAME_MAX 64U
#define RINGSIDE_HEADERS_MAX 64U
#define RINGSIDE_HEADER_NAME_MAX 255U
#define RINGSIDE_NULL_LEN 0xffffffffU /* key or value absent (NULL) */

/*
 * Shared memory, one memfd per session, created and sealed by the daemon:
 *
 *   [0, RINGSIDE_PAGE)            struct ringside_shm_hdr
 *   [bitmap_off, +ring_size/64)   commit bitmap: one bit per 8 ring bytes
 *   [ring_off, +ring_size)        the send ring: 8-byte aligned frames
 *   [reply_off, +reply_slots*64)  the reply ring: struct ringside_reply_slot
 *
 * Every offset is a multiple of RINGSIDE_PAGE.
 *
 * Send ring cursors are monotonic 64-bit byte positions; the ring offset of a
 * position is pos & (ring_size - 1). Invariant: release <= head <= tail and
 * tail - release <= ring_size.
 *
 *   tail     next free position. Client threads reserve space by CAS on it.
 *   head     how far the daemon has read (informational for the client).
 *   release  everything before it is finished (delivered, or failed and
 *            reported); only space before it may be written again.
 *   release_to  where release is moving: stored before the range's commit
 *            bits are cleared, so a daemon that dies between the two steps
 *            leaves enough for the next one to finish the move.
 *
 * A reserved frame is published by setting the bit for its start offset in
 * the commit bitmap (a release RMW); the daemon reads frames in order and
 * stops at the first frame whose bit is clear. The daemon clears the bits of
 * a released range before it moves release past it, so a set bit is always
 * the current lap's commit, never a stale one. This lets several threads of
 * one process send on one handle without a lock and without waiting for each
 * other: a thread preempted between reserve and commit delays only the
 * daemon's read of later frames, never another sender.
 */
struct ringside_shm_hdr {
	/* Written once by the daemon before the memfd is passed. */
	uint32_t magic;
	uint32_t version;
	uint32_t ring_size;   /* bytes, power of two */
	uint32_t reply_slots; /* power of two */
	uint32_t max_frame;   /* largest frame the daemon accepts, bytes */
	uint32_t reserved0;
	uint64_t bitmap_off;
	uint64_t ring_off;
	uint64_t reply_off;
	uint64_t map_size;
	uint64_t session_id;

	/* Send ring. Each cursor on its own cache line. */
	_Alignas(64) uint64_t tail;    /* clients: CAS */
	_Alignas(64) uint64_t release; /* daemon: release store */
	_Alignas(64) uint64_t head;    /* daemon */
	uint64_t release_to;	       /* daemon: see above */
	/* daemon: RINGSIDE_F_NEED_WAKEUP, set before it sleeps; a client that
	 * clears it writes the doorbell eventfd once. */
	_Alignas(64) uint32_t flags;
	uint32_t state; /* daemon: enum ringside_shm_state */

	/* Reply ring (daemon -> client), single producer, single consumer. */
	_Alignas(64) uint64_t reply_tail; /* daemon: release store */
	_Alignas(64) uint64_t reply_head; /* client: release store */
	/* client: RINGSIDE_RF_WANT_WAKEUP, set when it is about to wait on its
	 * reply eventfd; the daemon clears it and writes the eventfd once. */
	_Alignas(64) uint32_t reply_flags;
	uint32_t reserved1;

	/* Counters kept by the daemon, for the application to read. */
	_Alignas(64) uint64_t records_read; /* frames taken from the ring */
	uint64_t
		records_finished; /* delivered or failed, release passed them */
	uint64_t reports_dropped; /* reply ring and backlog were full */
	uint64_t reports_backlog; /* written, waiting for reply ring space */

	/* Kept by the client, for status and metrics (believed only as far as
	 * that goes): records it refused with RINGSIDE_EFULL. A client that
	 * predates it leaves it 0. */
	_Alignas(64) uint64_t sends_refused;
};

_Static_assert(sizeof(struct ringside_shm_hdr) <= RINGSIDE_PAGE,
	       "shm header must fit its page");

#define RINGSIDE_F_NEED_WAKEUP 0x1U
#define RINGSIDE_RF_WANT_WAKEUP 0x1U

/* Values of ringside_shm_hdr.state, mirrored by ringside_backpressure_t. */
enum ringside_shm_state {
	RINGSIDE_SHM_HEALTHY = 0,  /* records flow to Kafka */
	RINGSIDE_SHM_SPILLING = 1, /* records go to the disk spool */
	RINGSIDE_SHM_REFUSING = 2, /* the daemon is not draining this ring */
	RINGSIDE_SHM_STOPPING = 3, /* the daemon is shutting down */
};

/*
 * A frame in the send ring. Frames start at 8-byte aligned offsets and never
 * straddle the end of the ring: a sender that would straddle first fills the
 * rest of the ring with a PAD frame (only size and type are meaningful).
 *
 * A RECORD frame is this header followed by header_bytes of encoded headers,
 * the key, the value, and zero to seven bytes of padding. Each encoded
 * header is struct ringside_wire_header, its name, then its value.
 */
struct ringside_frame {
	uint32_t size; /* whole frame, multiple of 8 */
	uint16_t type; /* RINGSIDE_FRAME_* */
	uint16_t header_count;
	uint32_t topic;	    /* session-local topic id */
	int32_t partition;  /* valid if RINGSIDE_FRAME_F_PARTITION */
	uint32_t key_len;   /* RINGSIDE_NULL_LEN: no key */
	uint32_t value_len; /* RINGSIDE_NULL_LEN: null value */
	uint32_t header_bytes;
	uint32_t flags;	   /* RINGSIDE_FRAME_F_* */
	int64_t timestamp; /* ms since the epoch; 0: the daemon stamps it */
	uint64_t opaque;   /* the application's, returned in the report */
};

_Static_assert(sizeof(struct ringside_frame) == 48, "frame header is 48 bytes");

#define RINGSIDE_FRAME_RECORD 1U
#define RINGSIDE_FRAME_PAD 2U
#define RINGSIDE_FRAME_F_PARTITION 0x1U
#define RINGSIDE_FRAME_F_ALL (RINGSIDE_FRAME_F_PARTITION)

struct ringside_wire_header {
	uint16_t name_len;
	uint16_t reserved;
	uint32_t value_len; /* RINGSIDE_NULL_LEN: null value */
};

_Static_assert(sizeof(struct ringside_wire_header) == 8, "wire header");

/* 64 bits in and out: a sum of hostile 32-bit lengths must not wrap into
 * a small, plausible size (fuzz_frame found that it did). */
static inline uint64_t ringside_align8(uint64_t n)
{
	return (n + 7U) & ~(uint64_t)7U;
}

/* One report, daemon -> client. */
struct ringside_reply_slot {
	uint64_t opaque;
	int64_t offset;	     /* -1 when unknown (acks=0, failure) */
	int64_t timestamp;   /* the record's timestamp as produced */
	int32_t partition;   /* -1 when unknown */
	int32_t status;	     /* 0 or a negative RINGSIDE_E* code */
	int32_t kafka_error; /* librdkafka's rd_kafka_resp_err_t, 0 if none */
	uint32_t topic;	     /* session-local topic id */
	uint8_t persistence; /* RINGSIDE_PERSISTED etc. */
	uint8_t stage;	     /* RINGSIDE_STAGE_* */
	uint8_t flags;
	uint8_t reserved[19];
};

_Static_assert(sizeof(struct ringside_reply_slot) == 64, "reply slot");

/*
 * Control socket: AF_UNIX, SOCK_SEQPACKET. Every message starts with
 * struct ringside_msg. The client speaks first.
 *
 *   HELLO  -> WELCOME + 3 fds (memfd, doorbell eventfd, reply eventfd)
 *          -> ERROR
 *   TOPIC  -> TOPIC_OK | ERROR
 *
 * A client whose daemon went away hands its session back to the next one:
 * HELLO with RINGSIDE_HELLO_F_RESUME, its session id, the token its
 * WELCOME gave it, and its memfd (one fd); WELCOME with the same memfd and
 * new eventfds; a TOPIC for each topic it had, in id order, so the ids in
 * its ring keep their meaning; then RESUME, after which the daemon reads
 * the ring again from release.
 *
 * A session belongs to the uid that opened it. Its id is random; its
 * token is a keyed hash (the key is the daemon's secret) of the id, that
 * uid and the ring's sizes, and never goes into shared memory: only the
 * process that got the WELCOME has it. A resume is refused unless the
 * token matches the resuming peer's own uid and the memfd's sizes, the
 * memfd was made by a ringsided, and no live session serves it or its id.
 */
enum ringside_msg_type {
	RINGSIDE_MSG_HELLO = 1,
	RINGSIDE_MSG_WELCOME = 2,
	RINGSIDE_MSG_TOPIC = 3,
	RINGSIDE_MSG_TOPIC_OK = 4,
	RINGSIDE_MSG_ERROR = 5,
	RINGSIDE_MSG_RESUME = 6,      /* client: topics re-resolved, read on */
	RINGSIDE_MSG_STATUS = 7,      /* ringsidectl, instead of HELLO */
	RINGSIDE_MSG_STATUS_DATA = 8, /* daemon: a piece of the report */
	RINGSIDE_MSG_STATUS_END = 9,  /* daemon: the report is complete */
};

#define RINGSIDE_STATUS_F_JSON 0x1U
#define RINGSIDE_STATUS_F_HEALTH 0x2U /* only the health report (health.h) */
#define RINGSIDE_STATUS_CHUNK 8192U

#define RINGSIDE_HELLO_F_RESUME 0x1U
#define RINGSIDE_TOKEN_LEN 16U

struct ringside_msg {
	uint32_t type;
	uint32_t len; /* whole message, bytes */
};

struct ringside_msg_hello {
	struct ringside_msg hdr;
	uint32_t magic;
	uint32_t version;
	uint32_t flags; /* RINGSIDE_HELLO_F_* */
	/* the client's getpid() in its own PID namespace: shown beside the
	 * kernel's SO_PEERCRED pid when that is 0 (the client is in a PID
	 * namespace the daemon cannot see into), never trusted; 0 from a
	 * client that predates it */
	uint32_t pid;
	uint64_t session_id;		      /* with RINGSIDE_HELLO_F_RESUME */
	uint64_t map_size;		      /* with RINGSIDE_HELLO_F_RESUME */
	uint8_t token[RINGSIDE_TOKEN_LEN];    /* with RINGSIDE_HELLO_F_RESUME */
	char name[RINGSIDE_SESSION_NAME_MAX]; /* NUL padded, may be empty */
};

struct ringside_msg_status {
	struct ringside_msg hdr;
	uint32_t flags; /* RINGSIDE_STATUS_F_* */
	uint32_t reserved;
};

struct ringside_msg_welcome {
	struct ringside_msg hdr;
	uint64_t session_id;
	uint64_t map_size;
	uint8_t token[RINGSIDE_TOKEN_LEN]; /* keep it private: it resumes */
};

struct ringside_msg_topic {
	struct ringside_msg hdr;
	uint32_t name_len;
	uint32_t reserved;
	char name[RINGSIDE_TOPIC_NAME_MAX + 1];
};

struct ringside_msg_topic_ok {
	struct ringside_msg hdr;
	uint32_t topic;
	uint32_t reserved;
};

struct ringside_msg_error {
	struct ringside_msg hdr;
	int32_t code; /* RINGSIDE_E* */
	uint32_t reserved;
	char text[200]; /* NUL terminated */
};

#define RINGSIDE_MSG_MAX 512U

_Static_assert(sizeof(struct ringside_msg_topic) <= RINGSIDE_MSG_MAX, "msg");
_Static_assert(sizeof(struct ringside_msg_error) <= RINGSIDE_MSG_MAX, "msg");

/*
 * The layout both sides derive from the two sizes: the daemon writes these
 * offsets into the header, the client recomputes them and refuses a header
 * that disagrees.
 */
struct ringside_shm_layout {
	uint64_t bitmap_off;
	uint64_t ring_off;
	uint64_t reply_off;
	uint64_t map_size;
};

static inline uint64_t ringside_page_round(uint64_t n)
{
	return (n + RINGSIDE_PAGE - 1) & ~(uint64_t)(RINGSIDE_PAGE - 1);
}

static inline void ringside_shm_layout(uint32_t ring_size, uint32_t reply_slots,
				       struct ringside_shm_layout *l)
{
	l->bitmap_off = RINGSIDE_PAGE;
	l->ring_off = l->bitmap_off + ringside_page_round(ring_size / 64U);
	l->reply_off = l->ring_off + ring_size;
	l->map_size = l->reply_off +
		      ringside_page_round((uint64_t)reply_slots *
					  sizeof(struct ringside_reply_slot));
}

static inline int ringside_is_pow2(uint64_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/* Kafka's rule for topic names: [a-zA-Z0-9._-], 1..249 bytes, not "." or
 * "..". The client checks before asking, the daemon again on receipt. */
static inline int ringside_topic_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > RINGSIDE_TOPIC_NAME_MAX)
		return 0;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* Header names are Kafka strings: well-formed UTF-8 (no overlong forms,
 * no surrogates, nothing above U+10FFFF), or consumers mangle them. The
 * client checks before sending, the daemon again on receipt. */
static inline int ringside_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1fU;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0fU;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07U;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3fU);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* Commit bitmap helpers, used by both sides on byte positions. */
static inline uint64_t ringside_bit_word(uint64_t off)
{
	return (off >> 3) >> 6;
}

static inline uint64_t ringside_bit_mask(uint64_t off)
{
	return (uint64_t)1 << ((off >> 3) & 63U);
}

#endif
