/* chat_template.c - see chat_template.h.
 *
 * The tokenizer_config.json reader here is deliberately small (chat
 * template and special-token strings only) so that chat formatting does not
 * depend on the tokenizer. */
#include "config.h"

#include "template/chat_template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct sl_chat_template {
    sl_jinja_template_t *jinja;
    json_t *tokens; /* special token name -> string */
    char *origin;
};

/* The special tokens transformers passes to templates (special_tokens_map). */
static const char *const sl_chat_token_names[] = {
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
};

/* A token is written as "text" or as an AddedToken {"content": "text", ...}. */
static const char *sl_chat_token_text(const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static char *sl_chat_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);

    if (path != NULL)
        snprintf(path, n, "%s/%s", dir, name);
    return path;
}

/* Reads PATH whole; SL_ERR_NOT_FOUND (not logged) when it does not exist. */
static sl_status_t sl_chat_read_file(const char *path, char **text_p)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        if (errno == ENOENT)
            return SL_ERR_NOT_FOUND;
        sl_error("%s: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    for (;;) {
        size_t got;
        if (cap - len < 4096) {
            char *grown;
            cap = cap ? cap * 2 : 16384;
            grown = realloc(text, cap + 1);
            if (grown == NULL) {
                free(text);
                fclose(f);
                sl_error("%s: out of memory reading the file", path);
                return SL_ERR_NO_MEMORY;
            }
            text = grown;
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        sl_error("%s: read error: %s", path, strerror(errno));
        free(text);
        fclose(f);
        return SL_ERR_IO;
    }
    fclose(f);
    text[len] = '\0';
    if (strlen(text) != len) {
        sl_error("%s: contains a NUL byte", path);
        free(text);
        return SL_ERR_FORMAT;
    }
    *text_p = text;
    return SL_OK;
}

/* The template of tokenizer_config.json's "chat_template" value. */
static sl_status_t sl_chat_pick_template(const char *path, const json_t *ct, char **text_p)
{
    const char *text = NULL;

    if (json_is_string(ct)) {
        text = json_string_value(ct);
    } else if (json_is_array(ct)) {
        size_t i;
        json_t *entry;
        json_array_foreach(ct, i, entry) {
            const json_t *name = json_object_get(entry, "name");
            if (json_is_string(name) && strcmp(json_string_value(name), "default") == 0)
                text = json_string_value(json_object_get(entry, "template"));
        }
        if (text == NULL) {
            sl_error("%s: chat_template lists named templates but none called \"default\"", path);
            return SL_ERR_NOT_FOUND;
        }
    } else {
        sl_error("%s: chat_template must be a string or a list of {name, template}", path);
        return SL_ERR_FORMAT;
    }
    *text_p = strdup(text);
    if (*text_p == NULL)
        return SL_ERR_NO_MEMORY;
    return SL_OK;
}

void sl_chat_config_clear(sl_chat_config_t *config)
{
    free(config->template_text);
    free(config->origin);
    json_decref(config->tokens);
    memset(config, 0, sizeof(*config));
}

