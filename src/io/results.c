/* results.c - reading a result file back; see results.h. */
#include "config.h"

#include "io/results.h"

#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/h5schema.h"
#include "io/h5table.h"
#include "io/h5util.h"

#define SL_IO_RBLOCK 4096
#define SL_IO_MAX_COLS SL_IO_R_NCOLS

typedef struct sl_io_rtable {
    const char *name;
    const sl_io_col_spec_t *spec;
    int ncols;
    hid_t dset[SL_IO_MAX_COLS];
    uint64_t rows;
    int64_t first, count;          /* the cached block; count 0: none */
    void *data[SL_IO_MAX_COLS];    /* per column */
    uint64_t base[SL_IO_MAX_COLS]; /* ragged: element offset of data[c][0] */
    uint64_t len[SL_IO_MAX_COLS];  /* ragged: length of the dataset */
} sl_io_rtable_t;

struct sl_io_results {
    char *path;
    hid_t file;
    hid_t enums[4];
    int complete;
    sl_io_rtable_t t[3]; /* results, errors, steps */
};

static hid_t sl_io_rmtype(const sl_io_results_t *f, sl_io_col_type_t t)
{
    switch (t) {
    case SL_IO_CT_I64: return H5T_NATIVE_INT64;
    case SL_IO_CT_I32: return H5T_NATIVE_INT32;
    case SL_IO_CT_U64: return H5T_NATIVE_UINT64;
    case SL_IO_CT_U8: return H5T_NATIVE_UINT8;
    case SL_IO_CT_F64: return H5T_NATIVE_DOUBLE;
    case SL_IO_CT_F32: return H5T_NATIVE_FLOAT;
    case SL_IO_CT_STATUS: return f->enums[0];
    case SL_IO_CT_FINISH: return f->enums[1];
    case SL_IO_CT_ENDPOINT: return f->enums[2];
    case SL_IO_CT_CODE: return f->enums[3];
    }
    return -1;
}

static sl_status_t sl_io_rtable_open(sl_io_results_t *f, sl_io_rtable_t *t, const char *name,
                                     const sl_io_col_spec_t *spec, int ncols)
{
    hid_t g = H5Gopen2(f->file, name, H5P_DEFAULT);
    sl_status_t st = SL_OK;

    t->name = name;
    t->spec = spec;
    t->ncols = ncols;
    for (int c = 0; c < ncols; c++)
        t->dset[c] = -1;
    if (g < 0)
        return sl_io_h5_fail(f->path, "opening group /%s", name);
    for (int c = 0; c < ncols && st == SL_OK; c++) {
        uint64_t len;
        t->dset[c] = H5Dopen2(g, spec[c].name, H5P_DEFAULT);
        if (t->dset[c] < 0) {
            st = sl_io_h5_fail(f->path, "opening /%s/%s", name, spec[c].name);
            break;
        }
        st = sl_io_h5_length(t->dset[c], f->path, spec[c].name, &len);
        if (st != SL_OK)
            break;
        if (c == 0)
            t->rows = len;
        if (spec[c].offsets >= 0) {
            t->len[c] = len;
        } else if (len != t->rows + (strstr(spec[c].name, "_offsets") != NULL)) {
            sl_error("%s: /%s/%s has %" PRIu64 " entries for %" PRIu64 " rows", f->path, name,
                     spec[c].name, len, t->rows);
            st = SL_ERR_FORMAT;
        }
    }
    H5Gclose(g);
    return st;
}

static void sl_io_rtable_drop(sl_io_rtable_t *t)
{
    for (int c = 0; c < t->ncols; c++) {
        free(t->data[c]);
        t->data[c] = NULL;
    }
    t->count = 0;
}

static void sl_io_rtable_close(sl_io_rtable_t *t)
{
    sl_io_rtable_drop(t);
    for (int c = 0; c < t->ncols; c++) {
        if (t->dset[c] >= 0)
            H5Dclose(t->dset[c]);
        t->dset[c] = -1;
    }
}

