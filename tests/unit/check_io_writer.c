/* check_io_writer.c - part writers, the resume index, the merge into the
 * HDF5 result file read back field by field, the JSONL output parsed back,
 * torn tails, corruption, output preparation rules, a changed DP size and
 * the import of a merged file on resume. */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../io/io_check.h"
#include "core/log.h"
#include "io/jsonl_writer.h"
#include "io/merge.h"
#include "io/output.h"
#include "io/results.h"
#include "io/resume.h"
#include "io/writer.h"

/* A result whose every field is a function of its index K. */
typedef struct {
    sl_io_result_t r;
    sl_io_choice_t ch[3];
    int32_t ids[3][8];
    float lps[8];
    char text[3][64];
    char id[32];
} fake_t;

#define T0 1.7e9

static void fake_result(fake_t *f, int64_t k)
{
    int n = k % 5 == 4 ? 3 : 1; /* some requests have n = 3 */
    memset(f, 0, sizeof(*f));
    snprintf(f->id, sizeof(f->id), "req-%" PRId64, k);
    f->r.index = k;
    f->r.line = k + 1;
    f->r.id = f->id;
    f->r.endpoint = k % 2 ? SL_IO_ENDPOINT_CHAT_COMPLETIONS : SL_IO_ENDPOINT_COMPLETIONS;
    f->r.status = k % 7 == 6 ? SL_IO_STATUS_CANCELLED : SL_IO_STATUS_OK;
    f->r.prompt_tokens = (int32_t)(10 + k);
    f->r.cached_tokens = (int32_t)(k % 4);
    f->r.arrival_time = T0 + (double)k;
    f->r.first_scheduled_time = T0 + (double)k + 0.25;
    f->r.node = (int32_t)(k % 2);
    f->r.rank = (int32_t)(k % 4);
    f->r.dp_group = (int32_t)(k % 3);
    f->r.n_choices = (size_t)n;
    f->r.choices = f->ch;
    for (int c = 0; c < n; c++) {
        sl_io_choice_t *ch = &f->ch[c];
        int nids = (int)((k + c) % 6); /* 0..5 tokens; 0 gives empty text */
        for (int i = 0; i < nids; i++)
            f->ids[c][i] = (int32_t)(1000 * k + 10 * c + i);
        snprintf(f->text[c], sizeof(f->text[c]), nids ? "answer %" PRId64 "/%d \xC3\xA9" : "",
                 k, c);
        ch->finish_reason = f->r.status == SL_IO_STATUS_OK ? (nids % 2 ? SL_IO_FINISH_STOP
                                                                       : SL_IO_FINISH_LENGTH)
                                                           : SL_IO_FINISH_ABORT;
        ch->completion_tokens = nids;
        ch->output_ids = f->ids[c];
        ch->n_output_ids = (size_t)nids;
        if (k % 3 == 0 && c == 0) {
            for (int i = 0; i < nids; i++)
                f->lps[i] = -0.5f * (float)(i + 1);
            ch->logprobs = f->lps;
        }
        ch->text = f->text[c];
        ch->text_len = strlen(f->text[c]);
        ch->first_token_time = T0 + (double)k + 0.5 + 0.01 * c;
        ch->finish_time = T0 + (double)k + 2.0 + 0.01 * c;
        ch->itl_mean = nids >= 2 ? 0.02 : NAN;
        ch->itl_max = nids >= 2 ? 0.05 : NAN;
    }
}

static void fake_error(sl_io_error_t *e, char *id, char *msg, int64_t k)
{
    sprintf(id, "bad-%" PRId64, k);
    sprintf(msg, "line %" PRId64 ": prompt: expected a string, got integer", k + 1);
    e->index = k;
    e->line = k + 1;
    e->dp_group = (int32_t)(k % 3);
    e->id = id;
    e->code = k % 2 ? SL_IO_ERR_INVALID_REQUEST : SL_IO_ERR_PROMPT_TOO_LONG;
    e->message = msg;
}

/* Writes records [FIRST, LAST) of GROUP of NGROUPS: indices with k % 10 == 9
 * are error records, the others results; one commit per COMMIT records. */
