/* SPDX-License-Identifier: MIT */
/*
 * ringside_jni: the JNI layer of io.ringside.RingsideProducer over
 * libringside (compiled in: the jar's native library needs nothing
 * installed). Handles are the library's pointers as jlong; the Java side
 * owns their lifetime (no call after close, none during it).
 *
 * Keys and values of over 1 KiB in all are read in place with
 * GetPrimitiveArrayCritical (no copy where the JVM allows, and it does
 * for byte arrays): ringside_sendv() copies them into the ring and
 * returns, never blocking, so holding a critical region across it is
 * what JNI asks (short, no JNI call inside). Smaller ones are copied onto
 * the stack first, which measured cheaper than pinning two arrays.
 */
#include <errno.h>
#include <jni.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringside.h"

#define JNI_MAX_HEADERS 64
#define JNI_REPORT_WORDS 8 /* longs per report: see Native.poll */
/* keys and values up to this many bytes in all are copied onto the stack
 * (GetByteArrayRegion); larger ones are read in place */
#define JNI_SMALL 1024

static void jni_throw(JNIEnv *env, const char *msg)
{
	jclass c = (*env)->FindClass(env, "io/ringside/RingsideException");

	if (c != NULL)
		(*env)->ThrowNew(env, c, msg);
}

static ringside_t *jni_rs(jlong h)
{
	return (ringside_t *)(intptr_t)h;
}

