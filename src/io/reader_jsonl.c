/*
 * reader_jsonl.c - the JSONL input: lines read in 1 MiB blocks with read(2),
 * each parsed with jansson, given an id, checked for duplicates and turned
 * into a request or an error record.
 *
 * Memory: the block, one line buffer as long as the longest line seen (at
 * most max_line_bytes; longer lines are consumed without being kept and
 * become line_too_long errors), the id set, and the record being returned.
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
#include "io/reader_impl.h"

#define SL_IO_BLOCK (1u << 20)

struct sl_io_jsonl {
    int fd;
    int own_fd;          /* not stdin */
    char *path;
    char *block;         /* [SL_IO_BLOCK] */
    size_t pos, len;     /* unread bytes are block[pos..len) */
    int eof;
    char *line;          /* [line_cap] a line that crossed a block boundary */
    size_t line_cap;
    sl_io_idset_t *ids;
};

sl_status_t sl_io_jsonl_open(sl_io_reader_t *reader, const char *path)
{
    sl_io_jsonl_t *j = calloc(1, sizeof(*j));
    sl_status_t st;

    if (j == NULL)
        goto err_memory;
    j->fd = -1;
    j->path = strdup(path);
    j->block = malloc(SL_IO_BLOCK);
    if (j->path == NULL || j->block == NULL)
        goto err_memory_j;
    st = sl_io_idset_create(&j->ids);
    if (st != SL_OK)
        goto err_j;
    if (strcmp(path, "-") == 0) {
        j->fd = STDIN_FILENO;
    } else {
        j->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (j->fd < 0) {
            int e = errno;
            sl_error("%s: cannot open the input: %s", path, strerror(e));
            st = e == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
            goto err_j;
        }
        j->own_fd = 1;
#ifdef POSIX_FADV_SEQUENTIAL
        (void)posix_fadvise(j->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    }
    reader->jsonl = j;
    return SL_OK;
err_memory_j:
    sl_error("%s: out of memory opening the input", path);
    st = SL_ERR_NO_MEMORY;
err_j:
    sl_io_jsonl_close(j);
    return st;
err_memory:
    sl_error("%s: out of memory opening the input", path);
    return SL_ERR_NO_MEMORY;
}

void sl_io_jsonl_close(sl_io_jsonl_t *j)
{
    if (j == NULL)
        return;
    if (j->own_fd && j->fd >= 0)
        close(j->fd);
    sl_io_idset_destroy(j->ids);
    free(j->block);
    free(j->line);
    free(j->path);
    free(j);
}

static sl_status_t sl_io_jsonl_fill(sl_io_jsonl_t *j)
{
    ssize_t got;

    do {
        got = read(j->fd, j->block, SL_IO_BLOCK);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        sl_error("%s: read error: %s", j->path, strerror(errno));
        return SL_ERR_IO;
    }
    j->pos = 0;
    j->len = (size_t)got;
    if (got == 0)
        j->eof = 1;
    return SL_OK;
}

/* Appends BUF[N] to the line buffer, unless that passes MAX (then only
 * *LONG_P is set and the bytes are dropped). */
static sl_status_t sl_io_jsonl_keep(sl_io_jsonl_t *j, size_t *have, const char *buf, size_t n,
                                    size_t max, int *long_p)
{
    if (*long_p || *have + n > max) {
        *long_p = 1;
        return SL_OK;
    }
    if (*have + n > j->line_cap) {
        size_t cap = j->line_cap ? j->line_cap : 4096;
        char *p;
        while (cap < *have + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        p = realloc(j->line, cap);
        if (p == NULL) {
            sl_error("%s: out of memory for a %zu-byte line", j->path, *have + n);
            return SL_ERR_NO_MEMORY;
        }
        j->line = p;
        j->line_cap = cap;
    }
    memcpy(j->line + *have, buf, n);
    *have += n;
    return SL_OK;
}

/*
 * The next physical line, without its "\n". *LINE_P points into the block
 * or the line buffer, valid until the next call; NULL at the end of input.
 * *LONG_P = 1 when the line passed MAX (its bytes are then not returned).
 */
static sl_status_t sl_io_jsonl_getline(sl_io_jsonl_t *j, size_t max, const char **line_p,
                                       size_t *len_p, int *long_p)
{
    size_t have = 0;
    int partial = 0;
    sl_status_t st;

    *long_p = 0;
    for (;;) {
        if (j->pos == j->len) {
            if (j->eof)
                break;
            st = sl_io_jsonl_fill(j);
            if (st != SL_OK)
                return st;
            if (j->eof)
                break;
        }
        char *start = j->block + j->pos;
        size_t avail = j->len - j->pos;
        char *nl = memchr(start, '\n', avail);
        if (nl != NULL) {
            size_t n = (size_t)(nl - start);
            j->pos += n + 1;
            if (!partial) {
                if (n > max)
                    *long_p = 1;
                *line_p = start;
                *len_p = n;
                return SL_OK;
            }
            st = sl_io_jsonl_keep(j, &have, start, n, max, long_p);
            if (st != SL_OK)
                return st;
            *line_p = j->line;
            *len_p = have;
            return SL_OK;
        }
        st = sl_io_jsonl_keep(j, &have, start, avail, max, long_p);
        if (st != SL_OK)
            return st;
        partial = 1;
        j->pos = j->len;
    }
    /* end of input: a last line without "\n", or nothing */
    if (!partial) {
        *line_p = NULL;
        return SL_OK;
    }
    *line_p = j->line;
    *len_p = have;
    return SL_OK;
}

static int sl_io_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    }
    return 1;
}

