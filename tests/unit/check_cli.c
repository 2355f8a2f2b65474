/* check_cli.c - command table and the exit statuses of sl_cli_main(). The
 * text the binary prints is checked by tests/cli/test_cli.sh. */
#include "config.h"

#include <stdio.h>

#include "cli/cli.h"
#include "sl_check.h"

static int run(int argc, const char **argv)
{
    int status;
    /* Keep the test log readable: the commands' output is not checked here. */
    FILE *saved_out = freopen("/dev/null", "w", stdout);
    ck_assert_ptr_nonnull(saved_out);
    status = sl_cli_main(argc, (char **)argv);
    fflush(stdout);
    return status;
}

START_TEST(finds_commands)
{
    ck_assert_ptr_nonnull(sl_cli_find("help"));
    ck_assert_ptr_nonnull(sl_cli_find("version"));
    ck_assert_ptr_null(sl_cli_find("Version"));
    ck_assert_ptr_null(sl_cli_find(""));
    ck_assert_str_eq(sl_cli_find("version")->name, "version");
}
END_TEST

START_TEST(exit_statuses)
{
    ck_assert_int_eq(run(2, (const char *[]){"slinfer", "--help", NULL}), SL_EXIT_OK);
    ck_assert_int_eq(run(2, (const char *[]){"slinfer", "-V", NULL}), SL_EXIT_OK);
    ck_assert_int_eq(run(3, (const char *[]){"slinfer", "help", "version", NULL}), SL_EXIT_OK);
    ck_assert_int_eq(run(3, (const char *[]){"slinfer", "version", "--help", NULL}),
                     SL_EXIT_OK);
    ck_assert_int_eq(run(1, (const char *[]){"slinfer", NULL}), SL_EXIT_USAGE);
    ck_assert_int_eq(run(2, (const char *[]){"slinfer", "frobnicate", NULL}), SL_EXIT_USAGE);
    ck_assert_int_eq(run(2, (const char *[]){"slinfer", "--frobnicate", NULL}), SL_EXIT_USAGE);
    ck_assert_int_eq(run(3, (const char *[]){"slinfer", "help", "nope", NULL}), SL_EXIT_USAGE);
    ck_assert_int_eq(run(3, (const char *[]){"slinfer", "version", "extra", NULL}),
                     SL_EXIT_USAGE);
    ck_assert_int_eq(run(2, (const char *[]){"slinfer", "--log-level", NULL}), SL_EXIT_USAGE);
    ck_assert_int_eq(run(3, (const char *[]){"slinfer", "--log-level=loud", "version", NULL}),
                     SL_EXIT_USAGE);
    ck_assert_int_eq(run(4, (const char *[]){"slinfer", "--log-level", "debug", "version",
                                             NULL}),
                     SL_EXIT_OK);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("dispatch");
    tcase_add_test(tc, finds_commands);
    tcase_add_test(tc, exit_statuses);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(cli_suite)
