/* check_engine_stop.c - stop strings on text arriving in pieces (split
 * across tokens, held back while undecided, never returned), stop tokens,
 * EOS from generation_config.json, and the DP x TP layout. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gen_config.h"
#include "engine/parallel.h"
#include "engine/stop.h"
#include "model_check.h"
#include "sl_check.h"

static char *stops1[] = {"END"};
static char *stops2[] = {"\n\n", "stop here"};

/* Pushes CHUNK with matching on; returns whether it stopped. */
static bool push(sl_stop_t *st, const char *chunk, char **stops, int n)
{
    bool stopped = true;
    ck_assert_int_eq(sl_stop_push(st, chunk, strlen(chunk), stops, n, true, &stopped), SL_OK);
    return stopped;
}

START_TEST(holdback_and_find)
{
    ck_assert_uint_eq(sl_stop_holdback("abc E", 5, stops1, 1), 1);
    ck_assert_uint_eq(sl_stop_holdback("abc EN", 6, stops1, 1), 2);
    ck_assert_uint_eq(sl_stop_holdback("abc ENX", 7, stops1, 1), 0);
    ck_assert_uint_eq(sl_stop_holdback("x\n", 2, stops2, 2), 1);
    ck_assert_uint_eq(sl_stop_holdback("stop her", 8, stops2, 2), 8);
    ck_assert_uint_eq(sl_stop_holdback("EN", 2, stops1, 1), 2);
    size_t pos = 99;
    /* only occurrences ending past old_len count */
    ck_assert(!sl_stop_find("END and", 7, 3, stops1, 1, &pos));
    ck_assert(sl_stop_find("END and", 7, 2, stops1, 1, &pos));
    ck_assert_uint_eq(pos, 0);
    /* the earliest of several stop strings */
    ck_assert(sl_stop_find("a stop here\n\nb", 14, 5, stops2, 2, &pos));
    ck_assert_uint_eq(pos, 2);
}
END_TEST

START_TEST(split_across_tokens)
{
    sl_stop_t st = {0};

    /* "END" arrives as "E" + "N" + "D tail": nothing of it is ever emitted */
    ck_assert(!push(&st, "abc E", stops1, 1));
    ck_assert_uint_eq(st.emitted, 4); /* "abc " is final, "E" may start END */
    ck_assert(!push(&st, "N", stops1, 1));
    ck_assert_uint_eq(st.emitted, 4);
    ck_assert(push(&st, "D tail", stops1, 1));
    ck_assert_str_eq(st.text, "abc ");
    ck_assert_uint_eq(st.len, 4);
    ck_assert_uint_eq(st.emitted, 4);
    ck_assert(st.cut);
    sl_stop_free(&st);

    /* a false start is released once it cannot match any more */
    ck_assert(!push(&st, "xE", stops1, 1));
    ck_assert_uint_eq(st.emitted, 1);
    ck_assert(!push(&st, "NX", stops1, 1));
    ck_assert_uint_eq(st.emitted, 4);
    sl_stop_release(&st);
    ck_assert_str_eq(st.text, "xENX");
    sl_stop_free(&st);

    /* "\n\n" as two tokens; the text before the first newline is returned */
    ck_assert(!push(&st, "Hello\n", stops2, 2));
    ck_assert_uint_eq(st.emitted, 5);
    ck_assert(push(&st, "\nWorld", stops2, 2));
    ck_assert_str_eq(st.text, "Hello");
    sl_stop_free(&st);

    /* a stop string inside one token, text after it dropped */
    ck_assert(!push(&st, "please ", stops2, 2));
    ck_assert(push(&st, "stop here now", stops2, 2));
    ck_assert_str_eq(st.text, "please ");
    sl_stop_free(&st);

    /* with matching off (min_tokens not reached) a stop string passes */
    bool stopped = true;
    ck_assert_int_eq(sl_stop_push(&st, "END", 3, stops1, 1, false, &stopped), SL_OK);
    ck_assert(!stopped);
    ck_assert_uint_eq(st.emitted, 3);
    ck_assert(!push(&st, "x", stops1, 1)); /* an old occurrence is not found later */
    ck_assert(push(&st, "yEND", stops1, 1));
    ck_assert_str_eq(st.text, "ENDxy");
    sl_stop_free(&st);
}
END_TEST

START_TEST(stop_tokens)
{
    const int32_t eos[] = {2, 7}, stop_ids[] = {5};
    ck_assert(sl_stop_is_stop_token(7, eos, 2, false, stop_ids, 1));
    ck_assert(!sl_stop_is_stop_token(7, eos, 2, true, stop_ids, 1));
    ck_assert(sl_stop_is_stop_token(5, eos, 2, true, stop_ids, 1));
    ck_assert(!sl_stop_is_stop_token(6, eos, 2, false, stop_ids, 1));
}
END_TEST

