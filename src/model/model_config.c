/* model_config.c - config.json parsing; see model_config.h. */
#include "config.h"

#include "model/model_config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

const char sl_model_supported_archs[] =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";

/* Sanity limits: larger values are refused before anything is sized by them. */
#define SL_CFG_MAX_LAYERS 4096
#define SL_CFG_MAX_HIDDEN (1 << 20)
#define SL_CFG_MAX_HEADS 4096
#define SL_CFG_MAX_HEAD_DIM 1024
#define SL_CFG_MAX_VOCAB (1 << 24)
#define SL_CFG_MAX_POSITION (1 << 26)
#define SL_CFG_MAX_FILE (16u << 20)

static const struct {
    const char *arch_name;
    const char *model_type;
    sl_arch_t arch;
} sl_archs[] = {
    {"LlamaForCausalLM", "llama", SL_ARCH_LLAMA},
    {"MistralForCausalLM", "mistral", SL_ARCH_MISTRAL},
    {"Qwen2ForCausalLM", "qwen2", SL_ARCH_QWEN2},
    {"Qwen3ForCausalLM", "qwen3", SL_ARCH_QWEN3},
};
#define SL_NUM_ARCHS (sizeof(sl_archs) / sizeof(sl_archs[0]))

const char *sl_rope_type_name(sl_rope_type_t type)
{
    switch (type) {
    case SL_ROPE_DEFAULT: return "default";
    case SL_ROPE_LINEAR: return "linear";
    case SL_ROPE_LLAMA3: return "llama3";
    case SL_ROPE_YARN: return "yarn";
    }
    return "?";
}

sl_status_t sl_model_read_file(const char *path, size_t max, char **text_p, size_t *len_p)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;

    if (f == NULL) {
        int e = errno;
        sl_error("%s: cannot open: %s", path, strerror(e));
        return e == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    len = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        sl_error("%s: read error: %s", path, strerror(errno));
        goto err;
    }
    if (len > max) {
        sl_error("%s: larger than %zu bytes: not a config file", path, max);
        goto err;
    }
    fclose(f);
    buf[len] = '\0';
    *text_p = buf;
    *len_p = len;
    return SL_OK;
err:
    fclose(f);
    free(buf);
    return SL_ERR_IO;
}

/* ---- typed field access; null counts as absent ----------------------------- */

static json_t *sl_cfg_get(json_t *obj, const char *key)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

static sl_status_t sl_cfg_int(const char *path, json_t *obj, const char *what, const char *key,
                              int64_t def, int required, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = sl_cfg_get(obj, key);
    int64_t x;

    if (v == NULL) {
        if (required) {
            sl_error("%s: missing field \"%s%s\"", path, what, key);
            return SL_ERR_FORMAT;
        }
        *out = def;
        return SL_OK;
    }
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        x = (int64_t)json_real_value(v);
    } else {
        sl_error("%s: field \"%s%s\" is not an integer", path, what, key);
        return SL_ERR_FORMAT;
    }
    if (x < min || x > max) {
        sl_error("%s: field \"%s%s\" = %lld is outside [%lld, %lld]", path, what, key,
                 (long long)x, (long long)min, (long long)max);
        return x > max ? SL_ERR_UNSUPPORTED : SL_ERR_FORMAT;
    }
    *out = x;
    return SL_OK;
}

static sl_status_t sl_cfg_num(const char *path, json_t *obj, const char *what, const char *key,
                              double def, int required, double *out)
{
    json_t *v = sl_cfg_get(obj, key);

    if (v == NULL) {
        if (required) {
            sl_error("%s: missing field \"%s%s\"", path, what, key);
            return SL_ERR_FORMAT;
        }
        *out = def;
        return SL_OK;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        sl_error("%s: field \"%s%s\" is not a number", path, what, key);
        return SL_ERR_FORMAT;
    }
    *out = json_number_value(v);
    return SL_OK;
}

static sl_status_t sl_cfg_bool(const char *path, json_t *obj, const char *key, int def, int *out)
{
    json_t *v = sl_cfg_get(obj, key);

    if (v == NULL) {
        *out = def;
        return SL_OK;
    }
    if (!json_is_boolean(v)) {
        sl_error("%s: field \"%s\" is not true or false", path, key);
        return SL_ERR_FORMAT;
    }
    *out = json_is_true(v);
    return SL_OK;
}

