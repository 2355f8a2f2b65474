/* check_status.c - every status has its own name; unknown codes are named. */
#include "config.h"

#include <string.h>

#include "core/status.h"
#include "sl_check.h"

static const sl_status_t all_statuses[] = {
    SL_OK,           SL_ERR_INVALID_ARG, SL_ERR_NO_MEMORY, SL_ERR_IO,
    SL_ERR_FORMAT,   SL_ERR_UNSUPPORTED, SL_ERR_NOT_FOUND, SL_ERR_OVERFLOW,
    SL_ERR_CUDA,     SL_ERR_NCCL,        SL_ERR_NO_DEVICE, SL_ERR_BOOTSTRAP,
    SL_ERR_TOPOLOGY, SL_ERR_HDF5,        SL_ERR_MISMATCH,  SL_ERR_INTERRUPTED,
    SL_ERR_INTERNAL,
};
#define NUM_STATUSES (sizeof(all_statuses) / sizeof(all_statuses[0]))

START_TEST(ok_is_zero_errors_negative)
{
    ck_assert_int_eq(SL_OK, 0);
    for (size_t i = 1; i < NUM_STATUSES; i++)
        ck_assert_int_lt(all_statuses[i], 0);
}
END_TEST

START_TEST(names_are_distinct_and_known)
{
    for (size_t i = 0; i < NUM_STATUSES; i++) {
        const char *name = sl_status_string(all_statuses[i]);
        ck_assert_ptr_nonnull(name);
        ck_assert_str_ne(name, "unknown status");
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(name, sl_status_string(all_statuses[j]));
    }
    ck_assert_str_eq(sl_status_string(SL_OK), "success");
    ck_assert_str_eq(sl_status_string(SL_ERR_IO), "I/O error");
}
END_TEST

START_TEST(unknown_codes_have_a_name)
{
    ck_assert_str_eq(sl_status_string((sl_status_t)-1000), "unknown status");
    ck_assert_str_eq(sl_status_string((sl_status_t)7), "unknown status");
}
END_TEST

static Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, ok_is_zero_errors_negative);
    tcase_add_test(tc, names_are_distinct_and_known);
    tcase_add_test(tc, unknown_codes_have_a_name);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(status_suite)
