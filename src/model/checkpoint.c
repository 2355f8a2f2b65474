/* checkpoint.c - a model folder's safetensors files; see checkpoint.h. */
#include "config.h"

#include "model/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "model/model_config.h"

#define SL_INDEX_MAX_BYTES (64u << 20)

static int sl_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Adds DIR/NAME to the checkpoint's files. */
static sl_status_t sl_checkpoint_add(sl_checkpoint_t *ck, const char *name)
{
    char *path;
    sl_st_file_t *f;
    sl_status_t s;

    if (asprintf(&path, "%s/%s", ck->dir, name) < 0) {
        sl_error("%s: out of memory", ck->dir);
        return SL_ERR_NO_MEMORY;
    }
    s = sl_st_open(path, &f);
    free(path);
    if (s != SL_OK)
        return s;
    ck->files[ck->num_files] = f;
    ck->used[ck->num_files] = calloc(f->num_tensors + 1, 1);
    ck->num_files++;
    if (ck->used[ck->num_files - 1] == NULL) {
        sl_error("%s: out of memory", f->path);
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

/* Index of the already opened file NAME, or -1. */
static long sl_checkpoint_file_index(const sl_checkpoint_t *ck, const char *name)
{
    size_t dir_len = strlen(ck->dir);
    for (size_t i = 0; i < ck->num_files; i++)
        if (strcmp(ck->files[i]->path + dir_len + 1, name) == 0)
            return (long)i;
    return -1;
}

static sl_status_t sl_checkpoint_open_index(sl_checkpoint_t *ck, const char *index_path)
{
    char *text;
    size_t len;
    json_t *root, *map, *value;
    json_error_t jerr;
    const char *key;
    sl_status_t s;

    s = sl_model_read_file(index_path, SL_INDEX_MAX_BYTES, &text, &len);
    if (s != SL_OK)
        return s;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (root == NULL) {
        sl_error("%s: not valid JSON: %s (line %d, column %d)", index_path, jerr.text, jerr.line,
                 jerr.column);
        return SL_ERR_FORMAT;
    }
    map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0) {
        sl_error("%s: \"weight_map\" is missing, empty or not an object", index_path);
        s = SL_ERR_FORMAT;
        goto out;
    }
    /* At most one file per entry: bounded by the (capped) index size. */
    ck->files = calloc(json_object_size(map), sizeof(*ck->files));
    ck->used = calloc(json_object_size(map), sizeof(*ck->used));
    if (ck->files == NULL || ck->used == NULL) {
        sl_error("%s: out of memory", index_path);
        s = SL_ERR_NO_MEMORY;
        goto out;
    }
    json_object_foreach(map, key, value) {
        const char *file = json_string_value(value);
        if (file == NULL || file[0] == '\0' || strchr(file, '/') != NULL ||
            strcmp(file, "..") == 0 || strcmp(file, ".") == 0) {
            sl_error("%s: weight_map[\"%s\"] is not a file name in the model folder", index_path,
                     key);
            s = SL_ERR_FORMAT;
            goto out;
        }
        if (sl_checkpoint_file_index(ck, file) < 0 && (s = sl_checkpoint_add(ck, file)) != SL_OK)
            goto out;
    }
    /* The index and the files must agree both ways. */
    json_object_foreach(map, key, value) {
        long fi = sl_checkpoint_file_index(ck, json_string_value(value));
        if (sl_st_find(ck->files[fi], key) == NULL) {
            sl_error("%s: tensor '%s' is listed in %s but %s does not hold it", ck->files[fi]->path,
                     key, index_path, json_string_value(value));
            s = SL_ERR_FORMAT;
            goto out;
        }
    }
    for (size_t i = 0; i < ck->num_files; i++) {
        const sl_st_file_t *f = ck->files[i];
        for (size_t t = 0; t < f->num_tensors; t++) {
            json_t *where = json_object_get(map, f->tensors[t].name);
            if (where == NULL ||
                sl_checkpoint_file_index(ck, json_string_value(where)) != (long)i) {
                sl_error("%s: tensor '%s' is not listed for this file in %s", f->path,
                         f->tensors[t].name, index_path);
                s = SL_ERR_FORMAT;
                goto out;
            }
        }
    }
    s = SL_OK;
out:
    json_decref(root);
    return s;
}

sl_status_t sl_checkpoint_open(const char *dir, sl_checkpoint_t **checkpoint_p)
{
    sl_checkpoint_t *ck = calloc(1, sizeof(*ck));
    char *index_path = NULL, *single_path = NULL;
    sl_status_t s;

    if (ck == NULL || (ck->dir = strdup(dir)) == NULL ||
        asprintf(&index_path, "%s/model.safetensors.index.json", dir) < 0 ||
        asprintf(&single_path, "%s/model.safetensors", dir) < 0) {
        sl_error("%s: out of memory", dir);
        index_path = single_path = NULL;
        s = SL_ERR_NO_MEMORY;
        goto err;
    }
    if (sl_path_exists(index_path)) {
        s = sl_checkpoint_open_index(ck, index_path);
    } else if (sl_path_exists(single_path)) {
        ck->files = calloc(1, sizeof(*ck->files));
        ck->used = calloc(1, sizeof(*ck->used));
        if (ck->files == NULL || ck->used == NULL) {
            sl_error("%s: out of memory", dir);
            s = SL_ERR_NO_MEMORY;
        } else {
            s = sl_checkpoint_add(ck, "model.safetensors");
        }
    } else {
        sl_error("%s: no model.safetensors or model.safetensors.index.json (use --load-format "
                 "dummy for random weights)",
                 dir);
        s = SL_ERR_NOT_FOUND;
    }
    if (s != SL_OK)
        goto err;
    free(index_path);
    free(single_path);
    *checkpoint_p = ck;
    return SL_OK;
err:
    free(index_path);
    free(single_path);
    sl_checkpoint_close(ck);
    return s;
}

void sl_checkpoint_close(sl_checkpoint_t *ck)
{
    if (ck == NULL)
        return;
    for (size_t i = 0; i < ck->num_files; i++) {
        sl_st_close(ck->files[i]);
        free(ck->used[i]);
    }
    free(ck->files);
    free(ck->used);
    free(ck->dir);
    free(ck);
}

sl_status_t sl_checkpoint_find(sl_checkpoint_t *ck, const char *name,
                               const sl_st_file_t **file_p, const sl_st_tensor_t **tensor_p)
{
    for (size_t i = 0; i < ck->num_files; i++) {
        const sl_st_tensor_t *t = sl_st_find(ck->files[i], name);
        if (t != NULL) {
            ck->used[i][t - ck->files[i]->tensors] = 1;
            *file_p = ck->files[i];
            *tensor_p = t;
            return SL_OK;
        }
    }
    return SL_ERR_NOT_FOUND;
}

void sl_checkpoint_ignore(sl_checkpoint_t *ck, const char *name)
{
    const sl_st_file_t *f;
    const sl_st_tensor_t *t;
    (void)sl_checkpoint_find(ck, name, &f, &t);
}

sl_status_t sl_checkpoint_check_unused(const sl_checkpoint_t *ck)
{
    sl_status_t s = SL_OK;

    for (size_t i = 0; i < ck->num_files; i++) {
        const sl_st_file_t *f = ck->files[i];
        for (size_t t = 0; t < f->num_tensors; t++) {
            if (!ck->used[i][t]) {
                sl_error("%s: unexpected tensor '%s': the architecture has no such weight",
                         f->path, f->tensors[t].name);
                s = SL_ERR_FORMAT;
            }
        }
    }
    return s;
}

sl_dtype_t sl_checkpoint_main_dtype(const sl_checkpoint_t *ck)
{
    uint64_t bytes[SL_DTYPE_BOOL + 1] = {0};
    sl_dtype_t best = SL_DTYPE_INVALID;

    for (size_t i = 0; i < ck->num_files; i++)
        for (size_t t = 0; t < ck->files[i]->num_tensors; t++)
            bytes[ck->files[i]->tensors[t].dtype] +=
                ck->files[i]->tensors[t].end - ck->files[i]->tensors[t].begin;
    for (int d = 0; d <= SL_DTYPE_BOOL; d++)
        if (best == SL_DTYPE_INVALID || bytes[d] > bytes[best])
            best = (sl_dtype_t)d;
    return best;
}
