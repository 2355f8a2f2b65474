/* check_tokenizer_golden.c - the fixture tokenizers ($SLINFER_FIXTURES/
 * tokenizers/{llama3-bpe,qwen2-bpe,llama2-spm}) against HF `tokenizers`
 * output in their golden.json: ids with and without special tokens, decoded
 * text with and without skipping special tokens, vocabulary size, and the
 * stream against decode. The model folders' tokenizers must load too.
 * Exits 77 (skipped) when the fixtures are absent. */
#include "config.h"

#include <sys/stat.h>

#include "tokenizer_check.h"

static const char *const tt_fixtures[] = {"llama3-bpe", "qwen2-bpe", "llama2-spm"};

static void tt_fixture_dir(char *buf, size_t len, const char *sub, const char *name)
{
    snprintf(buf, len, "%s/%s/%s", getenv("SLINFER_FIXTURES"), sub, name);
}

static json_t *tt_ids_json(json_t *arr, int32_t **ids_p, size_t *n_p)
{
    size_t i;
    json_t *v;
    int32_t *ids = malloc((json_array_size(arr) + 1) * sizeof(int32_t));

    ck_assert_ptr_nonnull(ids);
    json_array_foreach(arr, i, v)
        ids[i] = (int32_t)json_integer_value(v);
    *ids_p = ids;
    *n_p = json_array_size(arr);
    return arr;
}

START_TEST(golden_cases)
{
    const char *name = tt_fixtures[_i];
    char dir[4096], path[4200];
    json_error_t err;
    json_t *golden, *cases, *c;
    sl_tok_t *tok;
    size_t i, ok = 0;

    tt_fixture_dir(dir, sizeof(dir), "tokenizers", name);
    snprintf(path, sizeof(path), "%s/golden.json", dir);
    golden = json_load_file(path, JSON_ALLOW_NUL, &err);
    ck_assert_msg(golden != NULL, "%s: %s", path, err.text);
    ck_assert_int_eq(sl_tok_load(dir, &tok), SL_OK);
    ck_assert_uint_eq(sl_tok_vocab_size(tok),
                      (size_t)json_integer_value(json_object_get(golden, "vocab_size")));
    cases = json_object_get(golden, "cases");
    ck_assert_int_gt(json_array_size(cases), 0);
    json_array_foreach(cases, i, c) {
        json_t *text = json_object_get(c, "text");
        json_t *dec = json_object_get(c, "decoded");
        json_t *dec_skip = json_object_get(c, "decoded_skip_special");
        int32_t *ids, *ids_sp;
        size_t n, n_sp;
        tt_ids_json(json_object_get(c, "ids"), &ids, &n);
        tt_ids_json(json_object_get(c, "ids_with_special"), &ids_sp, &n_sp);
        tt_check_ids(tok, json_string_value(text), json_string_length(text), false, ids, n);
        tt_check_ids(tok, json_string_value(text), json_string_length(text), true, ids_sp, n_sp);
        tt_check_decode(tok, ids, n, false, json_string_value(dec), json_string_length(dec));
        tt_check_decode(tok, ids, n, true, json_string_value(dec_skip),
                        json_string_length(dec_skip));
        tt_check_stream(tok, ids, n, false);
        tt_check_stream(tok, ids_sp, n_sp, true);
        free(ids);
        free(ids_sp);
        ok++;
    }
    printf("%s: %zu/%zu golden cases exact\n", name, ok, json_array_size(cases));
    sl_tok_free(tok);
    json_decref(golden);
}
END_TEST

START_TEST(stream_random_ids)
{
    const char *name = tt_fixtures[_i];
    char dir[4096];
    sl_tok_t *tok;
    uint64_t state = 42 + (uint64_t)_i;
    int32_t ids[48];

    tt_fixture_dir(dir, sizeof(dir), "tokenizers", name);
    ck_assert_int_eq(sl_tok_load(dir, &tok), SL_OK);
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + tt_rand(&state) % 48;
        for (size_t i = 0; i < n; i++) {
            ids[i] = (int32_t)(tt_rand(&state) % sl_tok_id_limit(tok));
            /* Byte tokens: ids 3..258 in llama2-spm, bytes >= 0x80 in the
             * byte-level vocabularies. */
            if (tt_rand(&state) % 3 == 0)
                ids[i] = (int32_t)(3 + 0xC0 + tt_rand(&state) % 64);
            else if (tt_rand(&state) % 4 == 0)
                ids[i] = (int32_t)(3 + 0x80 + tt_rand(&state) % 64);
        }
        tt_check_stream(tok, ids, n, false);
        tt_check_stream(tok, ids, n, true);
    }
    sl_tok_free(tok);
}
END_TEST

START_TEST(model_folders_load)
{
    static const char *const models[] = {"tiny-llama3", "tiny-llama2", "tiny-qwen2",
                                         "tiny-qwen3", "tiny-qwen3moe", "tiny-mixtral",
                                         "tiny-deepseek3"};
    for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
        char dir[4096];
        sl_tok_t *tok;
        int32_t *ids;
        size_t n;
        char *text;
        const char *s = "Hello, world! Grüße 日本";
        tt_fixture_dir(dir, sizeof(dir), "models", models[m]);
        ck_assert_msg(sl_tok_load(dir, &tok) == SL_OK, "%s", dir);
        ck_assert_ptr_nonnull(sl_tok_chat_template(tok));
        ck_assert_int_ge(sl_tok_eos_id(tok), 0);
        ck_assert_int_eq(sl_tok_encode(tok, s, strlen(s), false, &ids, &n), SL_OK);
        ck_assert_int_eq(sl_tok_decode(tok, ids, n, false, &text, NULL), SL_OK);
        ck_assert_str_eq(text, s);
        free(ids);
        free(text);
        sl_tok_free(tok);
    }
}
END_TEST

static Suite *tokenizer_golden_suite(void)
{
    Suite *s = suite_create("tokenizer_golden");
    TCase *tc = tcase_create("golden");

    tcase_add_loop_test(tc, golden_cases, 0, 3);
    tcase_add_loop_test(tc, stream_random_ids, 0, 3);
    tcase_add_test(tc, model_folders_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *fixtures = getenv("SLINFER_FIXTURES");
    char dir[4096];
    struct stat sb;
    SRunner *runner;
    int failed;

    snprintf(dir, sizeof(dir), "%s/tokenizers", fixtures ? fixtures : "");
    if (fixtures == NULL || stat(dir, &sb) != 0) {
        printf("SKIP: no tokenizer fixtures (SLINFER_FIXTURES=%s)\n", fixtures ? fixtures : "");
        return 77;
    }
    runner = srunner_create(tokenizer_golden_suite());
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
