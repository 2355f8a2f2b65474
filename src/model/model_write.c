/* model_write.c - writing random HuggingFace model folders; see model.h. */
#include "config.h"

#include "model/model.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "model/safetensors.h"

static sl_status_t sl_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok;

    if (f == NULL) {
        sl_error("%s: cannot create: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok) {
        sl_error("%s: write failed: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    return SL_OK;
}

/* Writes specs [begin, end) with random data to PATH. */
static sl_status_t sl_write_shard(const char *path, const sl_tensor_spec_t *specs, size_t begin,
                                  size_t end, uint64_t seed, sl_dtype_t dtype)
{
    sl_st_out_tensor_t *out = calloc(end - begin + 1, sizeof(*out));
    sl_status_t s = SL_OK;
    size_t n = 0;

    if (out == NULL) {
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    for (size_t i = begin; i < end; i++, n++) {
        const sl_tensor_spec_t *spec = &specs[i];
        size_t numel = (size_t)(spec->shape[0] * (spec->ndim == 2 ? spec->shape[1] : 1));
        void *data = malloc(numel * sl_dtype_size(dtype) + 1);
        if (data == NULL) {
            sl_error("%s: out of memory for tensor '%s'", path, spec->name);
            s = SL_ERR_NO_MEMORY;
            goto out;
        }
        sl_model_random_fill(seed, spec, dtype, data);
        out[n].name = spec->name;
        out[n].dtype = dtype;
        out[n].ndim = spec->ndim;
        out[n].shape[0] = (uint64_t)spec->shape[0];
        out[n].shape[1] = (uint64_t)spec->shape[1];
        out[n].data = data;
    }
    s = sl_st_write(path, out, n);
out:
    for (size_t i = 0; i < n; i++)
        free((void *)out[i].data);
    free(out);
    return s;
}

static sl_status_t sl_write_index(const char *dir, const sl_tensor_spec_t *specs, size_t count,
                                  int num_shards)
{
    json_t *root = json_object(), *map = json_object();
    char *path = NULL, *text = NULL;
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (root == NULL || map == NULL || json_object_set(root, "weight_map", map) != 0)
        goto out;
    for (int k = 0; k < num_shards; k++) {
        char name[64];
        snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", k + 1, num_shards);
        for (size_t i = count * (size_t)k / (size_t)num_shards;
             i < count * (size_t)(k + 1) / (size_t)num_shards; i++)
            if (json_object_set_new(map, specs[i].name, json_string(name)) != 0)
                goto out;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL || asprintf(&path, "%s/model.safetensors.index.json", dir) < 0) {
        path = NULL;
        goto out;
    }
    s = sl_write_text(path, text);
out:
    if (s == SL_ERR_NO_MEMORY)
        sl_error("%s: out of memory writing the index", dir);
    free(path);
    free(text);
    json_decref(map);
    json_decref(root);
    return s;
}

sl_status_t sl_model_write_random(const char *dir, const char *config_json, uint64_t seed,
                                  sl_dtype_t dtype, int num_shards)
{
    sl_model_config_t *config;
    sl_tensor_spec_t *specs;
    size_t count;
    char *path = NULL;
    sl_status_t s;

    if (!sl_dtype_is_compute(dtype) || num_shards < 1) {
        sl_error("%s: cannot write %s weights in %d files", dir, sl_dtype_name(dtype), num_shards);
        return SL_ERR_INVALID_ARG;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        sl_error("%s: cannot create directory: %s", dir, strerror(errno));
        return SL_ERR_IO;
    }
    if ((s = sl_model_config_parse(dir, config_json, strlen(config_json), &config)) != SL_OK)
        return s;
    if ((s = sl_model_tensor_specs(config, &specs, &count)) != SL_OK)
        goto err_config;
    if ((size_t)num_shards > count)
        num_shards = (int)count;
    if (asprintf(&path, "%s/config.json", dir) < 0) {
        s = SL_ERR_NO_MEMORY;
        path = NULL;
        goto err_specs;
    }
    if ((s = sl_write_text(path, config_json)) != SL_OK)
        goto err_specs;
    for (int k = 0; k < num_shards; k++) {
        free(path);
        if ((num_shards == 1 ? asprintf(&path, "%s/model.safetensors", dir)
                             : asprintf(&path, "%s/model-%05d-of-%05d.safetensors", dir, k + 1,
                                        num_shards)) < 0) {
            s = SL_ERR_NO_MEMORY;
            path = NULL;
            goto err_specs;
        }
        s = sl_write_shard(path, specs, count * (size_t)k / (size_t)num_shards,
                           count * (size_t)(k + 1) / (size_t)num_shards, seed, dtype);
        if (s != SL_OK)
            goto err_specs;
    }
    if (num_shards > 1)
        s = sl_write_index(dir, specs, count, num_shards);
err_specs:
    if (s == SL_ERR_NO_MEMORY && path == NULL)
        sl_error("%s: out of memory", dir);
    free(path);
    free(specs);
err_config:
    sl_model_config_free(config);
    return s;
}