static void write_records(const char *out, int group, int ngroups, int64_t first, int64_t last,
                          int commit, const sl_io_resume_t *skip)
{
    sl_io_writer_opts_t wo = {group, ngroups, "testhost"};
    sl_io_writer_t *w;
    int pending = 0;

    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w), SL_OK);
    for (int64_t k = first; k < last; k++) {
        if (k % ngroups != group || sl_io_resume_contains(skip, k))
            continue;
        if (k % 10 == 9) {
            sl_io_error_t e;
            char id[32], msg[128];
            fake_error(&e, id, msg, k);
            ck_assert_int_eq(sl_io_writer_add_error(w, &e), SL_OK);
        } else {
            fake_t f;
            sl_io_step_t s = {k, group, 4, 100, 3, T0 + (double)k, 0.01};
            fake_result(&f, k);
            ck_assert_int_eq(sl_io_writer_add_result(w, &f.r), SL_OK);
            ck_assert_int_eq(sl_io_writer_add_step(w, &s), SL_OK);
        }
        if (++pending == commit) {
            ck_assert_int_eq(sl_io_writer_commit(w), SL_OK);
            ck_assert_uint_eq(sl_io_writer_pending(w), 0);
            pending = 0;
        }
    }
    ck_assert_int_eq(sl_io_writer_close(w), SL_OK);
}

static void prepare(const char *out, int resume)
{
    sl_io_output_opts_t o = {resume, 0, "{\"input\": \"prompts.jsonl\", \"model\": \"tiny\"}"};
    ck_assert_int_eq(sl_io_output_prepare(out, &o), SL_OK);
}

