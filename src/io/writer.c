/* writer.c - a DP group's part writer; see writer.h and journal.h. */
#include "config.h"

#include "io/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/version.h"
#include "io/journal.h"
#include "io/output.h"

struct sl_io_writer {
    char *path;
    char *dir;
    int fd;
    int32_t group, ngroups;
    uint64_t end;        /* where the next frame goes */
    uint64_t seq;        /* of the last committed frame */
    int broken;          /* a failed commit could not be undone */
    sl_io_buf_t payload; /* queued entries */
    uint32_t entries;
    uint64_t q_results, q_errors, q_steps; /* queued, by type */
    sl_io_writer_stats_t stats;
};

static double sl_io_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sl_status_t sl_io_write_all(int fd, const char *path, const void *buf, size_t n,
                                   uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t put = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0) {
            sl_error("%s: write of %zu bytes at offset %" PRIu64 " failed: %s", path, n - done,
                     off + done, strerror(errno));
            return SL_ERR_IO;
        }
        done += (size_t)put;
    }
    return SL_OK;
}

/* A new part: its header goes in through a temporary file and a rename, so
 * a part file never exists without its whole header. */
static sl_status_t sl_io_writer_create(sl_io_writer_t *w, const char *host)
{
    char hostbuf[256];
    json_t *hdr;
    char *json = NULL;
    sl_io_buf_t buf = {0};
    sl_status_t st;

    if (host == NULL) {
        if (gethostname(hostbuf, sizeof(hostbuf)) != 0)
            snprintf(hostbuf, sizeof(hostbuf), "unknown");
        hostbuf[sizeof(hostbuf) - 1] = '\0';
        host = hostbuf;
    }
    hdr = json_pack("{s:s, s:I, s:I, s:I, s:f, s:s, s:s, s:I}", "format", "slinfer-part",
                    "version", (json_int_t)SL_IO_J_VERSION, "group", (json_int_t)w->group,
                    "ngroups", (json_int_t)w->ngroups, "created", sl_io_now(), "slinfer",
                    sl_version(), "host", host, "pid", (json_int_t)getpid());
    if (hdr != NULL)
        json = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    if (json != NULL)
        sl_io_journal_put_header(&buf, json);
    if (json == NULL || buf.failed) {
        sl_error("%s: out of memory creating the part", w->path);
        st = SL_ERR_NO_MEMORY;
    } else {
        st = sl_io_write_file_atomic(w->path, buf.data, buf.len);
    }
    sl_io_buf_free(&buf);
    free(json);
    json_decref(hdr);
    return st;
}

/* An open-file-description lock where there is one: a classic fcntl lock
 * would be dropped as soon as this process closed any other descriptor of
 * the part (the resume scan and the merge open it too). */
#ifdef F_OFD_SETLK
#define SL_IO_SETLK F_OFD_SETLK
#else
#define SL_IO_SETLK F_SETLK
#endif

static sl_status_t sl_io_writer_lock(sl_io_writer_t *w)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(w->fd, SL_IO_SETLK, &fl) == 0)
        return SL_OK;
    if (errno == EACCES || errno == EAGAIN) {
        sl_error("%s: another process (possibly on another node) is writing this part: two "
                 "runs share one output?", w->path);
        return SL_ERR_MISMATCH;
    }
    /* NFS without lockd, some Lustre mounts: run unprotected, say so once */
    sl_warn("%s: cannot lock (%s); make sure no other run writes this output", w->path,
            strerror(errno));
    return SL_OK;
}

static sl_status_t sl_io_writer_count(void *ctx, int type, const unsigned char *p, size_t len)
{
    sl_io_writer_stats_t *stats = ctx;

    (void)p;
    (void)len;
    stats->results += type == SL_IO_ENTRY_RESULT;
    stats->errors += type == SL_IO_ENTRY_ERROR;
    stats->steps += type == SL_IO_ENTRY_STEP;
    return SL_OK;
}

/* Reads the existing part: checks it is ours, counts its commits and cuts
 * off a torn tail. */
