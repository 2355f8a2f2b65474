/* check_io_progress.c - the progress bar and log line, with the arithmetic
 * of each expectation written out. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/progress.h"
#include "sl_check.h"

START_TEST(durations)
{
    char b[16];
    sl_io_progress_duration(0, b, sizeof(b));
    ck_assert_str_eq(b, "0s");
    sl_io_progress_duration(44.6, b, sizeof(b));
    ck_assert_str_eq(b, "45s");
    sl_io_progress_duration(187, b, sizeof(b)); /* 3 * 60 + 7 */
    ck_assert_str_eq(b, "3m07s");
    sl_io_progress_duration(7500, b, sizeof(b)); /* 2 * 3600 + 5 * 60 */
    ck_assert_str_eq(b, "2h05m");
    sl_io_progress_duration(3 * 86400 + 4 * 3600 + 59, b, sizeof(b));
    ck_assert_str_eq(b, "3d04h");
    sl_io_progress_duration(-1, b, sizeof(b));
    ck_assert_str_eq(b, "?");
    sl_io_progress_duration(NAN, b, sizeof(b));
    ck_assert_str_eq(b, "?");
}
END_TEST

START_TEST(eta_uses_this_runs_rate)
{
    /* 1000 done, 400 of them before this run: 600 in 60 s = 10/s; 4000
     * left -> 400 s */
    sl_io_progress_t p = {5000, 1000, 400, 0, 0, 60.0};
    ck_assert(fabs(sl_io_progress_eta(&p) - 400.0) < 1e-9);
    p.done = 400; /* nothing done by this run yet: unknown */
    ck_assert(sl_io_progress_eta(&p) < 0);
    p.total = 0; /* unknown total */
    p.done = 1000;
    ck_assert(sl_io_progress_eta(&p) < 0);
    p.total = 1000; /* finished */
    ck_assert(sl_io_progress_eta(&p) == 0);
}
END_TEST

START_TEST(bar_line)
{
    /* 1234 of 5000 = 24.68%; 49350 tokens / 60.75 s = 812.3 tok/s; rate
     * 1234 per 60.75 s, 3766 left -> 185.4 s = 3m05s */
    sl_io_progress_t p = {5000, 1234, 0, 3, 49350, 60.75};
    char b[256];
    size_t n = sl_io_progress_bar(&p, 80, b, sizeof(b));

    /* tail "  1234/5000   24.7%  812.3 tok/s  ETA 3m05s" is 43 columns; the
     * bar gets 80 - 43 - 2 = 35 cells, 24.68% of 35 = 8 full */
    ck_assert_str_eq(b, "[########...........................]  1234/5000   24.7%  812.3 tok/s"
                        "  ETA 3m05s");
    ck_assert_uint_eq(n, strlen(b));
    ck_assert_uint_le(n, 80);
    /* wide terminals: the bar stops at 40 cells (24.68% of 40 = 9 full) */
    sl_io_progress_bar(&p, 200, b, sizeof(b));
    ck_assert_str_eq(b, "[#########...............................]  1234/5000   24.7%  812.3 "
                        "tok/s  ETA 3m05s");
    /* narrow: no bar, the counts cut to the width */
    n = sl_io_progress_bar(&p, 30, b, sizeof(b));
    ck_assert_str_eq(b, "1234/5000   24.7%  812.3 tok/s");
    ck_assert_uint_eq(n, 30);
    /* done: the tail is 40 columns, so 38 cells, all full */
    p.done = 5000;
    sl_io_progress_bar(&p, 80, b, sizeof(b));
    ck_assert_str_eq(b, "[######################################]  5000/5000  100.0%  812.3 "
                        "tok/s  ETA 0s");
}
END_TEST

START_TEST(bar_without_total)
{
    sl_io_progress_t p = {0, 77, 0, 0, 1234567, 10.0}; /* 123456.7 tok/s */
    char b[128];
    sl_io_progress_bar(&p, 80, b, sizeof(b));
    ck_assert_str_eq(b, "77  123.5k tok/s");
    /* a tiny buffer truncates like snprintf */
    ck_assert_uint_eq(sl_io_progress_bar(&p, 80, b, 4), strlen("77  123.5k tok/s"));
    ck_assert_str_eq(b, "77 ");
}
END_TEST

START_TEST(log_line)
{
    /* resumed at 400; 600 more in 125 s: 4.8 req/s; 3.2M tokens / 125 s =
     * 25.6k tok/s; 4000 left at 4.8/s = 833.3 s = 13m53s */
    sl_io_progress_t p = {5000, 1000, 400, 1, 3200000, 125.0};
    char b[256];

    sl_io_progress_line(&p, b, sizeof(b));
    ck_assert_str_eq(b, "progress: 1000/5000 (20.0%), 1 error, 25.6k tok/s, 4.8 req/s, "
                        "elapsed 2m05s, ETA 13m53s");
    p.total = -1;
    p.errors = 2;
    sl_io_progress_line(&p, b, sizeof(b));
    ck_assert_str_eq(b, "progress: 1000, 2 errors, 25.6k tok/s, 4.8 req/s, elapsed 2m05s, "
                        "ETA ?");
}
END_TEST

START_TEST(bar_only_on_terminals)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(sl_io_progress_use_bar(fds[1]), 0);
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_eq(sl_io_progress_use_bar(-1), 0);
}
END_TEST

static Suite *io_progress_suite(void)
{
    Suite *s = suite_create("io_progress");
    TCase *tc = tcase_create("progress");
    tcase_add_test(tc, durations);
    tcase_add_test(tc, eta_uses_this_runs_rate);
    tcase_add_test(tc, bar_line);
    tcase_add_test(tc, bar_without_total);
    tcase_add_test(tc, log_line);
    tcase_add_test(tc, bar_only_on_terminals);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(io_progress_suite)