sl_status_t sl_chat_config_load(const char *dir, sl_chat_config_t *config_p)
{
    sl_chat_config_t cfg = {0};
    char *cfg_path = NULL, *jinja_path = NULL, *cfg_text = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    sl_status_t status = SL_ERR_NO_MEMORY;

    cfg_path = sl_chat_path(dir, "tokenizer_config.json");
    jinja_path = sl_chat_path(dir, "chat_template.jinja");
    cfg.tokens = json_object();
    if (cfg_path == NULL || jinja_path == NULL || cfg.tokens == NULL)
        goto err_paths;

    status = sl_chat_read_file(cfg_path, &cfg_text);
    if (status == SL_OK) {
        root = json_loads(cfg_text, JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL || !json_is_object(root)) {
            sl_error("%s:%d:%d: %s", cfg_path, jerr.line, jerr.column,
                     root == NULL ? jerr.text : "expected a JSON object");
            status = SL_ERR_FORMAT;
            goto err_root;
        }
        for (size_t i = 0; i < sizeof(sl_chat_token_names) / sizeof(sl_chat_token_names[0]); i++) {
            const char *tok = sl_chat_token_text(json_object_get(root, sl_chat_token_names[i]));
            if (tok != NULL && json_object_set_new(cfg.tokens, sl_chat_token_names[i],
                                                   json_string(tok)) != 0) {
                status = SL_ERR_NO_MEMORY;
                goto err_root;
            }
        }
        {
            /* additional_special_tokens: a list, passed on as strings. */
            const json_t *extra = json_object_get(root, "additional_special_tokens");
            if (json_is_array(extra)) {
                json_t *list = json_array();
                size_t i;
                json_t *entry;
                if (list == NULL || json_object_set_new(cfg.tokens, "additional_special_tokens",
                                                        list) != 0) {
                    status = SL_ERR_NO_MEMORY;
                    goto err_root;
                }
                json_array_foreach(extra, i, entry) {
                    const char *tok = sl_chat_token_text(entry);
                    if (tok != NULL && json_array_append_new(list, json_string(tok)) != 0) {
                        status = SL_ERR_NO_MEMORY;
                        goto err_root;
                    }
                }
            }
        }
    } else if (status != SL_ERR_NOT_FOUND) {
        goto err_paths;
    }

    status = sl_chat_read_file(jinja_path, &cfg.template_text);
    if (status == SL_OK) {
        cfg.origin = jinja_path;
        jinja_path = NULL;
    } else if (status != SL_ERR_NOT_FOUND) {
        goto err_root;
    } else if (root != NULL && json_object_get(root, "chat_template") != NULL) {
        status = sl_chat_pick_template(cfg_path, json_object_get(root, "chat_template"),
                                       &cfg.template_text);
        if (status != SL_OK)
            goto err_root;
        size_t n = strlen(cfg_path) + 32;
        cfg.origin = malloc(n);
        if (cfg.origin == NULL) {
            status = SL_ERR_NO_MEMORY;
            goto err_root;
        }
        snprintf(cfg.origin, n, "%s chat_template", cfg_path);
    } else {
        sl_error("%s: no chat template (neither chat_template.jinja nor a chat_template in "
                 "tokenizer_config.json)", dir);
        status = SL_ERR_NOT_FOUND;
        goto err_root;
    }
    json_decref(root);
    free(cfg_text);
    free(cfg_path);
    free(jinja_path);
    *config_p = cfg;
    return SL_OK;

err_root:
    json_decref(root);
    free(cfg_text);
err_paths:
    free(cfg_path);
    free(jinja_path);
    sl_chat_config_clear(&cfg);
    return status;
}

sl_status_t sl_chat_template_new(const char *text, const json_t *tokens, const char *origin,
                                 sl_jinja_error_t *error, sl_chat_template_t **tpl_p)
{
    sl_chat_template_t *tpl;
    sl_jinja_error_t local;
    sl_status_t status;

    if (text == NULL || (tokens != NULL && !json_is_object(tokens)))
        return SL_ERR_INVALID_ARG;
    if (error == NULL)
        error = &local;
    tpl = calloc(1, sizeof(*tpl));
    if (tpl == NULL)
        return SL_ERR_NO_MEMORY;
    tpl->origin = strdup(origin != NULL ? origin : "chat template");
    tpl->tokens = tokens != NULL ? json_deep_copy(tokens) : json_object();
    if (tpl->origin == NULL || tpl->tokens == NULL) {
        status = SL_ERR_NO_MEMORY;
        goto err_tpl;
    }
    status = sl_jinja_parse(text, strlen(text), error, &tpl->jinja);
    if (status != SL_OK) {
        sl_error("%s:%d:%d: %s", tpl->origin, error->line, error->column, error->message);
        goto err_tpl;
    }
    *tpl_p = tpl;
    return SL_OK;

err_tpl:
    sl_chat_template_free(tpl);
    return status;
}

sl_status_t sl_chat_template_load(const char *dir, sl_jinja_error_t *error,
                                  sl_chat_template_t **tpl_p)
{
    sl_chat_config_t cfg;
    sl_status_t status = sl_chat_config_load(dir, &cfg);

    if (status != SL_OK)
        return status;
    status = sl_chat_template_new(cfg.template_text, cfg.tokens, cfg.origin, error, tpl_p);
    sl_chat_config_clear(&cfg);
    return status;
}

/* The variables the template sees, as transformers passes them. */
static sl_status_t sl_chat_vars(const sl_chat_template_t *tpl, const sl_chat_request_t *req,
                                json_t **vars_p)
{
    static const char *const fixed[] = {"messages", "tools", "documents",
                                        "add_generation_prompt"};
    json_t *vars = json_deep_copy(tpl->tokens);
    const char *key;
    json_t *val;

    if (vars == NULL)
        return SL_ERR_NO_MEMORY;
    if (req->extra != NULL) {
        json_object_foreach((json_t *)req->extra, key, val) {
            for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
                if (strcmp(key, fixed[i]) == 0) {
                    sl_error("chat template variable '%s' cannot be given as an extra variable",
                             key);
                    json_decref(vars);
                    return SL_ERR_INVALID_ARG;
                }
            }
            if (json_object_set(vars, key, val) != 0)
                goto err_vars;
        }
    }
    if (json_object_set(vars, "messages", (json_t *)req->messages) != 0 ||
        json_object_set_new(vars, "tools",
                            req->tools ? json_incref((json_t *)req->tools) : json_null()) != 0 ||
        json_object_set_new(vars, "documents", req->documents
                                                   ? json_incref((json_t *)req->documents)
                                                   : json_null()) != 0 ||
        json_object_set_new(vars, "add_generation_prompt",
                            json_boolean(req->add_generation_prompt)) != 0)
        goto err_vars;
    *vars_p = vars;
    return SL_OK;

