/* SPDX-License-Identifier: MIT */
/*
 * test_frame.c: rs_frame_parse() on frames built by hand: valid ones
 * decode exactly, and each rule a frame can break is refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "client/ringside_proto.h"
#include "daemon/frame.h"

struct builder {
	uint8_t buf[1024];
	struct ringside_frame h;
	size_t hlen; /* bytes of encoded headers */
	uint8_t headers[512];
	const char *key;
	const char *value;
};

static void b_init(struct builder *b)
{
	memset(b, 0, sizeof(*b));
	b->h.type = RINGSIDE_FRAME_RECORD;
	b->h.partition = -1;
	b->h.key_len = RINGSIDE_NULL_LEN;
	b->h.value_len = RINGSIDE_NULL_LEN;
	b->h.opaque = 77;
}

static void b_header(struct builder *b, const char *name, const char *value)
{
	struct ringside_wire_header wh = {
		.name_len = (uint16_t)strlen(name),
		.value_len =
			value ? (uint32_t)strlen(value) : RINGSIDE_NULL_LEN,
	};

	memcpy(b->headers + b->hlen, &wh, sizeof(wh));
	b->hlen += sizeof(wh);
	memcpy(b->headers + b->hlen, name, wh.name_len);
	b->hlen += wh.name_len;
	if (value) {
		memcpy(b->headers + b->hlen, value, strlen(value));
		b->hlen += strlen(value);
	}
	b->h.header_count++;
}

/* Lays the frame out; returns its size. */
static uint32_t b_build(struct builder *b)
{
	size_t off = sizeof(b->h);
	uint32_t size;

	b->h.header_bytes = (uint32_t)b->hlen;
	if (b->key)
		b->h.key_len = (uint32_t)strlen(b->key);
	if (b->value)
		b->h.value_len = (uint32_t)strlen(b->value);
	memcpy(b->buf + off, b->headers, b->hlen);
	off += b->hlen;
	if (b->key) {
		memcpy(b->buf + off, b->key, strlen(b->key));
		off += strlen(b->key);
	}
	if (b->value) {
		memcpy(b->buf + off, b->value, strlen(b->value));
		off += strlen(b->value);
	}
	size = ringside_align8(off);
	if (b->h.size == 0)
		b->h.size = size;
	memcpy(b->buf, &b->h, sizeof(b->h));
	return size;
}

static void expect_refused(struct builder *b, uint32_t size, const char *why)
{
	struct rs_frame f;
	const char *got = NULL;

	assert_int_equal(rs_frame_parse(b->buf, size, &f, &got), -1);
	assert_non_null(got);
	if (strstr(got, why) == NULL)
		print_error("got \"%s\", wanted \"%s\"\n", got, why);
	assert_non_null(strstr(got, why));
}

static void test_valid(void **state)
{
	struct builder b;
	struct rs_frame f;
	struct rs_frame_header h;
	const char *why;
	uint32_t size, pos = 0;

	(void)state;
	b_init(&b);
	b.key = "k1";
	b.value = "hello";
	b_header(&b, "trace", "abc");
	b_header(&b, "empty", NULL);
	b.h.timestamp = 99;
	size = b_build(&b);
	assert_int_equal(rs_frame_parse(b.buf, size, &f, &why), 0);
	assert_int_equal(f.opaque, 77);
	assert_int_equal(f.timestamp, 99);
	assert_int_equal(f.key_len, 2);
	assert_memory_equal(f.key, "k1", 2);
	assert_int_equal(f.value_len, 5);
	assert_memory_equal(f.value, "hello", 5);
	assert_int_equal(rs_frame_header_next(&f, &pos, &h), 1);
	assert_memory_equal(h.name, "trace", 5);
	assert_memory_equal(h.value, "abc", 3);
	assert_int_equal(rs_frame_header_next(&f, &pos, &h), 1);
	assert_int_equal(h.name_len, 5);
	assert_null(h.value);
	assert_int_equal(rs_frame_header_next(&f, &pos, &h), 0);
}

static void test_nulls(void **state)
{
	struct builder b;
	struct rs_frame f;
	const char *why;
	uint32_t size;

	(void)state;
	b_init(&b);
	size = b_build(&b);
	assert_int_equal(size, 48);
	assert_int_equal(rs_frame_parse(b.buf, size, &f, &why), 0);
	assert_null(f.key);
	assert_null(f.value);
}

