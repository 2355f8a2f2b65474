/*
 * reader_h5.c - HDF5 prompt input, streamed in blocks of rows.
 *
 * The addressed object is one of:
 *   - a 1-D dataset of strings (variable- or fixed-length, UTF-8 or ASCII):
 *     one text prompt per row (fixed-length strings lose their padding);
 *   - a 1-D dataset of variable-length sequences of any integer type: one
 *     token-id prompt per row;
 *   - a group holding 1-D integer datasets "ids" (all prompts' token ids,
 *     concatenated) and "offsets" (rows + 1 entries): prompt r is
 *     ids[offsets[r] : offsets[r+1]].
 * Each block selects only this group's rows (a strided hyperslab: rows
 * group, group + ngroups, ...), so a group reads its share and no more.
 * Records get ids "row-R" (R 0-based); bad rows become error records.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/h5util.h"
#include "io/reader_impl.h"

/* Rows per block: bounds memory for long prompts while keeping HDF5 calls
 * few. Fixed-length strings are further capped by bytes. */
#define SL_IO_H5_BLOCK_ROWS 256
#define SL_IO_H5_BLOCK_BYTES (64u << 20)

typedef enum {
    SL_IO_H5IN_STRINGS,
    SL_IO_H5IN_VLEN_IDS,
    SL_IO_H5IN_FLAT_IDS,
} sl_io_h5in_kind_t;

struct sl_io_h5in {
    char *where;          /* "FILE:/OBJECT" for messages */
    sl_io_h5in_kind_t kind;
    hid_t file, data, offsets; /* data: strings, vlen ids, or flat ids */
    hid_t mtype;          /* memory type of a block */
    int vlen_str;
    size_t fixed_size;    /* fixed-length strings */
    H5T_str_t pad;
    int64_t nrows, nids;  /* nids: flat ids */
    /* the current block: rows first, first + step, ... (count of them) */
    int64_t first, step;
    size_t count, pos;
    void *block;          /* char *[count] | char[count * fixed_size] | hvl_t[count] */
    hid_t bspace, bmspace; /* selection the block was read with (vlen reclaim) */
    int64_t *offs;        /* [2 * count] flat: offsets[r], offsets[r + 1] */
    int64_t *ids;         /* flat: scratch for one row */
    size_t ids_cap;
};

static sl_status_t sl_io_h5in_fail_format(sl_io_h5in_t *h, const char *what)
{
    sl_error("%s: %s", h->where, what);
    return SL_ERR_FORMAT;
}

/* A 1-D dataset's length; -1 (logged) if it is not 1-D. */
static int64_t sl_io_h5in_length(sl_io_h5in_t *h, hid_t d, const char *name)
{
    hid_t space = H5Dget_space(d);
    hsize_t dims[1];
    int rank;

    if (space < 0) {
        sl_io_h5_fail(h->where, "dataspace of %s", name);
        return -1;
    }
    rank = H5Sget_simple_extent_ndims(space);
    if (rank != 1) {
        H5Sclose(space);
        sl_error("%s: %s has %d dimensions; expected 1", h->where, name, rank);
        return -1;
    }
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        H5Sclose(space);
        sl_io_h5_fail(h->where, "dimensions of %s", name);
        return -1;
    }
    H5Sclose(space);
    return (int64_t)dims[0];
}

static sl_status_t sl_io_h5in_int_dataset(sl_io_h5in_t *h, hid_t group, const char *name,
                                          hid_t *d_p, int64_t *len_p)
{
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT), t;
    int64_t len;

    if (d < 0) {
        sl_io_h5_fail(h->where, "opening dataset %s (a group input needs \"ids\" and "
                      "\"offsets\")", name);
        return SL_ERR_FORMAT;
    }
    t = H5Dget_type(d);
    if (t < 0 || H5Tget_class(t) != H5T_INTEGER) {
        if (t >= 0)
            H5Tclose(t);
        H5Dclose(d);
        sl_error("%s: %s is not an integer dataset", h->where, name);
        return SL_ERR_FORMAT;
    }
    H5Tclose(t);
    len = sl_io_h5in_length(h, d, name);
    if (len < 0) {
        H5Dclose(d);
        return SL_ERR_FORMAT;
    }
    *d_p = d;
    *len_p = len;
    return SL_OK;
}