static sl_io_merge_opts_t merge_opts(int complete, const char *jsonl)
{
    sl_io_merge_opts_t m;
    memset(&m, 0, sizeof(m));
    m.meta.arguments_json = "[\"slinfer\", \"run\", \"--tp\", \"2\"]";
    m.meta.model_path = "/models/tiny";
    m.meta.model_hash = "xxh3:0123456789abcdef";
    m.meta.model_name = "tiny";
    m.meta.topology_plan_json = "{\"nodes\": [{\"host\": \"n1\", \"gpus\": 2}]}";
    m.meta.start_time = T0 - 10;
    m.meta.end_time = T0 + 1000;
    m.meta.tp_size = 2;
    m.meta.dp_size = 3;
    m.meta.world_size = 6;
    m.meta.nodes = 2;
    m.complete = complete;
    m.remove_parts = complete;
    m.jsonl_path = jsonl;
    return m;
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Every row of OUT must equal fake_result/fake_error of its index; each of
 * [0, N) appears exactly once across results and errors. */
static void verify_file(const char *out, int64_t n, int complete)
{
    sl_io_results_t *f;
    sl_io_result_row_t row = {0};
    sl_io_error_row_t er = {0};
    int *seen = calloc((size_t)n, sizeof(int));
    int64_t rows;

    ck_assert_int_eq(sl_io_results_open(out, &f), SL_OK);
    ck_assert_int_eq(sl_io_results_complete(f), complete);
    rows = sl_io_results_rows(f);
    for (int64_t i = 0; i < rows; i++) {
        fake_t want;
        const sl_io_choice_t *w, *g = &row.choice;
        ck_assert_int_eq(sl_io_results_get(f, i, &row), SL_OK);
        fake_result(&want, row.result.index);
        ck_assert_int_lt(row.choice_index, (int)want.r.n_choices);
        w = &want.ch[row.choice_index];
        if (row.choice_index == 0) {
            ck_assert_int_eq(seen[row.result.index], 0);
            seen[row.result.index] = 1;
        }
        ck_assert_str_eq(row.result.id, want.r.id);
        ck_assert_int_eq(row.result.line, want.r.line);
        ck_assert_int_eq(row.result.endpoint, want.r.endpoint);
        ck_assert_int_eq(row.result.status, want.r.status);
        ck_assert_int_eq(row.result.prompt_tokens, want.r.prompt_tokens);
        ck_assert_int_eq(row.result.cached_tokens, want.r.cached_tokens);
        ck_assert(row.result.arrival_time == want.r.arrival_time);
        ck_assert(row.result.first_scheduled_time == want.r.first_scheduled_time);
        ck_assert_int_eq(row.result.node, want.r.node);
        ck_assert_int_eq(row.result.rank, want.r.rank);
        ck_assert_int_eq(row.result.dp_group, want.r.dp_group);
        ck_assert_int_eq(g->finish_reason, w->finish_reason);
        ck_assert_int_eq(g->completion_tokens, w->completion_tokens);
        ck_assert_uint_eq(g->n_output_ids, w->n_output_ids);
        ck_assert(g->n_output_ids == 0 ||
                  memcmp(g->output_ids, w->output_ids, g->n_output_ids * 4) == 0);
        ck_assert_int_eq(g->logprobs != NULL, w->logprobs != NULL && w->n_output_ids > 0);
        if (g->logprobs != NULL)
            ck_assert(memcmp(g->logprobs, w->logprobs, g->n_output_ids * 4) == 0);
        ck_assert_uint_eq(g->text_len, w->text_len);
        ck_assert(memcmp(g->text, w->text, g->text_len) == 0);
        ck_assert(g->first_token_time == w->first_token_time);
        ck_assert(g->finish_time == w->finish_time);
        ck_assert(same_double(g->itl_mean, w->itl_mean));
        ck_assert(same_double(g->itl_max, w->itl_max));
        ck_assert(row.queue_time == want.r.first_scheduled_time - want.r.arrival_time);
        ck_assert(row.ttft == w->first_token_time - want.r.arrival_time);
        ck_assert(row.e2e == w->finish_time - want.r.arrival_time);
    }
    for (int64_t i = 0; i < sl_io_results_num_errors(f); i++) {
        sl_io_error_t want;
        char id[32], msg[128];
        ck_assert_int_eq(sl_io_results_get_error(f, i, &er), SL_OK);
        fake_error(&want, id, msg, er.error.index);
        ck_assert_int_eq(seen[er.error.index], 0);
        seen[er.error.index] = 1;
        ck_assert_str_eq(er.error.id, want.id);
        ck_assert_str_eq(er.error.message, want.message);
        ck_assert_int_eq(er.error.line, want.line);
        ck_assert_int_eq(er.error.code, want.code);
        ck_assert_int_eq(er.error.dp_group, want.dp_group);
    }
    for (int64_t k = 0; k < n; k++)
        ck_assert_msg(seen[k] == 1, "record %" PRId64 " is missing", k);
    sl_io_result_row_clear(&row);
    sl_io_error_row_clear(&er);
    sl_io_results_close(f);
    free(seen);
}

START_TEST(round_trip_every_field)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5"), *jl = io_path(dir, "out.jsonl");
    sl_io_merge_opts_t mo = merge_opts(1, jl);
    sl_io_merge_stats_t ms;
    sl_io_results_t *f;
    json_t *meta;
    struct stat sb;

    prepare(out, 0);
    write_records(out, 0, 1, 0, 40, 7, NULL);
    ck_assert_int_eq(sl_io_merge(out, &mo, &ms), SL_OK);
    ck_assert_int_eq(ms.requests, 36);
    ck_assert_int_eq(ms.errors, 4);
    ck_assert_int_eq(ms.steps, 36);
    ck_assert_int_eq(ms.duplicates, 0);
    /* requests 4, 14, 24, 34 (k % 5 == 4 but not an error) have n = 3 */
    ck_assert_int_eq(ms.rows, 36 + 2 * 4);
    verify_file(out, 40, 1);
    /* a complete merge removed the parts */
    char *parts = io_path(dir, "out.h5.parts");
    ck_assert_int_ne(stat(parts, &sb), 0);
    free(parts);

    ck_assert_int_eq(sl_io_results_open(out, &f), SL_OK);
    ck_assert_int_eq(sl_io_results_num_steps(f), 36);
    {
        sl_io_step_t s;
        ck_assert_int_eq(sl_io_results_get_step(f, 1, &s), SL_OK);
        ck_assert_int_eq(s.step, 1);
        ck_assert_int_eq(s.batch_size, 4);
        ck_assert_int_eq(s.prefill_tokens, 100);
        ck_assert(s.duration == 0.01);
    }
    ck_assert_int_eq(sl_io_results_meta(f, &meta), SL_OK);
    ck_assert_str_eq(json_string_value(json_object_get(meta, "format")), "slinfer-results");
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "complete")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(meta, "model_path")), "/models/tiny");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "model_hash")),
                     "xxh3:0123456789abcdef");
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "num_requests")), 36);
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "num_errors")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "dp_size")), 3);
    ck_assert(json_real_value(json_object_get(meta, "wall_time")) == 1010.0);
    ck_assert_ptr_nonnull(json_object_get(meta, "slinfer_version"));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(meta, "arguments"), 3)),
                     "2");
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(json_object_get(meta, "topology_plan"),
                                                        "nodes"), 0), "gpus")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(meta, "identity"),
                                                       "input")), "prompts.jsonl");
    ck_assert_uint_eq(json_array_size(json_object_get(meta, "parts")), 1);
    {
        /* every completion token of every choice, all arrivals after start */
        int64_t tokens = 0;
        for (int64_t k = 0; k < 40; k++) {
            fake_t fr;
            if (k % 10 == 9)
                continue;
            fake_result(&fr, k);
            for (size_t c = 0; c < fr.r.n_choices; c++)
                tokens += fr.ch[c].completion_tokens;
        }
        ck_assert_int_eq(json_integer_value(json_object_get(meta, "completion_tokens")), tokens);
        sl_ck_assert_close(json_real_value(json_object_get(meta, "output_tokens_per_second")),
                           (double)tokens / 1010.0, 1e-9);
    }
    json_decref(meta);
    sl_io_results_close(f);
    io_rmrf(dir);
    free(out);
    free(jl);
    free(dir);
}
END_TEST

