/* check_safetensors.c - the safetensors reader on valid, corrupt and hostile
 * files: each defect gives SL_ERR_FORMAT and one message naming the file and
 * the tensor; the writer's files read back. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/safetensors.h"
#include "model_check.h"
#include "sl_check.h"

/* A file in memory: 8-byte length, HEADER, then DATA_LEN bytes (0x5a). */
typedef struct {
    unsigned char bytes[8192];
    size_t size;
} mem_file_t;

static void make_file(mem_file_t *f, const char *header, size_t data_len)
{
    size_t n = strlen(header);
    ck_assert_uint_le(8 + n + data_len, sizeof(f->bytes));
    for (int i = 0; i < 8; i++)
        f->bytes[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(f->bytes + 8, header, n);
    memset(f->bytes + 8 + n, 0x5a, data_len);
    f->size = 8 + n + data_len;
}

/* Parses F and expects STATUS; on failure the log must name each NEEDLE. */
static void expect_parse(const mem_file_t *f, sl_status_t status, const char *needle1,
                         const char *needle2)
{
    sl_st_file_t *st = NULL;
    mc_log_begin();
    sl_status_t got = sl_st_parse("bad.safetensors", f->bytes, f->size, &st);
    const char *log = mc_log_end();
    ck_assert_int_eq(got, status);
    if (status == SL_OK) {
        ck_assert_ptr_nonnull(st);
        sl_st_close(st);
        return;
    }
    ck_assert_ptr_null(st);
    mc_assert_logged(log, "bad.safetensors");
    if (needle1 != NULL)
        mc_assert_logged(log, needle1);
    if (needle2 != NULL)
        mc_assert_logged(log, needle2);
}

START_TEST(valid_file_is_indexed)
{
    mem_file_t f;
    sl_st_file_t *st;
    /* b: BF16 [2, 3] = 12 bytes at 0; a: F32 [2] = 8 bytes at 12; c: scalar I8 */
    make_file(&f,
              "{\"__metadata__\":{\"format\":\"pt\"},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
              "\"c\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[20,21]},"
              "\"e\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[21,21]}}  ",
              21);
    ck_assert_int_eq(sl_st_parse("ok.safetensors", f.bytes, f.size, &st), SL_OK);
    ck_assert_uint_eq(st->num_tensors, 4);
    ck_assert_uint_eq(st->data_size, 21);
    /* sorted by name for lookups */
    ck_assert_str_eq(st->tensors[0].name, "a");
    const sl_st_tensor_t *b = sl_st_find(st, "b");
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(b->dtype, SL_DTYPE_BF16);
    ck_assert_int_eq(b->ndim, 2);
    ck_assert_uint_eq(b->shape[1], 3);
    ck_assert_uint_eq(b->numel, 6);
    ck_assert_ptr_eq(sl_st_tensor_data(st, b), f.bytes + f.size - 21);
    ck_assert_uint_eq(sl_st_find(st, "c")->numel, 1);
    ck_assert_uint_eq(sl_st_find(st, "e")->numel, 0);
    ck_assert_ptr_null(sl_st_find(st, "z"));
    ck_assert_ptr_null(sl_st_find(st, ""));
    sl_st_close(st);
}
END_TEST

START_TEST(header_length_checks)
{
    mem_file_t f;

    f.size = 5; /* shorter than the length field */
    memset(f.bytes, 0, 8);
    expect_parse(&f, SL_ERR_FORMAT, "too short", NULL);

    make_file(&f, "{}", 0);
    memset(f.bytes, 0, 8);
    f.bytes[7] = 0x80; /* 2^63 */
    expect_parse(&f, SL_ERR_FORMAT, "header length 9223372036854775808 exceeds", NULL);

    make_file(&f, "{}", 0);
    f.bytes[0] = 200; /* 200 > the 2 bytes there */
    expect_parse(&f, SL_ERR_FORMAT, "runs past the end", NULL);

    make_file(&f, "[1]", 0);
    expect_parse(&f, SL_ERR_FORMAT, "does not start with '{'", NULL);

    make_file(&f, "{\"a\":", 0);
    expect_parse(&f, SL_ERR_FORMAT, "not valid JSON", NULL);

    make_file(&f, "{\"a\":1,\"a\":2}", 0);
    expect_parse(&f, SL_ERR_FORMAT, "not valid JSON", NULL); /* duplicate key */

    make_file(&f, "{}", 0); /* no tensors, no data: valid and empty */
    expect_parse(&f, SL_OK, NULL, NULL);
    make_file(&f, "{}", 4); /* no tensors but data */
    expect_parse(&f, SL_ERR_FORMAT, "no tensors", NULL);
}
END_TEST

START_TEST(bad_entries_name_the_tensor)
{
    static const struct {
        const char *header;
        size_t data;
        const char *needle;
    } cases[] = {
        {"{\"w\":5}", 0, "not a JSON object"},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is missing"},
        {"{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "unknown dtype 'Q4'"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4, "\"shape\""},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "9 dimensions"},
        /* 2^32 * 2^32 elements: the count overflows 64 bits */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
         4, "overflows"},
        /* 2^62 elements x 4 bytes overflows too */
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}",
         4, "needs"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "out of range"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "out of range"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,9223372036854775807]}}", 4,
         "out of range"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
         "F32 [2] needs 2 x 4 bytes but data_offsets span 4"},
        {"{\"__metadata__\":{\"k\":1},\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
         "\"data_offsets\":[0,4]}}",
         4, "\"__metadata__\" value of 'k'"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mem_file_t f;
        make_file(&f, cases[i].header, cases[i].data);
        expect_parse(&f, SL_ERR_FORMAT, cases[i].needle,
                     strstr(cases[i].needle, "__metadata__") ? NULL : "tensor 'w'");
    }
}
END_TEST