static sl_status_t sl_io_h5in_setup_dataset(sl_io_h5in_t *h)
{
    hid_t ftype = H5Dget_type(h->data);
    sl_status_t st = SL_OK;

    if (ftype < 0)
        return sl_io_h5_fail(h->where, "reading the dataset's type");
    h->nrows = sl_io_h5in_length(h, h->data, "the dataset");
    if (h->nrows < 0) {
        st = SL_ERR_FORMAT;
        goto done;
    }
    if (H5Tget_class(ftype) == H5T_STRING) {
        htri_t v = H5Tis_variable_str(ftype);
        h->kind = SL_IO_H5IN_STRINGS;
        h->mtype = H5Tcopy(H5T_C_S1);
        if (v < 0 || h->mtype < 0) {
            st = sl_io_h5_fail(h->where, "string type");
            goto done;
        }
        h->vlen_str = v > 0;
        h->fixed_size = h->vlen_str ? 0 : H5Tget_size(ftype);
        h->pad = H5Tget_strpad(ftype);
        if (H5Tset_size(h->mtype, h->vlen_str ? H5T_VARIABLE : h->fixed_size) < 0 ||
            H5Tset_cset(h->mtype, H5Tget_cset(ftype)) < 0 ||
            (!h->vlen_str && H5Tset_strpad(h->mtype, h->pad) < 0))
            st = sl_io_h5_fail(h->where, "string memory type");
    } else if (H5Tget_class(ftype) == H5T_VLEN) {
        hid_t base = H5Tget_super(ftype);
        int is_int = base >= 0 && H5Tget_class(base) == H5T_INTEGER;
        if (base >= 0)
            H5Tclose(base);
        if (!is_int) {
            st = sl_io_h5in_fail_format(h, "variable-length dataset of a non-integer type; "
                                           "token ids must be integers");
            goto done;
        }
        h->kind = SL_IO_H5IN_VLEN_IDS;
        h->mtype = H5Tvlen_create(H5T_NATIVE_INT64);
        if (h->mtype < 0)
            st = sl_io_h5_fail(h->where, "variable-length memory type");
    } else {
        st = sl_io_h5in_fail_format(h, "not a prompt dataset: expected strings or "
                                       "variable-length integer sequences (or a group with "
                                       "\"ids\" and \"offsets\")");
    }
done:
    H5Tclose(ftype);
    return st;
}

sl_status_t sl_io_h5in_open(sl_io_reader_t *reader, const char *path, const char *object)
{
    sl_io_h5in_t *h = calloc(1, sizeof(*h));
    hid_t fapl, obj = -1;
    const char *name = object;
    sl_status_t st;
    int n;

    if (h == NULL)
        goto err_memory;
    h->file = h->data = h->offsets = h->mtype = h->bspace = h->bmspace = -1;
    reader->h5 = h; /* sl_io_reader_close() frees it on failure */
    sl_io_h5_init();
    fapl = sl_io_h5_fapl(path);
    if (fapl < 0)
        return SL_ERR_HDF5;
    h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (h->file < 0)
        return sl_io_h5_fail(path, "opening the HDF5 input");
    if (name == NULL) {
        name = H5Lexists(h->file, "prompts", H5P_DEFAULT) > 0 ? "/prompts" : "/input_ids";
        if (H5Lexists(h->file, name + 1, H5P_DEFAULT) <= 0) {
            sl_error("%s: no /prompts or /input_ids; name the dataset as %s:/PATH", path, path);
            return SL_ERR_NOT_FOUND;
        }
    }
    n = snprintf(NULL, 0, "%s:%s", path, name);
    h->where = malloc((size_t)n + 1);
    if (h->where == NULL)
        goto err_memory;
    snprintf(h->where, (size_t)n + 1, "%s:%s", path, name);
    obj = H5Oopen(h->file, name, H5P_DEFAULT);
    if (obj < 0)
        return sl_io_h5_fail(h->where, "opening the input object");
    if (H5Iget_type(obj) == H5I_DATASET) {
        h->data = obj;
        return sl_io_h5in_setup_dataset(h);
    }
    if (H5Iget_type(obj) != H5I_GROUP) {
        H5Oclose(obj);
        return sl_io_h5in_fail_format(h, "neither a dataset nor a group");
    }
    h->kind = SL_IO_H5IN_FLAT_IDS;
    st = sl_io_h5in_int_dataset(h, obj, "ids", &h->data, &h->nids);
    if (st == SL_OK)
        st = sl_io_h5in_int_dataset(h, obj, "offsets", &h->offsets, &h->nrows);
    H5Oclose(obj);
    if (st != SL_OK)
        return st;
    if (h->nrows == 0)
        return sl_io_h5in_fail_format(h, "offsets is empty; it needs rows + 1 entries");
    h->nrows--;
    return SL_OK;
err_memory:
    sl_error("%s: out of memory opening the HDF5 input", path);
    return SL_ERR_NO_MEMORY;
}