START_TEST(jsonl_output_parses_back)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5"), *jl = io_path(dir, "res.jsonl");
    char *errs = io_path(dir, "res.errors.jsonl");
    sl_io_merge_opts_t mo = merge_opts(0, jl);
    FILE *fp;
    char line[8192];
    int n = 0;

    prepare(out, 0);
    write_records(out, 0, 1, 0, 20, 5, NULL);
    ck_assert_int_eq(sl_io_merge(out, &mo, NULL), SL_OK);
    fp = fopen(jl, "r");
    ck_assert_ptr_nonnull(fp);
    while (fgets(line, sizeof(line), fp) != NULL) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr), *resp, *body, *choices, *usage;
        const char *cid;
        int64_t k;
        fake_t want;
        ck_assert_msg(o != NULL, "%s: %s", jerr.text, line);
        cid = json_string_value(json_object_get(o, "custom_id"));
        ck_assert_ptr_nonnull(cid);
        ck_assert_int_eq(sscanf(cid, "req-%" SCNd64, &k), 1);
        fake_result(&want, k);
        ck_assert(strncmp(json_string_value(json_object_get(o, "id")), "batch_req_", 10) == 0);
        ck_assert(json_is_null(json_object_get(o, "error")));
        resp = json_object_get(o, "response");
        ck_assert_int_eq(json_integer_value(json_object_get(resp, "status_code")), 200);
        ck_assert(strncmp(json_string_value(json_object_get(resp, "request_id")), "req_", 4) ==
                  0);
        body = json_object_get(resp, "body");
        ck_assert_str_eq(json_string_value(json_object_get(body, "object")),
                         k % 2 ? "chat.completion" : "text_completion");
        ck_assert_str_eq(json_string_value(json_object_get(body, "model")), "tiny");
        ck_assert_int_eq(json_integer_value(json_object_get(body, "created")),
                         (json_int_t)want.ch[want.r.n_choices - 1].finish_time);
        choices = json_object_get(body, "choices");
        ck_assert_uint_eq(json_array_size(choices), want.r.n_choices);
        for (size_t c = 0; c < want.r.n_choices; c++) {
            json_t *ch = json_array_get(choices, c);
            const char *text = k % 2 ? json_string_value(json_object_get(
                                           json_object_get(ch, "message"), "content"))
                                     : json_string_value(json_object_get(ch, "text"));
            ck_assert_int_eq(json_integer_value(json_object_get(ch, "index")), (json_int_t)c);
            ck_assert_str_eq(text, want.text[c]);
            if (want.ch[c].finish_reason == SL_IO_FINISH_NONE)
                ck_assert(json_is_null(json_object_get(ch, "finish_reason")));
            else
                ck_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")),
                                 sl_io_finish_name(want.ch[c].finish_reason));
        }
        usage = json_object_get(body, "usage");
        ck_assert_int_eq(json_integer_value(json_object_get(usage, "prompt_tokens")),
                         want.r.prompt_tokens);
        ck_assert_int_eq(json_integer_value(json_object_get(
                             json_object_get(usage, "prompt_tokens_details"), "cached_tokens")),
                         want.r.cached_tokens);
        ck_assert_int_eq(json_integer_value(json_object_get(usage, "total_tokens")),
                         json_integer_value(json_object_get(usage, "prompt_tokens")) +
                             json_integer_value(json_object_get(usage, "completion_tokens")));
        json_decref(o);
        n++;
    }
    fclose(fp);
    ck_assert_int_eq(n, 18);
    fp = fopen(errs, "r");
    ck_assert_ptr_nonnull(fp);
    n = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        json_t *o = json_loads(line, 0, NULL), *resp, *err;
        ck_assert_ptr_nonnull(o);
        resp = json_object_get(o, "response");
        err = json_object_get(json_object_get(resp, "body"), "error");
        ck_assert_int_eq(json_integer_value(json_object_get(resp, "status_code")), 400);
        ck_assert_str_eq(json_string_value(json_object_get(err, "type")),
                         "invalid_request_error");
        ck_assert_str_eq(json_string_value(json_object_get(err, "code")),
                         "invalid_request"); /* k = 9, 19: odd */
        ck_assert(strstr(json_string_value(json_object_get(err, "message")), "prompt:") != NULL);
        ck_assert(json_is_null(json_object_get(o, "error")));
        json_decref(o);
        n++;
    }
    fclose(fp);
    ck_assert_int_eq(n, 2);
    {
        sl_io_error_t e = {0, 1, 0, "x", SL_IO_ERR_ENGINE, "line 1: boom"};
        json_t *o = sl_io_jsonl_error_line(&e);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "response"),
                                                            "status_code")), 500);
        json_decref(o);
        char *p = sl_io_jsonl_errors_path("results");
        ck_assert_str_eq(p, "results.errors.jsonl");
        free(p);
    }
    io_rmrf(dir);
    free(out);
    free(jl);
    free(errs);
    free(dir);
}
END_TEST

