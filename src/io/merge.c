/* merge.c - parts to the result file (and JSONL); see merge.h. */
#include "config.h"

#include "io/merge.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "io/h5out.h"
#include "io/journal.h"
#include "io/jsonl_writer.h"
#include "io/output.h"
#include "io/resume.h"

typedef struct {
    const char *out;
    const sl_io_merge_opts_t *opts;
    sl_io_h5out_t *h5;
    sl_io_jsonl_writer_t *jsonl;
    sl_io_resume_t *seen;
    sl_io_entry_t entry;
    sl_io_merge_stats_t stats;
    sl_io_h5out_meta_t meta;
    json_t *parts;
    const char *part; /* the part being read */
} sl_io_merge_t;

static sl_status_t sl_io_merge_entry(void *ctx, int type, const unsigned char *p, size_t len)
{
    sl_io_merge_t *m = ctx;
    const char *part = m->part;
    sl_io_entry_t *e = &m->entry;
    sl_status_t st = sl_io_entry_decode(type, p, len, e);
    int added = 1;

    if (st == SL_ERR_NO_MEMORY) {
        sl_error("%s: out of memory decoding an entry", part);
        return st;
    }
    if (st != SL_OK) {
        sl_error("%s: a committed entry (type %d, %zu bytes) does not decode", part, type, len);
        return st;
    }
    if (type == SL_IO_ENTRY_STEP) {
        m->stats.steps++;
        return sl_io_h5out_step(m->h5, &e->step);
    }
    st = sl_io_resume_add(m->seen, type == SL_IO_ENTRY_RESULT ? e->result.index : e->error.index,
                          &added);
    if (st != SL_OK)
        return st;
    if (!added) {
        m->stats.duplicates++;
        sl_warn("%s: record %" PRId64 " is committed twice; keeping the first", part,
                type == SL_IO_ENTRY_RESULT ? e->result.index : e->error.index);
        return SL_OK;
    }
    if (type == SL_IO_ENTRY_ERROR) {
        m->stats.errors++;
        st = sl_io_h5out_error(m->h5, &e->error);
        if (st == SL_OK && m->jsonl != NULL)
            st = sl_io_jsonl_write_error(m->jsonl, &e->error);
        return st;
    }
    m->stats.requests++;
    m->stats.rows += (int64_t)e->result.n_choices;
    m->stats.prompt_tokens += e->result.prompt_tokens;
    for (size_t c = 0; c < e->result.n_choices; c++) {
        const sl_io_choice_t *ch = &e->result.choices[c];
        m->stats.completion_tokens += ch->completion_tokens;
        if (ch->finish_time > m->meta.last_finish_time || isnan(m->meta.last_finish_time))
            m->meta.last_finish_time = ch->finish_time;
        if (m->opts->meta.start_time > 0 && e->result.arrival_time >= m->opts->meta.start_time)
            m->meta.run_completion_tokens += ch->completion_tokens;
    }
    if (m->opts->meta.start_time > 0 && e->result.arrival_time >= m->opts->meta.start_time)
        m->meta.run_requests++;
    st = sl_io_h5out_result(m->h5, &e->result);
    if (st == SL_OK && m->jsonl != NULL)
        st = sl_io_jsonl_write_result(m->jsonl, &e->result);
    return st;
}

/* Every committed entry of one part; its header and counts go to /meta/parts. */
static sl_status_t sl_io_merge_part(sl_io_merge_t *m, const char *part)
{
    sl_io_walk_info_t info;
    json_t *hdr;
    int64_t before = m->stats.requests + m->stats.errors;
    const char *base = strrchr(part, '/');
    sl_status_t st;

    m->part = part;
    st = sl_io_journal_walk(part, -1, sl_io_merge_entry, m, &info);
    if (st != SL_OK)
        return st;
    hdr = json_loads(info.header_json, 0, NULL);
    free(info.header_json);
    if (!json_is_object(hdr)) {
        json_decref(hdr);
        hdr = json_object();
    }
    if (json_is_number(json_object_get(hdr, "created"))) {
        double created = json_number_value(json_object_get(hdr, "created"));
        if (isnan(m->meta.first_start_time) || created < m->meta.first_start_time)
            m->meta.first_start_time = created;
    }
    json_object_set_new(hdr, "file", json_string(base != NULL ? base + 1 : part));
    json_object_set_new(hdr, "commits", json_integer((json_int_t)info.commits));
    json_object_set_new(hdr, "records",
                        json_integer(m->stats.requests + m->stats.errors - before));
    json_object_set_new(hdr, "uncommitted_tail_bytes",
                        json_integer((json_int_t)(info.file_size - info.valid_end)));
    json_array_append_new(m->parts, hdr);
    return SL_OK;
}