/* Frees the block's variable-length data and selection. */
static void sl_io_h5in_drop_block(sl_io_h5in_t *h)
{
    if (h->block != NULL && h->kind != SL_IO_H5IN_FLAT_IDS &&
        (h->kind == SL_IO_H5IN_VLEN_IDS || h->vlen_str))
#if H5_VERSION_GE(1, 12, 0)
        (void)H5Treclaim(h->mtype, h->bmspace, H5P_DEFAULT, h->block);
#else
        (void)H5Dvlen_reclaim(h->mtype, h->bmspace, H5P_DEFAULT, h->block);
#endif
    free(h->block);
    free(h->offs);
    h->block = NULL;
    h->offs = NULL;
    if (h->bspace >= 0)
        H5Sclose(h->bspace);
    if (h->bmspace >= 0)
        H5Sclose(h->bmspace);
    h->bspace = h->bmspace = -1;
    h->count = h->pos = 0;
}

void sl_io_h5in_close(sl_io_h5in_t *h)
{
    if (h == NULL)
        return;
    sl_io_h5in_drop_block(h);
    if (h->mtype >= 0)
        H5Tclose(h->mtype);
    if (h->data >= 0)
        H5Dclose(h->data);
    if (h->offsets >= 0)
        H5Dclose(h->offsets);
    if (h->file >= 0)
        H5Fclose(h->file);
    free(h->ids);
    free(h->where);
    free(h);
}

/* Selects COUNT rows START, START + STEP, ... of D (plus SHIFT) and reads
 * them as MTYPE into BUF; the selections are returned for a reclaim. */
static sl_status_t sl_io_h5in_read_rows(sl_io_h5in_t *h, hid_t d, hid_t mtype, int64_t shift,
                                        void *buf, hid_t *space_p, hid_t *mspace_p)
{
    hsize_t start = (hsize_t)(h->first + shift), stride = (hsize_t)h->step, cnt = h->count;
    hid_t space = H5Dget_space(d), mspace = H5Screate_simple(1, &cnt, NULL);

    if (space < 0 || mspace < 0 ||
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, &stride, &cnt, NULL) < 0 ||
        H5Dread(d, mtype, mspace, space, H5P_DEFAULT, buf) < 0) {
        if (space >= 0)
            H5Sclose(space);
        if (mspace >= 0)
            H5Sclose(mspace);
        return sl_io_h5_fail(h->where, "reading rows %" PRId64 "..", h->first);
    }
    *space_p = space;
    *mspace_p = mspace;
    return SL_OK;
}