static sl_status_t sl_io_writer_recover(sl_io_writer_t *w)
{
    sl_io_walk_info_t info;
    json_t *hdr;
    sl_status_t st = sl_io_journal_walk(w->path, w->fd, sl_io_writer_count, &w->stats, &info);

    if (st != SL_OK)
        return st;
    hdr = json_loads(info.header_json, 0, NULL);
    if (hdr == NULL || json_integer_value(json_object_get(hdr, "group")) != w->group ||
        json_integer_value(json_object_get(hdr, "ngroups")) != w->ngroups) {
        sl_error("%s: the part header (%s) is not that of group %d of %d", w->path,
                 info.header_json, (int)w->group, (int)w->ngroups);
        st = SL_ERR_FORMAT;
    }
    json_decref(hdr);
    free(info.header_json);
    if (st != SL_OK)
        return st;
    if (info.file_size > info.valid_end) {
        sl_warn("%s: cutting %" PRIu64 " bytes of an interrupted commit after commit %" PRIu64
                " (a crash while writing; those records run again)", w->path,
                info.file_size - info.valid_end, info.last_seq);
        if (ftruncate(w->fd, (off_t)info.valid_end) != 0 || fsync(w->fd) != 0) {
            sl_error("%s: cannot cut the torn tail at %" PRIu64 ": %s", w->path,
                     info.valid_end, strerror(errno));
            return SL_ERR_IO;
        }
        w->stats.torn_bytes_cut = info.file_size - info.valid_end;
    }
    w->stats.commits = info.commits;
    w->end = info.valid_end;
    w->seq = info.last_seq;
    w->stats.bytes = info.valid_end;
    return SL_OK;
}

