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
#include <stdlib.h>

#define SL_CHECK_MAIN(suite_fn)                                         \
    int main(void)                                                      \
    {                                                                   \
        SRunner *runner = srunner_create(suite_fn());                   \
        srunner_run_all(runner, CK_NORMAL);                             \
        int failed = srunner_ntests_failed(runner);                     \
        srunner_free(runner);                                           \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;               \
    }

/* |a - b| <= tol, with both values in the failure message. */
#define sl_ck_assert_close(a, b, tol)                                   \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol),             \
                  "%s = %.9g, expected %s = %.9g (tolerance %g)", #a,    \
                  (double)(a), #b, (double)(b), (double)(tol))

#endif /* SL_TESTS_CHECK_H */
