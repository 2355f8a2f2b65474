/* output.c - output layout, preparation and import; see output.h. */
#include "config.h"

#include "io/output.h"

#include <dirent.h>
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

#include "core/log.h"
#include "core/version.h"
#include "io/journal.h"
#include "io/results.h"

#define SL_IO_MANIFEST "MANIFEST.json"
#define SL_IO_IMPORT_PART "part-import.slj"

char *sl_io_path_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    char *out = malloc(n + m + 1);

    if (out != NULL) {
        memcpy(out, path, n);
        memcpy(out + n, suffix, m + 1);
    }
    return out;
}

char *sl_io_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

sl_status_t sl_io_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        sl_error("%s: cannot open the directory to sync it: %s", dir, strerror(errno));
        return SL_ERR_IO;
    }
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        sl_error("%s: directory fsync failed: %s", dir, strerror(errno));
        close(fd);
        return SL_ERR_IO;
    }
    close(fd);
    return SL_OK;
}

sl_status_t sl_io_write_file_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = sl_io_path_with(path, ".tmp"), *dir = sl_io_dirname(path);
    sl_status_t st = SL_OK;
    size_t done = 0;
    int fd;

    if (tmp == NULL || dir == NULL) {
        st = SL_ERR_NO_MEMORY;
        sl_error("%s: out of memory", path);
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        sl_error("%s: cannot create: %s", tmp, strerror(errno));
        st = SL_ERR_IO;
        goto done;
    }
    while (done < len && st == SL_OK) {
        ssize_t put = write(fd, (const char *)data + done, len - done);
        if (put < 0 && errno != EINTR) {
            sl_error("%s: write failed: %s", tmp, strerror(errno));
            st = SL_ERR_IO;
        }
        done += put > 0 ? (size_t)put : 0;
    }
    if (st == SL_OK && fsync(fd) != 0) {
        sl_error("%s: fsync failed: %s", tmp, strerror(errno));
        st = SL_ERR_IO;
    }
    close(fd);
    if (st == SL_OK && rename(tmp, path) != 0) {
        sl_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        st = SL_ERR_IO;
    }
    if (st == SL_OK)
        st = sl_io_fsync_dir(dir);
    else
        (void)unlink(tmp);
done:
    free(tmp);
    free(dir);
    return st;
}

static int sl_io_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

sl_status_t sl_io_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    sl_status_t st = SL_OK;

    if (d == NULL) {
        if (errno == ENOENT)
            return SL_OK;
        sl_error("%s: cannot list: %s", dir, strerror(errno));
        return SL_ERR_IO;
    }
    while ((e = readdir(d)) != NULL) {
        char *p;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (p == NULL) {
            st = SL_ERR_NO_MEMORY;
            break;
        }
        sprintf(p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT) {
            sl_error("%s: cannot remove: %s", p, strerror(errno));
            st = SL_ERR_IO;
        }
        free(p);
    }
    closedir(d);
    if (st == SL_OK && rmdir(dir) != 0 && errno != ENOENT) {
        sl_error("%s: cannot remove: %s", dir, strerror(errno));
        st = SL_ERR_IO;
    }
    return st;
}

sl_status_t sl_io_parts_remove(const char *out)
{
    char *parts = sl_io_path_with(out, ".parts"), *gone = sl_io_path_with(out, ".parts.removing");
    char *parent = sl_io_dirname(out);
    sl_status_t st = SL_OK;

    if (parts == NULL || gone == NULL || parent == NULL) {
        sl_error("%s: out of memory", out);
        st = SL_ERR_NO_MEMORY;
    } else if (rename(parts, gone) != 0) {
        sl_error("cannot rename %s to %s: %s", parts, gone, strerror(errno));
        st = SL_ERR_IO;
    } else {
        st = sl_io_fsync_dir(parent);
        if (st == SL_OK)
            st = sl_io_remove_dir(gone);
    }
    free(parts);
    free(gone);
    free(parent);
    return st;
}

static int sl_io_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sl_io_parts_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