START_TEST(layout_must_tile_the_data)
{
    mem_file_t f;

    /* x [0,8) and y [4,12) overlap */
    make_file(&f,
              "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              12);
    expect_parse(&f, SL_ERR_FORMAT, "tensor 'y' (bytes 4..12) overlaps tensor 'x'", NULL);

    /* both at [0,4): the same bytes twice */
    make_file(&f,
              "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
              4);
    expect_parse(&f, SL_ERR_FORMAT, "overlaps", NULL);

    /* a hole [4,8) */
    make_file(&f,
              "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
              12);
    expect_parse(&f, SL_ERR_FORMAT, "4 bytes before tensor 'y' belong to no tensor", NULL);

    /* trailing bytes */
    make_file(&f, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6);
    expect_parse(&f, SL_ERR_FORMAT, "2 bytes after the last tensor 'x'", NULL);

    /* listed out of order is fine: y first in the header, x first in the data */
    make_file(&f,
              "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
              "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
              8);
    expect_parse(&f, SL_OK, NULL, NULL);
}
END_TEST

START_TEST(f8_is_recognised)
{
    mem_file_t f;
    sl_st_file_t *st;

    make_file(&f,
              "{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,2],\"data_offsets\":[0,4]},"
              "\"r\":{\"dtype\":\"F8_E5M2\",\"shape\":[4],\"data_offsets\":[4,8]}}",
              8);
    ck_assert_int_eq(sl_st_parse("f8.safetensors", f.bytes, f.size, &st), SL_OK);
    ck_assert_int_eq(sl_st_find(st, "q")->dtype, SL_DTYPE_F8_E4M3);
    ck_assert_int_eq(sl_st_find(st, "r")->dtype, SL_DTYPE_F8_E5M2);
    sl_st_close(st);
}
END_TEST

START_TEST(files_open_truncated_and_missing)
{
    char dir[256], path[300];
    float data[6] = {1, 2, 3, 4, 5, 6};
    sl_st_out_tensor_t t = {.name = "m", .dtype = SL_DTYPE_F32, .ndim = 2, .shape = {2, 3},
                            .data = data};
    sl_st_file_t *st;
    FILE *fp;
    long size;

    mc_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/t.safetensors", dir);
    ck_assert_int_eq(sl_st_write(path, &t, 1), SL_OK);
    ck_assert_int_eq(sl_st_open(path, &st), SL_OK);
    ck_assert_uint_eq((8 + (st->data - st->base - 8)) % 8, 0); /* header padded */
    ck_assert_int_eq(memcmp(sl_st_tensor_data(st, sl_st_find(st, "m")), data, sizeof(data)), 0);
    sl_st_close(st);

    /* cut the last 4 bytes: the tensor runs past the data */
    fp = fopen(path, "r+");
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fclose(fp);
    ck_assert_int_eq(truncate(path, size - 4), 0);
    mc_log_begin();
    ck_assert_int_eq(sl_st_open(path, &st), SL_ERR_FORMAT);
    mc_assert_logged(mc_log_end(), "tensor 'm': data_offsets [0, 24] out of range");

    /* cut inside the header */
    ck_assert_int_eq(truncate(path, 20), 0);
    mc_log_begin();
    ck_assert_int_eq(sl_st_open(path, &st), SL_ERR_FORMAT);
    mc_assert_logged(mc_log_end(), "runs past the end of the 20-byte file");

    ck_assert_int_eq(truncate(path, 0), 0);
    mc_log_begin();
    ck_assert_int_eq(sl_st_open(path, &st), SL_ERR_FORMAT);
    mc_assert_logged(mc_log_end(), "too short");

    unlink(path);
    mc_log_begin();
    ck_assert_int_eq(sl_st_open(path, &st), SL_ERR_NOT_FOUND);
    mc_assert_logged(mc_log_end(), "No such file");

    mc_log_begin();
    ck_assert_int_eq(sl_st_open(dir, &st), SL_ERR_IO);
    mc_assert_logged(mc_log_end(), "not a regular file");
    mc_rmdir(dir);
}
END_TEST

START_TEST(writer_round_trip)
{
    char dir[256], path[300];
    uint16_t h[3] = {0x3f80, 0xc000, 0x0001}; /* bf16 1, -2, tiny */
    float f[4] = {0.5f, -1.5f, 3.25f, 1e-30f};
    sl_st_out_tensor_t ts[] = {
        {.name = "z.bf16", .dtype = SL_DTYPE_BF16, .ndim = 1, .shape = {3}, .data = h},
        {.name = "a.f32", .dtype = SL_DTYPE_F32, .ndim = 2, .shape = {2, 2}, .data = f},
    };
    sl_st_file_t *st;
    float back[4];

    mc_tmpdir(dir);
    snprintf(path, sizeof(path), "%s/rt.safetensors", dir);
    ck_assert_int_eq(sl_st_write(path, ts, 2), SL_OK);
    ck_assert_int_eq(sl_st_open(path, &st), SL_OK);
    ck_assert_uint_eq(st->num_tensors, 2);
    sl_dtype_to_f32(back, sl_st_tensor_data(st, sl_st_find(st, "z.bf16")), SL_DTYPE_BF16, 3);
    ck_assert_float_eq(back[0], 1.0f);
    ck_assert_float_eq(back[1], -2.0f);
    sl_dtype_to_f32(back, sl_st_tensor_data(st, sl_st_find(st, "a.f32")), SL_DTYPE_F32, 4);
    ck_assert_int_eq(memcmp(back, f, sizeof(f)), 0);
    sl_st_close(st);
    /* no PATH.tmp left behind */
    snprintf(path, sizeof(path), "%s/rt.safetensors.tmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    mc_rmdir(dir);
}
END_TEST

START_TEST(dtype_conversions)
{
    /* f16: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, smallest subnormal
     * 2^-24 = 0x0001, inf = 0x7c00 */
    ck_assert_float_eq(sl_f16_to_float(0x3c00), 1.0f);
    ck_assert_float_eq(sl_f16_to_float(0xc100), -2.5f);
    ck_assert_float_eq(sl_f16_to_float(0x7bff), 65504.0f);
    ck_assert_float_eq(sl_f16_to_float(0x0001), 0x1p-24f);
    ck_assert(isinf(sl_f16_to_float(0x7c00)));
    ck_assert(isnan(sl_f16_to_float(0x7e00)));
    ck_assert_uint_eq(sl_float_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(sl_float_to_f16(-2.5f), 0xc100);
    ck_assert_uint_eq(sl_float_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(sl_float_to_f16(65520.0f), 0x7c00); /* rounds up to inf */
    ck_assert_uint_eq(sl_float_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(sl_float_to_f16(0x1p-26f), 0x0000); /* below half of the smallest */
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1.0 */
    ck_assert_uint_eq(sl_float_to_f16(1.0f + 0x1p-11f), 0x3c00);
    /* every f16 round-trips */
    for (uint32_t u = 0; u < 0x10000; u++) {
        float v = sl_f16_to_float((uint16_t)u);
        if (!isnan(v))
            ck_assert_uint_eq(sl_float_to_f16(v), u);
    }
    ck_assert_str_eq(sl_dtype_name(SL_DTYPE_F8_E4M3), "F8_E4M3");
    ck_assert_int_eq(sl_dtype_from_name("BF16"), SL_DTYPE_BF16);
    ck_assert_int_eq(sl_dtype_from_name("bf16"), SL_DTYPE_INVALID);
    ck_assert_uint_eq(sl_dtype_size(SL_DTYPE_I64), 8);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, valid_file_is_indexed);
    tcase_add_test(tc, header_length_checks);
    tcase_add_test(tc, bad_entries_name_the_tensor);
    tcase_add_test(tc, layout_must_tile_the_data);
    tcase_add_test(tc, f8_is_recognised);
    tcase_add_test(tc, files_open_truncated_and_missing);
    tcase_add_test(tc, writer_round_trip);
    tcase_add_test(tc, dtype_conversions);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(safetensors_suite)
