/* check_jinja_golden.c - every chat template of tests/data/templates/cases.json
 * rendered for every conversation, compared byte for byte with what Python's
 * jinja2 rendered (tests/templates/render_goldens.py wrote expected/).
 *
 * Built twice: as check_jinja_golden for the templates in the repository,
 * and with SL_GOLDEN_FIXTURES as check_jinja_fixtures for the model and
 * tokenizer folders of $SLINFER_FIXTURES (exit 77, skipped, without them). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "sl_check.h"
#include "template/chat_template.h"

#ifndef SL_TEMPLATE_DATA
#error "SL_TEMPLATE_DATA must name tests/data/templates"
#endif

static json_t *cases;

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Where TEXT first differs from WANT, with some context, for the message. */
static void describe_diff(const char *text, const char *want, char *out, size_t size)
{
    size_t i = 0;

    while (text[i] != '\0' && text[i] == want[i])
        i++;
    snprintf(out, size, "first difference at byte %zu: got \"%.60s\", want \"%.60s\"", i,
             text + i, want + i);
}

/* Renders CONV with the template of DIR against expected/NAME/CONV.* and
 * returns 1 on a match, 0 (after printing why) otherwise. */
static int check_one(const char *dir, const char *name, const char *conv_name)
{
    char path[4096], why[512];
    json_t *conv, *extra = NULL;
    json_error_t jerr;
    sl_chat_request_t req;
    sl_chat_template_t *tpl;
    sl_jinja_error_t err;
    char *text = NULL, *want, *want_err;
    sl_status_t status;
    int ok = 0;

    snprintf(path, sizeof(path), "%s/conversations/%s.json", SL_TEMPLATE_DATA, conv_name);
    conv = json_load_file(path, 0, &jerr);
    ck_assert_msg(conv != NULL, "%s: %s", path, jerr.text);
    ck_assert_int_eq(sl_chat_request_from_json(conv, &req, &extra), SL_OK);
    req.now = (time_t)json_integer_value(json_object_get(cases, "now"));

    ck_assert_msg(sl_chat_template_load(dir, &err, &tpl) == SL_OK, "%s: %d:%d: %s", dir,
                  err.line, err.column, err.message);
    status = sl_chat_template_render(tpl, &req, &err, &text);

    snprintf(path, sizeof(path), "%s/expected/%s/%s.txt", SL_TEMPLATE_DATA, name, conv_name);
    want = read_file(path);
    snprintf(path, sizeof(path), "%s/expected/%s/%s.error", SL_TEMPLATE_DATA, name, conv_name);
    want_err = read_file(path);
    if (want == NULL && want_err == NULL) {
        fprintf(stderr, "FAIL %s x %s: no expected file (run render_goldens.py)\n", name,
                conv_name);
    } else if (want != NULL) {
        if (status != SL_OK) {
            fprintf(stderr, "FAIL %s x %s: render failed at %d:%d: %s\n", name, conv_name,
                    err.line, err.column, err.message);
        } else if (strcmp(text, want) != 0) {
            describe_diff(text, want, why, sizeof(why));
            fprintf(stderr, "FAIL %s x %s: %s\n", name, conv_name, why);
        } else {
            ok = 1;
        }
    } else {
        /* "raise_exception\nMESSAGE": the template's own error, which must
         * match; any other kind: jinja2 failed, so must we. */
        const char *nl = strchr(want_err, '\n');
        bool raised = nl != NULL && strncmp(want_err, "raise_exception", 15) == 0;

        if (status == SL_OK)
            fprintf(stderr, "FAIL %s x %s: rendered, but jinja2 fails with %s\n", name,
                    conv_name, want_err);
        else if (raised && (!err.raised || strcmp(err.message, nl + 1) != 0))
            fprintf(stderr, "FAIL %s x %s: error '%s', expected raise_exception('%s')\n", name,
                    conv_name, err.message, nl + 1);
        else
            ok = 1;
    }
    free(want);
    free(want_err);
    free(text);
    sl_chat_template_free(tpl);
    json_decref(extra);
    json_decref(conv);
    return ok;
}

/* All conversations for one template folder. */
static void check_folder(const char *dir, const char *name)
{
    json_t *convs = json_object_get(cases, "conversations"), *c;
    size_t i, passed = 0;

    json_array_foreach(convs, i, c)
        passed += (size_t)check_one(dir, name, json_string_value(c));
    printf("%s: %zu/%zu goldens match\n", name, passed, json_array_size(convs));
    ck_assert_msg(passed == json_array_size(convs), "%s: %zu of %zu renders differ from jinja2",
                  name, json_array_size(convs) - passed, json_array_size(convs));
}

#ifndef SL_GOLDEN_FIXTURES

START_TEST(model_templates)
{
    json_t *models = json_object_get(cases, "models"), *m;
    size_t i;
    char dir[4096];

    ck_assert_uint_ge(json_array_size(models), 8);
    json_array_foreach(models, i, m) {
        snprintf(dir, sizeof(dir), "%s/models/%s", SL_TEMPLATE_DATA, json_string_value(m));
        check_folder(dir, json_string_value(m));
    }
}
END_TEST

#else

START_TEST(fixture_templates)
{
    json_t *fixtures = json_object_get(cases, "fixtures"), *name;
    const char *root = getenv("SLINFER_FIXTURES"), *sub;
    char dir[4096];

    ck_assert_uint_ge(json_object_size(fixtures), 3);
    json_object_foreach(fixtures, sub, name) {
        snprintf(dir, sizeof(dir), "%s/%s", root, sub);
        check_folder(dir, json_string_value(name));
    }
}
END_TEST

#endif

static Suite *jinja_golden_suite(void)
{
    Suite *s = suite_create("jinja_golden");
    TCase *tc = tcase_create("golden");

#ifndef SL_GOLDEN_FIXTURES
    tcase_add_test(tc, model_templates);
#else
    tcase_add_test(tc, fixture_templates);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    json_error_t jerr;
    SRunner *runner;
    int failed;

#ifdef SL_GOLDEN_FIXTURES
    struct stat st;
    const char *root = getenv("SLINFER_FIXTURES");
    if (root == NULL || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SLINFER_FIXTURES not set or missing: skipped\n");
        return 77;
    }
#endif
    /* The goldens where jinja2 fails make slinfer log errors; the FAIL lines
     * above carry everything a real mismatch needs. */
    FILE *null = fopen("/dev/null", "w");
    if (null != NULL)
        sl_log_set_fd(fileno(null));
    cases = json_load_file(SL_TEMPLATE_DATA "/cases.json", 0, &jerr);
    if (cases == NULL) {
        fprintf(stderr, "%s/cases.json: %s\n", SL_TEMPLATE_DATA, jerr.text);
        return EXIT_FAILURE;
    }
    runner = srunner_create(jinja_golden_suite());
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    json_decref(cases);
    if (null != NULL) {
        sl_log_set_fd(-1);
        fclose(null);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
