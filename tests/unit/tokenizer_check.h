/*
 * tokenizer_check.h - helpers of the tokenizer tests: load the test
 * tokenizers of tests/data/tokenizers (SL_TEST_DATA, set by
 * tests/Makefile.am), variants of them patched in JSON, and compare ids and
 * text with messages that show both sides.
 */
#ifndef SL_TESTS_TOKENIZER_CHECK_H
#define SL_TESTS_TOKENIZER_CHECK_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_check.h"
#include "tokenizer/tokenizer.h"

static inline sl_tok_t *tt_load(const char *name)
{
    char dir[4096];
    sl_tok_t *tok = NULL;

    snprintf(dir, sizeof(dir), "%s/tokenizers/%s", SL_TEST_DATA, name);
    ck_assert_int_eq(sl_tok_load(dir, &tok), SL_OK);
    return tok;
}

/* Loads tests/data/tokenizers/NAME/tokenizer.json with PATCH (a JSON object)
 * merged into it recursively (objects merge, anything else replaces); the
 * status of the load goes to *st_p, the tokenizer (or NULL) is returned. */
static inline sl_tok_t *tt_variant(const char *name, const char *patch, sl_status_t *st_p)
{
    char path[4096], tmp[] = "/tmp/sl_tok_testXXXXXX";
    json_error_t err;
    json_t *root, *p;
    sl_tok_t *tok = NULL;
    int fd;

    snprintf(path, sizeof(path), "%s/tokenizers/%s/tokenizer.json", SL_TEST_DATA, name);
    root = json_load_file(path, 0, &err);
    ck_assert_msg(root != NULL, "%s: %s", path, err.text);
    p = json_loads(patch, 0, &err);
    ck_assert_msg(p != NULL, "patch: %s: %s", err.text, patch);
    ck_assert_int_eq(json_object_update_recursive(root, p), 0);
    fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(json_dump_file(root, tmp, 0), 0);
    *st_p = sl_tok_load_files(tmp, NULL, NULL, &tok);
    unlink(tmp);
    json_decref(root);
    json_decref(p);
    return tok;
}

static inline sl_tok_t *tt_variant_ok(const char *name, const char *patch)
{
    sl_status_t st;
    sl_tok_t *tok = tt_variant(name, patch, &st);
    ck_assert_msg(st == SL_OK, "variant %s: %s", patch, sl_status_string(st));
    return tok;
}

static inline void tt_format_ids(char *buf, size_t len, const int32_t *ids, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at + 16 < len; i++)
        at += (size_t)snprintf(buf + at, len - at, i ? ",%d" : "%d", (int)ids[i]);
}

#define tt_expect_ids(tok, text, special, ...)                                              \
    do {                                                                                    \
        const int32_t tt_want[] = {__VA_ARGS__};                                            \
        tt_check_ids((tok), (text), strlen(text), (special), tt_want,                       \
                     sizeof(tt_want) / sizeof(tt_want[0]));                                 \
    } while (0)

static inline void tt_check_ids(const sl_tok_t *tok, const char *text, size_t len, bool special,
                                const int32_t *want, size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char got_s[2048], want_s[2048];

    ck_assert_int_eq(sl_tok_encode(tok, text, len, special, &ids, &n), SL_OK);
    tt_format_ids(got_s, sizeof(got_s), ids, n);
    tt_format_ids(want_s, sizeof(want_s), want, n_want);
    ck_assert_msg(n == n_want && memcmp(ids, want, n * sizeof(int32_t)) == 0,
                  "encode(\"%s\", special=%d) = [%s], expected [%s]", text, (int)special, got_s,
                  want_s);
    free(ids);
}

/* decode(ids) must be exactly WANT (WANT_LEN bytes). */
static inline void tt_check_decode(const sl_tok_t *tok, const int32_t *ids, size_t n, bool skip,
                                   const char *want, size_t want_len)
{
    char *text = NULL;
    size_t len = 0;

    ck_assert_int_eq(sl_tok_decode(tok, ids, n, skip, &text, &len), SL_OK);
    ck_assert_msg(len == want_len && memcmp(text, want, len) == 0,
                  "decode = \"%.*s\" (%zu bytes), expected \"%s\" (%zu bytes)", (int)len, text, len,
                  want, want_len);
    ck_assert_int_eq(text[len], '\0');
    free(text);
}

#define tt_expect_decode(tok, skip, want, ...)                                              \
    do {                                                                                    \
        const int32_t tt_ids[] = {__VA_ARGS__};                                             \
        tt_check_decode((tok), tt_ids, sizeof(tt_ids) / sizeof(tt_ids[0]), (skip), (want),  \
                        sizeof(want) - 1);                                                  \
    } while (0)

/* Streams IDS one at a time, then finishes: the pieces must concatenate to
 * decode(IDS), and none may end inside a UTF-8 character. */
static inline void tt_check_stream(const sl_tok_t *tok, const int32_t *ids, size_t n, bool skip)
{
    sl_tok_stream_t *s = NULL;
    char *want = NULL, *got = malloc(1);
    size_t want_len = 0, got_len = 0, len;
    const char *piece;

    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(sl_tok_decode(tok, ids, n, skip, &want, &want_len), SL_OK);
    ck_assert_int_eq(sl_tok_stream_new(tok, skip, &s), SL_OK);
    for (size_t i = 0; i <= n; i++) {
        if (i < n)
            ck_assert_int_eq(sl_tok_stream_push(s, ids[i], &piece, &len), SL_OK);
        else
            ck_assert_int_eq(sl_tok_stream_finish(s, &piece, &len), SL_OK);
        if (len > 0 && i < n) {
            /* A piece ends on a character boundary: its last lead byte has
             * all its continuation bytes. */
            size_t j = len - 1, need;
            unsigned char lead;
            while (j > 0 && ((unsigned char)piece[j] & 0xC0) == 0x80)
                j--;
            lead = (unsigned char)piece[j];
            need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            ck_assert_msg(len - j >= need, "stream piece %zu ends inside a character", i);
        }
        got = realloc(got, got_len + len + 1);
        ck_assert_ptr_nonnull(got);
        memcpy(got + got_len, piece, len);
        got_len += len;
    }
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "stream gave \"%.*s\", decode gives \"%.*s\"", (int)got_len, got, (int)want_len,
                  want);
    sl_tok_stream_free(s);
    free(want);
    free(got);
}

/* A small deterministic generator for random id sequences. */
static inline uint32_t tt_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*state >> 33);
}

#endif /* SL_TESTS_TOKENIZER_CHECK_H */
