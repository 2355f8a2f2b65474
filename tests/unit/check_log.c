/* check_log.c - levels, SLINFER_LOG_LEVEL, the host/rank prefix, one line
 * per message. Log lines are captured through sl_log_set_fd(). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "sl_check.h"

/* Runs the logging in `body` with lines going to a temporary file, returns
 * what was written (static buffer). */
static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(parse_levels)
{
    sl_log_level_t level = SL_LOG_INFO;
    ck_assert_int_eq(sl_log_parse_level("error", &level), SL_OK);
    ck_assert_int_eq(level, SL_LOG_ERROR);
    ck_assert_int_eq(sl_log_parse_level("WARN", &level), SL_OK);
    ck_assert_int_eq(level, SL_LOG_WARN);
    ck_assert_int_eq(sl_log_parse_level("warning", &level), SL_OK);
    ck_assert_int_eq(level, SL_LOG_WARN);
    ck_assert_int_eq(sl_log_parse_level("Debug", &level), SL_OK);
    ck_assert_int_eq(level, SL_LOG_DEBUG);
    ck_assert_int_eq(sl_log_parse_level("4", &level), SL_OK);
    ck_assert_int_eq(level, SL_LOG_TRACE);
    level = SL_LOG_INFO;
    ck_assert_int_eq(sl_log_parse_level("verbose", &level), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_log_parse_level("5", &level), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_log_parse_level("", &level), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_log_parse_level(NULL, &level), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(level, SL_LOG_INFO); /* untouched on failure */
}
END_TEST

START_TEST(threshold_filters)
{
    FILE *f;
    const char *out;

    sl_log_init();
    sl_log_set_level(SL_LOG_WARN);
    f = sl_check_log_begin();
    sl_error("first %d", 1);
    sl_warn("second");
    sl_info("hidden info");
    sl_debug("hidden debug");
    out = sl_check_log_end(f);
    ck_assert_int_eq(count_lines(out), 2);
    ck_assert_ptr_nonnull(strstr(out, "error: first 1\n"));
    ck_assert_ptr_nonnull(strstr(out, "warning: second\n"));
    ck_assert_ptr_null(strstr(out, "hidden"));
}
END_TEST

START_TEST(prefix_names_host_then_rank)
{
    char host[64];
    char expect[128];
    FILE *f;
    const char *out;

    ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
    host[sizeof(host) - 1] = '\0';
    char *dot = strchr(host, '.');
    if (dot)
        *dot = '\0';

    sl_log_init();
    sl_log_set_level(SL_LOG_INFO);
    f = sl_check_log_begin();
    sl_info("before rank");
    sl_log_set_rank(3, 16);
    sl_info("after rank");
    out = sl_check_log_end(f);

    snprintf(expect, sizeof(expect), "slinfer[%s ", host);
    ck_assert_msg(strncmp(out, expect, strlen(expect)) == 0, "got '%s'", out);
    snprintf(expect, sizeof(expect), "slinfer[%s:r3/16 ", host);
    ck_assert_msg(strstr(out, expect) != NULL, "no '%s' in '%s'", expect, out);
    ck_assert_ptr_nonnull(strstr(out, "] info: after rank\n"));
}
END_TEST

START_TEST(debug_adds_source_location)
{
    FILE *f;
    const char *out;

    sl_log_init();
    sl_log_set_level(SL_LOG_DEBUG);
    f = sl_check_log_begin();
    sl_debug("located");
    out = sl_check_log_end(f);
    ck_assert_msg(strstr(out, "check_log.c:") != NULL, "got '%s'", out);
}
END_TEST

START_TEST(env_sets_level_and_bad_env_warns)
{
    FILE *f;
    const char *out;

    setenv("SLINFER_LOG_LEVEL", "error", 1);
    sl_log_set_level(SL_LOG_INFO);
    sl_log_init();
    ck_assert_int_eq(sl_log_threshold, SL_LOG_ERROR);

    setenv("SLINFER_LOG_LEVEL", "loud", 1);
    sl_log_set_level(SL_LOG_INFO);
    f = sl_check_log_begin();
    sl_log_init();
    out = sl_check_log_end(f);
    ck_assert_int_eq(sl_log_threshold, SL_LOG_INFO);
    ck_assert_ptr_nonnull(strstr(out, "SLINFER_LOG_LEVEL='loud'"));
    unsetenv("SLINFER_LOG_LEVEL");
}
END_TEST

START_TEST(long_messages_are_cut_to_one_line)
{
    static char big[10000];
    FILE *f;
    const char *out;

    memset(big, 'x', sizeof(big) - 1);
    sl_log_init();
    sl_log_set_level(SL_LOG_INFO);
    f = sl_check_log_begin();
    sl_info("%s", big);
    out = sl_check_log_end(f);
    ck_assert_int_eq(count_lines(out), 1);
    ck_assert_ptr_nonnull(strstr(out, "...\n"));
}
END_TEST

START_TEST(errno_is_preserved)
{
    FILE *f = sl_check_log_begin();
    errno = ENOENT;
    sl_error("open failed");
    ck_assert_int_eq(errno, ENOENT);
    sl_check_log_end(f);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, parse_levels);
    tcase_add_test(tc, threshold_filters);
    tcase_add_test(tc, prefix_names_host_then_rank);
    tcase_add_test(tc, debug_adds_source_location);
    tcase_add_test(tc, env_sets_level_and_bad_env_warns);
    tcase_add_test(tc, long_messages_are_cut_to_one_line);
    tcase_add_test(tc, errno_is_preserved);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(log_suite)