static char *part_path(const char *dir, const char *out_name, int g, int n)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.parts/part-g%04d-of-%04d.slj", out_name, g, n);
    return io_path(dir, name);
}

START_TEST(torn_tail_is_cut_and_resume_skips)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5"), *part = part_path(dir, "out.h5", 0, 1);
    sl_io_resume_t *idx;
    sl_io_writer_t *w;
    sl_io_writer_opts_t wo = {0, 1, NULL};
    sl_io_writer_stats_t ws;
    int64_t dups;
    int fd;
    const char junk[] = "SLFR\x05\0\0\0half a commit that never finished";

    prepare(out, 0);
    write_records(out, 0, 1, 0, 30, 10, NULL);
    /* what a SIGKILL in the middle of a commit leaves */
    fd = open(part, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    ck_assert_int_eq(sl_io_resume_load(out, &idx, &dups), SL_OK);
    ck_assert_int_eq(sl_io_resume_count(idx), 30);
    ck_assert_int_eq(dups, 0);
    sl_io_resume_destroy(idx);
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w), SL_OK);
    sl_io_writer_stats(w, &ws);
    ck_assert_uint_eq(ws.torn_bytes_cut, sizeof(junk));
    ck_assert_uint_eq(ws.commits, 3);
    ck_assert_uint_eq(ws.results, 27);
    ck_assert_uint_eq(ws.errors, 3);
    sl_io_writer_discard(w);
    /* resume: records 30..49 */
    prepare(out, 1);
    ck_assert_int_eq(sl_io_resume_load(out, &idx, NULL), SL_OK);
    write_records(out, 0, 1, 0, 50, 4, idx);
    sl_io_resume_destroy(idx);
    {
        sl_io_merge_opts_t mo = merge_opts(1, NULL);
        sl_io_merge_stats_t ms;
        ck_assert_int_eq(sl_io_merge(out, &mo, &ms), SL_OK);
        ck_assert_int_eq(ms.duplicates, 0);
        ck_assert_int_eq(ms.requests + ms.errors, 50);
    }
    verify_file(out, 50, 1);
    io_rmrf(dir);
    free(part);
    free(out);
    free(dir);
}
END_TEST

