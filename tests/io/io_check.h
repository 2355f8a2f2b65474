/*
 * io_check.h - helpers shared by the check_io_*.c tests: scratch
 * directories, files and reading every record of an input.
 */
#ifndef SL_TESTS_IO_CHECK_H
#define SL_TESTS_IO_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/reader.h"
#include "../unit/sl_check.h"

/* A new empty directory under $TMPDIR (or /tmp); malloc'd path. */
static inline char *io_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);
    ck_assert_ptr_nonnull(dir);
    snprintf(dir, 4096, "%s/slinfer-io-XXXXXX", base != NULL && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

/* DIR/NAME, malloc'd. */
static inline char *io_path(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static inline void io_write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* rm -r DIR (for tests' scratch directories only). */
static inline void io_rmrf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

typedef struct {
    sl_io_record_t **recs;
    size_t n;
    sl_io_reader_stats_t stats;
} io_records_t;

/* Every record SPEC yields with OPTS. */
static inline io_records_t io_read_all(const char *spec, const sl_io_reader_opts_t *opts)
{
    io_records_t out = {NULL, 0, {0}};
    sl_io_reader_t *r;
    size_t cap = 0;

    ck_assert_int_eq(sl_io_reader_open(spec, opts, &r), SL_OK);
    for (;;) {
        sl_io_record_t *rec;
        ck_assert_int_eq(sl_io_reader_next(r, &rec), SL_OK);
        if (rec == NULL)
            break;
        if (out.n == cap) {
            cap = cap ? 2 * cap : 64;
            out.recs = realloc(out.recs, cap * sizeof(*out.recs));
            ck_assert_ptr_nonnull(out.recs);
        }
        out.recs[out.n++] = rec;
    }
    sl_io_reader_stats(r, &out.stats);
    sl_io_reader_close(r);
    return out;
}

static inline void io_records_free(io_records_t *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        sl_io_record_free(rs->recs[i]);
    free(rs->recs);
    rs->recs = NULL;
    rs->n = 0;
}

#endif /* SL_TESTS_IO_CHECK_H */
