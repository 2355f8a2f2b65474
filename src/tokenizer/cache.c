/* cache.c - a per-thread cache of what the model made of recent pieces.
 *
 * Natural text repeats its words, and each word is one pre-tokenized piece,
 * so most pieces have been encoded before (HF keeps the same kind of cache).
 * The cache is per thread, so encoding stays lock-free; it is direct-mapped
 * (a collision replaces the older entry), holds short pieces only, and fits
 * in a core's L2 cache, so a lookup costs one cache line. It serves one
 * tokenizer at a time, recognised by its serial number, and starts over when
 * another one comes. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL /* short keys: the call would cost more than the hash */
#include <xxhash.h>

#include "tokenizer/tok_internal.h"

#define SL_TOK_CACHE_SLOTS 4096 /* power of two */
#define SL_TOK_CACHE_KEY 18
#define SL_TOK_CACHE_IDS 8

/* One cache line: a lookup touches nothing else. */
typedef struct {
    uint64_t hash;
    uint32_t gen; /* valid when equal to the cache's */
    uint8_t key_len;
    uint8_t n_ids;
    char key[SL_TOK_CACHE_KEY];
    int32_t ids[SL_TOK_CACHE_IDS];
} sl_tok_cache_slot_t;

typedef struct {
    uint64_t owner;
    uint32_t gen;
    _Alignas(64) sl_tok_cache_slot_t slots[SL_TOK_CACHE_SLOTS];
} sl_tok_cache_t;

static _Thread_local sl_tok_cache_t *sl_tok_cache;
static pthread_key_t sl_tok_cache_key;
static pthread_once_t sl_tok_cache_once = PTHREAD_ONCE_INIT;
static bool sl_tok_cache_key_ok;

static void sl_tok_cache_key_init(void)
{
    /* The destructor frees a thread's cache when the thread exits. */
    sl_tok_cache_key_ok = pthread_key_create(&sl_tok_cache_key, free) == 0;
}

/* This thread's cache, emptied if it served another tokenizer; NULL when
 * memory is short (then nothing is cached). */
static sl_tok_cache_t *sl_tok_cache_get(uint64_t owner)
{
    sl_tok_cache_t *c = sl_tok_cache;

    if (c == NULL) {
        pthread_once(&sl_tok_cache_once, sl_tok_cache_key_init);
        if (!sl_tok_cache_key_ok)
            return NULL;
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return NULL;
        if (pthread_setspecific(sl_tok_cache_key, c) != 0) {
            free(c);
            return NULL;
        }
        c->gen = 1;
        sl_tok_cache = c;
    }
    if (c->owner != owner) {
        c->owner = owner;
        c->gen++;
    }
    return c;
}

bool sl_tok_cache_lookup(uint64_t owner, const char *s, size_t len, uint64_t *hash_p,
                         sl_tok_ids_t *out, sl_status_t *st_p)
{
    sl_tok_cache_t *c;
    const sl_tok_cache_slot_t *slot;
    uint64_t h;

    *st_p = SL_OK;
    if (len > SL_TOK_CACHE_KEY || (c = sl_tok_cache_get(owner)) == NULL)
        return false;
    h = XXH3_64bits(s, len);
    *hash_p = h;
    slot = &c->slots[h & (SL_TOK_CACHE_SLOTS - 1)];
    if (slot->gen != c->gen || slot->hash != h || slot->key_len != len ||
        memcmp(slot->key, s, len) != 0)
        return false;
    *st_p = sl_tok_ids_append(out, slot->ids, slot->n_ids);
    return true;
}

void sl_tok_cache_store(uint64_t owner, uint64_t hash, const char *s, size_t len,
                        const int32_t *ids, size_t n)
{
    sl_tok_cache_t *c;
    sl_tok_cache_slot_t *slot;

    if (len > SL_TOK_CACHE_KEY || n > SL_TOK_CACHE_IDS || (c = sl_tok_cache_get(owner)) == NULL)
        return;
    slot = &c->slots[hash & (SL_TOK_CACHE_SLOTS - 1)];
    slot->hash = hash;
    slot->gen = c->gen;
    slot->key_len = (uint8_t)len;
    slot->n_ids = (uint8_t)n;
    memcpy(slot->key, s, len);
    memcpy(slot->ids, ids, n * sizeof(int32_t));
}
