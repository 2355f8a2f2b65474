/* bench_tokenizer.c - single-threaded encoding and decoding throughput of the
 * tokenizer. Built by `make check` but not run as a test:
 *
 *   tests/bench/bench_tokenizer [TOKENIZER_DIR [TEXT_FILE [MEGABYTES]]]
 *
 * TOKENIZER_DIR defaults to $SLINFER_FIXTURES/tokenizers/llama3-bpe. Without
 * TEXT_FILE the text is a built-in mix of English prose, source code and
 * non-Latin scripts, repeated to MEGABYTES (default 16). It is encoded in
 * one call and again line by line (a request-sized workload), then decoded. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

static const char sl_bench_sample[] =
    "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst\n"
    "of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of\n"
    "belief, it was the epoch of incredulity. We've got 1,234 apples and 56.78 pounds of flour;\n"
    "they'll arrive on 2024-03-15 at 09:30. \"Why not?\" she asked -- and nobody answered.\n"
    "\n"
    "def tokenize(text: str) -> list[int]:\n"
    "    ids = []\n"
    "    for word in text.split():\n"
    "        ids.extend(vocab.get(word, [UNK]))  # fall back to unk\n"
    "    return ids\n"
    "\n"
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }\n"
    "Grüße aus München! Ça va très bien, merci. ¿Dónde está la biblioteca?\n"
    "日本語のテキストと中文的文本，还有한국어 문장도 있습니다. Привет, мир! Γειά σου Κόσμε.\n"
    "emoji 😀🎉👍🏽 and symbols ½ ⅓ → ∞ ≠ ≤\n";

static double sl_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *sl_bench_text(const char *path, size_t megabytes, size_t *len_p)
{
    size_t want = megabytes << 20, len = 0, n = strlen(sl_bench_sample);
    char *text;

    if (path != NULL) {
        FILE *f = fopen(path, "rb");
        long size;
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) != 0) {
            perror(path);
            return NULL;
        }
        text = malloc((size_t)size + 1);
        if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
            perror(path);
            return NULL;
        }
        fclose(f);
        *len_p = (size_t)size;
        return text;
    }
    text = malloc(want + n);
    if (text == NULL)
        return NULL;
    while (len < want) {
        memcpy(text + len, sl_bench_sample, n);
        len += n;
    }
    *len_p = len;
    return text;
}

int main(int argc, char **argv)
{
    const char *fixtures = getenv("SLINFER_FIXTURES");
    char dir[4096];
    sl_tok_t *tok;
    char *text, *decoded;
    size_t len, n, total = 0, dlen, lines = 0;
    int32_t *ids;
    double t0, t_one, t_lines, t_dec;

    if (argc > 1)
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    else
        snprintf(dir, sizeof(dir), "%s/tokenizers/llama3-bpe",
                 fixtures ? fixtures : "../shared/fixtures");
    text = sl_bench_text(argc > 2 ? argv[2] : NULL, argc > 3 ? (size_t)atol(argv[3]) : 16, &len);
    if (text == NULL || sl_tok_load(dir, &tok) != SL_OK)
        return 1;

    t0 = sl_bench_now();
    if (sl_tok_encode(tok, text, len, false, &ids, &n) != SL_OK)
        return 1;
    t_one = sl_bench_now() - t0;

    t0 = sl_bench_now();
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        int32_t *line_ids;
        size_t line_n;
        if (sl_tok_encode(tok, text + i, end - i, true, &line_ids, &line_n) != SL_OK)
            return 1;
        total += line_n;
        lines++;
        free(line_ids);
        i = end;
    }
    t_lines = sl_bench_now() - t0;

    t0 = sl_bench_now();
    if (sl_tok_decode(tok, ids, n, false, &decoded, &dlen) != SL_OK)
        return 1;
    t_dec = sl_bench_now() - t0;

    printf("tokenizer  %s\n", dir);
    printf("text       %.1f MiB, %zu tokens (%.2f bytes/token)\n", (double)len / (1 << 20), n,
           (double)len / (double)n);
    printf("encode     %.1f MB/s in one call\n", (double)len / t_one / 1e6);
    printf("encode     %.1f MB/s in %zu calls of one line each (%zu ids with BOS)\n",
           (double)len / t_lines / 1e6, lines, total);
    printf("decode     %.1f MB/s (%s)\n", (double)dlen / t_dec / 1e6,
           dlen == len && memcmp(decoded, text, len) == 0 ? "round trip exact" : "DIFFERS");
    free(decoded);
    free(ids);
    free(text);
    sl_tok_free(tok);
    return 0;
}
