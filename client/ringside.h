/* SPDX-License-Identifier: MIT */
/*
 * ringside.h: the client library's public API.
 *
 * An application opens a session with the local ringsided daemon, resolves
 * topic handles once, and sends records into a shared-memory ring.
 * ringside_send() never blocks, never sleeps, never takes a lock shared with
 * another process and makes no system call unless the daemon is asleep and
 * must be woken (at most once per sleep). Reports on each record's fate come
 * back through ringside_poll(). See ringside(3).
 */
#ifndef RINGSIDE_H
#define RINGSIDE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGSIDE_VERSION_MAJOR 0
#define RINGSIDE_VERSION_MINOR 1

/* Where ringside_open() connects when given NULL and $RINGSIDE_SOCKET is
 * unset. */
#define RINGSIDE_DEFAULT_SOCKET "/run/ringside/ringside.sock"

/*
 * Error codes: every call that can fail returns 0 (or a count) on success,
 * a negative RINGSIDE_E* code, or a negative errno value (always > -1000).
 * ringside_strerror() explains both.
 */
enum {
	RINGSIDE_EFULL = -1000,	    /* ring full: retry later, nothing sent */
	RINGSIDE_ETOOBIG = -1001,   /* record larger than the daemon allows */
	RINGSIDE_ENOTCONN = -1002,  /* no session with the daemon */
	RINGSIDE_EINVAL = -1003,    /* invalid argument */
	RINGSIDE_ETOPIC = -1004,    /* topic unknown or not allowed */
	RINGSIDE_EPROTO = -1005,    /* protocol violation or version mismatch */
	RINGSIDE_EDENIED = -1006,   /* not allowed: the session or topic */
	RINGSIDE_ELIMIT = -1007,    /* a daemon limit was reached */
	RINGSIDE_ETIMEDOUT = -1008, /* the daemon did not answer in time */
	RINGSIDE_EDROPPED = -1009,  /* ringside_flush(): all finished, but
				     * some reports were dropped */
	/* Report statuses. */
	/* not delivered within message.timeout.ms */
	RINGSIDE_EMSG_TIMEOUT = -1100,
	RINGSIDE_ERECORD_TOO_LARGE = -1101, /* the broker refused its size */
	RINGSIDE_EUNKNOWN_TOPIC = -1102,    /* the topic does not exist */
	RINGSIDE_EAUTH = -1103,		    /* not authorized for the topic */
	RINGSIDE_ESHUTDOWN = -1104, /* the daemon stopped before delivery */
	RINGSIDE_EKAFKA = -1105,    /* another Kafka error: see kafka_error */
};

/* What librdkafka knows about whether the broker stored a record. */
typedef enum ringside_persistence {
	/* never reached the broker: safe to send again */
	RINGSIDE_NOT_PERSISTED = 0,
	/* sent, outcome unknown: sending again may duplicate it */
	RINGSIDE_POSSIBLY_PERSISTED = 1,
	/* the broker acknowledged it */
	RINGSIDE_PERSISTED = 2,
} ringside_persistence_t;

/* Where the record got to when the report was written. */
typedef enum ringside_stage {
	RINGSIDE_STAGE_FAILED = 0, /* failed; status says why */
	RINGSIDE_STAGE_ACKED = 1,  /* acknowledged per the topic's acks */
	RINGSIDE_STAGE_SENT = 2,   /* sent with acks=0: no acknowledgement */
	/* Not final: safe in the daemon's disk spool, delivery pending. A
	 * final report follows if the session is still open then. */
	RINGSIDE_STAGE_SPOOLED = 3,
} ringside_stage_t;

/* The daemon's back-pressure state for this session. */
typedef enum ringside_backpressure {
	RINGSIDE_HEALTHY = 0,  /* records flow to Kafka */
	RINGSIDE_SPILLING = 1, /* records go to the daemon's disk spool */
	RINGSIDE_REFUSING = 2, /* the daemon is not draining: sends fill up */
	RINGSIDE_STOPPING = 3, /* the daemon is shutting down */
	RINGSIDE_DISCONNECTED = 4, /* the daemon has gone away */
} ringside_backpressure_t;

typedef struct ringside ringside_t;
typedef struct ringside_topic ringside_topic_t;

typedef struct ringside_header {
	const char *name;  /* NUL terminated, 1..255 bytes */
	const void *value; /* NULL for a null value */
	size_t value_len;
} ringside_header_t;

#define RINGSIDE_REC_PARTITION 0x1U /* use ringside_record_t.partition */

typedef struct ringside_record {
	const void *key; /* NULL: no key */
	size_t key_len;
	const void *value; /* NULL: null value (a tombstone) */
	size_t value_len;
	const ringside_header_t *headers;
	size_t header_count; /* at most 64 */
	int64_t timestamp; /* ms since the epoch; 0: when the daemon reads it */
	uint64_t opaque;   /* returned in the record's report */
	int32_t partition; /* with RINGSIDE_REC_PARTITION only */
	unsigned int flags; /* RINGSIDE_REC_* */
	/* room to grow without an ABI break: must be zero (RINGSIDE_EINVAL
	 * otherwise); zero the struct or use a designated initializer */
	uint64_t resv[2];
} ringside_record_t;

typedef struct ringside_report {
	uint64_t opaque;
	int status;	 /* 0: delivered; else a RINGSIDE_E* report status */
	int kafka_error; /* librdkafka's rd_kafka_resp_err_t, 0 if none */
	ringside_persistence_t persistence;
	ringside_stage_t stage;
	const ringside_topic_t *topic;
	int32_t partition; /* -1 when unknown */
	int64_t offset;	   /* -1 when unknown (acks=0, failures) */
	int64_t timestamp;
} ringside_report_t;

typedef void (*ringside_report_cb)(const ringside_report_t *report, void *ctx);