sl_status_t sl_io_parts_list(const char *output_path, char ***paths_p, size_t *n_p)
{
    char *dir = sl_io_path_with(output_path, ".parts");
    char **paths = NULL;
    size_t n = 0, cap = 0;
    DIR *d;
    struct dirent *e;
    sl_status_t st = SL_OK;

    if (dir == NULL)
        goto err_mem;
    d = opendir(dir);
    if (d == NULL) {
        free(dir);
        if (errno == ENOENT) {
            *paths_p = NULL;
            *n_p = 0;
            return SL_OK;
        }
        sl_error("%s.parts: cannot list: %s", output_path, strerror(errno));
        return SL_ERR_IO;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "part-", 5) != 0 || len < 9 ||
            strcmp(e->d_name + len - 4, ".slj") != 0)
            continue;
        if (n == cap) {
            char **p = realloc(paths, (cap ? cap * 2 : 16) * sizeof(char *));
            if (p == NULL) {
                st = SL_ERR_NO_MEMORY;
                break;
            }
            paths = p;
            cap = cap ? cap * 2 : 16;
        }
        paths[n] = malloc(strlen(dir) + len + 2);
        if (paths[n] == NULL) {
            st = SL_ERR_NO_MEMORY;
            break;
        }
        sprintf(paths[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    free(dir);
    if (st != SL_OK) {
        sl_io_parts_free(paths, n);
        goto err_mem;
    }
    if (n > 1)
        qsort(paths, n, sizeof(char *), sl_io_cmp_str);
    *paths_p = paths;
    *n_p = n;
    return SL_OK;
err_mem:
    sl_error("%s: out of memory listing the parts", output_path);
    return SL_ERR_NO_MEMORY;
}

static json_t *sl_io_read_manifest(const char *dir, int quiet_if_absent)
{
    char *path = malloc(strlen(dir) + sizeof(SL_IO_MANIFEST) + 2);
    json_t *m;
    json_error_t jerr;

    if (path == NULL)
        return NULL;
    sprintf(path, "%s/%s", dir, SL_IO_MANIFEST);
    m = json_load_file(path, 0, &jerr);
    if (m == NULL && (quiet_if_absent == 0 || access(path, F_OK) == 0))
        sl_error("%s: %s", path, jerr.text);
    free(path);
    return m;
}

sl_status_t sl_io_output_identity(const char *output_path, char **identity_json_p)
{
    char *dir = sl_io_path_with(output_path, ".parts");
    json_t *m = dir != NULL ? sl_io_read_manifest(dir, 1) : NULL;
    json_t *id = m != NULL ? json_object_get(m, "identity") : NULL;
    char *text;

    free(dir);
    text = json_is_object(id) ? json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    json_decref(m);
    if (text == NULL) {
        sl_error("%s: cannot read the run identity", output_path);
        return SL_ERR_FORMAT;
    }
    *identity_json_p = text;
    return SL_OK;
}

/* Compares the identity a run passes with the stored one, key by key. */
sl_status_t sl_io_identity_check(const char *what, json_t *stored, const char *given_json)
{
    json_t *given;
    const char *key;
    json_t *v;
    int bad = 0;

    if (given_json == NULL || !json_is_object(stored))
        return SL_OK;
    given = json_loads(given_json, 0, NULL);
    if (!json_is_object(given)) {
        json_decref(given);
        sl_error("the run identity is not a JSON object: %s", given_json);
        return SL_ERR_INVALID_ARG;
    }
    json_object_foreach(given, key, v) {
        json_t *old = json_object_get(stored, key);
        if (old != NULL && !json_equal(old, v)) {
            char *a = json_dumps(old, JSON_ENCODE_ANY | JSON_COMPACT);
            char *b = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            sl_error("%s was started with %s = %s; this run has %s: resume it with the same "
                     "%s, or write to a new output", what, key, a ? a : "?", b ? b : "?", key);
            free(a);
            free(b);
            bad = 1;
        }
    }
    json_decref(given);
    return bad ? SL_ERR_MISMATCH : SL_OK;
}

static double sl_io_epoch(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Removes what an interrupted merge, prepare or removal left behind. */
static sl_status_t sl_io_output_clean(const char *out)
{
    static const char *const dirs[] = {".parts.new", ".parts.removing"};
    sl_status_t st = SL_OK;
    char *p;

    for (size_t i = 0; i < 2 && st == SL_OK; i++) {
        p = sl_io_path_with(out, dirs[i]);
        if (p == NULL)
            return SL_ERR_NO_MEMORY;
        if (sl_io_exists(p)) {
            sl_info("%s: removing what an interrupted run left", p);
            st = sl_io_remove_dir(p);
        }
        free(p);
    }
    p = sl_io_path_with(out, ".merge-tmp");
    if (p == NULL)
        return SL_ERR_NO_MEMORY;
    (void)unlink(p);
    free(p);
    return st;
}

sl_status_t sl_io_output_prepare(const char *out, const sl_io_output_opts_t *opts)
{
    char *parts = sl_io_path_with(out, ".parts"), *fresh = sl_io_path_with(out, ".parts.new");
    char *parent = sl_io_dirname(out), *mpath = NULL, *text = NULL;
    json_t *manifest = NULL, *identity = NULL;
    sl_status_t st;
    size_t imported = 0;
    int have_parts, have_out;

    if (parts == NULL || fresh == NULL || parent == NULL) {
        st = SL_ERR_NO_MEMORY;
        sl_error("%s: out of memory", out);
        goto done;
    }
    st = sl_io_output_clean(out);
    if (st != SL_OK)
        goto done;
    have_parts = sl_io_exists(parts);
    have_out = sl_io_exists(out);
    if (!opts->resume && (have_parts || have_out)) {
        if (!opts->overwrite) {
            sl_error("%s exists: pass --resume to continue that run, or remove %s%s first",
                     have_out ? out : parts, have_out ? out : parts,
                     have_out && have_parts ? " and its .parts directory" : "");
            st = SL_ERR_INVALID_ARG;
            goto done;
        }
        sl_warn("%s: overwriting the previous run's results", out);
        /* the parts first: an OUT without parts is a finished run, never
         * half of one */
        st = have_parts ? sl_io_parts_remove(out) : SL_OK;
        if (st != SL_OK)
            goto done;
        if (have_out && unlink(out) != 0) {
            sl_error("%s: cannot remove: %s", out, strerror(errno));
            st = SL_ERR_IO;
            goto done;
        }
        have_parts = have_out = 0;
    }
    if (have_parts) {
        manifest = sl_io_read_manifest(parts, 0);
        if (manifest == NULL) {
            st = SL_ERR_FORMAT;
            goto done;
        }
        st = sl_io_identity_check(out, json_object_get(manifest, "identity"),
                                  opts->identity_json);
        goto done;
    }
    /* a new parts directory, built aside and renamed into place */
    if (opts->identity_json != NULL) {
        identity = json_loads(opts->identity_json, 0, NULL);
        if (!json_is_object(identity)) {
            sl_error("the run identity is not a JSON object: %s", opts->identity_json);
            st = SL_ERR_INVALID_ARG;
            goto done;
        }
    }
    if (mkdir(fresh, 0755) != 0) {
        sl_error("%s: cannot create: %s", fresh, strerror(errno));
        st = SL_ERR_IO;
        goto done;
    }
    manifest = json_pack("{s:s, s:i, s:f, s:s, s:O?}", "format", "slinfer-parts", "version", 1,
                         "created", sl_io_epoch(), "slinfer", sl_version(), "identity",
                         identity);
    mpath = malloc(strlen(fresh) + sizeof(SL_IO_MANIFEST) + 2);
    text = manifest != NULL ? json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (mpath == NULL || text == NULL) {
        st = SL_ERR_NO_MEMORY;
        sl_error("%s: out of memory", out);
        goto done;
    }
    sprintf(mpath, "%s/%s", fresh, SL_IO_MANIFEST);
    st = sl_io_write_file_atomic(mpath, text, strlen(text));
    if (st == SL_OK && have_out) {
        /* a merged run resumed: its results become a part again */
        st = sl_io_output_import(out, fresh, opts->identity_json, &imported);
        if (st == SL_OK)
            sl_info("%s: imported %zu committed records from the merged file", out, imported);
    }
    if (st == SL_OK)
        st = sl_io_fsync_dir(fresh);
    if (st == SL_OK && rename(fresh, parts) != 0) {
        sl_error("cannot rename %s to %s: %s", fresh, parts, strerror(errno));
        st = SL_ERR_IO;
    }
    if (st == SL_OK)
        st = sl_io_fsync_dir(parent);
done:
    json_decref(manifest);
    json_decref(identity);
    free(text);
    free(mpath);
    free(parts);
    free(fresh);
    free(parent);
    return st;
}
