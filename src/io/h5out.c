/* h5out.c - the result file writer; see h5out.h, h5schema.h and
 * docs/OUTPUT.md. */
#include "config.h"

#include "io/h5out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/version.h"
#include "io/h5schema.h"
#include "io/h5table.h"
#include "io/h5util.h"

const sl_io_col_spec_t sl_io_results_cols[SL_IO_R_NCOLS] = {
    {"input_index", SL_IO_CT_I64, -1,
     "record index k of the input (0-based, file order)"},
    {"line", SL_IO_CT_I64, -1, "JSONL: 1-based line; HDF5 input: 0-based row"},
    {"choice", SL_IO_CT_I32, -1, "index of this completion among the request's n"},
    {"id_offsets", SL_IO_CT_U64, -1, "id of row i is id[id_offsets[i]:id_offsets[i+1]]"},
    {"id", SL_IO_CT_U8, SL_IO_R_ID_OFFSETS,
     "UTF-8 ids (custom_id, id, or line-N / row-N), concatenated"},
    {"endpoint", SL_IO_CT_ENDPOINT, -1, "completions or chat_completions"},
    {"status", SL_IO_CT_STATUS, -1, "ok, error or cancelled"},
    {"finish_reason", SL_IO_CT_FINISH, -1, "none, stop, length or abort"},
    {"prompt_tokens", SL_IO_CT_I32, -1, "tokens of the prompt"},
    {"cached_tokens", SL_IO_CT_I32, -1, "prompt tokens served from the prefix cache"},
    {"completion_tokens", SL_IO_CT_I32, -1, "tokens generated"},
    {"output_ids_offsets", SL_IO_CT_U64, -1,
     "output_ids of row i: output_ids[o[i]:o[i+1]]"},
    {"output_ids", SL_IO_CT_I32, SL_IO_R_OUTPUT_IDS_OFFSETS,
     "generated token ids, concatenated"},
    {"output_logprobs", SL_IO_CT_F32, SL_IO_R_OUTPUT_IDS_OFFSETS,
     "log-probability of each output id (NaN when not requested); uses output_ids_offsets"},
    {"text_offsets", SL_IO_CT_U64, -1, "text of row i is text[t[i]:t[i+1]]"},
    {"text", SL_IO_CT_U8, SL_IO_R_TEXT_OFFSETS, "UTF-8 generated texts, concatenated"},
    {"arrival_time", SL_IO_CT_F64, -1, "request arrival, Unix epoch seconds"},
    {"first_scheduled_time", SL_IO_CT_F64, -1,
     "first scheduled in a step, Unix epoch seconds"},
    {"first_token_time", SL_IO_CT_F64, -1, "first output token, Unix epoch seconds"},
    {"finish_time", SL_IO_CT_F64, -1, "finished, Unix epoch seconds"},
    {"queue_time", SL_IO_CT_F64, -1, "first_scheduled_time - arrival_time, seconds"},
    {"ttft", SL_IO_CT_F64, -1, "first_token_time - arrival_time, seconds"},
    {"itl_mean", SL_IO_CT_F64, -1,
     "mean inter-token latency, seconds (NaN below 2 tokens)"},
    {"itl_max", SL_IO_CT_F64, -1,
     "largest inter-token latency, seconds (NaN below 2 tokens)"},
    {"e2e", SL_IO_CT_F64, -1, "finish_time - arrival_time, seconds"},
    {"node", SL_IO_CT_I32, -1, "node id of the DP group leader that ran it"},
    {"rank", SL_IO_CT_I32, -1, "rank of that leader"},
    {"dp_group", SL_IO_CT_I32, -1,
     "data-parallel group (input_index % dp_size of its run)"},
};

const sl_io_col_spec_t sl_io_errors_cols[SL_IO_E_NCOLS] = {
    {"input_index", SL_IO_CT_I64, -1, "record index k of the input"},
    {"line", SL_IO_CT_I64, -1, "JSONL: 1-based line; HDF5 input: 0-based row"},
    {"dp_group", SL_IO_CT_I32, -1, "data-parallel group the record belonged to"},
    {"id_offsets", SL_IO_CT_U64, -1, "id of row i is id[id_offsets[i]:id_offsets[i+1]]"},
    {"id", SL_IO_CT_U8, SL_IO_E_ID_OFFSETS, "UTF-8 ids, concatenated"},
    {"code", SL_IO_CT_CODE, -1, "invalid_json, invalid_request, duplicate_id, line_too_long, "
                            "prompt_too_long or engine_error"},
    {"message_offsets", SL_IO_CT_U64, -1, "message of row i: message[m[i]:m[i+1]]"},
    {"message", SL_IO_CT_U8, SL_IO_E_MESSAGE_OFFSETS,
     "UTF-8 messages (\"line 17: body.messages: ...\"), concatenated"},
};