/* ---- architecture ------------------------------------------------------------- */

static sl_status_t sl_cfg_arch(const char *path, json_t *root, sl_model_config_t *c)
{
    json_t *archs = sl_cfg_get(root, "architectures");
    json_t *type = sl_cfg_get(root, "model_type");
    const char *first = NULL;

    if (archs != NULL && !json_is_array(archs)) {
        sl_error("%s: field \"architectures\" is not an array", path);
        return SL_ERR_FORMAT;
    }
    for (size_t i = 0; archs != NULL && i < json_array_size(archs); i++) {
        const char *name = json_string_value(json_array_get(archs, i));
        if (name == NULL)
            continue;
        if (first == NULL)
            first = name;
        for (size_t a = 0; a < SL_NUM_ARCHS; a++) {
            if (strcmp(name, sl_archs[a].arch_name) == 0) {
                c->arch = sl_archs[a].arch;
                c->arch_name = sl_archs[a].arch_name;
                return SL_OK;
            }
        }
    }
    if (first == NULL && json_is_string(type)) {
        for (size_t a = 0; a < SL_NUM_ARCHS; a++) {
            if (strcmp(json_string_value(type), sl_archs[a].model_type) == 0) {
                c->arch = sl_archs[a].arch;
                c->arch_name = sl_archs[a].arch_name;
                return SL_OK;
            }
        }
        first = json_string_value(type);
    }
    sl_error("%s: architecture '%s' is not supported; supported: %s", path,
             first != NULL ? first : "(none given)", sl_model_supported_archs);
    return SL_ERR_UNSUPPORTED;
}

/* ---- RoPE ---------------------------------------------------------------------- */

static double sl_yarn_mscale(double scale, double mscale)
{
    return scale <= 1.0 ? 1.0 : 0.1 * mscale * log(scale) + 1.0;
}

