/* check_bf16.c - float <-> bf16 conversion: exact values, ties to even,
 * specials. Expected bit patterns worked out by hand from IEEE 754. */
#include "config.h"

#include <math.h>

#include "core/bf16.h"
#include "sl_check.h"

static float from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

START_TEST(exact_values_round_trip)
{
    ck_assert_uint_eq(sl_float_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(sl_float_to_bf16(-2.0f), 0xc000);
    ck_assert_uint_eq(sl_float_to_bf16(0.0f), 0x0000);
    ck_assert_uint_eq(sl_float_to_bf16(-0.0f), 0x8000);
    ck_assert_float_eq(sl_bf16_to_float(0x3f80), 1.0f);
    ck_assert_float_eq(sl_bf16_to_float(0x4049), 3.140625f);
    for (uint32_t h = 0; h < 0x7f80; h += 7)
        ck_assert_uint_eq(sl_float_to_bf16(sl_bf16_to_float((sl_bf16_t)h)), h);
}
END_TEST

START_TEST(rounds_to_nearest_even)
{
    /* 1 + 2^-8 is exactly half way between bf16 1.0 and 1.0078125: even is 1.0 */
    ck_assert_uint_eq(sl_float_to_bf16(from_bits(0x3f808000u)), 0x3f80);
    /* 1.0078125 + 2^-8 is half way again, even is now the upper neighbour */
    ck_assert_uint_eq(sl_float_to_bf16(from_bits(0x3f818000u)), 0x3f82);
    /* just above half way rounds up, just below rounds down */
    ck_assert_uint_eq(sl_float_to_bf16(from_bits(0x3f808001u)), 0x3f81);
    ck_assert_uint_eq(sl_float_to_bf16(from_bits(0x3f807fffu)), 0x3f80);
    /* the largest finite float overflows to +inf, as on the GPU */
    ck_assert_uint_eq(sl_float_to_bf16(from_bits(0x7f7fffffu)), 0x7f80);
}
END_TEST

START_TEST(specials_are_kept)
{
    ck_assert_uint_eq(sl_float_to_bf16(INFINITY), 0x7f80);
    ck_assert_uint_eq(sl_float_to_bf16(-INFINITY), 0xff80);
    sl_bf16_t nan = sl_float_to_bf16(NAN);
    ck_assert(isnan(sl_bf16_to_float(nan)));
    /* a NaN whose payload sits only in the low 16 bits must stay NaN */
    sl_bf16_t low_nan = sl_float_to_bf16(from_bits(0x7f800001u));
    ck_assert(isnan(sl_bf16_to_float(low_nan)));
}
END_TEST

static Suite *bf16_suite(void)
{
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("convert");
    tcase_add_test(tc, exact_values_round_trip);
    tcase_add_test(tc, rounds_to_nearest_even);
    tcase_add_test(tc, specials_are_kept);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(bf16_suite)
