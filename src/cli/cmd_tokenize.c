/* cmd_tokenize.c - `slinfer tokenize`: text to token ids and back with a
 * model's tokenizer.json. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *dir;
    bool special; /* add special tokens / keep them when decoding */
    bool jsonl;
    bool decode;
} sl_tokenize_opts_t;

static char *sl_tokenize_read_all(FILE *in, size_t *len_p)
{
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);

    while (buf != NULL && (got = fread(buf + len, 1, cap - len, in)) > 0) {
        len += got;
        if (len == cap) {
            char *p = realloc(buf, cap *= 2);
            if (p == NULL)
                free(buf);
            buf = p;
        }
    }
    if (buf == NULL || ferror(in)) {
        sl_error("tokenize: cannot read standard input");
        free(buf);
        return NULL;
    }
    *len_p = len;
    return buf;
}

static int sl_tokenize_print_ids(const int32_t *ids, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ", %d" : "%d", (int)ids[i]);
    fputs("]\n", stdout);
    return SL_EXIT_OK;
}

static int sl_tokenize_encode(const sl_tok_t *tok, const char *text, size_t len, bool special)
{
    int32_t *ids;
    size_t n;
    int rc;

    if (sl_tok_encode(tok, text, len, special, &ids, &n) != SL_OK)
        return SL_EXIT_FAILURE;
    rc = sl_tokenize_print_ids(ids, n);
    free(ids);
    return rc;
}

/* A JSON array of ids (or {"ids": [...]}) into a malloc'ed array. */
static int sl_tokenize_parse_ids(json_t *j, const char *where, int32_t **ids_p, size_t *n_p)
{
    size_t i;
    json_t *v;
    int32_t *ids;

    if (json_is_object(j))
        j = json_object_get(j, "ids");
    if (!json_is_array(j)) {
        sl_error("tokenize: %s: expected a JSON array of token ids", where);
        return -1;
    }
    ids = malloc((json_array_size(j) + 1) * sizeof(*ids));
    if (ids == NULL)
        return -1;
    json_array_foreach(j, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX) {
            sl_error("tokenize: %s: element %zu is not a token id", where, i);
            free(ids);
            return -1;
        }
        ids[i] = (int32_t)json_integer_value(v);
    }
    *ids_p = ids;
    *n_p = json_array_size(j);
    return 0;
}

static int sl_tokenize_decode(const sl_tok_t *tok, json_t *j, const char *where, bool special,
                              bool as_json)
{
    int32_t *ids;
    size_t n, len;
    char *text;
    int rc = SL_EXIT_OK;

    if (sl_tokenize_parse_ids(j, where, &ids, &n) != 0)
        return SL_EXIT_FAILURE;
    if (sl_tok_decode(tok, ids, n, !special, &text, &len) != SL_OK) {
        free(ids);
        return SL_EXIT_FAILURE;
    }
    if (as_json) {
        json_t *s = json_stringn(text, len);
        char *line = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
        if (line == NULL) {
            sl_error("tokenize: %s: cannot write the text as JSON", where);
            rc = SL_EXIT_FAILURE;
        } else {
            puts(line);
        }
        free(line);
        json_decref(s);
    } else {
        fwrite(text, 1, len, stdout);
    }
    free(text);
    free(ids);
    return rc;
}

/* --jsonl: one request per line, one answer per line. */
static int sl_tokenize_lines(const sl_tok_t *tok, const sl_tokenize_opts_t *o)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = SL_EXIT_OK;

    while (rc == SL_EXIT_OK && (got = getline(&line, &cap, stdin)) >= 0) {
        char where[64];
        json_error_t err;
        json_t *j, *text;
        lineno++;
        snprintf(where, sizeof(where), "line %ld", lineno);
        j = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (j == NULL) {
            sl_error("tokenize: %s:%d: %s", where, err.column, err.text);
            rc = SL_EXIT_FAILURE;
            break;
        }
        if (o->decode) {
            rc = sl_tokenize_decode(tok, j, where, o->special, true);
        } else {
            text = json_is_object(j) ? json_object_get(j, "text") : j;
            if (!json_is_string(text)) {
                sl_error("tokenize: %s: expected a JSON string or {\"text\": ...}", where);
                rc = SL_EXIT_FAILURE;
            } else {
                rc = sl_tokenize_encode(tok, json_string_value(text), json_string_length(text),
                                        o->special);
            }
        }
        json_decref(j);
    }
    free(line);
    return rc;
}

