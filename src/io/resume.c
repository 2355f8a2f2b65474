/* resume.c - the resume index; see resume.h. */
#include "config.h"

#include "io/resume.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/journal.h"
#include "io/output.h"
#include "io/pack.h"

struct sl_io_resume {
    uint64_t *bits;  /* [words] */
    size_t words;
    int64_t count;
};

#define SL_IO_RESUME_MAGIC 0x4D55534552494C53ull /* "SLIRESUM" */

sl_status_t sl_io_resume_create(sl_io_resume_t **resume_p)
{
    sl_io_resume_t *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        sl_error("out of memory creating the resume index");
        return SL_ERR_NO_MEMORY;
    }
    *resume_p = r;
    return SL_OK;
}

void sl_io_resume_destroy(sl_io_resume_t *r)
{
    if (r == NULL)
        return;
    free(r->bits);
    free(r);
}

sl_status_t sl_io_resume_add(sl_io_resume_t *r, int64_t index, int *added_p)
{
    size_t w;
    uint64_t m;

    if (index < 0) {
        sl_error("resume index: negative record index %" PRId64, index);
        return SL_ERR_INVALID_ARG;
    }
    w = (size_t)(index / 64);
    if (w >= r->words) {
        size_t words = r->words ? r->words : 1024;
        uint64_t *p;
        while (words <= w)
            words *= 2;
        p = realloc(r->bits, words * sizeof(uint64_t));
        if (p == NULL) {
            sl_error("out of memory growing the resume index to %zu records", words * 64);
            return SL_ERR_NO_MEMORY;
        }
        memset(p + r->words, 0, (words - r->words) * sizeof(uint64_t));
        r->bits = p;
        r->words = words;
    }
    m = 1ull << (index % 64);
    if (added_p != NULL)
        *added_p = (r->bits[w] & m) == 0;
    if ((r->bits[w] & m) == 0) {
        r->bits[w] |= m;
        r->count++;
    }
    return SL_OK;
}

int sl_io_resume_contains(const sl_io_resume_t *r, int64_t index)
{
    if (r == NULL || index < 0 || (size_t)(index / 64) >= r->words)
        return 0;
    return (r->bits[index / 64] >> (index % 64)) & 1;
}

int64_t sl_io_resume_count(const sl_io_resume_t *r)
{
    return r != NULL ? r->count : 0;
}

typedef struct {
    sl_io_resume_t *r;
    const char *path;
    int64_t dups;
} sl_io_resume_scan_t;

/* Adds the record index of one committed entry. */
static sl_status_t sl_io_resume_entry(void *ctx, int type, const unsigned char *p, size_t len)
{
    sl_io_resume_scan_t *s = ctx;
    int64_t index = sl_io_entry_index(type, p, len);
    int added;
    sl_status_t st;

    if (type == SL_IO_ENTRY_STEP)
        return SL_OK;
    if (index < 0) {
        sl_error("%s: a committed entry of type %d has no record index", s->path, type);
        return SL_ERR_FORMAT;
    }
    st = sl_io_resume_add(s->r, index, &added);
    if (st == SL_OK && !added) {
        s->dups++;
        sl_warn("%s: record %" PRId64 " is committed more than once", s->path, index);
    }
    return st;
}

sl_status_t sl_io_resume_load(const char *output_path, sl_io_resume_t **resume_p,
                              int64_t *duplicates_p)
{
    sl_io_resume_t *r;
    char **parts = NULL;
    size_t nparts = 0;
    int64_t dups = 0;
    sl_status_t st;

    st = sl_io_resume_create(&r);
    if (st != SL_OK)
        return st;
    st = sl_io_parts_list(output_path, &parts, &nparts);
    for (size_t i = 0; st == SL_OK && i < nparts; i++) {
        sl_io_resume_scan_t scan = {r, parts[i], 0};
        st = sl_io_journal_walk(parts[i], -1, sl_io_resume_entry, &scan, NULL);
        dups += scan.dups;
    }
    sl_io_parts_free(parts, nparts);
    if (st != SL_OK) {
        sl_io_resume_destroy(r);
        return st;
    }
    sl_debug("%s: %" PRId64 " records committed in %zu parts", output_path, r->count, nparts);
    if (duplicates_p != NULL)
        *duplicates_p = dups;
    *resume_p = r;
    return SL_OK;
}

/* Layout: u64 magic, u64 count, u64 words, words x u64 (trailing zero
 * words dropped). */
sl_status_t sl_io_resume_serialize(const sl_io_resume_t *r, void **buf_p, size_t *len_p)
{
    size_t words = r->words, len;
    unsigned char *buf;

    while (words > 0 && r->bits[words - 1] == 0)
        words--;
    len = 24 + words * 8;
    buf = malloc(len);
    if (buf == NULL) {
        sl_error("out of memory serializing the resume index");
        return SL_ERR_NO_MEMORY;
    }
    sl_io_store_u64(buf, SL_IO_RESUME_MAGIC);
    sl_io_store_u64(buf + 8, (uint64_t)r->count);
    sl_io_store_u64(buf + 16, words);
    for (size_t i = 0; i < words; i++)
        sl_io_store_u64(buf + 24 + 8 * i, r->bits[i]);
    *buf_p = buf;
    *len_p = len;
    return SL_OK;
}

sl_status_t sl_io_resume_deserialize(const void *data, size_t len, sl_io_resume_t **resume_p)
{
    const unsigned char *buf = data;
    sl_io_resume_t *r;
    uint64_t words;
    int64_t count = 0;

    if (len < 24 || sl_io_load_u64(buf) != SL_IO_RESUME_MAGIC ||
        (words = sl_io_load_u64(buf + 16)) != (len - 24) / 8 || (len - 24) % 8 != 0) {
        sl_error("resume index: malformed serialized form (%zu bytes)", len);
        return SL_ERR_FORMAT;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL || (words > 0 && (r->bits = malloc(words * sizeof(uint64_t))) == NULL)) {
        free(r);
        sl_error("out of memory for the resume index");
        return SL_ERR_NO_MEMORY;
    }
    r->words = words;
    for (size_t i = 0; i < words; i++) {
        r->bits[i] = sl_io_load_u64(buf + 24 + 8 * i);
        count += __builtin_popcountll(r->bits[i]);
    }
    if ((uint64_t)count != sl_io_load_u64(buf + 8)) {
        sl_io_resume_destroy(r);
        sl_error("resume index: count does not match its bits");
        return SL_ERR_FORMAT;
    }
    r->count = count;
    *resume_p = r;
    return SL_OK;
}