sl_status_t sl_io_writer_open(const char *output_path, const sl_io_writer_opts_t *opts,
                              sl_io_writer_t **writer_p)
{
    sl_io_writer_t *w;
    char name[64];
    struct stat sb;
    sl_status_t st;
    size_t n;

    if (opts == NULL || opts->ngroups < 1 || opts->group < 0 || opts->group >= opts->ngroups ||
        opts->ngroups > 9999) {
        sl_error("%s: bad writer group %d of %d", output_path, opts ? (int)opts->group : -1,
                 opts ? (int)opts->ngroups : -1);
        return SL_ERR_INVALID_ARG;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        goto err_mem;
    w->fd = -1;
    w->group = opts->group;
    w->ngroups = opts->ngroups;
    w->dir = sl_io_path_with(output_path, ".parts");
    if (w->dir == NULL)
        goto err_mem_w;
    snprintf(name, sizeof(name), "/part-g%04d-of-%04d.slj", (int)w->group, (int)w->ngroups);
    n = strlen(w->dir) + strlen(name) + 1;
    w->path = malloc(n);
    if (w->path == NULL)
        goto err_mem_w;
    snprintf(w->path, n, "%s%s", w->dir, name);
    if (stat(w->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        sl_error("%s: no parts directory; sl_io_output_prepare() must run first", w->dir);
        st = SL_ERR_NOT_FOUND;
        goto err_w;
    }
    w->fd = open(w->path, O_RDWR | O_CLOEXEC);
    if (w->fd < 0 && errno == ENOENT) {
        st = sl_io_writer_create(w, opts->host);
        if (st != SL_OK)
            goto err_w;
        w->fd = open(w->path, O_RDWR | O_CLOEXEC);
    }
    if (w->fd < 0) {
        sl_error("%s: cannot open: %s", w->path, strerror(errno));
        st = SL_ERR_IO;
        goto err_w;
    }
    st = sl_io_writer_lock(w);
    if (st != SL_OK)
        goto err_w;
    st = sl_io_writer_recover(w);
    if (st != SL_OK)
        goto err_w;
    sl_debug("%s: open at commit %" PRIu64 " (%" PRIu64 " results, %" PRIu64 " errors)", w->path,
             w->seq, w->stats.results, w->stats.errors);
    *writer_p = w;
    return SL_OK;
err_mem_w:
    sl_error("%s: out of memory opening the writer", output_path);
    st = SL_ERR_NO_MEMORY;
err_w:
    sl_io_writer_discard(w);
    return st;
err_mem:
    sl_error("%s: out of memory opening the writer", output_path);
    return SL_ERR_NO_MEMORY;
}

static sl_status_t sl_io_writer_queued(sl_io_writer_t *w, size_t before, const char *what,
                                       const char *id)
{
    if (w->payload.failed) {
        /* undo the partial entry so the queue stays well formed */
        w->payload.failed = 0;
        w->payload.len = before;
        sl_error("%s: out of memory queueing the %s of %s", w->path, what, id);
        return SL_ERR_NO_MEMORY;
    }
    w->entries++;
    return SL_OK;
}

sl_status_t sl_io_writer_add_result(sl_io_writer_t *w, const sl_io_result_t *r)
{
    size_t before = w->payload.len;
    sl_status_t st;

    if (r->id == NULL || r->n_choices == 0 || r->choices == NULL || r->index < 0) {
        sl_error("%s: result of record %" PRId64 " without id or choices", w->path, r->index);
        return SL_ERR_INVALID_ARG;
    }
    for (size_t c = 0; c < r->n_choices; c++) {
        if ((r->choices[c].n_output_ids > 0 && r->choices[c].output_ids == NULL) ||
            (r->choices[c].text_len > 0 && r->choices[c].text == NULL)) {
            sl_error("%s: result %s: choice %zu has lengths without data", w->path, r->id, c);
            return SL_ERR_INVALID_ARG;
        }
    }
    sl_io_entry_put_result(&w->payload, r);
    st = sl_io_writer_queued(w, before, "result", r->id);
    if (st == SL_OK)
        w->q_results++;
    return st;
}

sl_status_t sl_io_writer_add_error(sl_io_writer_t *w, const sl_io_error_t *e)
{
    size_t before = w->payload.len;
    sl_status_t st;

    if (e->id == NULL || e->message == NULL || e->index < 0) {
        sl_error("%s: error record %" PRId64 " without id or message", w->path, e->index);
        return SL_ERR_INVALID_ARG;
    }
    sl_io_entry_put_error(&w->payload, e);
    st = sl_io_writer_queued(w, before, "error record", e->id);
    if (st == SL_OK)
        w->q_errors++;
    return st;
}

sl_status_t sl_io_writer_add_step(sl_io_writer_t *w, const sl_io_step_t *s)
{
    size_t before = w->payload.len;
    sl_status_t st;

    sl_io_entry_put_step(&w->payload, s);
    st = sl_io_writer_queued(w, before, "step", "the engine");
    if (st == SL_OK)
        w->q_steps++;
    return st;
}

size_t sl_io_writer_pending(const sl_io_writer_t *w)
{
    return w->entries;
}

sl_status_t sl_io_writer_commit(sl_io_writer_t *w)
{
    unsigned char hdr[SL_IO_J_FRAME_HEADER];
    size_t half;
    sl_status_t st;

    if (w->broken) {
        sl_error("%s: an earlier failed commit could not be undone; reopen the writer",
                 w->path);
        return SL_ERR_IO;
    }
    if (w->entries == 0)
        return SL_OK;
    sl_io_frame_header(hdr, w->entries, w->seq + 1, w->payload.data, w->payload.len);
    /* The frame goes out in two writes with a fault point between them, so a
     * test can kill this process with exactly half a commit on disk
     * (SLINFER_FAULT=kill@commit:GROUP). */
    half = w->payload.len / 2;
    st = sl_io_write_all(w->fd, w->path, hdr, sizeof(hdr), w->end);
    if (st == SL_OK)
        st = sl_io_write_all(w->fd, w->path, w->payload.data, half, w->end + sizeof(hdr));
    if (st == SL_OK) {
        sl_fault_point("commit", w->group);
        st = sl_io_write_all(w->fd, w->path, w->payload.data + half, w->payload.len - half,
                             w->end + sizeof(hdr) + half);
    }
    if (st == SL_OK && fsync(w->fd) != 0) {
        sl_error("%s: fsync of commit %" PRIu64 " failed: %s", w->path, w->seq + 1,
                 strerror(errno));
        st = SL_ERR_IO;
    }
    if (st != SL_OK) {
        /* leave no half frame behind: a later frame after it would make the
         * part look corrupt rather than torn */
        if (ftruncate(w->fd, (off_t)w->end) != 0) {
            sl_error("%s: cannot undo the failed commit: %s", w->path, strerror(errno));
            w->broken = 1;
        }
        return st;
    }
    w->end += sizeof(hdr) + w->payload.len;
    w->seq++;
    w->stats.commits++;
    w->stats.results += w->q_results;
    w->stats.errors += w->q_errors;
    w->stats.steps += w->q_steps;
    w->stats.bytes = w->end;
    w->q_results = w->q_errors = w->q_steps = 0;
    w->payload.len = 0;
    w->entries = 0;
    return SL_OK;
}

void sl_io_writer_stats(const sl_io_writer_t *w, sl_io_writer_stats_t *stats)
{
    *stats = w->stats;
}

const char *sl_io_writer_path(const sl_io_writer_t *w)
{
    return w->path;
}

void sl_io_writer_discard(sl_io_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd); /* also drops the lock */
    sl_io_buf_free(&w->payload);
    free(w->path);
    free(w->dir);
    free(w);
}

sl_status_t sl_io_writer_close(sl_io_writer_t *w)
{
    sl_status_t st;

    if (w == NULL)
        return SL_OK;
    st = sl_io_writer_commit(w);
    sl_io_writer_discard(w);
    return st;
}