static void test_size_rules(void **state)
{
	struct builder b;
	uint32_t size;

	(void)state;
	b_init(&b);
	b.value = "abc";
	size = b_build(&b);
	expect_refused(&b, 40, "frame size invalid");
	expect_refused(&b, size + 4, "frame size invalid");
	/* the header's size disagrees with what was peeked */
	expect_refused(&b, size + 8, "changed while being read");
	/* lengths that do not add up */
	b_init(&b);
	b.value = "abc";
	b.h.size = 64;
	b_build(&b);
	expect_refused(&b, 64, "do not add up");
	/* a value length that would wrap 32-bit arithmetic */
	b_init(&b);
	b.h.value_len = 0xfffffff0U;
	b.h.size = 56;
	b_build(&b);
	expect_refused(&b, 56, "do not add up");
	/* and one whose wrapped, aligned sum is exactly the frame's size:
	 * 48 + 0xfffffffe rounds up to 2^32 + 48 (found by fuzz_frame) */
	b_init(&b);
	b.h.value_len = 0xfffffffeU;
	b.h.size = 48;
	b_build(&b);
	expect_refused(&b, 48, "do not add up");
}

static void test_field_rules(void **state)
{
	struct builder b;
	uint32_t size;

	(void)state;
	b_init(&b);
	b.h.type = RINGSIDE_FRAME_PAD;
	size = b_build(&b);
	expect_refused(&b, size, "unknown frame type");
	b_init(&b);
	b.h.flags = 0x100;
	size = b_build(&b);
	expect_refused(&b, size, "unknown frame flags");
	b_init(&b);
	b.h.partition = 2; /* without the flag */
	size = b_build(&b);
	expect_refused(&b, size, "partition invalid");
	b_init(&b);
	b.h.flags = RINGSIDE_FRAME_F_PARTITION;
	b.h.partition = -5;
	size = b_build(&b);
	expect_refused(&b, size, "partition invalid");
	b_init(&b);
	b.h.timestamp = -1;
	size = b_build(&b);
	expect_refused(&b, size, "negative timestamp");
	b_init(&b);
	b.h.header_count = RINGSIDE_HEADERS_MAX + 1;
	size = b_build(&b);
	expect_refused(&b, size, "too many headers");
}

static void test_header_rules(void **state)
{
	struct builder b;
	uint32_t size;

	(void)state;
	/* count says two, bytes hold one */
	b_init(&b);
	b_header(&b, "a", "1");
	b.h.header_count = 2;
	size = b_build(&b);
	expect_refused(&b, size, "runs past");
	/* count says one, bytes hold two */
	b_init(&b);
	b_header(&b, "a", "1");
	b_header(&b, "b", "2");
	b.h.header_count = 1;
	size = b_build(&b);
	expect_refused(&b, size, "does not match");
	/* empty name */
	b_init(&b);
	b_header(&b, "", "1");
	size = b_build(&b);
	expect_refused(&b, size, "name length");
	/* NUL in a name */
	b_init(&b);
	b_header(&b, "ab", "1");
	b.headers[sizeof(struct ringside_wire_header)] = '\0';
	size = b_build(&b);
	expect_refused(&b, size, "NUL");
	/* a name that is not UTF-8 (an overlong '/') */
	b_init(&b);
	b_header(&b, "a\xc0\xaf", "1");
	size = b_build(&b);
	expect_refused(&b, size, "not UTF-8");
	/* a value claiming more than header_bytes */
	b_init(&b);
	b_header(&b, "a", "1");
	((struct ringside_wire_header *)(void *)b.headers)->value_len = 400;
	size = b_build(&b);
	expect_refused(&b, size, "runs past");
	/* reserved field set */
	b_init(&b);
	b_header(&b, "a", "1");
	((struct ringside_wire_header *)(void *)b.headers)->reserved = 1;
	size = b_build(&b);
	expect_refused(&b, size, "reserved");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_nulls),
		cmocka_unit_test(test_size_rules),
		cmocka_unit_test(test_field_rules),
		cmocka_unit_test(test_header_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