START_TEST(damaged_commit_is_refused)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5"), *part = part_path(dir, "out.h5", 0, 1);
    sl_io_resume_t *idx;
    sl_io_writer_t *w;
    sl_io_writer_opts_t wo = {0, 1, NULL};
    struct stat sb;
    int fd;
    char c;

    prepare(out, 0);
    write_records(out, 0, 1, 0, 30, 10, NULL);
    ck_assert_int_eq(stat(part, &sb), 0);
    /* flip a byte in the first of three commits: not a torn tail */
    fd = open(part, O_RDWR);
    ck_assert_int_eq(pread(fd, &c, 1, sb.st_size / 5), 1);
    c ^= 0x20;
    ck_assert_int_eq(pwrite(fd, &c, 1, sb.st_size / 5), 1);
    close(fd);
    sl_log_set_level(SL_LOG_ERROR + 0);
    {
        int pipefd[2];
        ck_assert_int_eq(pipe(pipefd), 0);
        sl_log_set_fd(pipefd[1]);
        ck_assert_int_eq(sl_io_resume_load(out, &idx, NULL), SL_ERR_FORMAT);
        ck_assert_int_eq(sl_io_writer_open(out, &wo, &w), SL_ERR_FORMAT);
        sl_log_set_fd(-1);
        close(pipefd[1]);
        char log[4096] = "";
        ssize_t got = read(pipefd[0], log, sizeof(log) - 1);
        close(pipefd[0]);
        log[got > 0 ? got : 0] = '\0';
        ck_assert_msg(strstr(log, "corruption, not an interrupted write") != NULL, "log: %s",
                      log);
    }
    /* the part was not cut */
    {
        struct stat after;
        ck_assert_int_eq(stat(part, &after), 0);
        ck_assert_int_eq(after.st_size, sb.st_size);
    }
    io_rmrf(dir);
    free(part);
    free(out);
    free(dir);
}
END_TEST

START_TEST(prepare_rules)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5"), *p;
    sl_io_output_opts_t fresh = {0, 0, NULL}, over = {0, 1, NULL};
    sl_io_output_opts_t other = {1, 0, "{\"input\": \"other.jsonl\", \"model\": \"tiny\"}"};
    sl_io_writer_t *w1, *w2;
    sl_io_writer_opts_t wo = {0, 2, NULL};
    struct stat sb;

    sl_log_set_level(SL_LOG_ERROR);
    /* writers need a prepared output */
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w1), SL_ERR_NOT_FOUND);
    prepare(out, 0);
    ck_assert_int_eq(sl_io_output_prepare(out, &fresh), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_io_output_prepare(out, &other), SL_ERR_MISMATCH);
    prepare(out, 1); /* same identity: fine */
    /* one writer per part: a second one (another job) is refused */
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w1), SL_OK);
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w2), SL_ERR_MISMATCH);
    sl_io_writer_discard(w1);
    /* leftovers of interrupted runs are cleaned */
    p = io_path(dir, "out.h5.parts.new");
    ck_assert_int_eq(mkdir(p, 0755), 0);
    free(p);
    p = io_path(dir, "out.h5.merge-tmp");
    io_write_file(p, "junk", 4);
    prepare(out, 1);
    ck_assert_int_ne(stat(p, &sb), 0);
    free(p);
    p = io_path(dir, "out.h5.parts.new");
    ck_assert_int_ne(stat(p, &sb), 0);
    free(p);
    ck_assert_int_eq(sl_io_output_prepare(out, &over), SL_OK);
    io_rmrf(dir);
    free(out);
    free(dir);
}
END_TEST