static sl_status_t sl_io_h5in_load_block(sl_io_h5in_t *h, int64_t first, int64_t step)
{
    size_t rows = SL_IO_H5_BLOCK_ROWS, elem;
    int64_t left = (h->nrows - first + step - 1) / step;
    sl_status_t st;

    sl_io_h5in_drop_block(h);
    if (h->kind == SL_IO_H5IN_STRINGS && !h->vlen_str) {
        size_t cap = SL_IO_H5_BLOCK_BYTES / (h->fixed_size ? h->fixed_size : 1);
        if (cap < rows)
            rows = cap > 0 ? cap : 1;
    }
    if ((int64_t)rows > left)
        rows = (size_t)left;
    h->first = first;
    h->step = step;
    h->count = rows;
    elem = h->kind == SL_IO_H5IN_VLEN_IDS ? sizeof(hvl_t)
           : h->kind == SL_IO_H5IN_FLAT_IDS ? 0
           : h->vlen_str                     ? sizeof(char *)
                                             : h->fixed_size;
    if (h->kind == SL_IO_H5IN_FLAT_IDS) {
        hid_t s1, m1;
        h->offs = malloc(2 * rows * sizeof(int64_t));
        if (h->offs == NULL)
            goto err_memory;
        for (int64_t shift = 0; shift < 2; shift++) {
            st = sl_io_h5in_read_rows(h, h->offsets, H5T_NATIVE_INT64, shift,
                                      h->offs + shift * (int64_t)rows, &s1, &m1);
            if (st != SL_OK)
                return st;
            H5Sclose(s1);
            H5Sclose(m1);
        }
        return SL_OK;
    }
    h->block = calloc(rows, elem);
    if (h->block == NULL)
        goto err_memory;
    return sl_io_h5in_read_rows(h, h->data, h->mtype, 0, h->block, &h->bspace, &h->bmspace);
err_memory:
    sl_error("%s: out of memory for a block of %zu rows", h->where, rows);
    return SL_ERR_NO_MEMORY;
}

/* Token ids of a flat row, read into h->ids. NULL TEXT: fine; else the
 * reason the row is bad. */
static sl_status_t sl_io_h5in_flat_row(sl_io_h5in_t *h, size_t i, size_t *n_p, char *err,
                                       size_t size)
{
    int64_t a = h->offs[i], b = h->offs[h->count + i], row = h->first + (int64_t)i * h->step;
    hsize_t start, cnt;
    hid_t space, mspace;

    if (a < 0 || b < a || b > h->nids) {
        snprintf(err, size, "offsets[%" PRId64 "] = %" PRId64 " and offsets[%" PRId64
                 "] = %" PRId64 " do not delimit a range of the %" PRId64 " ids",
                 row, a, row + 1, b, h->nids);
        return SL_ERR_FORMAT;
    }
    *n_p = (size_t)(b - a);
    if (a == b)
        return SL_OK;
    if ((size_t)(b - a) > h->ids_cap) {
        int64_t *p = realloc(h->ids, (size_t)(b - a) * sizeof(int64_t));
        if (p == NULL) {
            sl_error("%s: out of memory for %" PRId64 " ids", h->where, b - a);
            return SL_ERR_NO_MEMORY;
        }
        h->ids = p;
        h->ids_cap = (size_t)(b - a);
    }
    start = (hsize_t)a;
    cnt = (hsize_t)(b - a);
    space = H5Dget_space(h->data);
    mspace = H5Screate_simple(1, &cnt, NULL);
    if (space < 0 || mspace < 0 ||
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &cnt, NULL) < 0 ||
        H5Dread(h->data, H5T_NATIVE_INT64, mspace, space, H5P_DEFAULT, h->ids) < 0) {
        if (space >= 0)
            H5Sclose(space);
        if (mspace >= 0)
            H5Sclose(mspace);
        return sl_io_h5_fail(h->where, "reading the ids of row %" PRId64, row);
    }
    H5Sclose(space);
    H5Sclose(mspace);
    return SL_OK;
}

static sl_status_t sl_io_h5in_take_ids(const int64_t *v, size_t n, sl_io_request_t *req,
                                       char *err, size_t size)
{
    if (n == 0) {
        snprintf(err, size, "input_ids: expected a non-empty array of token ids, got an empty "
                 "array");
        return SL_ERR_FORMAT;
    }
    req->input_ids = malloc(n * sizeof(int32_t));
    if (req->input_ids == NULL)
        return SL_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] > INT32_MAX) {
            snprintf(err, size, "input_ids[%zu]: token id %" PRId64 " is outside [0, "
                     "2147483647]", i, v[i]);
            return SL_ERR_FORMAT;
        }
        req->input_ids[i] = (int32_t)v[i];
    }
    req->n_input_ids = n;
    req->kind = SL_IO_PROMPT_TOKENS;
    return SL_OK;
}

