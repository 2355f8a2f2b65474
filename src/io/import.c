/*
 * import.c - a merged result file back into a part (sl_io_output_import,
 * output.h), so that a resumed run whose parts were removed after its merge
 * still has one source of truth: the parts. Rows of one request (its
 * choices) are adjacent in the file and become one result entry again.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/version.h"
#include "io/journal.h"
#include "io/output.h"
#include "io/results.h"

/* Commit a frame when the payload passes this many bytes. */
#define SL_IO_IMPORT_FRAME (8u << 20)

typedef struct {
    const char *path;
    int fd;
    uint64_t end, seq;
    sl_io_buf_t payload;
    uint32_t entries;
} sl_io_import_t;

static sl_status_t sl_io_import_write(sl_io_import_t *im, const void *p, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t put = pwrite(im->fd, (const char *)p + done, n - done,
                             (off_t)(im->end + done));
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0) {
            sl_error("%s: write failed: %s", im->path, strerror(errno));
            return SL_ERR_IO;
        }
        done += (size_t)put;
    }
    im->end += n;
    return SL_OK;
}

static sl_status_t sl_io_import_frame(sl_io_import_t *im, int force)
{
    unsigned char hdr[SL_IO_J_FRAME_HEADER];
    sl_status_t st;

    if (im->payload.failed) {
        sl_error("%s: out of memory", im->path);
        return SL_ERR_NO_MEMORY;
    }
    if (im->entries == 0 || (!force && im->payload.len < SL_IO_IMPORT_FRAME))
        return SL_OK;
    sl_io_frame_header(hdr, im->entries, ++im->seq, im->payload.data, im->payload.len);
    st = sl_io_import_write(im, hdr, sizeof(hdr));
    if (st == SL_OK)
        st = sl_io_import_write(im, im->payload.data, im->payload.len);
    im->payload.len = 0;
    im->entries = 0;
    return st;
}

/* Owned copies of the choices of one request being gathered. */
typedef struct {
    sl_io_result_t result;
    char *id;
    sl_io_choice_t *choices;
    size_t n, cap;
} sl_io_import_req_t;

static void sl_io_import_req_reset(sl_io_import_req_t *q)
{
    for (size_t c = 0; c < q->n; c++) {
        free((void *)q->choices[c].output_ids);
        free((void *)q->choices[c].logprobs);
        free((void *)q->choices[c].text);
    }
    q->n = 0;
    free(q->id);
    q->id = NULL;
}

static void *sl_io_dup(const void *p, size_t n)
{
    void *q = malloc(n > 0 ? n : 1);
    if (q != NULL && n > 0)
        memcpy(q, p, n);
    return q;
}

static sl_status_t sl_io_import_add_choice(sl_io_import_req_t *q, const sl_io_result_row_t *row)
{
    const sl_io_choice_t *src = &row->choice;
    sl_io_choice_t *ch;

    if (q->n == 0) {
        q->result = row->result;
        q->id = strdup(row->result.id);
        if (q->id == NULL)
            return SL_ERR_NO_MEMORY;
        q->result.id = q->id;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 4;
        sl_io_choice_t *p = realloc(q->choices, cap * sizeof(*p));
        if (p == NULL)
            return SL_ERR_NO_MEMORY;
        q->choices = p;
        q->cap = cap;
    }
    ch = &q->choices[q->n];
    *ch = *src;
    ch->output_ids = sl_io_dup(src->output_ids, src->n_output_ids * sizeof(int32_t));
    ch->logprobs = src->logprobs != NULL
                       ? sl_io_dup(src->logprobs, src->n_output_ids * sizeof(float))
                       : NULL;
    ch->text = sl_io_dup(src->text, src->text_len);
    q->n++;
    if (ch->output_ids == NULL || ch->text == NULL ||
        (src->logprobs != NULL && ch->logprobs == NULL))
        return SL_ERR_NO_MEMORY;
    return SL_OK;
}

static sl_status_t sl_io_import_flush_req(sl_io_import_t *im, sl_io_import_req_t *q)
{
    if (q->n == 0)
        return SL_OK;
    q->result.n_choices = q->n;
    q->result.choices = q->choices;
    sl_io_entry_put_result(&im->payload, &q->result);
    im->entries++;
    sl_io_import_req_reset(q);
    return sl_io_import_frame(im, 0);
}