/* Makes ROW's block the cached one. */
static sl_status_t sl_io_rtable_load(sl_io_results_t *f, sl_io_rtable_t *t, int64_t row)
{
    int64_t first = row - row % SL_IO_RBLOCK, count;
    sl_status_t st = SL_OK;

    if (row < 0 || (uint64_t)row >= t->rows) {
        sl_error("%s: /%s has no row %" PRId64 " (%" PRIu64 " rows)", f->path, t->name, row,
                 t->rows);
        return SL_ERR_INVALID_ARG;
    }
    if (t->count > 0 && row >= t->first && row < t->first + t->count)
        return SL_OK;
    sl_io_rtable_drop(t);
    count = (int64_t)t->rows - first < SL_IO_RBLOCK ? (int64_t)t->rows - first : SL_IO_RBLOCK;
    /* offsets and fixed columns first: the ragged ranges come from them */
    for (int pass = 0; pass < 2 && st == SL_OK; pass++) {
        for (int c = 0; c < t->ncols && st == SL_OK; c++) {
            const sl_io_col_spec_t *s = &t->spec[c];
            size_t elem = sl_io_col_elem(s->type);
            uint64_t start = (uint64_t)first, n = (uint64_t)count;
            if ((s->offsets >= 0) != (pass == 1))
                continue;
            if (s->offsets >= 0) {
                const uint64_t *off = t->data[s->offsets];
                start = off[0];
                n = off[count] - off[0];
                if (off[count] < off[0] || off[count] > t->len[c]) {
                    sl_error("%s: /%s/%s: offsets %" PRIu64 "..%" PRIu64 " outside its %" PRIu64
                             " elements", f->path, t->name, s->name, off[0], off[count],
                             t->len[c]);
                    st = SL_ERR_FORMAT;
                    break;
                }
                t->base[c] = start;
            } else if (strstr(s->name, "_offsets") != NULL) {
                n++;
            }
            t->data[c] = malloc(n > 0 ? n * elem : 1);
            if (t->data[c] == NULL) {
                sl_error("%s: out of memory reading /%s/%s", f->path, t->name, s->name);
                st = SL_ERR_NO_MEMORY;
                break;
            }
            st = sl_io_h5_read_range(t->dset[c], f->path, s->name, sl_io_rmtype(f, s->type),
                                     start, n, t->data[c]);
        }
    }
    if (st != SL_OK) {
        sl_io_rtable_drop(t);
        return st;
    }
    t->first = first;
    t->count = count;
    return SL_OK;
}

/* Element range of row I (in the block) of ragged column C. */
static sl_status_t sl_io_rtable_span(sl_io_results_t *f, sl_io_rtable_t *t, int c, int64_t i,
                                     const void **p_p, size_t *n_p)
{
    const uint64_t *off = t->data[t->spec[c].offsets];

    if (off[i + 1] < off[i]) {
        sl_error("%s: /%s/%s: row %" PRId64 " has decreasing offsets", f->path, t->name,
                 t->spec[c].name, t->first + i);
        return SL_ERR_FORMAT;
    }
    *p_p = (const char *)t->data[c] + (off[i] - t->base[c]) * sl_io_col_elem(t->spec[c].type);
    *n_p = (size_t)(off[i + 1] - off[i]);
    return SL_OK;
}

#define SL_IO_COL(t, c, type, i) (((const type *)(t)->data[c])[i])

/* A NUL-terminated copy of bytes P[N] into *BUF (capacity *CAP). */
static sl_status_t sl_io_copy_str(const void *p, size_t n, char **buf, size_t *cap)
{
    if (n + 1 > *cap) {
        char *q = realloc(*buf, n + 1);
        if (q == NULL)
            return SL_ERR_NO_MEMORY;
        *buf = q;
        *cap = n + 1;
    }
    memcpy(*buf, p, n);
    (*buf)[n] = '\0';
    return SL_OK;
}