sl_status_t sl_io_jsonl_next(sl_io_reader_t *r, sl_io_record_t **record_p)
{
    sl_io_jsonl_t *j = r->jsonl;
    size_t max = r->opts.max_line_bytes;
    sl_status_t st;

    for (;;) {
        const char *line;
        size_t len;
        int too_long, added, owned;
        int64_t k, lineno;
        char derived[32], numid[32], err[768], text[1024];
        const char *id;
        json_t *obj = NULL;
        json_error_t jerr;
        sl_io_record_t *rec = NULL;

        st = sl_io_jsonl_getline(j, max, &line, &len, &too_long);
        if (st != SL_OK)
            return st;
        if (line == NULL) {
            *record_p = NULL;
            return SL_OK;
        }
        lineno = ++r->stats.lines;
        if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3; /* a UTF-8 byte order mark */
            len -= 3;
        }
        if (!too_long && sl_io_blank(line, len)) {
            r->stats.blank_lines++;
            continue;
        }
        k = r->stats.records++;
        owned = k % r->opts.ngroups == r->opts.group;
        snprintf(derived, sizeof(derived), "line-%" PRId64, lineno);
        id = derived;
        if (!too_long) {
            /* any value, so a line holding a bare string is "not an object" */
            obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
            if (obj != NULL) {
                const char *given = sl_io_line_id(obj, numid, sizeof(numid));
                if (given != NULL)
                    id = given;
            }
        }
        st = sl_io_idset_add(j->ids, id, strlen(id), &added);
        if (st != SL_OK)
            goto err_obj;
        if (!owned) {
            json_decref(obj);
            continue;
        }
        if (sl_io_resume_contains(r->opts.skip, k)) {
            r->stats.skipped++;
            json_decref(obj);
            continue;
        }
        if (too_long) {
            snprintf(text, sizeof(text), "line longer than %zu bytes", max);
            st = sl_io_make_error(k, lineno, 0, r->opts.group, id, SL_IO_ERR_LINE_TOO_LONG, text,
                                  &rec);
        } else if (obj == NULL) {
            snprintf(text, sizeof(text), "invalid JSON: %s (column %d)", jerr.text, jerr.column);
            st = sl_io_make_error(k, lineno, 0, r->opts.group, id, SL_IO_ERR_INVALID_JSON, text,
                                  &rec);
        } else if (!added) {
            snprintf(text, sizeof(text), "duplicate id \"%.200s\": ids must be unique", id);
            st = sl_io_make_error(k, lineno, 0, r->opts.group, id, SL_IO_ERR_DUPLICATE_ID, text,
                                  &rec);
        } else {
            rec = calloc(1, sizeof(*rec));
            if (rec == NULL) {
                sl_error("%s: line %" PRId64 ": out of memory", j->path, lineno);
                st = SL_ERR_NO_MEMORY;
                goto err_obj;
            }
            rec->type = SL_IO_RECORD_REQUEST;
            sl_io_request_t *req = &rec->u.request;
            req->index = k;
            req->line = lineno;
            req->dp_group = r->opts.group;
            req->id_derived = id == derived;
            req->id = strdup(id);
            if (req->id == NULL) {
                sl_error("%s: line %" PRId64 ": out of memory", j->path, lineno);
                st = SL_ERR_NO_MEMORY;
                goto err_rec;
            }
            st = sl_io_line_to_request(obj, req, err, sizeof(err));
            if (st == SL_ERR_NO_MEMORY) {
                sl_error("%s: line %" PRId64 ": %s", j->path, lineno, err);
                goto err_rec;
            }
            if (st != SL_OK) {
                sl_io_record_free(rec);
                rec = NULL;
                st = sl_io_make_error(k, lineno, 0, r->opts.group, id,
                                      SL_IO_ERR_INVALID_REQUEST, err, &rec);
            }
        }
        json_decref(obj);
        if (st != SL_OK)
            return st;
        r->stats.yielded++;
        if (rec->type == SL_IO_RECORD_ERROR)
            r->stats.errors++;
        *record_p = rec;
        return SL_OK;
err_rec:
        sl_io_record_free(rec);
err_obj:
        json_decref(obj);
        return st;
    }
}

size_t sl_io_jsonl_id_bytes(const sl_io_jsonl_t *j)
{
    return sl_io_idset_bytes(j->ids);
}

sl_status_t sl_io_jsonl_count(const char *path, int64_t *count_p)
{
    int fd = strcmp(path, "-") == 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    char *block;
    int64_t count = 0;
    int content = 0; /* the current line has a non-blank byte */
    sl_status_t st = SL_OK;

    if (fd < 0) {
        int e = errno;
        if (strcmp(path, "-") == 0) {
            sl_error("cannot count the records of standard input");
            return SL_ERR_INVALID_ARG;
        }
        sl_error("%s: cannot open the input: %s", path, strerror(e));
        return e == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    }
    block = malloc(SL_IO_BLOCK);
    if (block == NULL) {
        close(fd);
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    for (int first = 1;;) {
        ssize_t got = read(fd, block, SL_IO_BLOCK);
        ssize_t i = 0;
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            sl_error("%s: read error: %s", path, strerror(errno));
            st = SL_ERR_IO;
            break;
        }
        if (got == 0)
            break;
        if (first && got >= 3 && memcmp(block, "\xEF\xBB\xBF", 3) == 0)
            i = 3; /* a byte order mark, as the reader skips it */
        first = 0;
        for (; i < got; i++) {
            char c = block[i];
            if (c == '\n') {
                count += content;
                content = 0;
            } else if (c != ' ' && c != '\t' && c != '\r') {
                content = 1;
            }
        }
    }
    count += content;
    free(block);
    close(fd);
    if (st == SL_OK)
        *count_p = count;
    return st;
}