/* Every row of F into IM's frames. */
static sl_status_t sl_io_import_rows(sl_io_results_t *f, sl_io_import_t *im, size_t *records)
{
    sl_io_result_row_t row = {0};
    sl_io_error_row_t erow = {0};
    sl_io_import_req_t q = {0};
    sl_status_t st = SL_OK;

    for (int64_t i = 0; st == SL_OK && i < sl_io_results_rows(f); i++) {
        st = sl_io_results_get(f, i, &row);
        if (st != SL_OK)
            break;
        if (q.n > 0 && (row.result.index != q.result.index || row.choice_index == 0)) {
            st = sl_io_import_flush_req(im, &q);
            (*records)++;
        }
        if (st == SL_OK && sl_io_import_add_choice(&q, &row) != SL_OK) {
            sl_error("%s: out of memory", im->path);
            st = SL_ERR_NO_MEMORY;
        }
    }
    if (st == SL_OK && q.n > 0) {
        st = sl_io_import_flush_req(im, &q);
        (*records)++;
    }
    for (int64_t i = 0; st == SL_OK && i < sl_io_results_num_errors(f); i++) {
        st = sl_io_results_get_error(f, i, &erow);
        if (st != SL_OK)
            break;
        sl_io_entry_put_error(&im->payload, &erow.error);
        im->entries++;
        (*records)++;
        st = sl_io_import_frame(im, 0);
    }
    for (int64_t i = 0; st == SL_OK && i < sl_io_results_num_steps(f); i++) {
        sl_io_step_t s;
        st = sl_io_results_get_step(f, i, &s);
        if (st != SL_OK)
            break;
        sl_io_entry_put_step(&im->payload, &s);
        im->entries++;
        st = sl_io_import_frame(im, 0);
    }
    if (st == SL_OK)
        st = sl_io_import_frame(im, 1);
    sl_io_import_req_reset(&q);
    free(q.choices);
    sl_io_result_row_clear(&row);
    sl_io_error_row_clear(&erow);
    return st;
}

sl_status_t sl_io_output_import(const char *output_path, const char *dir,
                                const char *identity_json, size_t *records_p)
{
    sl_io_results_t *f;
    json_t *meta = NULL, *hdr = NULL;
    char *path = NULL, *json = NULL;
    sl_io_import_t im;
    size_t records = 0;
    sl_status_t st;

    memset(&im, 0, sizeof(im));
    im.fd = -1;
    st = sl_io_results_open(output_path, &f);
    if (st != SL_OK)
        return st;
    st = sl_io_results_meta(f, &meta);
    if (st == SL_OK)
        st = sl_io_identity_check(output_path, json_object_get(meta, "identity"),
                                  identity_json);
    if (st != SL_OK)
        goto done;
    path = malloc(strlen(dir) + 32);
    hdr = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "format", "slinfer-part", "version",
                    (json_int_t)SL_IO_J_VERSION, "group", (json_int_t)-1, "ngroups",
                    (json_int_t)0, "imported_from", output_path, "slinfer", sl_version());
    json = hdr != NULL ? json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (path == NULL || json == NULL) {
        sl_error("%s: out of memory", output_path);
        st = SL_ERR_NO_MEMORY;
        goto done;
    }
    sprintf(path, "%s/part-import.slj", dir);
    im.path = path;
    im.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (im.fd < 0) {
        sl_error("%s: cannot create: %s", path, strerror(errno));
        st = SL_ERR_IO;
        goto done;
    }
    sl_io_journal_put_header(&im.payload, json);
    st = sl_io_import_write(&im, im.payload.data, im.payload.len);
    im.payload.len = 0;
    if (st == SL_OK)
        st = sl_io_import_rows(f, &im, &records);
    if (st == SL_OK && fsync(im.fd) != 0) {
        sl_error("%s: fsync failed: %s", path, strerror(errno));
        st = SL_ERR_IO;
    }
done:
    if (im.fd >= 0)
        close(im.fd);
    if (st != SL_OK && path != NULL && im.fd >= 0)
        (void)unlink(path);
    sl_io_buf_free(&im.payload);
    sl_io_results_close(f);
    json_decref(meta);
    json_decref(hdr);
    free(json);
    free(path);
    if (st == SL_OK)
        *records_p = records;
    return st;
}