const sl_io_col_spec_t sl_io_steps_cols[SL_IO_S_NCOLS] = {
    {"step", SL_IO_CT_I64, -1, "step counter of its DP group"},
    {"dp_group", SL_IO_CT_I32, -1, "data-parallel group"},
    {"batch_size", SL_IO_CT_I32, -1, "sequences in the step"},
    {"prefill_tokens", SL_IO_CT_I32, -1, "prompt tokens computed in the step"},
    {"decode_tokens", SL_IO_CT_I32, -1, "tokens decoded in the step"},
    {"time", SL_IO_CT_F64, -1, "start of the step, Unix epoch seconds"},
    {"duration", SL_IO_CT_F64, -1, "seconds"},
};

size_t sl_io_col_elem(sl_io_col_type_t type)
{
    switch (type) {
    case SL_IO_CT_I64:
    case SL_IO_CT_U64:
    case SL_IO_CT_F64: return 8;
    case SL_IO_CT_I32:
    case SL_IO_CT_F32: return 4;
    default: return 1;
    }
}

struct sl_io_h5out {
    char *path;
    hid_t file;
    hid_t enums[4]; /* status, finish, endpoint, code */
    sl_io_h5col_t r[SL_IO_R_NCOLS], e[SL_IO_E_NCOLS], s[SL_IO_S_NCOLS];
};

/* File and memory types of a column. */
static void sl_io_col_types(const sl_io_h5out_t *o, sl_io_col_type_t t, hid_t *ftype,
                            hid_t *mtype)
{
    switch (t) {
    case SL_IO_CT_I64: *ftype = H5T_STD_I64LE; *mtype = H5T_NATIVE_INT64; return;
    case SL_IO_CT_I32: *ftype = H5T_STD_I32LE; *mtype = H5T_NATIVE_INT32; return;
    case SL_IO_CT_U64: *ftype = H5T_STD_U64LE; *mtype = H5T_NATIVE_UINT64; return;
    case SL_IO_CT_U8: *ftype = H5T_STD_U8LE; *mtype = H5T_NATIVE_UINT8; return;
    case SL_IO_CT_F64: *ftype = H5T_IEEE_F64LE; *mtype = H5T_NATIVE_DOUBLE; return;
    case SL_IO_CT_F32: *ftype = H5T_IEEE_F32LE; *mtype = H5T_NATIVE_FLOAT; return;
    case SL_IO_CT_STATUS: *ftype = *mtype = o->enums[0]; return;
    case SL_IO_CT_FINISH: *ftype = *mtype = o->enums[1]; return;
    case SL_IO_CT_ENDPOINT: *ftype = *mtype = o->enums[2]; return;
    case SL_IO_CT_CODE: *ftype = *mtype = o->enums[3]; return;
    }
}

