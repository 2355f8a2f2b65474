/* check_io_h5in.c - HDF5 prompt input: variable- and fixed-length strings,
 * variable-length token ids, flat ids + offsets, addressing, DP shares and
 * bad rows. The test files are written here with the HDF5 API. */
#include "config.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/io_check.h"
#include "core/log.h"

static hsize_t dims1(size_t n)
{
    return (hsize_t)n;
}

static void put_vlen_strings(hid_t loc, const char *name, const char **s, size_t n)
{
    hsize_t d = dims1(n);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &d, NULL), ds;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
}

static void put_fixed_strings(hid_t loc, const char *name, const char *data, size_t n,
                              size_t size, H5T_str_t pad)
{
    hsize_t d = dims1(n);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &d, NULL), ds;
    H5Tset_size(t, size);
    H5Tset_strpad(t, pad);
    ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
}

static void put_vlen_ids(hid_t loc, const char *name, hid_t base, hvl_t *rows, size_t n)
{
    hsize_t d = dims1(n);
    hid_t t = H5Tvlen_create(base), sp = H5Screate_simple(1, &d, NULL), ds;
    ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
}

static void put_ints(hid_t loc, const char *name, hid_t type, const void *v, size_t n)
{
    hsize_t d = dims1(n);
    hid_t sp = H5Screate_simple(1, &d, NULL), ds;
    ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

/* A file with every supported layout, and some that are not. */
static char *make_input(const char *dir)
{
    char *path = io_path(dir, "in.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), g;
    const char *prompts[] = {"hello", "", "bad \xff utf8", "w\xC3\xB6rld", "five",
                             "six",   "seven"};
    char fixed[4 * 8];
    int32_t r0[] = {1, 2, 3}, r2[] = {-1}, r3[] = {7};
    hvl_t rows[4] = {{3, r0}, {0, NULL}, {1, r2}, {1, r3}};
    int64_t ids[] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
    int64_t offs[] = {0, 3, 3, 10, 8, 10};
    double reals[] = {1.0, 2.0};

    ck_assert_int_ge(f, 0);
    put_vlen_strings(f, "prompts", prompts, 7);
    memset(fixed, 0, sizeof(fixed));
    memcpy(fixed, "abc", 3);
    memcpy(fixed + 8, "defghijk", 8); /* fills the 8 bytes, no NUL */
    memcpy(fixed + 16, "sp  ", 4);
    put_fixed_strings(f, "fixed", fixed, 4, 8, H5T_STR_NULLPAD);
    memset(fixed, ' ', 16);
    memcpy(fixed, "pad", 3);
    memcpy(fixed + 8, "ded", 3);
    put_fixed_strings(f, "spaced", fixed, 2, 8, H5T_STR_SPACEPAD);
    put_vlen_ids(f, "vids32", H5T_NATIVE_INT32, rows, 4);
    {
        int64_t a[] = {4, 5}, b[] = {1, 3000000000LL};
        hvl_t r64[2] = {{2, a}, {2, b}};
        put_vlen_ids(f, "vids64", H5T_NATIVE_INT64, r64, 2);
    }
    g = H5Gcreate2(f, "flat", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    put_ints(g, "ids", H5T_NATIVE_INT64, ids, 10);
    put_ints(g, "offsets", H5T_NATIVE_INT64, offs, 6); /* rows 3 and 4 are bad */
    H5Gclose(g);
    g = H5Gcreate2(f, "nested", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    put_vlen_strings(g, "p", prompts, 2);
    H5Gclose(g);
    put_ints(f, "reals", H5T_NATIVE_DOUBLE, reals, 2);
    H5Fclose(f);
    return path;
}

static char *spec_of(const char *path, const char *obj)
{
    char *s = malloc(strlen(path) + strlen(obj) + 2);
    sprintf(s, "%s:%s", path, obj);
    return s;
}

START_TEST(string_prompts)
{
    char *dir = io_tmpdir(), *path = make_input(dir);
    io_records_t rs = io_read_all(path, NULL); /* default dataset: /prompts */
    int64_t count;

    ck_assert_uint_eq(rs.n, 7);
    ck_assert_int_eq(rs.recs[0]->type, SL_IO_RECORD_REQUEST);
    ck_assert_str_eq(rs.recs[0]->u.request.text, "hello");
    ck_assert_str_eq(rs.recs[0]->u.request.id, "row-0");
    ck_assert_int_eq(rs.recs[0]->u.request.hdf5_row, 1);
    ck_assert_int_eq(rs.recs[0]->u.request.kind, SL_IO_PROMPT_TEXT);
    ck_assert_int_eq(rs.recs[0]->u.request.endpoint, SL_IO_ENDPOINT_COMPLETIONS);
    ck_assert_ptr_nonnull(rs.recs[0]->u.request.params);
    ck_assert_int_eq(rs.recs[1]->type, SL_IO_RECORD_ERROR);
    ck_assert_str_eq(rs.recs[1]->u.error.message,
                     "row 1: prompt: expected a non-empty string, got an empty string");
    ck_assert_str_eq(rs.recs[1]->u.error.id, "row-1");
    ck_assert_int_eq(rs.recs[2]->type, SL_IO_RECORD_ERROR);
    ck_assert_str_eq(rs.recs[2]->u.error.message, "row 2: prompt: not valid UTF-8 (at byte 4)");
    ck_assert_str_eq(rs.recs[3]->u.request.text, "w\xC3\xB6rld");
    ck_assert_int_eq(sl_io_count_records(path, &count), SL_OK);
    ck_assert_int_eq(count, 7);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(fixed_length_strings)
{
    char *dir = io_tmpdir(), *path = make_input(dir);
    char *spec = spec_of(path, "/fixed"), *spec2 = spec_of(path, "/spaced");
    io_records_t rs = io_read_all(spec, NULL), sp;

    ck_assert_uint_eq(rs.n, 4);
    ck_assert_str_eq(rs.recs[0]->u.request.text, "abc");
    ck_assert_str_eq(rs.recs[1]->u.request.text, "defghijk");
    ck_assert_str_eq(rs.recs[2]->u.request.text, "sp  "); /* NUL padding keeps spaces */
    ck_assert_int_eq(rs.recs[3]->type, SL_IO_RECORD_ERROR);
    sp = io_read_all(spec2, NULL);
    ck_assert_uint_eq(sp.n, 2);
    ck_assert_str_eq(sp.recs[0]->u.request.text, "pad");
    ck_assert_str_eq(sp.recs[1]->u.request.text, "ded");
    io_records_free(&rs);
    io_records_free(&sp);
    io_rmrf(dir);
    free(spec);
    free(spec2);
    free(path);
    free(dir);
}
END_TEST

START_TEST(vlen_token_ids)
{
    char *dir = io_tmpdir(), *path = make_input(dir);
    char *spec = spec_of(path, "/vids32"), *spec64 = spec_of(path, "/vids64");
    io_records_t rs = io_read_all(spec, NULL), r64;

    ck_assert_uint_eq(rs.n, 4);
    ck_assert_int_eq(rs.recs[0]->u.request.kind, SL_IO_PROMPT_TOKENS);
    ck_assert_uint_eq(rs.recs[0]->u.request.n_input_ids, 3);
    ck_assert_int_eq(rs.recs[0]->u.request.input_ids[2], 3);
    ck_assert_str_eq(rs.recs[1]->u.error.message,
                     "row 1: input_ids: expected a non-empty array of token ids, got an empty "
                     "array");
    ck_assert_str_eq(rs.recs[2]->u.error.message,
                     "row 2: input_ids[0]: token id -1 is outside [0, 2147483647]");
    ck_assert_int_eq(rs.recs[3]->u.request.input_ids[0], 7);
    r64 = io_read_all(spec64, NULL);
    ck_assert_uint_eq(r64.n, 2);
    ck_assert_int_eq(r64.recs[0]->u.request.input_ids[1], 5);
    ck_assert_str_eq(r64.recs[1]->u.error.message,
                     "row 1: input_ids[1]: token id 3000000000 is outside [0, 2147483647]");
    io_records_free(&rs);
    io_records_free(&r64);
    io_rmrf(dir);
    free(spec);
    free(spec64);
    free(path);
    free(dir);
}
END_TEST

START_TEST(flat_ids_and_offsets)
{
    char *dir = io_tmpdir(), *path = make_input(dir), *spec = spec_of(path, "/flat");
    io_records_t rs = io_read_all(spec, NULL);
    int64_t count;

    ck_assert_uint_eq(rs.n, 5);
    ck_assert_uint_eq(rs.recs[0]->u.request.n_input_ids, 3);
    ck_assert_int_eq(rs.recs[0]->u.request.input_ids[0], 10);
    ck_assert_int_eq(rs.recs[1]->type, SL_IO_RECORD_ERROR); /* empty */
    ck_assert_uint_eq(rs.recs[2]->u.request.n_input_ids, 7);
    ck_assert_int_eq(rs.recs[2]->u.request.input_ids[6], 19);
    ck_assert_str_eq(rs.recs[3]->u.error.message,
                     "row 3: offsets[3] = 10 and offsets[4] = 8 do not delimit a range of the "
                     "10 ids");
    ck_assert_uint_eq(rs.recs[4]->u.request.n_input_ids, 2);
    ck_assert_int_eq(rs.recs[4]->u.request.input_ids[0], 18);
    ck_assert_int_eq(sl_io_count_records(spec, &count), SL_OK);
    ck_assert_int_eq(count, 5);
    io_records_free(&rs);
    io_rmrf(dir);
    free(spec);
    free(path);
    free(dir);
}
END_TEST

START_TEST(dp_groups_read_their_rows)
{
    char *dir = io_tmpdir(), *path = make_input(dir);
    int seen[7] = {0};
    size_t total = 0;

    for (int g = 0; g < 3; g++) {
        sl_io_reader_opts_t opts = {g, 3, 0, NULL};
        io_records_t rs = io_read_all(path, &opts);
        total += rs.n;
        for (size_t i = 0; i < rs.n; i++) {
            const sl_io_record_t *r = rs.recs[i];
            int64_t k = r->type == SL_IO_RECORD_REQUEST ? r->u.request.index : r->u.error.index;
            ck_assert_int_eq(k % 3, g);
            seen[k]++;
        }
        io_records_free(&rs);
    }
    ck_assert_uint_eq(total, 7);
    for (int k = 0; k < 7; k++)
        ck_assert_int_eq(seen[k], 1);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(addressing)
{
    char *dir = io_tmpdir(), *path = make_input(dir), *file, *obj, *spec;
    char *noext = io_path(dir, "prompts-without-suffix");
    int is_h5;
    sl_io_reader_t *r;

    spec = spec_of(path, "/nested/p");
    ck_assert_int_eq(sl_io_input_parse(spec, &file, &obj, &is_h5), SL_OK);
    ck_assert_str_eq(file, path);
    ck_assert_str_eq(obj, "/nested/p");
    ck_assert_int_eq(is_h5, 1);
    free(file);
    free(obj);
    ck_assert_int_eq(sl_io_reader_open(spec, NULL, &r), SL_OK);
    sl_io_reader_close(r);
    free(spec);
    /* a JSONL path holding ":/" that names no file stays whole */
    ck_assert_int_eq(sl_io_input_parse("/no/such:/file.jsonl", &file, &obj, &is_h5), SL_OK);
    ck_assert_str_eq(file, "/no/such:/file.jsonl");
    ck_assert_ptr_null(obj);
    ck_assert_int_eq(is_h5, 0);
    free(file);
    /* HDF5 recognized by its signature without a suffix */
    ck_assert_int_eq(rename(path, noext), 0);
    ck_assert_int_eq(sl_io_input_parse(noext, &file, &obj, &is_h5), SL_OK);
    ck_assert_int_eq(is_h5, 1);
    free(file);
    ck_assert_int_eq(sl_io_input_parse("-", &file, &obj, &is_h5), SL_OK);
    ck_assert_int_eq(is_h5, 0);
    free(file);
    /* errors: missing object, an unsupported dataset type */
    sl_log_set_level(SL_LOG_ERROR);
    spec = spec_of(noext, "/missing");
    ck_assert_int_eq(sl_io_reader_open(spec, NULL, &r), SL_ERR_HDF5);
    free(spec);
    spec = spec_of(noext, "/reals");
    ck_assert_int_eq(sl_io_reader_open(spec, NULL, &r), SL_ERR_FORMAT);
    free(spec);
    io_rmrf(dir);
    free(noext);
    free(path);
    free(dir);
}
END_TEST

START_TEST(default_input_ids_dataset)
{
    char *dir = io_tmpdir(), *path = io_path(dir, "ids.hdf5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int32_t a[] = {3, 4};
    hvl_t rows[1] = {{2, a}};
    io_records_t rs;

    put_vlen_ids(f, "input_ids", H5T_NATIVE_INT32, rows, 1);
    H5Fclose(f);
    rs = io_read_all(path, NULL);
    ck_assert_uint_eq(rs.n, 1);
    ck_assert_int_eq(rs.recs[0]->u.request.input_ids[1], 4);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

static Suite *io_h5in_suite(void)
{
    Suite *s = suite_create("io_h5in");
    TCase *tc = tcase_create("h5in");
    tcase_add_test(tc, string_prompts);
    tcase_add_test(tc, fixed_length_strings);
    tcase_add_test(tc, vlen_token_ids);
    tcase_add_test(tc, flat_ids_and_offsets);
    tcase_add_test(tc, dp_groups_read_their_rows);
    tcase_add_test(tc, addressing);
    tcase_add_test(tc, default_input_ids_dataset);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(io_h5in_suite)