static int sl_tokenize_run(int argc, char **argv)
{
    sl_tokenize_opts_t o = {.special = true};
    const char *model = NULL, *value;
    sl_tok_t *tok;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (sl_cli_flag(argc, argv, &i, "--tokenizer", &value)) {
            if (value == NULL)
                return sl_cli_usage_error("tokenize", "--tokenizer needs a directory");
            o.dir = value;
        } else if (sl_cli_flag(argc, argv, &i, "--model", &value)) {
            if (value == NULL)
                return sl_cli_usage_error("tokenize", "--model needs a directory");
            model = value;
        } else if (strcmp(argv[i], "--no-special") == 0) {
            o.special = false;
        } else if (strcmp(argv[i], "--jsonl") == 0) {
            o.jsonl = true;
        } else if (strcmp(argv[i], "--decode") == 0) {
            o.decode = true;
        } else {
            return sl_cli_usage_error("tokenize", "unknown argument '%s'", argv[i]);
        }
    }
    if (o.dir == NULL)
        o.dir = model;
    if (o.dir == NULL)
        return sl_cli_usage_error("tokenize", "--tokenizer DIR (or --model DIR) is required");
    if (sl_tok_load(o.dir, &tok) != SL_OK)
        return SL_EXIT_FAILURE;

    if (o.jsonl) {
        rc = sl_tokenize_lines(tok, &o);
    } else {
        size_t len;
        char *text = sl_tokenize_read_all(stdin, &len);
        if (text == NULL) {
            rc = SL_EXIT_FAILURE;
        } else if (o.decode) {
            json_error_t err;
            json_t *j = json_loadb(text, len, 0, &err);
            if (j == NULL) {
                sl_error("tokenize: standard input:%d:%d: %s", err.line, err.column, err.text);
                rc = SL_EXIT_FAILURE;
            } else {
                rc = sl_tokenize_decode(tok, j, "standard input", o.special, false);
                json_decref(j);
            }
        } else {
            rc = sl_tokenize_encode(tok, text, len, o.special);
        }
        free(text);
    }
    sl_tok_free(tok);
    if (fflush(stdout) != 0)
        rc = SL_EXIT_FAILURE;
    return rc;
}

const sl_cli_command_t sl_cmd_tokenize = {
    .name = "tokenize",
    .summary = "turn text into token ids, or ids into text, with a model's tokenizer",
    .usage = "Usage: slinfer tokenize --tokenizer DIR [--no-special] [--jsonl] [--decode]\n"
             "       slinfer tokenize --model DIR ...\n"
             "\n"
             "Read text on standard input and print its token ids as a JSON array,\n"
             "using DIR/tokenizer.json (and DIR/tokenizer_config.json).\n"
             "\n"
             "Options:\n"
             "  --tokenizer DIR  the folder with tokenizer.json (default: --model)\n"
             "  --model DIR      the model folder\n"
             "  --no-special     do not add special tokens such as BOS; with --decode,\n"
             "                   leave special tokens out of the text\n"
             "  --jsonl          one input per line: a JSON string or {\"text\": ...}\n"
             "                   (with --decode: an array of ids or {\"ids\": [...]});\n"
             "                   one JSON array (with --decode: a JSON string) per line\n"
             "  --decode         read a JSON array of ids, print the text\n"
             "\n"
             "Special tokens written in the text (<|eot_id|>, <s>, ...) are always\n"
             "recognised. Exit status: 0 done, 1 failed (bad tokenizer or input),\n"
             "2 usage error.\n",
    .run = sl_tokenize_run,
};