static sl_status_t sl_io_h5out_table(sl_io_h5out_t *o, const char *name, const char *doc,
                                     const sl_io_col_spec_t *spec, sl_io_h5col_t *cols,
                                     int ncols)
{
    hid_t g = H5Gcreate2(o->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    sl_status_t st = SL_OK;

    if (g < 0)
        return sl_io_h5_fail(o->path, "creating group %s", name);
    st = sl_io_h5_attr_str(g, o->path, "description", doc);
    for (int c = 0; st == SL_OK && c < ncols; c++) {
        hid_t ft = -1, mt = -1;
        size_t elem = sl_io_col_elem(spec[c].type);
        /* byte columns hold texts: larger chunks compress better */
        size_t chunk = spec[c].type == SL_IO_CT_U8 ? (1u << 20) : (1u << 14);
        sl_io_col_types(o, spec[c].type, &ft, &mt);
        st = sl_io_h5col_create(&cols[c], g, o->path, spec[c].name, ft, mt, elem, chunk,
                                spec[c].doc);
        /* offsets start with the 0 of row 0 */
        if (st == SL_OK && strstr(spec[c].name, "_offsets") != NULL) {
            uint64_t zero = 0;
            st = sl_io_h5col_append(&cols[c], &zero, 1);
        }
    }
    if (H5Gclose(g) < 0 && st == SL_OK)
        st = sl_io_h5_fail(o->path, "closing group %s", name);
    return st;
}

sl_status_t sl_io_h5out_create(const char *path, sl_io_h5out_t **out_p)
{
    sl_io_h5out_t *o = calloc(1, sizeof(*o));
    hid_t fapl;
    sl_status_t st;

    if (o == NULL || (o->path = strdup(path)) == NULL) {
        free(o);
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    o->file = -1;
    for (int i = 0; i < 4; i++)
        o->enums[i] = -1;
    sl_io_h5_init();
    fapl = sl_io_h5_fapl(path);
    if (fapl < 0) {
        st = SL_ERR_HDF5;
        goto err_o;
    }
    o->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (o->file < 0) {
        st = sl_io_h5_fail(path, "creating the result file");
        goto err_o;
    }
    o->enums[0] = sl_io_h5_enum_status();
    o->enums[1] = sl_io_h5_enum_finish();
    o->enums[2] = sl_io_h5_enum_endpoint();
    o->enums[3] = sl_io_h5_enum_error_code();
    for (int i = 0; i < 4; i++) {
        if (o->enums[i] < 0) {
            st = sl_io_h5_fail(path, "creating the enum types");
            goto err_o;
        }
    }
    st = sl_io_h5out_table(o, "results", "one row per completion (choice) of a request",
                           sl_io_results_cols, o->r, SL_IO_R_NCOLS);
    if (st == SL_OK)
        st = sl_io_h5out_table(o, "errors", "one row per record that produced no result",
                               sl_io_errors_cols, o->e, SL_IO_E_NCOLS);
    if (st == SL_OK)
        st = sl_io_h5out_table(o, "steps", "one row per engine step of a DP group",
                               sl_io_steps_cols, o->s, SL_IO_S_NCOLS);
    if (st != SL_OK)
        goto err_o;
    *out_p = o;
    return SL_OK;
err_o:
    sl_io_h5out_abort(o);
    return st;
}

/* Appends one value to column C of table T. */
#define SL_IO_PUT(t, c, v)                                                   \
    do {                                                                     \
        __typeof__(v) sl_io_v_ = (v);                                        \
        st = sl_io_h5col_append(&o->t[c], &sl_io_v_, 1);                     \
        if (st != SL_OK)                                                     \
            return st;                                                       \
    } while (0)

/* Appends N elements to a ragged column and its offsets. */
static sl_status_t sl_io_h5out_ragged(sl_io_h5col_t *data, sl_io_h5col_t *offsets,
                                      const void *v, size_t n)
{
    sl_status_t st = sl_io_h5col_append(data, v, n);
    uint64_t end = data->total;

    if (st != SL_OK)
        return st;
    return sl_io_h5col_append(offsets, &end, 1);
}

sl_status_t sl_io_h5out_result(sl_io_h5out_t *o, const sl_io_result_t *r)
{
    sl_status_t st;

    for (size_t c = 0; c < r->n_choices; c++) {
        const sl_io_choice_t *ch = &r->choices[c];
        SL_IO_PUT(r, SL_IO_R_INPUT_INDEX, (int64_t)r->index);
        SL_IO_PUT(r, SL_IO_R_LINE, (int64_t)r->line);
        SL_IO_PUT(r, SL_IO_R_CHOICE, (int32_t)c);
        st = sl_io_h5out_ragged(&o->r[SL_IO_R_ID], &o->r[SL_IO_R_ID_OFFSETS], r->id,
                                strlen(r->id));
        if (st != SL_OK)
            return st;
        SL_IO_PUT(r, SL_IO_R_ENDPOINT, (int8_t)r->endpoint);
        SL_IO_PUT(r, SL_IO_R_STATUS, (int8_t)r->status);
        SL_IO_PUT(r, SL_IO_R_FINISH_REASON, (int8_t)ch->finish_reason);
        SL_IO_PUT(r, SL_IO_R_PROMPT_TOKENS, (int32_t)r->prompt_tokens);
        SL_IO_PUT(r, SL_IO_R_CACHED_TOKENS, (int32_t)r->cached_tokens);
        SL_IO_PUT(r, SL_IO_R_COMPLETION_TOKENS, (int32_t)ch->completion_tokens);
        st = sl_io_h5out_ragged(&o->r[SL_IO_R_OUTPUT_IDS], &o->r[SL_IO_R_OUTPUT_IDS_OFFSETS],
                                ch->output_ids, ch->n_output_ids);
        if (st != SL_OK)
            return st;
        if (ch->logprobs != NULL) {
            st = sl_io_h5col_append(&o->r[SL_IO_R_OUTPUT_LOGPROBS], ch->logprobs,
                                    ch->n_output_ids);
        } else {
            float nan = NAN;
            for (size_t i = 0; st == SL_OK && i < ch->n_output_ids; i++)
                st = sl_io_h5col_append(&o->r[SL_IO_R_OUTPUT_LOGPROBS], &nan, 1);
        }
        if (st != SL_OK)
            return st;
        st = sl_io_h5out_ragged(&o->r[SL_IO_R_TEXT], &o->r[SL_IO_R_TEXT_OFFSETS], ch->text,
                                ch->text_len);
        if (st != SL_OK)
            return st;
        SL_IO_PUT(r, SL_IO_R_ARRIVAL_TIME, r->arrival_time);
        SL_IO_PUT(r, SL_IO_R_FIRST_SCHEDULED_TIME, r->first_scheduled_time);
        SL_IO_PUT(r, SL_IO_R_FIRST_TOKEN_TIME, ch->first_token_time);
        SL_IO_PUT(r, SL_IO_R_FINISH_TIME, ch->finish_time);
        SL_IO_PUT(r, SL_IO_R_QUEUE_TIME, r->first_scheduled_time - r->arrival_time);
        SL_IO_PUT(r, SL_IO_R_TTFT, ch->first_token_time - r->arrival_time);
        SL_IO_PUT(r, SL_IO_R_ITL_MEAN, ch->itl_mean);
        SL_IO_PUT(r, SL_IO_R_ITL_MAX, ch->itl_max);
        SL_IO_PUT(r, SL_IO_R_E2E, ch->finish_time - r->arrival_time);
        SL_IO_PUT(r, SL_IO_R_NODE, (int32_t)r->node);
        SL_IO_PUT(r, SL_IO_R_RANK, (int32_t)r->rank);
        SL_IO_PUT(r, SL_IO_R_DP_GROUP, (int32_t)r->dp_group);
    }
    return SL_OK;
}

sl_status_t sl_io_h5out_error(sl_io_h5out_t *o, const sl_io_error_t *e)
{
    sl_status_t st;

    SL_IO_PUT(e, SL_IO_E_INPUT_INDEX, (int64_t)e->index);
    SL_IO_PUT(e, SL_IO_E_LINE, (int64_t)e->line);
    SL_IO_PUT(e, SL_IO_E_DP_GROUP, (int32_t)e->dp_group);
    st = sl_io_h5out_ragged(&o->e[SL_IO_E_ID], &o->e[SL_IO_E_ID_OFFSETS], e->id, strlen(e->id));
    if (st != SL_OK)
        return st;
    SL_IO_PUT(e, SL_IO_E_CODE, (int8_t)e->code);
    return sl_io_h5out_ragged(&o->e[SL_IO_E_MESSAGE], &o->e[SL_IO_E_MESSAGE_OFFSETS],
                              e->message, strlen(e->message));
}

sl_status_t sl_io_h5out_step(sl_io_h5out_t *o, const sl_io_step_t *s)
{
    sl_status_t st;

    SL_IO_PUT(s, SL_IO_S_STEP, (int64_t)s->step);
    SL_IO_PUT(s, SL_IO_S_DP_GROUP, (int32_t)s->dp_group);
    SL_IO_PUT(s, SL_IO_S_BATCH_SIZE, (int32_t)s->batch_size);
    SL_IO_PUT(s, SL_IO_S_PREFILL_TOKENS, (int32_t)s->prefill_tokens);
    SL_IO_PUT(s, SL_IO_S_DECODE_TOKENS, (int32_t)s->decode_tokens);
    SL_IO_PUT(s, SL_IO_S_TIME, s->time);
    SL_IO_PUT(s, SL_IO_S_DURATION, s->duration);
    return SL_OK;
}

static double sl_io_epoch(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sl_status_t sl_io_h5out_meta(sl_io_h5out_t *o, const sl_io_h5out_meta_t *m)
{
    const sl_io_run_meta_t *run = m->run;
    double end = run->end_time > 0 ? run->end_time : sl_io_epoch();
    double wall = run->start_time > 0 ? end - run->start_time : NAN;
    hid_t g, root = o->file;
    sl_status_t st;
    const char *p = o->path;

    st = sl_io_h5_attr_str(root, p, "format", SL_IO_H5_FORMAT);
    if (st == SL_OK)
        st = sl_io_h5_attr_i64(root, p, "format_version", SL_IO_H5_FORMAT_VERSION);
    if (st == SL_OK)
        st = sl_io_h5_attr_i64(root, p, "complete", m->complete ? 1 : 0);
    if (st == SL_OK)
        st = sl_io_h5_attr_f64(root, p, "written_time", sl_io_epoch());
    if (st != SL_OK)
        return st;
    g = H5Gcreate2(o->file, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return sl_io_h5_fail(p, "creating group meta");
#define SL_IO_S(name, v) if (st == SL_OK) st = sl_io_h5_attr_str(g, p, name, v)
#define SL_IO_I(name, v) if (st == SL_OK) st = sl_io_h5_attr_i64(g, p, name, (int64_t)(v))
#define SL_IO_F(name, v) if (st == SL_OK) st = sl_io_h5_attr_f64(g, p, name, v)
    SL_IO_S("slinfer_version", sl_version());
    SL_IO_S("git_revision", sl_git_revision());
    SL_IO_S("model_path", run->model_path);
    SL_IO_S("model_hash", run->model_hash);
    SL_IO_S("model_name", run->model_name);
    SL_IO_F("start_time", run->start_time > 0 ? run->start_time : NAN);
    SL_IO_F("end_time", end);
    SL_IO_F("wall_time", wall);
    SL_IO_F("first_start_time", m->first_start_time);
    SL_IO_F("last_finish_time", m->last_finish_time);
    SL_IO_I("tp_size", run->tp_size);
    SL_IO_I("dp_size", run->dp_size);
    SL_IO_I("world_size", run->world_size);
    SL_IO_I("nodes", run->nodes);
    SL_IO_I("num_requests", m->requests);
    SL_IO_I("num_result_rows", m->rows);
    SL_IO_I("num_errors", m->errors);
    SL_IO_I("num_records", m->requests + m->errors);
    SL_IO_I("num_steps", m->steps);
    SL_IO_I("prompt_tokens", m->prompt_tokens);
    SL_IO_I("completion_tokens", m->completion_tokens);
    SL_IO_I("run_requests", m->run_requests);
    SL_IO_I("run_completion_tokens", m->run_completion_tokens);
    /* throughput of this run alone: earlier attempts' time is not known */
    SL_IO_F("output_tokens_per_second", wall > 0 ? (double)m->run_completion_tokens / wall : NAN);
    SL_IO_F("requests_per_second", wall > 0 ? (double)m->run_requests / wall : NAN);
#undef SL_IO_S
#undef SL_IO_I
#undef SL_IO_F
    if (st == SL_OK)
        st = sl_io_h5_scalar_str(g, p, "arguments",
                                 run->arguments_json != NULL ? run->arguments_json : "[]");
    if (st == SL_OK)
        st = sl_io_h5_scalar_str(g, p, "topology_plan",
                                 run->topology_plan_json != NULL ? run->topology_plan_json
                                                                 : "null");
    if (st == SL_OK)
        st = sl_io_h5_scalar_str(g, p, "identity",
                                 m->identity_json != NULL ? m->identity_json : "{}");
    if (st == SL_OK)
        st = sl_io_h5_scalar_str(g, p, "parts", m->parts_json != NULL ? m->parts_json : "[]");
    if (H5Gclose(g) < 0 && st == SL_OK)
        st = sl_io_h5_fail(p, "closing group meta");
    return st;
}

static sl_status_t sl_io_h5out_close(sl_io_h5out_t *o)
{
    sl_status_t st = SL_OK, s2;

    for (int c = 0; c < SL_IO_R_NCOLS; c++) {
        s2 = sl_io_h5col_finish(&o->r[c]);
        st = st != SL_OK ? st : s2;
    }
    for (int c = 0; c < SL_IO_E_NCOLS; c++) {
        s2 = sl_io_h5col_finish(&o->e[c]);
        st = st != SL_OK ? st : s2;
    }
    for (int c = 0; c < SL_IO_S_NCOLS; c++) {
        s2 = sl_io_h5col_finish(&o->s[c]);
        st = st != SL_OK ? st : s2;
    }
    for (int i = 0; i < 4; i++) {
        if (o->enums[i] >= 0)
            H5Tclose(o->enums[i]);
    }
    if (o->file >= 0 && H5Fclose(o->file) < 0 && st == SL_OK)
        st = sl_io_h5_fail(o->path, "closing the result file");
    free(o->path);
    free(o);
    return st;
}

sl_status_t sl_io_h5out_finish(sl_io_h5out_t *o, const sl_io_h5out_meta_t *meta)
{
    sl_status_t st = sl_io_h5out_meta(o, meta), s2;

    s2 = sl_io_h5out_close(o);
    return st != SL_OK ? st : s2;
}

void sl_io_h5out_abort(sl_io_h5out_t *o)
{
    if (o != NULL)
        (void)sl_io_h5out_close(o);
}
