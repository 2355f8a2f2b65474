/*
 * gen_config.h - what a model folder says about ending generation: the EOS
 * token ids of generation_config.json ("eos_token_id": one id or a list, as
 * Llama 3 instruct models list <|end_of_text|>, <|eom_id|> and <|eot_id|>),
 * falling back to config.json's when generation_config.json is absent or
 * has none. src/model reads only what defines the computation, so this small
 * reader lives with the engine that stops on these ids.
 *
 * The sampling defaults generation_config.json may also hold (temperature,
 * top_p, ...) are not applied: requests say what they want.
 */
#ifndef SL_ENGINE_GEN_CONFIG_H
#define SL_ENGINE_GEN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define SL_GEN_MAX_EOS 16

typedef struct sl_gen_config {
    int32_t eos[SL_GEN_MAX_EOS]; /* [num_eos] distinct ids */
    int32_t num_eos;
} sl_gen_config_t;

/* Parses the "eos_token_id" of one JSON file's TEXT ([len]; PATH names it in
 * messages) into CFG, adding to what CFG holds. A missing or null key adds
 * nothing; anything but an id or a list of ids is SL_ERR_FORMAT. */
sl_status_t sl_gen_config_parse(const char *path, const char *text, size_t len,
                                sl_gen_config_t *cfg);

/* DIR/generation_config.json, else DIR/config.json. Neither file having
 * EOS ids is not an error (num_eos 0). */
sl_status_t sl_gen_config_load(const char *dir, sl_gen_config_t *cfg_p);

/* Adds ID (ignored when < 0, already there or the list is full). */
void sl_gen_config_add_eos(sl_gen_config_t *cfg, int32_t id);

#endif /* SL_ENGINE_GEN_CONFIG_H */