START_TEST(generation_config)
{
    sl_gen_config_t g = {.num_eos = 0};
    const char *list = "{\"eos_token_id\": [128001, 128008, 128009, 128001]}";
    ck_assert_int_eq(sl_gen_config_parse("g.json", list, strlen(list), &g), SL_OK);
    ck_assert_int_eq(g.num_eos, 3);
    ck_assert_int_eq(g.eos[2], 128009);
    const char *one = "{\"eos_token_id\": 2, \"bos_token_id\": 1}";
    ck_assert_int_eq(sl_gen_config_parse("g.json", one, strlen(one), &g), SL_OK);
    ck_assert_int_eq(g.num_eos, 4);
    const char *none = "{\"eos_token_id\": null}";
    ck_assert_int_eq(sl_gen_config_parse("g.json", none, strlen(none), &g), SL_OK);
    ck_assert_int_eq(g.num_eos, 4);
    mc_log_begin();
    const char *bad = "{\"eos_token_id\": \"</s>\"}";
    ck_assert_int_eq(sl_gen_config_parse("g.json", bad, strlen(bad), &g), SL_ERR_FORMAT);
    mc_assert_logged(mc_log_end(), "g.json: eos_token_id must be a token id");

    /* generation_config.json first, config.json as the fallback */
    char dir[256], path[300];
    mc_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"eos_token_id\": 9}", f);
    fclose(f);
    ck_assert_int_eq(sl_gen_config_load(dir, &g), SL_OK);
    ck_assert_int_eq(g.num_eos, 1);
    ck_assert_int_eq(g.eos[0], 9);
    snprintf(path, sizeof(path), "%s/generation_config.json", dir);
    f = fopen(path, "w");
    fputs("{\"eos_token_id\": [3, 4]}", f);
    fclose(f);
    ck_assert_int_eq(sl_gen_config_load(dir, &g), SL_OK);
    ck_assert_int_eq(g.num_eos, 2);
    ck_assert_int_eq(g.eos[0], 3);
    mc_rmdir(dir);
}
END_TEST

START_TEST(parallel_layout)
{
    sl_parallel_t p;
    ck_assert_int_eq(sl_parallel_layout(8, 2, 5, &p), SL_OK);
    ck_assert_int_eq(p.dp, 4);
    ck_assert_int_eq(p.dp_rank, 2);
    ck_assert_int_eq(p.tp_rank, 1);
    ck_assert(!p.leader);
    ck_assert_int_eq(sl_parallel_layout(8, 2, 4, &p), SL_OK);
    ck_assert(p.leader);
    mc_log_begin();
    ck_assert_int_eq(sl_parallel_layout(6, 4, 0, &p), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "--tp 4 must divide the 6 ranks");
    /* records round robin, independent of anything else */
    ck_assert_int_eq(sl_parallel_owner(0, 3), 0);
    ck_assert_int_eq(sl_parallel_owner(7, 3), 1);
    ck_assert_int_eq(sl_parallel_owner(UINT64_MAX, 4), 3);
}
END_TEST

START_TEST(parallel_span)
{
    sl_span_t s;
    /* the group fits the process: every process leads its own */
    ck_assert_int_eq(sl_parallel_span(3, 2, 2, 4, &s), SL_OK);
    ck_assert_int_eq(s.per_group, 1);
    ck_assert_int_eq(s.dp, 3);
    ck_assert_int_eq(s.dp_rank, 2);
    ck_assert_int_eq(s.tp_first, 0);
    ck_assert_int_eq(s.local_tp, 2);
    ck_assert(s.leader);
    /* the CPU backend (no GPUs): likewise */
    ck_assert_int_eq(sl_parallel_span(2, 1, 8, 0, &s), SL_OK);
    ck_assert_int_eq(s.per_group, 1);
    ck_assert_int_eq(s.local_tp, 8);
    /* TP 8 over processes of 4 GPUs: pairs of processes */
    ck_assert_int_eq(sl_parallel_span(6, 3, 8, 4, &s), SL_OK);
    ck_assert_int_eq(s.per_group, 2);
    ck_assert_int_eq(s.dp, 3);
    ck_assert_int_eq(s.dp_rank, 1);
    ck_assert_int_eq(s.tp_first, 4);
    ck_assert_int_eq(s.local_tp, 4);
    ck_assert_int_eq(s.leader_rank, 2);
    ck_assert(!s.leader);
    /* TP 4 over single-GPU processes */
    ck_assert_int_eq(sl_parallel_span(8, 4, 4, 1, &s), SL_OK);
    ck_assert_int_eq(s.tp_first, 0);
    ck_assert_int_eq(s.leader_rank, 4);
    ck_assert(s.leader);
    mc_log_begin();
    ck_assert_int_eq(sl_parallel_span(4, 0, 6, 4, &s), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_parallel_span(3, 0, 4, 2, &s), SL_ERR_INVALID_ARG);
    const char *logged = mc_log_end();
    mc_assert_logged(logged, "--tp 6 spans processes of 4 GPUs each: it must be a multiple of 4");
    mc_assert_logged(logged, "the job has 3 processes, not a multiple of 2");
}
END_TEST

static Suite *stop_suite(void)
{
    Suite *s = suite_create("engine_stop");
    TCase *tc = tcase_create("hand");
    tcase_add_test(tc, holdback_and_find);
    tcase_add_test(tc, split_across_tokens);
    tcase_add_test(tc, stop_tokens);
    tcase_add_test(tc, generation_config);
    tcase_add_test(tc, parallel_layout);
    tcase_add_test(tc, parallel_span);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(stop_suite)
