/* gen_config.c - EOS ids of a model folder; see gen_config.h. */
#include "config.h"

#include "engine/gen_config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/log.h"
#include "model/model_config.h"

/* Config files are small; anything bigger is not one. */
#define SL_GEN_MAX_FILE (4u << 20)

void sl_gen_config_add_eos(sl_gen_config_t *cfg, int32_t id)
{
    if (id < 0 || cfg->num_eos >= SL_GEN_MAX_EOS)
        return;
    for (int32_t i = 0; i < cfg->num_eos; i++)
        if (cfg->eos[i] == id)
            return;
    cfg->eos[cfg->num_eos++] = id;
}

static bool sl_gen_id(const json_t *v, int32_t *id_p)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return false;
    *id_p = (int32_t)json_integer_value(v);
    return true;
}

sl_status_t sl_gen_config_parse(const char *path, const char *text, size_t len,
                                sl_gen_config_t *cfg)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr), *eos;
    sl_status_t s = SL_OK;
    int32_t id;

    if (root == NULL || !json_is_object(root)) {
        sl_error("%s:%d: %s", path, root == NULL ? jerr.line : 1,
                 root == NULL ? jerr.text : "not a JSON object");
        json_decref(root);
        return SL_ERR_FORMAT;
    }
    eos = json_object_get(root, "eos_token_id");
    if (eos == NULL || json_is_null(eos)) {
        /* nothing to add */
    } else if (sl_gen_id(eos, &id)) {
        sl_gen_config_add_eos(cfg, id);
    } else if (json_is_array(eos)) {
        for (size_t i = 0; i < json_array_size(eos); i++) {
            if (!sl_gen_id(json_array_get(eos, i), &id)) {
                sl_error("%s: eos_token_id[%zu] is not a token id", path, i);
                s = SL_ERR_FORMAT;
                break;
            }
            sl_gen_config_add_eos(cfg, id);
        }
    } else {
        sl_error("%s: eos_token_id must be a token id or a list of them", path);
        s = SL_ERR_FORMAT;
    }
    json_decref(root);
    return s;
}

/* Adds the EOS ids of DIR/NAME when the file exists. */
static sl_status_t sl_gen_read(const char *dir, const char *name, sl_gen_config_t *cfg)
{
    char path[4096];
    struct stat st;
    char *text;
    size_t len;
    sl_status_t s;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        sl_error("%s/%s: path too long", dir, name);
        return SL_ERR_INVALID_ARG;
    }
    if (stat(path, &st) != 0)
        return SL_OK; /* optional */
    if ((s = sl_model_read_file(path, SL_GEN_MAX_FILE, &text, &len)) != SL_OK)
        return s;
    s = sl_gen_config_parse(path, text, len, cfg);
    free(text);
    return s;
}

sl_status_t sl_gen_config_load(const char *dir, sl_gen_config_t *cfg_p)
{
    sl_gen_config_t cfg = {.num_eos = 0};
    sl_status_t s;

    if ((s = sl_gen_read(dir, "generation_config.json", &cfg)) != SL_OK)
        return s;
    if (cfg.num_eos == 0 && (s = sl_gen_read(dir, "config.json", &cfg)) != SL_OK)
        return s;
    *cfg_p = cfg;
    return SL_OK;
}