static sl_status_t sl_io_h5in_take_text(sl_io_h5in_t *h, size_t i, sl_io_request_t *req,
                                        char *err, size_t size)
{
    const char *s;
    size_t len, bad;

    if (h->vlen_str) {
        s = ((char **)h->block)[i];
        len = s != NULL ? strlen(s) : 0;
    } else {
        s = (const char *)h->block + i * h->fixed_size;
        len = strnlen(s, h->fixed_size);
        if (h->pad == H5T_STR_SPACEPAD) {
            while (len > 0 && s[len - 1] == ' ')
                len--;
        }
    }
    if (len == 0) {
        snprintf(err, size, "prompt: expected a non-empty string, got an empty string");
        return SL_ERR_FORMAT;
    }
    if (!sl_io_utf8_valid(s, len, &bad)) {
        snprintf(err, size, "prompt: not valid UTF-8 (at byte %zu)", bad);
        return SL_ERR_FORMAT;
    }
    req->text = malloc(len + 1);
    if (req->text == NULL)
        return SL_ERR_NO_MEMORY;
    memcpy(req->text, s, len);
    req->text[len] = '\0';
    req->text_len = len;
    req->kind = SL_IO_PROMPT_TEXT;
    return SL_OK;
}

sl_status_t sl_io_h5in_next(sl_io_reader_t *r, sl_io_record_t **record_p)
{
    sl_io_h5in_t *h = r->h5;
    sl_status_t st;

    for (;;) {
        int64_t row;
        size_t i, n = 0;
        char id[32], err[512];
        sl_io_record_t *rec;
        sl_io_request_t *req;

        if (h->pos == h->count) {
            int64_t next = h->count > 0 ? h->first + (int64_t)h->count * h->step : r->opts.group;
            if (next >= h->nrows) {
                r->stats.records = h->nrows;
                *record_p = NULL;
                return SL_OK;
            }
            st = sl_io_h5in_load_block(h, next, r->opts.ngroups);
            if (st != SL_OK)
                return st;
        }
        i = h->pos++;
        row = h->first + (int64_t)i * h->step;
        r->stats.records = row + 1;
        if (sl_io_resume_contains(r->opts.skip, row)) {
            r->stats.skipped++;
            continue;
        }
        snprintf(id, sizeof(id), "row-%" PRId64, row);
        rec = calloc(1, sizeof(*rec));
        if (rec == NULL)
            goto err_memory;
        rec->type = SL_IO_RECORD_REQUEST;
        req = &rec->u.request;
        req->index = row;
        req->line = row;
        req->hdf5_row = 1;
        req->dp_group = r->opts.group;
        req->id_derived = 1;
        req->endpoint = SL_IO_ENDPOINT_COMPLETIONS;
        req->id = strdup(id);
        req->params = json_object();
        if (req->id == NULL || req->params == NULL)
            goto err_rec;
        err[0] = '\0';
        if (h->kind == SL_IO_H5IN_STRINGS) {
            st = sl_io_h5in_take_text(h, i, req, err, sizeof(err));
        } else if (h->kind == SL_IO_H5IN_VLEN_IDS) {
            hvl_t *v = &((hvl_t *)h->block)[i];
            st = sl_io_h5in_take_ids(v->p, v->len, req, err, sizeof(err));
        } else {
            st = sl_io_h5in_flat_row(h, i, &n, err, sizeof(err));
            if (st == SL_OK)
                st = sl_io_h5in_take_ids(h->ids, n, req, err, sizeof(err));
        }
        if (st == SL_ERR_NO_MEMORY)
            goto err_rec;
        if (st == SL_ERR_HDF5) {
            sl_io_record_free(rec);
            return st;
        }
        if (st != SL_OK) {
            sl_io_record_free(rec);
            st = sl_io_make_error(row, row, 1, r->opts.group, id, SL_IO_ERR_INVALID_REQUEST, err,
                                  &rec);
            if (st != SL_OK)
                return st;
            r->stats.errors++;
        }
        r->stats.yielded++;
        *record_p = rec;
        return SL_OK;
err_rec:
        sl_io_record_free(rec);
err_memory:
        sl_error("%s: out of memory reading row %" PRId64, h->where, row);
        return SL_ERR_NO_MEMORY;
    }
}

sl_status_t sl_io_h5in_count(const char *path, const char *object, int64_t *count_p)
{
    sl_io_reader_t r;
    sl_status_t st;

    memset(&r, 0, sizeof(r));
    st = sl_io_h5in_open(&r, path, object);
    if (st == SL_OK)
        *count_p = r.h5->nrows;
    sl_io_h5in_close(r.h5);
    return st;
}
