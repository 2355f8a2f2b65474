/* reader.c - input addressing and the format-independent part of the
 * readers; see reader.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "io/reader_impl.h"

static const unsigned char sl_io_h5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static int sl_io_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* 1 when PATH starts with the HDF5 signature (a user block is not looked for). */
static int sl_io_has_h5_signature(const char *path)
{
    unsigned char head[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got;

    if (fd < 0)
        return 0;
    got = read(fd, head, sizeof(head));
    close(fd);
    return got == (ssize_t)sizeof(head) && memcmp(head, sl_io_h5_signature, 8) == 0;
}

static int sl_io_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

sl_status_t sl_io_input_parse(const char *spec, char **file_p, char **object_p, int *is_hdf5_p)
{
    char *file = NULL, *object = NULL;
    const char *split = NULL;
    int is_hdf5;

    if (spec == NULL || spec[0] == '\0') {
        sl_error("no input given");
        return SL_ERR_INVALID_ARG;
    }
    /* FILE:/PATH, split at the last ":/" whose left side is an existing file,
     * so a JSONL path that happens to hold ":/" still works */
    for (const char *p = strstr(spec, ":/"); p != NULL; p = strstr(p + 1, ":/")) {
        char *left = strndup(spec, (size_t)(p - spec));
        if (left == NULL)
            goto err_memory;
        if (sl_io_is_file(left))
            split = p;
        free(left);
    }
    if (split != NULL) {
        file = strndup(spec, (size_t)(split - spec));
        object = strdup(split + 1);
        if (file == NULL || object == NULL)
            goto err_memory;
        is_hdf5 = 1;
    } else {
        file = strdup(spec);
        if (file == NULL)
            goto err_memory;
        is_hdf5 = strcmp(spec, "-") != 0 &&
                  (sl_io_ends_with(spec, ".h5") || sl_io_ends_with(spec, ".hdf5") ||
                   sl_io_ends_with(spec, ".he5") || sl_io_has_h5_signature(spec));
    }
    *file_p = file;
    *object_p = object;
    *is_hdf5_p = is_hdf5;
    return SL_OK;
err_memory:
    free(file);
    free(object);
    sl_error("out of memory parsing the input %s", spec);
    return SL_ERR_NO_MEMORY;
}

sl_status_t sl_io_reader_open(const char *spec, const sl_io_reader_opts_t *opts,
                              sl_io_reader_t **reader_p)
{
    sl_io_reader_t *r;
    char *file = NULL, *object = NULL;
    int is_hdf5;
    sl_status_t st;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        sl_error("out of memory opening %s", spec != NULL ? spec : "(null)");
        return SL_ERR_NO_MEMORY;
    }
    if (opts != NULL)
        r->opts = *opts;
    if (r->opts.ngroups <= 0)
        r->opts.ngroups = 1;
    if (r->opts.max_line_bytes == 0)
        r->opts.max_line_bytes = SL_IO_DEFAULT_MAX_LINE;
    if (r->opts.group < 0 || r->opts.group >= r->opts.ngroups) {
        sl_error("%s: data-parallel group %d is outside [0, %d)", spec, (int)r->opts.group,
                 (int)r->opts.ngroups);
        st = SL_ERR_INVALID_ARG;
        goto err_r;
    }
    st = sl_io_input_parse(spec, &file, &object, &is_hdf5);
    if (st != SL_OK)
        goto err_r;
    r->spec = strdup(spec);
    if (r->spec == NULL) {
        sl_error("out of memory opening %s", spec);
        st = SL_ERR_NO_MEMORY;
        goto err_r;
    }
    st = is_hdf5 ? sl_io_h5in_open(r, file, object) : sl_io_jsonl_open(r, file);
    if (st != SL_OK)
        goto err_r;
    free(file);
    free(object);
    *reader_p = r;
    return SL_OK;
err_r:
    free(file);
    free(object);
    sl_io_reader_close(r);
    return st;
}

sl_status_t sl_io_reader_next(sl_io_reader_t *reader, sl_io_record_t **record_p)
{
    sl_io_record_t *rec = NULL;
    sl_status_t st;

    if (reader->failed) {
        sl_error("%s: reading after a read error", reader->spec);
        return SL_ERR_INVALID_ARG;
    }
    st = reader->jsonl != NULL ? sl_io_jsonl_next(reader, &rec) : sl_io_h5in_next(reader, &rec);
    if (st != SL_OK) {
        reader->failed = 1;
        return st;
    }
    *record_p = rec;
    return SL_OK;
}

void sl_io_reader_stats(const sl_io_reader_t *reader, sl_io_reader_stats_t *stats)
{
    *stats = reader->stats;
    stats->id_set_bytes = reader->jsonl != NULL ? sl_io_jsonl_id_bytes(reader->jsonl) : 0;
}

void sl_io_reader_close(sl_io_reader_t *reader)
{
    if (reader == NULL)
        return;
    sl_io_jsonl_close(reader->jsonl);
    sl_io_h5in_close(reader->h5);
    free(reader->spec);
    free(reader);
}

sl_status_t sl_io_count_records(const char *spec, int64_t *count_p)
{
    char *file, *object;
    int is_hdf5;
    sl_status_t st = sl_io_input_parse(spec, &file, &object, &is_hdf5);

    if (st != SL_OK)
        return st;
    st = is_hdf5 ? sl_io_h5in_count(file, object, count_p) : sl_io_jsonl_count(file, count_p);
    free(file);
    free(object);
    return st;
}