sl_status_t sl_io_results_open(const char *path, sl_io_results_t **results_p)
{
    sl_io_results_t *f = calloc(1, sizeof(*f));
    char *format = NULL;
    int64_t version = 0, complete = 0;
    hid_t fapl;
    sl_status_t st;

    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    f->file = -1;
    for (int i = 0; i < 4; i++)
        f->enums[i] = -1;
    sl_io_h5_init();
    fapl = sl_io_h5_fapl(path);
    if (fapl < 0) {
        st = SL_ERR_HDF5;
        goto err_f;
    }
    f->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->file < 0) {
        st = sl_io_h5_fail(path, "opening the result file");
        goto err_f;
    }
    st = sl_io_h5_read_str(f->file, path, "format", 1, &format);
    if (st == SL_OK)
        st = sl_io_h5_read_attr_i64(f->file, path, "format_version", &version);
    if (st == SL_OK)
        st = sl_io_h5_read_attr_i64(f->file, path, "complete", &complete);
    if (st != SL_OK)
        goto err_f;
    if (strcmp(format, SL_IO_H5_FORMAT) != 0 || version > SL_IO_H5_FORMAT_VERSION) {
        sl_error("%s: format \"%s\" version %" PRId64 "; this slinfer reads \"%s\" up to "
                 "version %d", path, format, version, SL_IO_H5_FORMAT, SL_IO_H5_FORMAT_VERSION);
        st = SL_ERR_FORMAT;
        goto err_f;
    }
    f->complete = complete != 0;
    f->enums[0] = sl_io_h5_enum_status();
    f->enums[1] = sl_io_h5_enum_finish();
    f->enums[2] = sl_io_h5_enum_endpoint();
    f->enums[3] = sl_io_h5_enum_error_code();
    for (int i = 0; i < 4; i++) {
        if (f->enums[i] < 0) {
            st = sl_io_h5_fail(path, "creating the enum types");
            goto err_f;
        }
    }
    st = sl_io_rtable_open(f, &f->t[0], "results", sl_io_results_cols, SL_IO_R_NCOLS);
    if (st == SL_OK)
        st = sl_io_rtable_open(f, &f->t[1], "errors", sl_io_errors_cols, SL_IO_E_NCOLS);
    if (st == SL_OK)
        st = sl_io_rtable_open(f, &f->t[2], "steps", sl_io_steps_cols, SL_IO_S_NCOLS);
    if (st != SL_OK)
        goto err_f;
    free(format);
    *results_p = f;
    return SL_OK;
err_f:
    free(format);
    sl_io_results_close(f);
    return st;
}

void sl_io_results_close(sl_io_results_t *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < 3; i++)
        sl_io_rtable_close(&f->t[i]);
    for (int i = 0; i < 4; i++) {
        if (f->enums[i] >= 0)
            H5Tclose(f->enums[i]);
    }
    if (f->file >= 0)
        H5Fclose(f->file);
    free(f->path);
    free(f);
}

int64_t sl_io_results_rows(const sl_io_results_t *f)
{
    return (int64_t)f->t[0].rows;
}

int64_t sl_io_results_num_errors(const sl_io_results_t *f)
{
    return (int64_t)f->t[1].rows;
}

int64_t sl_io_results_num_steps(const sl_io_results_t *f)
{
    return (int64_t)f->t[2].rows;
}

int sl_io_results_complete(const sl_io_results_t *f)
{
    return f->complete;
}