START_TEST(dp_size_change_on_resume)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5");
    sl_io_resume_t *idx;
    sl_io_merge_opts_t mo = merge_opts(0, NULL);
    sl_io_merge_stats_t ms;

    prepare(out, 0);
    /* a first run with 2 groups gets part of the way */
    write_records(out, 0, 2, 0, 37, 3, NULL);
    write_records(out, 1, 2, 0, 23, 3, NULL);
    /* resumed with 3 groups: each skips what any part holds */
    prepare(out, 1);
    ck_assert_int_eq(sl_io_resume_load(out, &idx, NULL), SL_OK);
    ck_assert_int_eq(sl_io_resume_count(idx), 19 + 11);
    for (int g = 0; g < 3; g++)
        write_records(out, g, 3, 0, 60, 5, idx);
    sl_io_resume_destroy(idx);
    ck_assert_int_eq(sl_io_merge(out, &mo, &ms), SL_OK);
    ck_assert_int_eq(ms.parts, 5);
    ck_assert_int_eq(ms.duplicates, 0);
    ck_assert_int_eq(ms.requests + ms.errors, 60);
    verify_file(out, 60, 0);
    io_rmrf(dir);
    free(out);
    free(dir);
}
END_TEST

START_TEST(merged_file_is_imported_on_resume)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5");
    sl_io_merge_opts_t done = merge_opts(1, NULL), again = merge_opts(0, NULL);
    sl_io_resume_t *idx;
    sl_io_merge_stats_t ms;
    sl_io_output_opts_t other = {1, 0, "{\"input\": \"other.jsonl\"}"};

    prepare(out, 0);
    write_records(out, 0, 1, 0, 25, 6, NULL);
    ck_assert_int_eq(sl_io_merge(out, &done, NULL), SL_OK); /* parts removed */
    /* merging again without parts keeps the file */
    ck_assert_int_eq(sl_io_merge(out, &again, &ms), SL_OK);
    ck_assert_int_eq(ms.requests, 0);
    verify_file(out, 25, 1);
    /* a resume with another input is refused; with the same, it imports */
    sl_log_set_level(SL_LOG_ERROR);
    ck_assert_int_eq(sl_io_output_prepare(out, &other), SL_ERR_MISMATCH);
    prepare(out, 1);
    ck_assert_int_eq(sl_io_resume_load(out, &idx, NULL), SL_OK);
    ck_assert_int_eq(sl_io_resume_count(idx), 25);
    /* the input grew: 10 more records */
    write_records(out, 0, 1, 0, 35, 4, idx);
    sl_io_resume_destroy(idx);
    ck_assert_int_eq(sl_io_merge(out, &done, &ms), SL_OK);
    ck_assert_int_eq(ms.requests + ms.errors, 35);
    ck_assert_int_eq(ms.steps, 23 + 9); /* steps survive the import */
    verify_file(out, 35, 1);
    io_rmrf(dir);
    free(out);
    free(dir);
}
END_TEST

START_TEST(kill_in_the_middle_of_a_commit)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5");
    sl_io_resume_t *idx;
    sl_io_writer_t *w;
    sl_io_writer_opts_t wo = {0, 1, NULL};
    sl_io_writer_stats_t ws;
    pid_t pid;
    int status;

    prepare(out, 0);
    write_records(out, 0, 1, 0, 10, 5, NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* the fault point between the two halves of a frame kills us */
        setenv("SLINFER_FAULT", "kill@commit:0", 1);
        sl_log_set_level(SL_LOG_ERROR);
        write_records(out, 0, 1, 10, 20, 5, NULL);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(sl_io_resume_load(out, &idx, NULL), SL_OK);
    ck_assert_int_eq(sl_io_resume_count(idx), 10);
    sl_io_resume_destroy(idx);
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w), SL_OK);
    sl_io_writer_stats(w, &ws);
    ck_assert_uint_gt(ws.torn_bytes_cut, 0);
    ck_assert_uint_eq(ws.commits, 2);
    sl_io_writer_discard(w);
    io_rmrf(dir);
    free(out);
    free(dir);
}
END_TEST

