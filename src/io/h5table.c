/* h5table.c - compressed, extendible columns; see h5table.h. */
#include "config.h"

#include "io/h5table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/h5util.h"
#include "io/record.h"

#define SL_IO_DEFLATE_LEVEL 4

static hid_t sl_io_h5_enum(const char *(*name)(int), int n)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);

    if (t < 0)
        return -1;
    for (int8_t v = 0; v < n; v++) {
        if (H5Tenum_insert(t, name(v), &v) < 0) {
            H5Tclose(t);
            return -1;
        }
    }
    return t;
}

/* The name functions of record.h take enums; adapt them to int. */
static const char *sl_io_status_i(int v) { return sl_io_status_name((sl_io_status_t)v); }
static const char *sl_io_finish_i(int v) { return sl_io_finish_name((sl_io_finish_t)v); }
static const char *sl_io_endpoint_i(int v) { return sl_io_endpoint_name((sl_io_endpoint_t)v); }
static const char *sl_io_code_i(int v) { return sl_io_error_code_name((sl_io_error_code_t)v); }

hid_t sl_io_h5_enum_status(void)
{
    return sl_io_h5_enum(sl_io_status_i, SL_IO_STATUS_CANCELLED + 1);
}

hid_t sl_io_h5_enum_finish(void)
{
    return sl_io_h5_enum(sl_io_finish_i, SL_IO_FINISH_ABORT + 1);
}

hid_t sl_io_h5_enum_endpoint(void)
{
    return sl_io_h5_enum(sl_io_endpoint_i, SL_IO_ENDPOINT_CHAT_COMPLETIONS + 1);
}

hid_t sl_io_h5_enum_error_code(void)
{
    return sl_io_h5_enum(sl_io_code_i, SL_IO_ERR_NUM_CODES);
}

sl_status_t sl_io_h5col_create(sl_io_h5col_t *col, hid_t group, const char *file,
                               const char *name, hid_t ftype, hid_t mtype, size_t elem,
                               size_t chunk, const char *doc)
{
    hsize_t dims = 0, maxdims = H5S_UNLIMITED, cdims = chunk;
    hid_t space = -1, dcpl = -1;
    sl_status_t st = SL_OK;

    memset(col, 0, sizeof(*col));
    col->dset = -1;
    col->file = file;
    snprintf(col->name, sizeof(col->name), "%s", name);
    col->mtype = mtype;
    col->elem = elem;
    col->cap = chunk;
    col->buf = malloc(chunk * elem);
    if (col->buf == NULL) {
        sl_error("%s: out of memory for column %s", file, name);
        return SL_ERR_NO_MEMORY;
    }
    space = H5Screate_simple(1, &dims, &maxdims);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 1, &cdims) < 0 ||
        (elem > 1 && H5Pset_shuffle(dcpl) < 0) || H5Pset_deflate(dcpl, SL_IO_DEFLATE_LEVEL) < 0) {
        st = sl_io_h5_fail(file, "dataset properties of %s", name);
        goto done;
    }
    col->dset = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (col->dset < 0) {
        st = sl_io_h5_fail(file, "creating dataset %s", name);
        goto done;
    }
    if (doc != NULL)
        st = sl_io_h5_attr_str(col->dset, file, "description", doc);
done:
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return st;
}

static sl_status_t sl_io_h5col_flush(sl_io_h5col_t *col)
{
    hsize_t size, start = col->written, count = col->n;
    hid_t space = -1, mspace = -1;
    sl_status_t st = SL_OK;

    if (col->n == 0)
        return SL_OK;
    size = col->written + col->n;
    if (H5Dset_extent(col->dset, &size) < 0)
        return sl_io_h5_fail(col->file, "extending %s to %llu", col->name,
                             (unsigned long long)size);
    space = H5Dget_space(col->dset);
    mspace = H5Screate_simple(1, &count, NULL);
    if (space < 0 || mspace < 0 ||
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        H5Dwrite(col->dset, col->mtype, mspace, space, H5P_DEFAULT, col->buf) < 0)
        st = sl_io_h5_fail(col->file, "writing %s", col->name);
    if (space >= 0)
        H5Sclose(space);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (st == SL_OK) {
        col->written += col->n;
        col->n = 0;
    }
    return st;
}

sl_status_t sl_io_h5col_append(sl_io_h5col_t *col, const void *v, size_t n)
{
    const unsigned char *p = v;

    while (n > 0) {
        size_t take = col->cap - col->n;
        if (take > n)
            take = n;
        memcpy(col->buf + col->n * col->elem, p, take * col->elem);
        col->n += take;
        col->total += take;
        p += take * col->elem;
        n -= take;
        if (col->n == col->cap) {
            sl_status_t st = sl_io_h5col_flush(col);
            if (st != SL_OK)
                return st;
        }
    }
    return SL_OK;
}

sl_status_t sl_io_h5col_finish(sl_io_h5col_t *col)
{
    sl_status_t st = SL_OK;

    if (col->dset >= 0) {
        st = sl_io_h5col_flush(col);
        if (H5Dclose(col->dset) < 0 && st == SL_OK)
            st = sl_io_h5_fail(col->file, "closing %s", col->name);
    }
    free(col->buf);
    col->buf = NULL;
    col->dset = -1;
    return st;
}

sl_status_t sl_io_h5_read_range(hid_t dset, const char *file, const char *name, hid_t mtype,
                                uint64_t start, uint64_t count, void *buf)
{
    hsize_t s = start, c = count;
    hid_t space, mspace;
    sl_status_t st = SL_OK;

    if (count == 0)
        return SL_OK;
    space = H5Dget_space(dset);
    mspace = H5Screate_simple(1, &c, NULL);
    if (space < 0 || mspace < 0 ||
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &s, NULL, &c, NULL) < 0 ||
        H5Dread(dset, mtype, mspace, space, H5P_DEFAULT, buf) < 0)
        st = sl_io_h5_fail(file, "reading %s[%llu:%llu]", name, (unsigned long long)start,
                           (unsigned long long)(start + count));
    if (space >= 0)
        H5Sclose(space);
    if (mspace >= 0)
        H5Sclose(mspace);
    return st;
}

sl_status_t sl_io_h5_length(hid_t dset, const char *file, const char *name, uint64_t *len_p)
{
    hid_t space = H5Dget_space(dset);
    hsize_t dims[1];

    if (space < 0)
        return sl_io_h5_fail(file, "dataspace of %s", name);
    if (H5Sget_simple_extent_ndims(space) != 1) {
        H5Sclose(space);
        sl_error("%s: %s is not 1-D", file, name);
        return SL_ERR_FORMAT;
    }
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        H5Sclose(space);
        return sl_io_h5_fail(file, "dimensions of %s", name);
    }
    H5Sclose(space);
    *len_p = dims[0];
    return SL_OK;
}
