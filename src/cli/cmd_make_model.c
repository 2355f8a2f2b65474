/* cmd_make_model.c - `slinfer make-model`: a HuggingFace model folder with
 * random weights in the shapes a config.json gives, plus a tokenizer, for
 * examples, tests and benchmarks that need a real folder on disk. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_flags.h"
#include "core/log.h"
#include "model/model.h"

#define sl_mk_usage(...) sl_cli_usage_error("make-model", __VA_ARGS__)

/* The whole of PATH, NUL-terminated, or NULL (logged). */
static char *sl_mk_read(const char *path, size_t *len_p)
{
    FILE *in = fopen(path, "rb");
    char *buf = NULL;
    long len;

    if (in == NULL) {
        sl_error("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(in, 0, SEEK_END) == 0 && (len = ftell(in)) >= 0 && len < (64L << 20) &&
        fseek(in, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) != NULL &&
        fread(buf, 1, (size_t)len, in) == (size_t)len) {
        buf[len] = '\0';
        *len_p = (size_t)len;
    } else {
        sl_error("%s: cannot read (or larger than 64 MiB)", path);
        free(buf);
        buf = NULL;
    }
    fclose(in);
    return buf;
}

/* Copies DIR/NAME to OUT/NAME; a missing optional file is skipped. */
static sl_status_t sl_mk_copy(const char *dir, const char *out, const char *name, int optional)
{
    char src[4096], dst[4096];
    size_t len;
    FILE *f;

    snprintf(src, sizeof(src), "%s/%s", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", out, name);
    if (optional && (f = fopen(src, "rb")) == NULL)
        return SL_OK;
    if (optional)
        fclose(f);
    char *buf = sl_mk_read(src, &len);
    if (buf == NULL)
        return SL_ERR_IO;
    f = fopen(dst, "wb");
    int ok = f != NULL && fwrite(buf, 1, len, f) == len;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    free(buf);
    if (!ok) {
        sl_error("%s: cannot write: %s", dst, strerror(errno));
        return SL_ERR_IO;
    }
    return SL_OK;
}

static int sl_make_model_run(int argc, char **argv)
{
    const char *config = NULL, *tokenizer = NULL, *out = NULL, *v;
    long long seed = 0, shards = 1;
    sl_dtype_t dtype = SL_DTYPE_BF16;
    size_t len;

    for (int i = 1; i < argc; i++) {
        if (sl_cli_flag(argc, argv, &i, "--config", &v)) {
            config = v;
        } else if (sl_cli_flag(argc, argv, &i, "--tokenizer", &v)) {
            tokenizer = v;
        } else if (sl_cli_flag(argc, argv, &i, "--output", &v)) {
            out = v;
        } else if (sl_cli_flag(argc, argv, &i, "--seed", &v)) {
            if (!sl_cli_parse_long(v, 0, INT64_MAX, &seed))
                return sl_mk_usage("--seed needs a whole number >= 0");
        } else if (sl_cli_flag(argc, argv, &i, "--shards", &v)) {
            if (!sl_cli_parse_long(v, 1, 1000, &shards))
                return sl_mk_usage("--shards needs a number from 1 to 1000");
        } else if (sl_cli_flag(argc, argv, &i, "--dtype", &v)) {
            if (v != NULL && strcmp(v, "bf16") == 0)
                dtype = SL_DTYPE_BF16;
            else if (v != NULL && strcmp(v, "f16") == 0)
                dtype = SL_DTYPE_F16;
            else if (v != NULL && strcmp(v, "f32") == 0)
                dtype = SL_DTYPE_F32;
            else
                return sl_mk_usage("--dtype: bf16, f16 or f32");
        } else {
            return sl_mk_usage("unknown argument '%s'", argv[i]);
        }
    }
    if (config == NULL || out == NULL)
        return sl_mk_usage("--config and --output are required");

    char *text = sl_mk_read(config, &len);
    if (text == NULL)
        return SL_EXIT_FAILURE;
    sl_status_t status = sl_model_write_random(out, text, (uint64_t)seed, dtype, (int)shards);
    free(text);
    if (status == SL_OK && tokenizer != NULL) {
        if ((status = sl_mk_copy(tokenizer, out, "tokenizer.json", 0)) == SL_OK &&
            (status = sl_mk_copy(tokenizer, out, "tokenizer_config.json", 1)) == SL_OK &&
            (status = sl_mk_copy(tokenizer, out, "chat_template.jinja", 1)) == SL_OK)
            status = sl_mk_copy(tokenizer, out, "generation_config.json", 1);
    }
    if (status != SL_OK)
        return SL_EXIT_FAILURE;
    printf("%s: random weights (seed %lld) for %s%s%s\n", out, seed, config,
           tokenizer ? ", tokenizer from " : "", tokenizer ? tokenizer : "");
    return SL_EXIT_OK;
}

const sl_cli_command_t sl_cmd_make_model = {
    .name = "make-model",
    .summary = "write a model folder with random weights for a config.json",
    .usage =
        "Usage: slinfer make-model --config CONFIG.json --output DIR [--tokenizer DIR]\n"
        "                          [--seed N] [--dtype bf16|f16|f32] [--shards N]\n"
        "\n"
        "Write a HuggingFace model folder: CONFIG.json as config.json and every\n"
        "tensor it implies with seeded random values (uniform, never zero; the\n"
        "same as --load-format dummy gives), in one model.safetensors or N shards\n"
        "with an index (written in parallel, a shard per CPU: use N >= the CPUs for\n"
        "big models); with --tokenizer, copy tokenizer.json, tokenizer_config.json,\n"
        "chat_template.jinja and generation_config.json from DIR. The text such a\n"
        "model writes is noise; its shapes, files and speed are real.\n"
        "\n"
        "  slinfer make-model --config examples/tiny-model/config.json \\\n"
        "      --tokenizer examples/tiny-model --output /tmp/tiny-model\n",
    .run = sl_make_model_run,
};
