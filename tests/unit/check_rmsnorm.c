/* check_rmsnorm.c - the float32 RMSNorm reference against values computed
 * by hand (shown next to each case). */
#include "config.h"

#include <math.h>

#include "backend/cpu/rmsnorm.h"
#include "sl_check.h"

#define TOL 1e-6

START_TEST(fused_residual_add)
{
    /* z = [1,2] + [2,2] = [3,4]; mean(z^2) = 12.5; 1/rms = 0.28284271247
     * out = [3, 4] * 0.28284271247 * [1, 0.5] = [0.84852813742, 0.56568542495] */
    float x[] = {1, 2}, res[] = {2, 2}, w[] = {1, 0.5f}, out[2];
    sl_cpu_rmsnorm(out, x, res, w, 1, 2, 0.0f);
    sl_ck_assert_close(res[0], 3.0, 0);
    sl_ck_assert_close(res[1], 4.0, 0);
    sl_ck_assert_close(out[0], 0.84852813742, TOL);
    sl_ck_assert_close(out[1], 0.56568542495, TOL);
    /* x itself is not modified */
    sl_ck_assert_close(x[0], 1.0, 0);
}
END_TEST

START_TEST(plain_norm_without_residual)
{
    /* rms([2,2,2,2]) = 2, so out = weight */
    float x[] = {2, 2, 2, 2}, w[] = {1, 2, 3, 4}, out[4];
    sl_cpu_rmsnorm(out, x, NULL, w, 1, 4, 0.0f);
    for (int i = 0; i < 4; i++)
        sl_ck_assert_close(out[i], w[i], TOL);
}
END_TEST

START_TEST(eps_is_inside_the_root)
{
    /* x = [1,1], eps = 1: 1/sqrt(1 + 1) = 0.70710678118 */
    float x[] = {1, 1}, w[] = {1, -2}, out[2];
    sl_cpu_rmsnorm(out, x, NULL, w, 1, 2, 1.0f);
    sl_ck_assert_close(out[0], 0.70710678118, TOL);
    sl_ck_assert_close(out[1], -1.41421356237, TOL);

    /* all zeros with eps > 0 stays finite and zero */
    float zx[] = {0, 0, 0}, zw[] = {1, 1, 1}, zout[3];
    sl_cpu_rmsnorm(zout, zx, NULL, zw, 1, 3, 1e-6f);
    for (int i = 0; i < 3; i++)
        sl_ck_assert_close(zout[i], 0.0, 0);
}
END_TEST

START_TEST(rows_are_independent)
{
    /* row 0: [3,4] -> mean sq 12.5; row 1: [6,8] -> mean sq 50, rms 7.0710678.
     * Both normalise to [0.84852813742, 1.13137084990]. */
    float x[] = {3, 4, 6, 8}, w[] = {1, 1}, out[4];
    sl_cpu_rmsnorm(out, x, NULL, w, 2, 2, 0.0f);
    sl_ck_assert_close(out[0], 0.84852813742, TOL);
    sl_ck_assert_close(out[1], 1.13137084990, TOL);
    sl_ck_assert_close(out[2], 0.84852813742, TOL);
    sl_ck_assert_close(out[3], 1.13137084990, TOL);
}
END_TEST

START_TEST(output_may_alias_input)
{
    /* z = [0,-1] + [3,5] = [3,4], weight 2: out = [1.69705627485, 2.26274169980] */
    float x[] = {0, -1}, res[] = {3, 5}, w[] = {2, 2};
    sl_cpu_rmsnorm(x, x, res, w, 1, 2, 0.0f);
    sl_ck_assert_close(x[0], 1.69705627485, TOL);
    sl_ck_assert_close(x[1], 2.26274169980, TOL);
    sl_ck_assert_close(res[0], 3.0, 0);
    sl_ck_assert_close(res[1], 4.0, 0);
}
END_TEST

START_TEST(zero_rows_touch_nothing)
{
    float out[1] = {42};
    sl_cpu_rmsnorm(out, out, NULL, out, 0, 1, 0.0f);
    sl_ck_assert_close(out[0], 42.0, 0);
}
END_TEST

static Suite *rmsnorm_suite(void)
{
    Suite *s = suite_create("rmsnorm");
    TCase *tc = tcase_create("cpu");
    tcase_add_test(tc, fused_residual_add);
    tcase_add_test(tc, plain_norm_without_residual);
    tcase_add_test(tc, eps_is_inside_the_root);
    tcase_add_test(tc, rows_are_independent);
    tcase_add_test(tc, output_may_alias_input);
    tcase_add_test(tc, zero_rows_touch_nothing);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(rmsnorm_suite)