START_TEST(bad_entries_are_refused)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5");
    sl_io_writer_t *w;
    sl_io_writer_opts_t wo = {0, 1, NULL};
    sl_io_result_t r;
    sl_io_error_t e = {1, 2, 0, NULL, SL_IO_ERR_ENGINE, "m"};

    sl_log_set_level(SL_LOG_ERROR);
    prepare(out, 0);
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w), SL_OK);
    memset(&r, 0, sizeof(r));
    r.id = "x";
    ck_assert_int_eq(sl_io_writer_add_result(w, &r), SL_ERR_INVALID_ARG); /* no choices */
    ck_assert_int_eq(sl_io_writer_add_error(w, &e), SL_ERR_INVALID_ARG);  /* no id */
    ck_assert_uint_eq(sl_io_writer_pending(w), 0);
    ck_assert_int_eq(sl_io_writer_commit(w), SL_OK); /* nothing: no frame */
    ck_assert_int_eq(sl_io_writer_close(w), SL_OK);
    io_rmrf(dir);
    free(out);
    free(dir);
}
END_TEST

/* Merges log their totals at info: keep the test output to warnings. */
static void quiet(void)
{
    sl_log_set_level(SL_LOG_WARN);
}

START_TEST(a_failed_commit_leaves_nothing_and_can_be_retried)
{
    char *dir = io_tmpdir(), *out = io_path(dir, "out.h5"), *part = part_path(dir, "out.h5", 0, 1);
    sl_io_writer_opts_t wo = {0, 1, NULL};
    sl_io_writer_t *w;
    struct rlimit lim;
    struct stat before, after;
    fake_t f;
    sl_io_resume_t *idx;

    sl_log_set_level(SL_LOG_ERROR + 0);
    prepare(out, 0);
    ck_assert_int_eq(sl_io_writer_open(out, &wo, &w), SL_OK);
    fake_result(&f, 0);
    ck_assert_int_eq(sl_io_writer_add_result(w, &f.r), SL_OK);
    ck_assert_int_eq(sl_io_writer_commit(w), SL_OK);
    ck_assert_int_eq(stat(part, &before), 0);
    /* a full disk, as a file size limit: the write of the next commit fails
     * half way (EFBIG instead of ENOSPC) */
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
    {
        struct rlimit small = lim;
        small.rlim_cur = (rlim_t)before.st_size + 60;
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    }
    for (int64_t k = 1; k < 4; k++) {
        fake_result(&f, k);
        ck_assert_int_eq(sl_io_writer_add_result(w, &f.r), SL_OK);
    }
    ck_assert_int_eq(sl_io_writer_commit(w), SL_ERR_IO);
    ck_assert_int_eq(stat(part, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size); /* no half frame left */
    ck_assert_uint_eq(sl_io_writer_pending(w), 3);    /* still queued */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ck_assert_int_eq(sl_io_writer_commit(w), SL_OK); /* the retry */
    ck_assert_int_eq(sl_io_writer_close(w), SL_OK);
    ck_assert_int_eq(sl_io_resume_load(out, &idx, NULL), SL_OK);
    ck_assert_int_eq(sl_io_resume_count(idx), 4);
    sl_io_resume_destroy(idx);
    io_rmrf(dir);
    free(part);
    free(out);
    free(dir);
}
END_TEST

static Suite *io_writer_suite(void)
{
    Suite *s = suite_create("io_writer");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, quiet, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip_every_field);
    tcase_add_test(tc, jsonl_output_parses_back);
    tcase_add_test(tc, torn_tail_is_cut_and_resume_skips);
    tcase_add_test(tc, damaged_commit_is_refused);
    tcase_add_test(tc, prepare_rules);
    tcase_add_test(tc, dp_size_change_on_resume);
    tcase_add_test(tc, merged_file_is_imported_on_resume);
    tcase_add_test(tc, kill_in_the_middle_of_a_commit);
    tcase_add_test(tc, bad_entries_are_refused);
    tcase_add_test(tc, a_failed_commit_leaves_nothing_and_can_be_retried);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(io_writer_suite)
