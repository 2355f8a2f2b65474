/*
 * model_check.h - helpers of the model / CPU backend tests: temporary
 * folders, capturing the log, small generated models, running a batch.
 *
 * Every function is static inline so each test program takes what it uses.
 */
#ifndef SL_TESTS_MODEL_CHECK_H
#define SL_TESTS_MODEL_CHECK_H

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/cpu_backend.h"
#include "core/log.h"
#include "model/model.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with
 * mc_rmdir(). BUF holds at least 256 bytes. */
static inline char *mc_tmpdir(char *buf)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, 256, "%s/slinfer-test-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

/* Removes DIR and the plain files in it. */
static inline void mc_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ---- the log, captured ------------------------------------------------------ */

static inline FILE **mc_log_slot(void)
{
    static FILE *file;
    return &file;
}
#define mc_log_file (*mc_log_slot())

/* Sends log lines to a temporary file until mc_log_end(). */
static inline void mc_log_begin(void)
{
    mc_log_file = tmpfile();
    ck_assert_ptr_nonnull(mc_log_file);
    sl_log_set_fd(fileno(mc_log_file));
}

/* What was logged since mc_log_begin() (static buffer); restores stderr. */
static inline const char *mc_log_end(void)
{
    static char text[16384];
    size_t n;

    sl_log_set_fd(-1);
    rewind(mc_log_file);
    n = fread(text, 1, sizeof(text) - 1, mc_log_file);
    text[n] = '\0';
    fclose(mc_log_file);
    mc_log_file = NULL;
    /* Show it anyway: the test log tells what happened. */
    fputs(text, stderr);
    return text;
}

#define mc_assert_logged(text, needle)                                              \
    ck_assert_msg(strstr((text), (needle)) != NULL, "log lacks \"%s\":\n%s", (needle), \
                  (text))

/* ---- models ------------------------------------------------------------------ */

/* Writes CONFIG as a random model in a new temporary folder (in DIR). */
static inline void mc_write_model(char *dir, const char *config, uint64_t seed,
                                  sl_dtype_t dtype, int shards)
{
    mc_tmpdir(dir);
    ck_assert_int_eq(sl_model_write_random(dir, config, seed, dtype, shards), SL_OK);
}

static inline sl_model_t *mc_load(const char *dir, int tp)
{
    sl_model_options_t opt;
    sl_model_t *m = NULL;

    sl_model_options_init(&opt);
    opt.tp = tp;
    ck_assert_int_eq(sl_model_load(dir, &opt, &m), SL_OK);
    return m;
}

static inline sl_backend_t *mc_backend(const sl_model_t *m, int32_t block_size,
                                       int32_t num_blocks, int threads)
{
    sl_backend_options_t bo = {.threads = threads, .block_size = block_size,
                               .num_blocks = num_blocks};
    sl_backend_t *be = NULL;
    ck_assert_int_eq(sl_cpu_backend_create(m, &bo, &be), SL_OK);
    return be;
}

/* Logits [n, vocab] of every position of one prompt, in a fresh backend
 * (blocks 0.. in order). The caller frees the result. */
static inline float *mc_prompt_logits(const sl_model_t *m, const int32_t *ids, int32_t n,
                                      int threads)
{
    int32_t bs = 4, nb = (n + bs - 1) / bs;
    int32_t *table = malloc((size_t)nb * sizeof(int32_t)), *idx = malloc((size_t)n * 4);
    float *logits = malloc((size_t)n * (size_t)m->config->vocab_size * sizeof(float));
    sl_backend_t *be = mc_backend(m, bs, nb, threads);

    for (int32_t i = 0; i < nb; i++)
        table[i] = nb - 1 - i; /* reversed: physical order must not matter */
    for (int32_t i = 0; i < n; i++)
        idx[i] = i;
    sl_batch_seq_t seq = {.num_tokens = n, .start_pos = 0, .num_blocks = nb, .block_table = table};
    sl_batch_t batch = {.num_seqs = 1, .seqs = &seq, .num_tokens = n, .tokens = ids,
                        .num_logits = n, .logit_indices = idx};
    ck_assert_int_eq(sl_backend_forward(be, &batch, logits), SL_OK);
    sl_backend_destroy(be);
    free(table);
    free(idx);
    return logits;
}

/* max |a - b| / max |b| over N values. */
static inline double mc_rel_error(const float *a, const float *b, size_t n)
{
    double diff = 0, ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        diff = d > diff ? d : diff;
        ref = fabs((double)b[i]) > ref ? fabs((double)b[i]) : ref;
    }
    return ref > 0 ? diff / ref : diff;
}

#endif /* SL_TESTS_MODEL_CHECK_H */