sl_status_t sl_io_results_get(sl_io_results_t *f, int64_t row, sl_io_result_row_t *out)
{
    sl_io_rtable_t *t = &f->t[0];
    sl_io_result_t *r = &out->result;
    sl_io_choice_t *ch = &out->choice;
    const void *p, *lp;
    size_t n, nlp;
    int64_t i;
    sl_status_t st = sl_io_rtable_load(f, t, row);

    if (st != SL_OK)
        return st;
    i = row - t->first;
    st = sl_io_rtable_span(f, t, SL_IO_R_ID, i, &p, &n);
    if (st != SL_OK)
        return st;
    if (sl_io_copy_str(p, n, &out->id, &out->id_cap) != SL_OK) {
        sl_error("%s: out of memory", f->path);
        return SL_ERR_NO_MEMORY;
    }
    memset(r, 0, sizeof(*r));
    memset(ch, 0, sizeof(*ch));
    r->id = out->id;
    r->index = SL_IO_COL(t, SL_IO_R_INPUT_INDEX, int64_t, i);
    r->line = SL_IO_COL(t, SL_IO_R_LINE, int64_t, i);
    out->choice_index = SL_IO_COL(t, SL_IO_R_CHOICE, int32_t, i);
    r->endpoint = (sl_io_endpoint_t)SL_IO_COL(t, SL_IO_R_ENDPOINT, int8_t, i);
    r->status = (sl_io_status_t)SL_IO_COL(t, SL_IO_R_STATUS, int8_t, i);
    ch->finish_reason = (sl_io_finish_t)SL_IO_COL(t, SL_IO_R_FINISH_REASON, int8_t, i);
    r->prompt_tokens = SL_IO_COL(t, SL_IO_R_PROMPT_TOKENS, int32_t, i);
    r->cached_tokens = SL_IO_COL(t, SL_IO_R_CACHED_TOKENS, int32_t, i);
    ch->completion_tokens = SL_IO_COL(t, SL_IO_R_COMPLETION_TOKENS, int32_t, i);
    st = sl_io_rtable_span(f, t, SL_IO_R_OUTPUT_IDS, i, &p, &n);
    if (st == SL_OK)
        st = sl_io_rtable_span(f, t, SL_IO_R_OUTPUT_LOGPROBS, i, &lp, &nlp);
    if (st != SL_OK)
        return st;
    ch->output_ids = p;
    ch->n_output_ids = n;
    ch->logprobs = NULL;
    for (size_t k = 0; k < nlp; k++) {
        if (!isnan(((const float *)lp)[k])) {
            ch->logprobs = lp;
            break;
        }
    }
    st = sl_io_rtable_span(f, t, SL_IO_R_TEXT, i, &p, &n);
    if (st != SL_OK)
        return st;
    ch->text = p;
    ch->text_len = n;
    r->arrival_time = SL_IO_COL(t, SL_IO_R_ARRIVAL_TIME, double, i);
    r->first_scheduled_time = SL_IO_COL(t, SL_IO_R_FIRST_SCHEDULED_TIME, double, i);
    ch->first_token_time = SL_IO_COL(t, SL_IO_R_FIRST_TOKEN_TIME, double, i);
    ch->finish_time = SL_IO_COL(t, SL_IO_R_FINISH_TIME, double, i);
    out->queue_time = SL_IO_COL(t, SL_IO_R_QUEUE_TIME, double, i);
    out->ttft = SL_IO_COL(t, SL_IO_R_TTFT, double, i);
    ch->itl_mean = SL_IO_COL(t, SL_IO_R_ITL_MEAN, double, i);
    ch->itl_max = SL_IO_COL(t, SL_IO_R_ITL_MAX, double, i);
    out->e2e = SL_IO_COL(t, SL_IO_R_E2E, double, i);
    r->node = SL_IO_COL(t, SL_IO_R_NODE, int32_t, i);
    r->rank = SL_IO_COL(t, SL_IO_R_RANK, int32_t, i);
    r->dp_group = SL_IO_COL(t, SL_IO_R_DP_GROUP, int32_t, i);
    r->n_choices = 1;
    r->choices = ch;
    return SL_OK;
}

void sl_io_result_row_clear(sl_io_result_row_t *row)
{
    free(row->id);
    memset(row, 0, sizeof(*row));
}

sl_status_t sl_io_results_get_error(sl_io_results_t *f, int64_t row, sl_io_error_row_t *out)
{
    sl_io_rtable_t *t = &f->t[1];
    sl_io_error_t *e = &out->error;
    const void *p, *m;
    size_t n, mn;
    int64_t i;
    sl_status_t st = sl_io_rtable_load(f, t, row);

    if (st != SL_OK)
        return st;
    i = row - t->first;
    st = sl_io_rtable_span(f, t, SL_IO_E_ID, i, &p, &n);
    if (st == SL_OK)
        st = sl_io_rtable_span(f, t, SL_IO_E_MESSAGE, i, &m, &mn);
    if (st != SL_OK)
        return st;
    if (sl_io_copy_str(p, n, &e->id, &out->id_cap) != SL_OK ||
        sl_io_copy_str(m, mn, &e->message, &out->message_cap) != SL_OK) {
        sl_error("%s: out of memory", f->path);
        return SL_ERR_NO_MEMORY;
    }
    e->index = SL_IO_COL(t, SL_IO_E_INPUT_INDEX, int64_t, i);
    e->line = SL_IO_COL(t, SL_IO_E_LINE, int64_t, i);
    e->dp_group = SL_IO_COL(t, SL_IO_E_DP_GROUP, int32_t, i);
    e->code = (sl_io_error_code_t)SL_IO_COL(t, SL_IO_E_CODE, int8_t, i);
    return SL_OK;
}