static sl_status_t sl_cfg_rope(const char *path, json_t *root, sl_model_config_t *c)
{
    json_t *params = sl_cfg_get(root, "rope_parameters");
    const char *what = "rope_parameters.";
    sl_rope_config_t *r = &c->rope;
    double top_theta, orig_default, prf, mscale, mscale_all;
    const char *type_name = "default";
    json_t *type;
    sl_status_t s;

    if (params == NULL) {
        params = sl_cfg_get(root, "rope_scaling");
        what = "rope_scaling.";
    }
    if (params != NULL && !json_is_object(params)) {
        sl_error("%s: field \"%.*s\" is not an object", path, (int)strlen(what) - 1, what);
        return SL_ERR_FORMAT;
    }
    if (params != NULL && sl_cfg_get(params, "full_attention") != NULL) {
        sl_error("%s: per-layer-type RoPE parameters are not supported yet", path);
        return SL_ERR_UNSUPPORTED;
    }
    type = sl_cfg_get(params, "rope_type");
    if (type == NULL)
        type = sl_cfg_get(params, "type");
    if (type != NULL) {
        if (!json_is_string(type)) {
            sl_error("%s: field \"%srope_type\" is not a string", path, what);
            return SL_ERR_FORMAT;
        }
        type_name = json_string_value(type);
    }
    if (strcmp(type_name, "default") == 0) {
        r->type = SL_ROPE_DEFAULT;
    } else if (strcmp(type_name, "linear") == 0) {
        r->type = SL_ROPE_LINEAR;
    } else if (strcmp(type_name, "llama3") == 0) {
        r->type = SL_ROPE_LLAMA3;
    } else if (strcmp(type_name, "yarn") == 0) {
        r->type = SL_ROPE_YARN;
    } else {
        sl_error("%s: rope type '%s' is not supported; supported: default, linear, llama3, yarn",
                 path, type_name);
        return SL_ERR_UNSUPPORTED;
    }

    if ((s = sl_cfg_num(path, root, "", "rope_theta", 10000.0, 0, &top_theta)) != SL_OK ||
        (s = sl_cfg_num(path, params, what, "rope_theta", top_theta, 0, &r->theta)) != SL_OK ||
        (s = sl_cfg_num(path, root, "", "partial_rotary_factor", 1.0, 0, &prf)) != SL_OK ||
        (s = sl_cfg_num(path, params, what, "partial_rotary_factor", prf, 0, &prf)) != SL_OK)
        return s;
    if (!(r->theta > 1.0)) {
        sl_error("%s: rope_theta %g must be greater than 1", path, r->theta);
        return SL_ERR_FORMAT;
    }
    if (prf != 1.0) {
        sl_error("%s: partial_rotary_factor %g is not supported (only 1)", path, prf);
        return SL_ERR_UNSUPPORTED;
    }
    r->rotary_dim = (int)c->head_dim;
    r->factor = 1.0;
    r->attention_factor = 1.0;
    /* transformers 5: a top-level original_max_position_embeddings wins, else
     * the rope dict's, else max_position_embeddings. */
    if ((s = sl_cfg_num(path, params, what, "original_max_position_embeddings",
                        (double)c->max_position, 0, &orig_default)) != SL_OK ||
        (s = sl_cfg_num(path, root, "", "original_max_position_embeddings", orig_default, 0,
                        &r->original_max_position)) != SL_OK)
        return s;

    switch (r->type) {
    case SL_ROPE_DEFAULT:
        break;
    case SL_ROPE_LINEAR:
        s = sl_cfg_num(path, params, what, "factor", 1.0, 1, &r->factor);
        break;
    case SL_ROPE_LLAMA3:
        if ((s = sl_cfg_num(path, params, what, "factor", 1.0, 1, &r->factor)) != SL_OK ||
            (s = sl_cfg_num(path, params, what, "low_freq_factor", 1.0, 1,
                            &r->low_freq_factor)) != SL_OK ||
            (s = sl_cfg_num(path, params, what, "high_freq_factor", 1.0, 1,
                            &r->high_freq_factor)) != SL_OK)
            return s;
        if (!(r->high_freq_factor > r->low_freq_factor) || !(r->low_freq_factor > 0)) {
            sl_error("%s: llama3 rope needs 0 < low_freq_factor < high_freq_factor, got %g, %g",
                     path, r->low_freq_factor, r->high_freq_factor);
            return SL_ERR_FORMAT;
        }
        break;
    case SL_ROPE_YARN:
        if ((s = sl_cfg_num(path, params, what, "factor",
                            (double)c->max_position / r->original_max_position, 0,
                            &r->factor)) != SL_OK ||
            (s = sl_cfg_num(path, params, what, "mscale", 0.0, 0, &mscale)) != SL_OK ||
            (s = sl_cfg_num(path, params, what, "mscale_all_dim", 0.0, 0, &mscale_all)) != SL_OK ||
            (s = sl_cfg_num(path, params, what, "beta_fast", 0.0, 0, &r->beta_fast)) != SL_OK ||
            (s = sl_cfg_num(path, params, what, "beta_slow", 0.0, 0, &r->beta_slow)) != SL_OK ||
            (s = sl_cfg_bool(path, params, "truncate", 1, &r->truncate)) != SL_OK)
            return s;
        /* Python's `x or default`: 0 means the default too. */
        if (r->beta_fast == 0.0)
            r->beta_fast = 32.0;
        if (r->beta_slow == 0.0)
            r->beta_slow = 1.0;
        if (mscale != 0.0 && mscale_all != 0.0)
            r->attention_factor =
                sl_yarn_mscale(r->factor, mscale) / sl_yarn_mscale(r->factor, mscale_all);
        else
            r->attention_factor = sl_yarn_mscale(r->factor, 1.0);
        s = sl_cfg_num(path, params, what, "attention_factor", r->attention_factor, 0,
                       &r->attention_factor);
        break;
    }
    if (s != SL_OK)
        return s;
    if (!(r->factor > 0) || !(r->original_max_position >= 1)) {
        sl_error("%s: rope factor %g and original_max_position_embeddings %g must be positive",
                 path, r->factor, r->original_max_position);
        return SL_ERR_FORMAT;
    }
    return SL_OK;
}

/* ---- sliding window --------------------------------------------------------------- */