JNIEXPORT jlong JNICALL Java_io_ringside_Native_open(JNIEnv *env, jclass cls,
						     jstring socket,
						     jstring name,
						     jint timeout_ms)
{
	const char *sock = NULL, *nm = NULL;
	ringside_options_t o;
	char err[512] = "";
	ringside_t *rs;

	(void)cls;
	if (socket != NULL &&
	    (sock = (*env)->GetStringUTFChars(env, socket, NULL)) == NULL)
		return 0;
	if (name != NULL &&
	    (nm = (*env)->GetStringUTFChars(env, name, NULL)) == NULL) {
		if (sock != NULL)
			(*env)->ReleaseStringUTFChars(env, socket, sock);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.socket_path = sock;
	o.name = nm;
	o.timeout_ms = timeout_ms;
	rs = ringside_open_opts(&o, err, sizeof(err));
	if (sock != NULL)
		(*env)->ReleaseStringUTFChars(env, socket, sock);
	if (nm != NULL)
		(*env)->ReleaseStringUTFChars(env, name, nm);
	if (rs == NULL) {
		jni_throw(env, err[0] ? err : "cannot open a ringside session");
		return 0;
	}
	return (jlong)(intptr_t)rs;
}

JNIEXPORT jlong JNICALL Java_io_ringside_Native_topic(JNIEnv *env, jclass cls,
						      jlong h, jstring name)
{
	ringside_topic_t *t = NULL;
	const char *nm;
	int rc;

	(void)cls;
	if ((nm = (*env)->GetStringUTFChars(env, name, NULL)) == NULL)
		return 0;
	rc = ringside_topic(jni_rs(h), nm, &t);
	(*env)->ReleaseStringUTFChars(env, name, nm);
	if (rc < 0) {
		jni_throw(env, ringside_strerror(rc));
		return 0;
	}
	return (jlong)(intptr_t)t;
}

/* Returns 0 or a RINGSIDE_E* code; never blocks. partition < 0: the
 * daemon's partitioner; timestamp 0: when the daemon reads it. */
JNIEXPORT jint JNICALL Java_io_ringside_Native_send(
	JNIEnv *env, jclass cls, jlong h, jlong topic, jbyteArray key,
	jbyteArray value, jobjectArray hnames, jobjectArray hvalues,
	jint partition, jlong timestamp, jlong opaque)
{
	ringside_header_t hdr[JNI_MAX_HEADERS];
	jstring names[JNI_MAX_HEADERS];
	jbyteArray vals[JNI_MAX_HEADERS];
	ringside_record_t r;
	uint8_t small[JNI_SMALL];
	jsize nh = 0;
	void *k = NULL, *v = NULL;
	int rc = RINGSIDE_EINVAL;

	(void)cls;
	memset(&r, 0, sizeof(r));
	if (hnames != NULL)
		nh = (*env)->GetArrayLength(env, hnames);
	if (nh > JNI_MAX_HEADERS)
		return RINGSIDE_EINVAL;
	/* header names first: GetStringUTFChars is a JNI call, and none may
	 * be made inside the critical regions below */
	for (jsize i = 0; i < nh; i++) {
		names[i] = (*env)->GetObjectArrayElement(env, hnames, i);
		vals[i] = (*env)->GetObjectArrayElement(env, hvalues, i);
		hdr[i].name =
			names[i] != NULL
				? (*env)->GetStringUTFChars(env, names[i], NULL)
				: NULL;
		hdr[i].value = NULL;
		hdr[i].value_len = 0;
		if (hdr[i].name == NULL) {
			nh = i;
			goto out;
		}
	}
	for (jsize i = 0; i < nh; i++) {
		if (vals[i] == NULL)
			continue;
		hdr[i].value_len = (size_t)(*env)->GetArrayLength(env, vals[i]);
		hdr[i].value = (*env)->GetByteArrayElements(env, vals[i], NULL);
		if (hdr[i].value == NULL)
			goto out;
	}
	if (key != NULL)
		r.key_len = (size_t)(*env)->GetArrayLength(env, key);
	if (value != NULL)
		r.value_len = (size_t)(*env)->GetArrayLength(env, value);
	if (r.key_len + r.value_len <= JNI_SMALL) {
		/* small: a copy onto the stack costs less than pinning */
		if (key != NULL)
			(*env)->GetByteArrayRegion(
				env, key, 0, (jsize)r.key_len, (jbyte *)small);
		if (value != NULL)
			(*env)->GetByteArrayRegion(env, value, 0,
						   (jsize)r.value_len,
						   (jbyte *)small + r.key_len);
		r.key = key != NULL ? small : NULL;
		r.value = value != NULL ? small + r.key_len : NULL;
	} else {
		if (key != NULL && (k = (*env)->GetPrimitiveArrayCritical(
					    env, key, NULL)) == NULL)
			goto out;
		if (value != NULL && (v = (*env)->GetPrimitiveArrayCritical(
					      env, value, NULL)) == NULL)
			goto out;
		r.key = k;
		r.value = v;
	}
	/* a zero-length array is an empty key or value, not a null one */
	if (key != NULL && r.key_len == 0)
		r.key = "";
	if (value != NULL && r.value_len == 0)
		r.value = "";
	r.headers = nh > 0 ? hdr : NULL;
	r.header_count = (size_t)nh;
	r.timestamp = timestamp;
	r.opaque = (uint64_t)opaque;
	if (partition >= 0) {
		r.partition = partition;
		r.flags = RINGSIDE_REC_PARTITION;
	}
	rc = ringside_sendv(jni_rs(h),
			    (const ringside_topic_t *)(intptr_t)topic, &r);
out:
	if (v != NULL)
		(*env)->ReleasePrimitiveArrayCritical(env, value, v, JNI_ABORT);
	if (k != NULL)
		(*env)->ReleasePrimitiveArrayCritical(env, key, k, JNI_ABORT);
	for (jsize i = 0; i < nh; i++) {
		if (hdr[i].value != NULL)
			(*env)->ReleaseByteArrayElements(
				env, vals[i], (jbyte *)hdr[i].value, JNI_ABORT);
		(*env)->ReleaseStringUTFChars(env, names[i], hdr[i].name);
		(*env)->DeleteLocalRef(env, names[i]);
		if (vals[i] != NULL)
			(*env)->DeleteLocalRef(env, vals[i]);
	}
	return rc;
}

struct jni_reports {
	jlong *w;
	size_t n, cap; /* in reports */
	int oom;
};

static void jni_on_report(const ringside_report_t *r, void *ctx)
{
	struct jni_reports *b = ctx;
	jlong *p;

	if (b->oom)
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		jlong *w = realloc(b->w, cap * JNI_REPORT_WORDS * sizeof(*w));

		if (w == NULL) {
			b->oom = 1;
			return;
		}
		b->w = w;
		b->cap = cap;
	}
	p = b->w + b->n++ * JNI_REPORT_WORDS;
	p[0] = (jlong)r->opaque;
	p[1] = r->status;
	p[2] = r->kafka_error;
	p[3] = r->persistence;
	p[4] = r->stage;
	p[5] = r->partition;
	p[6] = r->offset;
	p[7] = r->timestamp;
}

