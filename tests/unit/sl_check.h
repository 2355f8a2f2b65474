/*
 * sl_check.h - the shared main() of the Check unit tests.
 *
 * Each tests/unit/check_X.c defines `static Suite *X_suite(void)` and ends
 * with SL_CHECK_MAIN(X_suite). Check forks each test (CK_FORK), so a crash
 * fails that test alone, and prints its usual "N%: Checks: ..." summary.
 */
#ifndef SL_TESTS_CHECK_H
#define SL_TESTS_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

/* Runs SUITE; returns the process exit status. */
static inline int sl_check_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define SL_CHECK_MAIN(suite_fn)                                         \
    int main(void)                                                      \
    {                                                                   \
        return sl_check_run(suite_fn());                                \
    }

/* The shared fixtures folder ($SLINFER_FIXTURES) when it holds PROBE (a
 * path inside it); otherwise prints why the test is skipped and returns
 * NULL, and the caller exits 77. */
static inline const char *sl_check_fixtures(const char *probe)
{
    const char *dir = getenv("SLINFER_FIXTURES");
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "", probe);
    if (dir == NULL || (f = fopen(path, "rb")) == NULL) {
        printf("SKIP: no %s in $SLINFER_FIXTURES ('%s'); set it to the shared fixtures folder\n",
               probe, dir != NULL ? dir : "");
        return NULL;
    }
    fclose(f);
    return dir;
}

/* |a - b| <= tol, with both values in the failure message. */
#define sl_ck_assert_close(a, b, tol)                                   \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol),             \
                  "%s = %.9g, expected %s = %.9g (tolerance %g)", #a,    \
                  (double)(a), #b, (double)(b), (double)(tol))

/* Log lines written while a test runs: sl_check_log_begin() sends them to a
 * temporary file, sl_check_log_end() restores stderr and returns what was
 * logged (a buffer of this file's, valid until the next capture). */
static inline FILE *sl_check_log_begin(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    sl_log_set_fd(fileno(f));
    return f;
}

static inline const char *sl_check_log_end(FILE *f)
{
    static char captured[16384];
    size_t n;

    sl_log_set_fd(-1);
    rewind(f);
    n = fread(captured, 1, sizeof(captured) - 1, f);
    captured[n] = '\0';
    fclose(f);
    return captured;
}

#endif /* SL_TESTS_CHECK_H */
