/* check_tokenizer_stream.c - the streaming detokenizer on the tokenizers of
 * tests/data/tokenizers (see check_tokenizer.c for their ids): pieces never
 * end inside a character, byte-fallback runs are held until complete, and
 * the pieces always add up to decode() of the whole sequence. */
#include "config.h"

#include "tokenizer_check.h"

/* Pushes IDS and compares each returned piece with WANT[i]. */
static void tt_stream_pieces(const sl_tok_t *tok, bool skip, const int32_t *ids,
                             const char *const *want, size_t n, const char *final)
{
    sl_tok_stream_t *s;
    const char *piece;
    size_t len;

    ck_assert_int_eq(sl_tok_stream_new(tok, skip, &s), SL_OK);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(sl_tok_stream_push(s, ids[i], &piece, &len), SL_OK);
        ck_assert_msg(len == strlen(want[i]) && memcmp(piece, want[i], len) == 0,
                      "push %zu (id %d): \"%.*s\", expected \"%s\"", i, (int)ids[i], (int)len,
                      piece, want[i]);
    }
    ck_assert_int_eq(sl_tok_stream_finish(s, &piece, &len), SL_OK);
    ck_assert_msg(len == strlen(final) && memcmp(piece, final, len) == 0,
                  "finish: \"%.*s\", expected \"%s\"", (int)len, piece, final);
    sl_tok_stream_free(s);
}

START_TEST(bytelevel_holds_partial_characters)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    /* 日 = E6 97 A5: nothing until the third byte. */
    const int32_t ids[] = {257, 230, 151, 165, 258};
    const char *const want[] = {"he", "", "", "\xE6\x97\xA5", " the"};
    tt_stream_pieces(tok, false, ids, want, 5, "");
    /* A sequence that never completes comes out at the end, as decode()
     * has it: one U+FFFD. */
    const int32_t cut[] = {97, 230, 151};
    const char *const want_cut[] = {"a", "", ""};
    tt_stream_pieces(tok, false, cut, want_cut, 3, "\xEF\xBF\xBD");
    /* Special tokens: kept or skipped. */
    const int32_t sp[] = {270, 258, 268};
    const char *const want_keep[] = {"<s>", " the", "<|end|>"};
    const char *const want_skip[] = {"", " the", ""};
    tt_stream_pieces(tok, false, sp, want_keep, 3, "");
    tt_stream_pieces(tok, true, sp, want_skip, 3, "");
    sl_tok_free(tok);
}
END_TEST

START_TEST(spm_leading_space_and_byte_runs)
{
    sl_tok_t *tok = tt_load("tiny-spm");
    /* The decoder strips the first space of the text only: "▁hi" is "hi",
     * later "▁ab" is " ab". */
    const int32_t ids[] = {269, 265, 265};
    const char *const want[] = {"hi", " ab", " ab"};
    tt_stream_pieces(tok, false, ids, want, 3, "");
    /* é as <0xC3><0xA9>: held while the byte run may continue; the run is
     * complete when a normal token comes (or at the end). */
    const int32_t bytes[] = {260, 198, 172, 261};
    const char *const want_bytes[] = {"a", "", "", "\xC3\xA9" "b"};
    tt_stream_pieces(tok, false, bytes, want_bytes, 4, "");
    const int32_t tail[] = {260, 198, 172};
    const char *const want_tail[] = {"a", "", ""};
    tt_stream_pieces(tok, false, tail, want_tail, 3, "\xC3\xA9");
    /* BOS skipped: the first text token still loses its leading space. */
    const int32_t bos[] = {1, 265, 265};
    const char *const want_bos[] = {"", "ab", " ab"};
    tt_stream_pieces(tok, true, bos, want_bos, 3, "");
    sl_tok_free(tok);
}
END_TEST

START_TEST(stream_reuse_after_finish)
{
    sl_tok_t *tok = tt_load("tiny-spm");
    sl_tok_stream_t *s;
    const char *piece;
    size_t len;

    ck_assert_int_eq(sl_tok_stream_new(tok, false, &s), SL_OK);
    ck_assert_int_eq(sl_tok_stream_push(s, 265, &piece, &len), SL_OK);
    ck_assert_int_eq(sl_tok_stream_finish(s, &piece, &len), SL_OK);
    /* A new sequence: its first token loses its space again. */
    ck_assert_int_eq(sl_tok_stream_push(s, 269, &piece, &len), SL_OK);
    ck_assert_int_eq(len, 2);
    ck_assert_int_eq(memcmp(piece, "hi", 2), 0);
    sl_tok_stream_reset(s);
    ck_assert_int_eq(sl_tok_stream_push(s, 265, &piece, &len), SL_OK);
    ck_assert_int_eq(len, 2);
    sl_tok_stream_free(s);
    sl_tok_free(tok);
}
END_TEST

/* Random sequences, byte tokens and special tokens included. */
static void tt_stream_random(const char *name, uint64_t seed)
{
    sl_tok_t *tok = tt_load(name);
    uint64_t state = seed;
    int32_t ids[64];
    size_t limit = sl_tok_id_limit(tok);

    for (int round = 0; round < 400; round++) {
        size_t n = 1 + tt_rand(&state) % 40;
        for (size_t i = 0; i < n; i++) {
            ids[i] = (int32_t)(tt_rand(&state) % limit);
            /* Runs of byte tokens that may form characters. */
            if (tt_rand(&state) % 3 == 0)
                ids[i] = (int32_t)(tt_rand(&state) % 2 ? 195 + tt_rand(&state) % 50
                                                       : 128 + tt_rand(&state) % 64);
        }
        tt_check_stream(tok, ids, n, false);
        tt_check_stream(tok, ids, n, true);
    }
    sl_tok_free(tok);
}

START_TEST(random_sequences_bytelevel)
{
    tt_stream_random("tiny-bytelevel", 1);
}
END_TEST

START_TEST(random_sequences_spm)
{
    tt_stream_random("tiny-spm", 2);
}
END_TEST

START_TEST(random_sequences_metaspace)
{
    sl_status_t st;
    sl_tok_t *tok = tt_variant(
        "tiny-spm",
        "{\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": "
        "\"\\u2581\", \"prepend_scheme\": \"first\"}, \"decoder\": {\"type\": \"Metaspace\", "
        "\"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\"}}", &st);
    uint64_t state = 3;
    int32_t ids[32];

    ck_assert_int_eq(st, SL_OK);
    for (int round = 0; round < 400; round++) {
        size_t n = 1 + tt_rand(&state) % 30;
        for (size_t i = 0; i < n; i++)
            ids[i] = (int32_t)(tt_rand(&state) % 2 ? 259 + tt_rand(&state) % 12
                                                    : tt_rand(&state) % 271);
        tt_check_stream(tok, ids, n, false);
        tt_check_stream(tok, ids, n, true);
    }
    sl_tok_free(tok);
}
END_TEST

static Suite *tokenizer_stream_suite(void)
{
    Suite *s = suite_create("tokenizer_stream");
    TCase *tc = tcase_create("stream");

    tcase_add_test(tc, bytelevel_holds_partial_characters);
    tcase_add_test(tc, spm_leading_space_and_byte_runs);
    tcase_add_test(tc, stream_reuse_after_finish);
    tcase_add_test(tc, random_sequences_bytelevel);
    tcase_add_test(tc, random_sequences_spm);
    tcase_add_test(tc, random_sequences_metaspace);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(tokenizer_stream_suite)