/* The reports waiting, JNI_REPORT_WORDS longs each, or null when none
 * waited; throws once the daemon has gone for good. */
JNIEXPORT jlongArray JNICALL Java_io_ringside_Native_poll(JNIEnv *env,
							  jclass cls, jlong h)
{
	struct jni_reports b = { 0 };
	jlongArray out = NULL;
	int rc;

	(void)cls;
	rc = ringside_poll(jni_rs(h), jni_on_report, &b);
	if (b.oom) {
		free(b.w);
		jni_throw(env, "out of memory reading reports");
		return NULL;
	}
	if (b.n > 0) {
		jsize len = (jsize)(b.n * JNI_REPORT_WORDS);

		out = (*env)->NewLongArray(env, len);
		if (out != NULL)
			(*env)->SetLongArrayRegion(env, out, 0, len, b.w);
	} else if (rc < 0) {
		jni_throw(env, ringside_strerror(rc));
	}
	free(b.w);
	return out;
}

/* Waits up to timeout_ms for reports (poll(2) on ringside_fd()): 1 when
 * some may wait, 0 on timeout. */
JNIEXPORT jint JNICALL Java_io_ringside_Native_await(JNIEnv *env, jclass cls,
						     jlong h, jint timeout_ms)
{
	struct pollfd p = { .fd = ringside_fd(jni_rs(h)), .events = POLLIN };
	int rc;

	(void)env;
	(void)cls;
	if (p.fd < 0)
		return 1; /* reconnecting: poll() does the work */
	rc = poll(&p, 1, timeout_ms);
	return rc > 0 || (rc < 0 && errno == EINTR) ? 1 : 0;
}

/* backpressure, ring_size, ring_used, records_finished, reports_dropped */
JNIEXPORT jlongArray JNICALL Java_io_ringside_Native_state(JNIEnv *env,
							   jclass cls, jlong h)
{
	ringside_state_t s;
	jlong w[5];
	jlongArray out;

	(void)cls;
	if (ringside_state(jni_rs(h), &s) < 0) {
		jni_throw(env, "cannot read the session's state");
		return NULL;
	}
	w[0] = s.backpressure;
	w[1] = (jlong)s.ring_size;
	w[2] = (jlong)s.ring_used;
	w[3] = (jlong)s.records_finished;
	w[4] = (jlong)s.reports_dropped;
	out = (*env)->NewLongArray(env, 5);
	if (out != NULL)
		(*env)->SetLongArrayRegion(env, out, 0, 5, w);
	return out;
}

JNIEXPORT jstring JNICALL Java_io_ringside_Native_strerror(JNIEnv *env,
							   jclass cls,
							   jint code)
{
	(void)cls;
	return (*env)->NewStringUTF(env, ringside_strerror(code));
}

JNIEXPORT jstring JNICALL Java_io_ringside_Native_version(JNIEnv *env,
							  jclass cls)
{
	(void)cls;
	return (*env)->NewStringUTF(env, ringside_version());
}

JNIEXPORT void JNICALL Java_io_ringside_Native_close(JNIEnv *env, jclass cls,
						     jlong h)
{
	(void)env;
	(void)cls;
	ringside_close(jni_rs(h));
}