typedef struct ringside_state {
	ringside_backpressure_t backpressure;
	size_t ring_size;	   /* bytes */
	size_t ring_used;	   /* bytes sent and not yet finished */
	uint64_t records_finished; /* by the daemon, this session */
	uint64_t reports_dropped;  /* the reply queue overflowed */
	uint64_t resv[4];	   /* room to grow; the library zeroes it */
} ringside_state_t;

typedef struct ringside_options {
	const char *socket_path; /* NULL: $RINGSIDE_SOCKET, then the default */
	const char *name;	 /* shown in the daemon's logs; may be NULL */
	int timeout_ms;		 /* for open and topic lookups; 0: 5000 */
	unsigned int flags;	 /* RINGSIDE_OPEN_* */
	/* room to grow without an ABI break: must be zero (the open fails
	 * otherwise); zero the struct or use a designated initializer */
	uint64_t resv[4];
} ringside_options_t;

/* Do not hand the session to a restarted daemon: once the daemon has gone,
 * calls return RINGSIDE_ENOTCONN. Without it the library reconnects by
 * itself, from ringside_poll() (see ringside_poll). */
#define RINGSIDE_OPEN_NO_RECONNECT 0x1U

/*
 * Opens a session. Blocks for at most the timeout while the daemon answers.
 * Returns NULL and writes a message into errbuf on failure.
 */
ringside_t *ringside_open(const char *socket_path, char *errbuf, size_t errlen);
ringside_t *ringside_open_opts(const ringside_options_t *opts, char *errbuf,
			       size_t errlen);

/*
 * Closes the session. Records already accepted are still delivered by the
 * daemon; reports not yet polled are lost. Call ringside_flush() first to
 * wait for them.
 */
void ringside_close(ringside_t *rs);

/*
 * Resolves a topic once (a round trip to the daemon, which checks that the
 * topic may be used). The handle lives until ringside_close(). Resolving the
 * same name again returns the same handle.
 */
int ringside_topic(ringside_t *rs, const char *name, ringside_topic_t **topicp);
const char *ringside_topic_name(const ringside_topic_t *topic);

/*
 * Sends one record. Returns 0 when the record is in the ring, or
 * RINGSIDE_EFULL, RINGSIDE_ETOOBIG, RINGSIDE_ENOTCONN or RINGSIDE_EINVAL
 * at once. Safe to call from several threads on one handle.
 */
int ringside_send(ringside_t *rs, const ringside_topic_t *topic,
		  const void *key, size_t key_len, const void *value,
		  size_t value_len, uint64_t opaque);
int ringside_sendv(ringside_t *rs, const ringside_topic_t *topic,
		   const ringside_record_t *record);

/*
 * Sends n records to topic, in order, with one reservation of ring space
 * and one publication per run of records that fit (a run is at most 64
 * records), instead of one of each per record. Not all-or-nothing: the
 * longest prefix that fits goes in. Returns 0 when all n are in the ring;
 * otherwise the code ringside_sendv() would have returned for the first
 * record not accepted (RINGSIDE_EFULL when the ring had no room for it,
 * RINGSIDE_EINVAL or RINGSIDE_ETOOBIG for a bad record, RINGSIDE_ENOTCONN),
 * and the records before it are accepted and reported like any other.
 * *sent (when not NULL) is the number accepted, 0 to n, in every case.
 * The same guarantees as ringside_send(): never blocks, no lock, no system
 * call unless the daemon sleeps (then one doorbell for the whole batch).
 */
int ringside_send_batch(ringside_t *rs, const ringside_topic_t *topic,
			const ringside_record_t *records, size_t n,
			size_t *sent);

/*
 * Calls cb for each report waiting, in the order the daemon finished the
 * records. Returns the number of reports delivered, 0 if none waited (or
 * another thread is polling), or RINGSIDE_ENOTCONN once the daemon has gone
 * and every report it wrote has been delivered. Never blocks.
 */
int ringside_poll(ringside_t *rs, ringside_report_cb cb, void *ctx);

/*
 * A file descriptor that becomes readable when reports wait, for epoll or
 * libevent. Call ringside_poll() when it is readable, until it returns 0:
 * the call that finds no report is the one that asks the daemon for the
 * next wake-up. Do not read it.
 */
int ringside_fd(const ringside_t *rs);

/*
 * Waits up to timeout_ms (-1: forever) until every record sent so far is
 * finished, calling cb for reports meanwhile. Returns 0: every record is
 * finished and every report since the last flush was delivered;
 * RINGSIDE_EDROPPED: every record is finished, but reports were dropped
 * since the last flush (ringside_state()'s reports_dropped says how many
 * in all); RINGSIDE_ETIMEDOUT; or RINGSIDE_ENOTCONN. This call blocks: do
 * not use it on a hot path.
 *
 * Reports can be dropped: the daemon never waits for an application. When
 * the reply ring (reply_slots) and the daemon's backlog for it
 * (report_backlog) are both full because the application polls too
 * rarely, further reports are dropped and counted; the records themselves
 * are delivered all the same. After a daemon restart, reports of records
 * that went through the spool reach the session only if it has resumed by
 * then.
 */
int ringside_flush(ringside_t *rs, int timeout_ms, ringside_report_cb cb,
		   void *ctx);

/* Reads the session's state from shared memory, without a system call. */
int ringside_state(const ringside_t *rs, ringside_state_t *state);

/* Explains a RINGSIDE_E* code or a negative errno value. */
const char *ringside_strerror(int err);

/* The version of the library running, "MAJOR.MINOR.PATCH" (the header's
 * RINGSIDE_VERSION_MAJOR and _MINOR say which it was built against). */
const char *ringside_version(void);

#ifdef __cplusplus
}
#endif

#endif
