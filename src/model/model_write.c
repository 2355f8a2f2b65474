/* model_write.c - writing random HuggingFace model folders; see model.h. */
#include "config.h"

#include "model/model.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static uint64_t sl_spec_numel(const sl_tensor_spec_t *spec)
{
    return (uint64_t)spec->shape[0] * (uint64_t)(spec->ndim == 2 ? spec->shape[1] : 1);
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
        size_t numel = (size_t)sl_spec_numel(spec);
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

/* One shard of a random model, written by its own thread. */
typedef struct sl_shard_job {
    char *path;
    const sl_tensor_spec_t *specs;
    size_t begin, end;
    uint64_t seed;
    sl_dtype_t dtype;
    sl_status_t status;
} sl_shard_job_t;

static void *sl_shard_thread(void *arg)
{
    sl_shard_job_t *job = arg;

    job->status = sl_write_shard(job->path, job->specs, job->begin, job->end, job->seed,
                                 job->dtype);
    return NULL;
}

/* Cuts the tensors SPECS [count] (in order) into N runs of about equal
 * bytes, each at least one tensor (count >= n): jobs[k].begin, .end. */
static void sl_shard_split(const sl_tensor_spec_t *specs, size_t count, sl_shard_job_t *jobs,
                           int n)
{
    uint64_t total = 0, before = 0;
    size_t i = 0;

    for (size_t j = 0; j < count; j++)
        total += sl_spec_numel(&specs[j]);
    for (int k = 0; k < n; k++) {
        uint64_t target = total / (uint64_t)n * (uint64_t)(k + 1);
        jobs[k].begin = i;
        /* take one tensor, then more while under the target, leaving one
         * tensor for each shard still to come */
        do
            before += sl_spec_numel(&specs[i++]);
        while (i < count - (size_t)(n - 1 - k) && (k == n - 1 || before < target));
        jobs[k].end = i;
    }
}

/* Writes the shards JOBS [n], as many at a time as there are online CPUs:
 * generating the values is the slow part (an 8B model is 16 GB), and every
 * shard's values depend only on the seed and the tensor names. */
static sl_status_t sl_write_shards(sl_shard_job_t *jobs, int n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int width = cpus < 1 ? 1 : cpus > n ? n : (int)cpus;
    pthread_t *threads = calloc((size_t)width, sizeof(*threads));
    sl_status_t s = SL_OK;

    if (threads == NULL) {
        sl_error("out of memory for %d writer threads", width);
        return SL_ERR_NO_MEMORY;
    }
    for (int first = 0; first < n; first += width) {
        int started = 0;
        for (int k = first; k < n && k < first + width; k++, started++) {
            if (pthread_create(&threads[k - first], NULL, sl_shard_thread, &jobs[k]) != 0) {
                /* no thread: write this shard here */
                sl_shard_thread(&jobs[k]);
                threads[k - first] = pthread_self();
            }
        }
        for (int k = 0; k < started; k++)
            if (!pthread_equal(threads[k], pthread_self()))
                pthread_join(threads[k], NULL);
    }
    for (int k = 0; k < n && s == SL_OK; k++)
        s = jobs[k].status;
    free(threads);
    return s;
}

/* The index of the shards JOBS [num_shards]: which file holds each tensor. */
static sl_status_t sl_write_index(const char *dir, const sl_tensor_spec_t *specs,
                                  const sl_shard_job_t *jobs, int num_shards)
{
    json_t *root = json_object(), *map = json_object();
    char *path = NULL, *text = NULL;
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (root == NULL || map == NULL || json_object_set(root, "weight_map", map) != 0)
        goto out;
    for (int k = 0; k < num_shards; k++) {
        char name[64];
        snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", k + 1, num_shards);
        for (size_t i = jobs[k].begin; i < jobs[k].end; i++)
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
    sl_shard_job_t *jobs = NULL;
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
    jobs = calloc((size_t)num_shards, sizeof(*jobs));
    if (jobs == NULL) {
        sl_error("%s: out of memory", dir);
        s = SL_ERR_NO_MEMORY;
        goto err_specs;
    }
    for (int k = 0; k < num_shards; k++) {
        if ((num_shards == 1 ? asprintf(&jobs[k].path, "%s/model.safetensors", dir)
                             : asprintf(&jobs[k].path, "%s/model-%05d-of-%05d.safetensors", dir,
                                        k + 1, num_shards)) < 0) {
            jobs[k].path = NULL;
            sl_error("%s: out of memory", dir);
            s = SL_ERR_NO_MEMORY;
            goto err_jobs;
        }
        jobs[k].specs = specs;
        jobs[k].seed = seed;
        jobs[k].dtype = dtype;
    }
    sl_shard_split(specs, count, jobs, num_shards);
    if ((s = sl_write_shards(jobs, num_shards)) != SL_OK)
        goto err_jobs;
    if (num_shards > 1)
        s = sl_write_index(dir, specs, jobs, num_shards);
err_jobs:
    for (int k = 0; jobs != NULL && k < num_shards; k++)
        free(jobs[k].path);
    free(jobs);
err_specs:
    if (s == SL_ERR_NO_MEMORY && path == NULL)
        sl_error("%s: out of memory", dir);
    free(path);
    free(specs);
err_config:
    sl_model_config_free(config);
    return s;
}
