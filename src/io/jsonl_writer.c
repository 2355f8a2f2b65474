/* jsonl_writer.c - OpenAI batch output lines; see jsonl_writer.h. */
#include "config.h"

#include "io/jsonl_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/log.h"
#include "io/output.h"

struct sl_io_jsonl_writer {
    char *model;
    char *path[2];  /* results, errors */
    char *tmp[2];
    FILE *f[2];
};

char *sl_io_jsonl_errors_path(const char *path)
{
    size_t n = strlen(path);
    const char *ext = ".jsonl";
    size_t e = strlen(ext);
    char *out;

    if (n > e && strcmp(path + n - e, ext) == 0) {
        out = malloc(n - e + strlen(".errors.jsonl") + 1);
        if (out != NULL) {
            memcpy(out, path, n - e);
            strcpy(out + n - e, ".errors.jsonl");
        }
        return out;
    }
    return sl_io_path_with(path, ".errors.jsonl");
}

/* A deterministic 16-hex-digit tag of a record (PREFIX + hash). */
static void sl_io_tag(char *buf, size_t size, const char *prefix, int64_t index, const char *id,
                      uint64_t salt)
{
    uint64_t h = XXH3_64bits_withSeed(id, strlen(id), (uint64_t)index * 0x9E3779B97F4A7C15ull +
                                                          salt);
    snprintf(buf, size, "%s%016" PRIx64, prefix, h);
}

json_t *sl_io_jsonl_completion_body(const sl_io_result_t *r, const char *model)
{
    int chat = r->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    json_t *body = NULL, *choices = json_array(), *usage = NULL;
    int64_t completion = 0;
    double created = 0;
    char tag[48];

    if (choices == NULL)
        return NULL;
    for (size_t c = 0; c < r->n_choices; c++) {
        const sl_io_choice_t *ch = &r->choices[c];
        json_t *text = json_stringn(ch->text != NULL ? ch->text : "", ch->text_len), *choice;
        const char *finish = ch->finish_reason == SL_IO_FINISH_NONE
                                 ? NULL
                                 : sl_io_finish_name(ch->finish_reason);
        if (text == NULL) /* not valid UTF-8: keep what decodes, never fail the line */
            text = json_string("");
        if (chat)
            choice = json_pack("{s:I, s:{s:s, s:o}, s:n, s:s?}", "index", (json_int_t)c,
                               "message", "role", "assistant", "content", text, "logprobs",
                               "finish_reason", finish);
        else
            choice = json_pack("{s:I, s:o, s:n, s:s?}", "index", (json_int_t)c, "text", text,
                               "logprobs", "finish_reason", finish);
        if (choice == NULL || json_array_append_new(choices, choice) != 0)
            goto err;
        completion += ch->completion_tokens;
        if (ch->finish_time > created)
            created = ch->finish_time;
    }
    usage = json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)r->prompt_tokens,
                      "completion_tokens", (json_int_t)completion, "total_tokens",
                      (json_int_t)(r->prompt_tokens + completion), "prompt_tokens_details",
                      "cached_tokens", (json_int_t)r->cached_tokens);
    if (usage == NULL)
        goto err;
    sl_io_tag(tag, sizeof(tag), chat ? "chatcmpl-" : "cmpl-", r->index, r->id, 1);
    body = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", tag, "object",
                     chat ? "chat.completion" : "text_completion", "created",
                     (json_int_t)created, "model", model != NULL ? model : "unknown",
                     "choices", choices, "usage", usage);
    return body;
err:
    json_decref(choices);
    json_decref(usage);
    return NULL;
}

json_t *sl_io_jsonl_result_line(const sl_io_result_t *r, const char *model)
{
    json_t *body = sl_io_jsonl_completion_body(r, model);
    char id[48], req[48];

    if (body == NULL)
        return NULL;
    sl_io_tag(id, sizeof(id), "batch_req_", r->index, r->id, 2);
    sl_io_tag(req, sizeof(req), "req_", r->index, r->id, 3);
    return json_pack("{s:s, s:s, s:{s:i, s:s, s:o}, s:n}", "id", id, "custom_id", r->id,
                     "response", "status_code", 200, "request_id", req, "body", body, "error");
}

json_t *sl_io_jsonl_error_line(const sl_io_error_t *e)
{
    int server = e->code == SL_IO_ERR_ENGINE;
    char id[48], req[48];

    sl_io_tag(id, sizeof(id), "batch_req_", e->index, e->id, 2);
    sl_io_tag(req, sizeof(req), "req_", e->index, e->id, 3);
    return json_pack("{s:s, s:s, s:{s:i, s:s, s:{s:{s:s, s:s, s:n, s:s}}}, s:n}", "id", id,
                     "custom_id", e->id, "response", "status_code", server ? 500 : 400,
                     "request_id", req, "body", "error", "message", e->message, "type",
                     server ? "server_error" : "invalid_request_error", "param", "code",
                     sl_io_error_code_name(e->code), "error");
}