void sl_io_error_row_clear(sl_io_error_row_t *row)
{
    free(row->error.id);
    free(row->error.message);
    memset(row, 0, sizeof(*row));
}

sl_status_t sl_io_results_get_step(sl_io_results_t *f, int64_t row, sl_io_step_t *out)
{
    sl_io_rtable_t *t = &f->t[2];
    int64_t i;
    sl_status_t st = sl_io_rtable_load(f, t, row);

    if (st != SL_OK)
        return st;
    i = row - t->first;
    out->step = SL_IO_COL(t, SL_IO_S_STEP, int64_t, i);
    out->dp_group = SL_IO_COL(t, SL_IO_S_DP_GROUP, int32_t, i);
    out->batch_size = SL_IO_COL(t, SL_IO_S_BATCH_SIZE, int32_t, i);
    out->prefill_tokens = SL_IO_COL(t, SL_IO_S_PREFILL_TOKENS, int32_t, i);
    out->decode_tokens = SL_IO_COL(t, SL_IO_S_DECODE_TOKENS, int32_t, i);
    out->time = SL_IO_COL(t, SL_IO_S_TIME, double, i);
    out->duration = SL_IO_COL(t, SL_IO_S_DURATION, double, i);
    return SL_OK;
}

typedef struct {
    sl_io_results_t *f;
    json_t *obj;
    sl_status_t st;
} sl_io_meta_walk_t;

static herr_t sl_io_meta_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    sl_io_meta_walk_t *w = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
    json_t *v = NULL;

    (void)info;
    if (t < 0) {
        w->st = sl_io_h5_fail(w->f->path, "reading attribute %s", name);
        goto done;
    }
    if (H5Tget_class(t) == H5T_INTEGER) {
        int64_t x;
        if (H5Aread(a, H5T_NATIVE_INT64, &x) >= 0)
            v = json_integer((json_int_t)x);
    } else if (H5Tget_class(t) == H5T_FLOAT) {
        double x;
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &x) >= 0)
            v = isfinite(x) ? json_real(x) : json_null();
    } else if (H5Tget_class(t) == H5T_STRING) {
        char *s;
        if (sl_io_h5_read_str(loc, w->f->path, name, 1, &s) == SL_OK) {
            v = json_string(s);
            free(s);
        }
    }
    if (v == NULL)
        v = json_null();
    json_object_set_new(w->obj, name, v);
done:
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return w->st == SL_OK ? 0 : -1;
}

sl_status_t sl_io_results_meta(sl_io_results_t *f, json_t **meta_p)
{
    static const char *const docs[] = {"arguments", "topology_plan", "identity", "parts"};
    sl_io_meta_walk_t w = {f, json_object(), SL_OK};
    hid_t g;

    if (w.obj == NULL)
        return SL_ERR_NO_MEMORY;
    if (H5Aiterate2(f->file, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, sl_io_meta_attr, &w) < 0 &&
        w.st == SL_OK)
        w.st = sl_io_h5_fail(f->path, "listing the root attributes");
    g = w.st == SL_OK ? H5Gopen2(f->file, "meta", H5P_DEFAULT) : -1;
    if (w.st == SL_OK && g < 0)
        w.st = sl_io_h5_fail(f->path, "opening /meta");
    if (w.st == SL_OK &&
        H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, sl_io_meta_attr, &w) < 0 &&
        w.st == SL_OK)
        w.st = sl_io_h5_fail(f->path, "listing the /meta attributes");
    for (size_t i = 0; w.st == SL_OK && i < sizeof(docs) / sizeof(docs[0]); i++) {
        char *text;
        json_t *v;
        w.st = sl_io_h5_read_str(g, f->path, docs[i], 0, &text);
        if (w.st != SL_OK)
            break;
        v = json_loads(text, JSON_DECODE_ANY, NULL);
        json_object_set_new(w.obj, docs[i], v != NULL ? v : json_string(text));
        free(text);
    }
    if (g >= 0)
        H5Gclose(g);
    if (w.st != SL_OK) {
        json_decref(w.obj);
        return w.st;
    }
    *meta_p = w.obj;
    return SL_OK;
}