static sl_status_t sl_io_merge_finish_file(const char *tmp, const char *out)
{
    char *parent = sl_io_dirname(out);
    FILE *f = fopen(tmp, "r+");
    sl_status_t st = SL_OK;

    if (parent == NULL) {
        if (f != NULL)
            fclose(f);
        return SL_ERR_NO_MEMORY;
    }
    if (f == NULL || fsync(fileno(f)) != 0) {
        sl_error("%s: fsync failed: %s", tmp, strerror(errno));
        st = SL_ERR_IO;
    }
    if (f != NULL)
        fclose(f);
    if (st == SL_OK && rename(tmp, out) != 0) {
        sl_error("cannot rename %s to %s: %s", tmp, out, strerror(errno));
        st = SL_ERR_IO;
    }
    if (st == SL_OK)
        st = sl_io_fsync_dir(parent);
    free(parent);
    return st;
}

sl_status_t sl_io_merge(const char *out, const sl_io_merge_opts_t *opts,
                        sl_io_merge_stats_t *stats_p)
{
    sl_io_merge_t m;
    char **parts = NULL, *tmp = NULL, *identity = NULL, *parts_json = NULL;
    size_t nparts = 0;
    struct stat sb;
    sl_status_t st;

    memset(&m, 0, sizeof(m));
    m.out = out;
    m.opts = opts;
    m.meta.first_start_time = NAN;
    m.meta.last_finish_time = NAN;
    st = sl_io_parts_list(out, &parts, &nparts);
    if (st != SL_OK)
        return st;
    if (nparts == 0 && stat(out, &sb) == 0) {
        sl_info("%s: no parts to merge; keeping the merged file as it is", out);
        if (stats_p != NULL)
            memset(stats_p, 0, sizeof(*stats_p));
        return SL_OK;
    }
    tmp = sl_io_path_with(out, ".merge-tmp");
    m.parts = json_array();
    if (tmp == NULL || m.parts == NULL) {
        sl_error("%s: out of memory", out);
        st = SL_ERR_NO_MEMORY;
        goto done;
    }
    st = sl_io_resume_create(&m.seen);
    if (st == SL_OK)
        st = sl_io_output_identity(out, &identity);
    if (st == SL_OK)
        st = sl_io_h5out_create(tmp, &m.h5);
    if (st == SL_OK && opts->jsonl_path != NULL)
        st = sl_io_jsonl_writer_open(opts->jsonl_path, opts->meta.model_name, &m.jsonl);
    for (size_t i = 0; st == SL_OK && i < nparts; i++)
        st = sl_io_merge_part(&m, parts[i]);
    if (st != SL_OK)
        goto done;
    parts_json = json_dumps(m.parts, JSON_COMPACT);
    m.meta.run = &opts->meta;
    m.meta.complete = opts->complete;
    m.meta.requests = m.stats.requests;
    m.meta.rows = m.stats.rows;
    m.meta.errors = m.stats.errors;
    m.meta.steps = m.stats.steps;
    m.meta.prompt_tokens = m.stats.prompt_tokens;
    m.meta.completion_tokens = m.stats.completion_tokens;
    m.meta.identity_json = identity;
    m.meta.parts_json = parts_json;
    st = sl_io_h5out_finish(m.h5, &m.meta);
    m.h5 = NULL;
    if (st == SL_OK)
        st = sl_io_merge_finish_file(tmp, out);
    if (st == SL_OK && m.jsonl != NULL) {
        st = sl_io_jsonl_writer_close(m.jsonl);
        m.jsonl = NULL;
    }
    if (st == SL_OK && opts->complete && opts->remove_parts)
        st = sl_io_parts_remove(out);
    m.stats.parts = (int)nparts;
    if (st == SL_OK) {
        sl_info("%s: merged %zu parts: %" PRId64 " results, %" PRId64 " errors, %" PRId64
                " steps%s", out, nparts, m.stats.requests, m.stats.errors, m.stats.steps,
                opts->complete ? " (complete)" : "");
        if (stats_p != NULL)
            *stats_p = m.stats;
    }
done:
    if (m.h5 != NULL)
        sl_io_h5out_abort(m.h5);
    sl_io_jsonl_writer_abort(m.jsonl);
    if (st != SL_OK && tmp != NULL)
        (void)unlink(tmp);
    sl_io_entry_clear(&m.entry);
    sl_io_resume_destroy(m.seen);
    json_decref(m.parts);
    sl_io_parts_free(parts, nparts);
    free(parts_json);
    free(identity);
    free(tmp);
    return st;
}