sl_status_t sl_io_jsonl_writer_open(const char *path, const char *model,
                                    sl_io_jsonl_writer_t **writer_p)
{
    sl_io_jsonl_writer_t *w = calloc(1, sizeof(*w));

    if (w == NULL)
        goto err_mem;
    w->model = strdup(model != NULL ? model : "unknown");
    w->path[0] = strdup(path);
    w->path[1] = sl_io_jsonl_errors_path(path);
    if (w->model == NULL || w->path[0] == NULL || w->path[1] == NULL)
        goto err_mem_w;
    for (int i = 0; i < 2; i++) {
        w->tmp[i] = sl_io_path_with(w->path[i], ".tmp");
        if (w->tmp[i] == NULL)
            goto err_mem_w;
        w->f[i] = fopen(w->tmp[i], "w");
        if (w->f[i] == NULL) {
            sl_error("%s: cannot create: %s", w->tmp[i], strerror(errno));
            sl_io_jsonl_writer_abort(w);
            return SL_ERR_IO;
        }
    }
    *writer_p = w;
    return SL_OK;
err_mem_w:
    sl_io_jsonl_writer_abort(w);
err_mem:
    sl_error("%s: out of memory opening the JSONL output", path);
    return SL_ERR_NO_MEMORY;
}

static sl_status_t sl_io_jsonl_put(sl_io_jsonl_writer_t *w, int which, json_t *line,
                                   const char *id)
{
    sl_status_t st = SL_OK;

    if (line == NULL) {
        sl_error("%s: out of memory building the line of %s", w->path[which], id);
        return SL_ERR_NO_MEMORY;
    }
    if (json_dumpf(line, w->f[which], JSON_COMPACT) != 0 || fputc('\n', w->f[which]) == EOF) {
        sl_error("%s: write failed: %s", w->tmp[which], strerror(errno));
        st = SL_ERR_IO;
    }
    json_decref(line);
    return st;
}

sl_status_t sl_io_jsonl_write_result(sl_io_jsonl_writer_t *w, const sl_io_result_t *r)
{
    return sl_io_jsonl_put(w, 0, sl_io_jsonl_result_line(r, w->model), r->id);
}

sl_status_t sl_io_jsonl_write_error(sl_io_jsonl_writer_t *w, const sl_io_error_t *e)
{
    return sl_io_jsonl_put(w, 1, sl_io_jsonl_error_line(e), e->id);
}

sl_status_t sl_io_jsonl_writer_close(sl_io_jsonl_writer_t *w)
{
    sl_status_t st = SL_OK;

    for (int i = 0; i < 2 && st == SL_OK; i++) {
        if (fflush(w->f[i]) != 0 || fsync(fileno(w->f[i])) != 0) {
            sl_error("%s: flush failed: %s", w->tmp[i], strerror(errno));
            st = SL_ERR_IO;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fclose(w->f[i]) != 0 && st == SL_OK) {
            sl_error("%s: close failed: %s", w->tmp[i], strerror(errno));
            st = SL_ERR_IO;
        }
        w->f[i] = NULL;
    }
    for (int i = 0; i < 2 && st == SL_OK; i++) {
        if (rename(w->tmp[i], w->path[i]) != 0) {
            sl_error("cannot rename %s to %s: %s", w->tmp[i], w->path[i], strerror(errno));
            st = SL_ERR_IO;
        }
    }
    if (st == SL_OK) {
        char *dir = sl_io_dirname(w->path[0]);
        st = dir != NULL ? sl_io_fsync_dir(dir) : SL_ERR_NO_MEMORY;
        free(dir);
    }
    if (st != SL_OK) {
        sl_io_jsonl_writer_abort(w);
        return st;
    }
    for (int i = 0; i < 2; i++) {
        free(w->path[i]);
        free(w->tmp[i]);
    }
    free(w->model);
    free(w);
    return SL_OK;
}

void sl_io_jsonl_writer_abort(sl_io_jsonl_writer_t *w)
{
    if (w == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        if (w->f[i] != NULL)
            fclose(w->f[i]);
        if (w->tmp[i] != NULL)
            (void)unlink(w->tmp[i]);
        free(w->path[i]);
        free(w->tmp[i]);
    }
    free(w->model);
    free(w);
}