static sl_status_t sl_cfg_sliding(const char *path, json_t *root, sl_model_config_t *c)
{
    json_t *types = sl_cfg_get(root, "layer_types");
    int64_t window, max_window_layers;
    int use = 1, any = 0;
    sl_status_t s;

    if (c->arch == SL_ARCH_LLAMA)
        return SL_OK; /* Llama has no sliding window */
    /* MistralConfig and Qwen2Config default sliding_window to 4096; an
     * explicit null means none. */
    if ((s = sl_cfg_int(path, root, "", "sliding_window", 4096, 0, 0, INT32_MAX, &window)) != SL_OK)
        return s;
    if (json_is_null(json_object_get(root, "sliding_window")))
        window = 0;
    if (c->arch == SL_ARCH_QWEN2 || c->arch == SL_ARCH_QWEN3) {
        if ((s = sl_cfg_bool(path, root, "use_sliding_window", 0, &use)) != SL_OK ||
            (s = sl_cfg_int(path, root, "", "max_window_layers", 28, 0, 0, INT32_MAX,
                            &max_window_layers)) != SL_OK)
            return s;
        if (!use)
            window = 0;
    } else {
        max_window_layers = 0; /* Mistral: every layer */
    }
    if (window == 0)
        return SL_OK;

    c->layer_sliding = calloc((size_t)c->num_layers, 1);
    if (c->layer_sliding == NULL) {
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    if (types != NULL) {
        if (!json_is_array(types) || (int64_t)json_array_size(types) != c->num_layers) {
            sl_error("%s: field \"layer_types\" must be an array of %lld strings", path,
                     (long long)c->num_layers);
            return SL_ERR_FORMAT;
        }
        for (int64_t i = 0; i < c->num_layers; i++) {
            const char *t = json_string_value(json_array_get(types, (size_t)i));
            if (t != NULL && strcmp(t, "sliding_attention") == 0) {
                c->layer_sliding[i] = 1;
            } else if (t == NULL || strcmp(t, "full_attention") != 0) {
                sl_error("%s: layer_types[%lld] '%s' is not supported", path, (long long)i,
                         t != NULL ? t : "(not a string)");
                return SL_ERR_UNSUPPORTED;
            }
        }
    } else {
        for (int64_t i = max_window_layers; i < c->num_layers; i++)
            c->layer_sliding[i] = 1;
    }
    for (int64_t i = 0; i < c->num_layers; i++)
        any |= c->layer_sliding[i];
    if (!any) {
        free(c->layer_sliding);
        c->layer_sliding = NULL;
        return SL_OK;
    }
    c->sliding_window = window;
    return SL_OK;
}

/* ---- the whole config ------------------------------------------------------------ */

static sl_status_t sl_cfg_fill(const char *path, json_t *root, sl_model_config_t *c)
{
    json_t *act = sl_cfg_get(root, "hidden_act");
    json_t *dtype = sl_cfg_get(root, "dtype");
    int attention_bias;
    sl_status_t s;

    if ((s = sl_cfg_arch(path, root, c)) != SL_OK)
        return s;
    if ((s = sl_cfg_int(path, root, "", "hidden_size", 0, 1, 1, SL_CFG_MAX_HIDDEN,
                        &c->hidden_size)) != SL_OK ||
        (s = sl_cfg_int(path, root, "", "intermediate_size", 0, 1, 1, SL_CFG_MAX_HIDDEN * 8,
                        &c->intermediate_size)) != SL_OK ||
        (s = sl_cfg_int(path, root, "", "num_hidden_layers", 0, 1, 1, SL_CFG_MAX_LAYERS,
                        &c->num_layers)) != SL_OK ||
        (s = sl_cfg_int(path, root, "", "num_attention_heads", 0, 1, 1, SL_CFG_MAX_HEADS,
                        &c->num_heads)) != SL_OK ||
        (s = sl_cfg_int(path, root, "", "num_key_value_heads", c->num_heads, 0, 1,
                        SL_CFG_MAX_HEADS, &c->num_kv_heads)) != SL_OK ||
        (s = sl_cfg_int(path, root, "", "vocab_size", 0, 1, 1, SL_CFG_MAX_VOCAB,
                        &c->vocab_size)) != SL_OK ||
        (s = sl_cfg_int(path, root, "", "max_position_embeddings", 2048, 0, 1,
                        SL_CFG_MAX_POSITION, &c->max_position)) != SL_OK ||
        (s = sl_cfg_num(path, root, "", "rms_norm_eps", 1e-6, 0, &c->rms_norm_eps)) != SL_OK ||
        (s = sl_cfg_bool(path, root, "tie_word_embeddings", 0, &c->tie_word_embeddings)) != SL_OK ||
        (s = sl_cfg_bool(path, root, "attention_bias", 0, &attention_bias)) != SL_OK ||
        (s = sl_cfg_bool(path, root, "mlp_bias", 0, &c->mlp_bias)) != SL_OK)
        return s;
    /* Qwen3Config defaults head_dim to 128; the others derive it. */
    if ((s = sl_cfg_int(path, root, "", "head_dim",
                        c->arch == SL_ARCH_QWEN3 ? 128 : c->hidden_size / c->num_heads, 0, 2,
                        SL_CFG_MAX_HEAD_DIM, &c->head_dim)) != SL_OK)
        return s;
    if (c->head_dim % 2 != 0) {
        sl_error("%s: head_dim %lld must be even for RoPE", path, (long long)c->head_dim);
        return SL_ERR_FORMAT;
    }
    if (c->num_heads % c->num_kv_heads != 0) {
        sl_error("%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                 path, (long long)c->num_heads, (long long)c->num_kv_heads);
        return SL_ERR_FORMAT;
    }
    if (!(c->rms_norm_eps >= 0)) {
        sl_error("%s: rms_norm_eps %g must not be negative", path, c->rms_norm_eps);
        return SL_ERR_FORMAT;
    }
    if (act != NULL && (!json_is_string(act) || strcmp(json_string_value(act), "silu") != 0)) {
        sl_error("%s: hidden_act '%s' is not supported (only silu)", path,
                 json_is_string(act) ? json_string_value(act) : "(not a string)");
        return SL_ERR_UNSUPPORTED;
    }
    switch (c->arch) {
    case SL_ARCH_LLAMA:
    case SL_ARCH_QWEN3:
        c->qkv_bias = c->o_bias = attention_bias;
        break;
    case SL_ARCH_MISTRAL:
        break; /* MistralAttention has no biases */
    case SL_ARCH_QWEN2:
        c->qkv_bias = 1;
        break;
    }
    c->qk_norm = c->arch == SL_ARCH_QWEN3;
    if (c->arch != SL_ARCH_LLAMA)
        c->mlp_bias = 0; /* only LlamaMLP reads mlp_bias */

    if (dtype == NULL)
        dtype = sl_cfg_get(root, "torch_dtype");
    c->dtype = SL_DTYPE_BF16;
    if (dtype != NULL) {
        c->dtype = json_is_string(dtype) ? sl_dtype_from_torch_name(json_string_value(dtype))
                                         : SL_DTYPE_INVALID;
        if (c->dtype == SL_DTYPE_INVALID) {
            sl_error("%s: dtype '%s' is not supported; supported: bfloat16, float16, float32",
                     path, json_is_string(dtype) ? json_string_value(dtype) : "(not a string)");
            return SL_ERR_UNSUPPORTED;
        }
    }
    if ((s = sl_cfg_rope(path, root, c)) != SL_OK)
        return s;
    c->rope.inv_freq_dtype = c->dtype;
    return sl_cfg_sliding(path, root, c);
}

sl_status_t sl_model_config_parse(const char *path, const char *text, size_t len,
                                  sl_model_config_t **config_p)
{
    json_error_t jerr;
    json_t *root;
    sl_model_config_t *c;
    sl_status_t s;

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        sl_error("%s: not valid JSON: %s (line %d, column %d)", path, jerr.text, jerr.line,
                 jerr.column);
        return SL_ERR_FORMAT;
    }
    if (!json_is_object(root)) {
        sl_error("%s: not a JSON object", path);
        json_decref(root);
        return SL_ERR_FORMAT;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        sl_error("%s: out of memory", path);
        json_decref(root);
        return SL_ERR_NO_MEMORY;
    }
    s = sl_cfg_fill(path, root, c);
    json_decref(root);
    if (s != SL_OK) {
        sl_model_config_free(c);
        return s;
    }
    *config_p = c;
    return SL_OK;
}

sl_status_t sl_model_config_load(const char *dir, sl_model_config_t **config_p)
{
    char *path, *text;
    size_t len;
    sl_status_t s;

    if (asprintf(&path, "%s/config.json", dir) < 0) {
        sl_error("%s: out of memory", dir);
        return SL_ERR_NO_MEMORY;
    }
    s = sl_model_read_file(path, SL_CFG_MAX_FILE, &text, &len);
    if (s == SL_OK) {
        s = sl_model_config_parse(path, text, len, config_p);
        free(text);
    }
    free(path);
    return s;
}

void sl_model_config_free(sl_model_config_t *config)
{
    if (config == NULL)
        return;
    free(config->layer_sliding);
    free(config);
}