err_vars:
    json_decref(vars);
    return SL_ERR_NO_MEMORY;
}

sl_status_t sl_chat_template_render(const sl_chat_template_t *tpl,
                                    const sl_chat_request_t *request, sl_jinja_error_t *error,
                                    char **text_p)
{
    sl_jinja_render_opts_t opts;
    sl_jinja_error_t local;
    json_t *vars;
    sl_status_t status;

    if (tpl == NULL || request == NULL || text_p == NULL)
        return SL_ERR_INVALID_ARG;
    if (!json_is_array(request->messages) ||
        (request->extra != NULL && !json_is_object(request->extra))) {
        sl_error("chat request: messages must be a JSON array and extra variables an object");
        return SL_ERR_INVALID_ARG;
    }
    if (error == NULL)
        error = &local;
    status = sl_chat_vars(tpl, request, &vars);
    if (status != SL_OK)
        return status;
    sl_jinja_render_opts_default(&opts);
    opts.now = request->now;
    status = sl_jinja_render(tpl->jinja, vars, &opts, error, text_p, NULL);
    json_decref(vars);
    if (status != SL_OK) {
        if (error->line > 0)
            sl_error("%s:%d:%d: %s%s", tpl->origin, error->line, error->column,
                     error->raised ? "raise_exception: " : "", error->message);
        else
            sl_error("%s: %s", tpl->origin, error->message);
    }
    return status;
}

sl_status_t sl_chat_request_from_json(const json_t *conv, sl_chat_request_t *request_p,
                                      json_t **extra_p)
{
    sl_chat_request_t req = {0};
    const char *key;
    json_t *val, *extra;

    if (json_is_array(conv)) {
        req.messages = conv;
        *request_p = req;
        *extra_p = NULL;
        return SL_OK;
    }
    if (!json_is_object(conv) || !json_is_array(json_object_get(conv, "messages"))) {
        sl_error("conversation: expected a JSON array of messages or an object with "
                 "\"messages\"");
        return SL_ERR_FORMAT;
    }
    extra = json_object();
    if (extra == NULL)
        return SL_ERR_NO_MEMORY;
    json_object_foreach((json_t *)conv, key, val) {
        if (strcmp(key, "messages") == 0) {
            req.messages = val;
        } else if (strcmp(key, "tools") == 0) {
            req.tools = json_is_null(val) ? NULL : val;
        } else if (strcmp(key, "documents") == 0) {
            req.documents = json_is_null(val) ? NULL : val;
        } else if (strcmp(key, "add_generation_prompt") == 0) {
            req.add_generation_prompt = json_is_true(val);
        } else if (json_object_set(extra, key, val) != 0) {
            json_decref(extra);
            return SL_ERR_NO_MEMORY;
        }
    }
    req.extra = extra;
    *request_p = req;
    *extra_p = extra;
    return SL_OK;
}

void sl_chat_template_free(sl_chat_template_t *tpl)
{
    if (tpl == NULL)
        return;
    sl_jinja_free(tpl->jinja);
    json_decref(tpl->tokens);
    free(tpl->origin);
    free(tpl);
}

sl_status_t sl_chat_render(const char *template_text, const char *bos_token,
                           const char *eos_token, const sl_chat_request_t *request,
                           sl_jinja_error_t *error, char **text_p)
{
    sl_chat_template_t *tpl;
    json_t *tokens = json_object();
    sl_status_t status;

    if (tokens == NULL)
        return SL_ERR_NO_MEMORY;
    if ((bos_token != NULL &&
         json_object_set_new(tokens, "bos_token", json_string(bos_token)) != 0) ||
        (eos_token != NULL &&
         json_object_set_new(tokens, "eos_token", json_string(eos_token)) != 0)) {
        json_decref(tokens);
        return SL_ERR_NO_MEMORY;
    }
    status = sl_chat_template_new(template_text, tokens, NULL, error, &tpl);
    json_decref(tokens);
    if (status != SL_OK)
        return status;
    status = sl_chat_template_render(tpl, request, error, text_p);
    sl_chat_template_free(tpl);
    return status;
}
