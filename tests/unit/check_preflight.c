/* check_preflight.c - the preflight list and its comparison across ranks
 * (the gather itself is exercised under srun by tests/integration). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/bootstrap.h"
#include "core/log.h"
#include "core/version.h"
#include "job/preflight.h"
#include "sl_check.h"

/* Runs sl_preflight_compare with log lines captured into `log`. */
static int compare_logged(int n, const char *const *lists, const char *const *hosts,
                          const char **log_p)
{
    FILE *f = sl_check_log_begin();
    int differing = sl_preflight_compare(n, lists, hosts);
    *log_p = sl_check_log_end(f);
    return differing;
}

START_TEST(list_starts_with_the_version)
{
    sl_preflight_t *pf;
    char expect[256];

    ck_assert_int_eq(sl_preflight_create(&pf), SL_OK);
    ck_assert_int_eq(sl_preflight_add(pf, "--tp", "2"), SL_OK);
    ck_assert_int_eq(sl_preflight_add_int(pf, "--page-size", 16), SL_OK);
    ck_assert_int_eq(sl_preflight_add(pf, "--model", NULL), SL_OK);
    snprintf(expect, sizeof(expect), "slinfer=%s (git %s)\n--tp=2\n--page-size=16\n--model=(unset)\n",
             sl_version(), sl_git_revision());
    ck_assert_str_eq(sl_preflight_text(pf), expect);
    /* keys with '=' or newlines would make the list ambiguous */
    ck_assert_int_eq(sl_preflight_add(pf, "a=b", "1"), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_preflight_add(pf, "a", "1\n2"), SL_ERR_INVALID_ARG);
    sl_preflight_destroy(pf);
}
END_TEST

START_TEST(identical_lists_agree)
{
    const char *lists[] = {"slinfer=1\n--tp=2\n", "slinfer=1\n--tp=2\n", "slinfer=1\n--tp=2\n"};
    const char *hosts[] = {"n1", "n1", "n2"};
    const char *log;
    ck_assert_int_eq(compare_logged(3, lists, hosts, &log), 0);
    ck_assert_str_eq(log, "");
}
END_TEST

START_TEST(a_difference_names_rank_node_key_and_values)
{
    const char *lists[] = {"slinfer=1\n--tp=2\n--json=no\n", "slinfer=1\n--tp=2\n--json=no\n",
                           "slinfer=1\n--tp=4\n--json=no\n"};
    const char *hosts[] = {"gpu01", "gpu01", "gpu02"};
    const char *log;
    ck_assert_int_eq(compare_logged(3, lists, hosts, &log), 1);
    ck_assert_msg(strstr(log, "rank 2 on gpu02 differs from rank 0 on gpu01: --tp is '4' on "
                              "gpu02 but '2' on gpu01") != NULL,
                  "log: %s", log);
}
END_TEST

START_TEST(missing_and_extra_keys_are_differences)
{
    const char *lists[] = {"slinfer=1\n--tp=2\n", "slinfer=1\n--dp=2\n"};
    const char *hosts[] = {"a", "b"};
    const char *log;
    ck_assert_int_eq(compare_logged(2, lists, hosts, &log), 1);
    ck_assert_msg(strstr(log, "--tp is '(missing)' on b but '2' on a") != NULL, "log: %s", log);
    ck_assert_msg(strstr(log, "rank 1 on b has --dp=2, which rank 0 on a does not") != NULL,
                  "log: %s", log);
}
END_TEST

START_TEST(a_different_build_is_caught)
{
    const char *lists[] = {"slinfer=0.1.0 (git abc)\n", "slinfer=0.1.0 (git abc-dirty)\n"};
    const char *hosts[] = {"a", "b"};
    const char *log;
    ck_assert_int_eq(compare_logged(2, lists, hosts, &log), 1);
    ck_assert_ptr_nonnull(strstr(log, "slinfer is '0.1.0 (git abc-dirty)' on b"));
}
END_TEST

START_TEST(single_rank_run_passes)
{
    sl_boot_t *boot;
    sl_preflight_t *pf;

    unsetenv("PMIX_NAMESPACE");
    unsetenv("SLURM_STEP_ID");
    unsetenv("SLURM_STEPID");
    ck_assert_int_eq(sl_boot_init("single", &boot), SL_OK);
    ck_assert_int_eq(sl_preflight_create(&pf), SL_OK);
    ck_assert_int_eq(sl_preflight_add(pf, "--tp", "1"), SL_OK);
    ck_assert_int_eq(sl_preflight_run(pf, boot), SL_OK);
    sl_preflight_destroy(pf);
    sl_boot_finalize(boot);
}
END_TEST

static Suite *preflight_suite(void)
{
    Suite *s = suite_create("preflight");
    TCase *tc = tcase_create("preflight");
    tcase_add_test(tc, list_starts_with_the_version);
    tcase_add_test(tc, identical_lists_agree);
    tcase_add_test(tc, a_difference_names_rank_node_key_and_values);
    tcase_add_test(tc, missing_and_extra_keys_are_differences);
    tcase_add_test(tc, a_different_build_is_caught);
    tcase_add_test(tc, single_rank_run_passes);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(preflight_suite)
