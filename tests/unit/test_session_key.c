/* SPDX-License-Identifier: MIT */
/*
 * test_session_key.c: the session token. SipHash-2-4 against the test
 * vector of its paper (Aumasson and Bernstein, appendix A: key 00..0f,
 * message 00..0e, 0xa129ca6149be45e5); a token changes with each thing it
 * binds (id, uid, ring size, reply slots) and with the key; the key file
 * is made once, 0600, kept across starts, and refused when others could
 * read it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/session_key.h"
#include "daemon/siphash.h"

static void test_siphash_vector(void **state)
{
	uint8_t key[16], msg[15];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	assert_true(rs_siphash24(key, msg, sizeof(msg)) ==
		    0xa129ca6149be45e5ULL);
	/* and the empty message of the paper's full table (row 0) */
	assert_true(rs_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
}

static void test_token_binds(void **state)
{
	struct rs_session_key k, k2;
	uint8_t a[RS_SESSION_TOKEN_LEN], b[RS_SESSION_TOKEN_LEN];

	(void)state;
	memset(&k, 1, sizeof(k));
	k2 = k;
	k2.k[31] ^= 1;
	rs_session_token(&k, 42, 1000, 65536, 64, a);
	rs_session_token(&k, 42, 1000, 65536, 64, b);
	assert_true(rs_session_token_equal(a, b));
	rs_session_token(&k, 43, 1000, 65536, 64, b);
	assert_false(rs_session_token_equal(a, b));
	rs_session_token(&k, 42, 1001, 65536, 64, b);
	assert_false(rs_session_token_equal(a, b));
	rs_session_token(&k, 42, 1000, 131072, 64, b);
	assert_false(rs_session_token_equal(a, b));
	rs_session_token(&k, 42, 1000, 65536, 128, b);
	assert_false(rs_session_token_equal(a, b));
	rs_session_token(&k2, 42, 1000, 65536, 64, b);
	assert_false(rs_session_token_equal(a, b));
}

static void test_key_file(void **state)
{
	struct rs_session_key k1, k2;
	char dir[] = "/tmp/rs-test-key-XXXXXX", path[64], err[256], cmd[128];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/session.key", dir);
	assert_int_equal(rs_session_key_load(dir, &k1, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	/* the same key at the next start */
	assert_int_equal(rs_session_key_load(dir, &k2, err, sizeof(err)), 0);
	assert_memory_equal(k1.k, k2.k, sizeof(k1.k));
	/* a key others may read is refused, not used */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(rs_session_key_load(dir, &k2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0600"));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_token_binds),
		cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
