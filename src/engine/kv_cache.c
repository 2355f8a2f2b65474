/* kv_cache.c - KV block manager and prefix cache; see kv_cache.h. */
#include "config.h"

#include "engine/kv_cache.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/log.h"

typedef struct sl_kv_block {
    int32_t ref;
    int32_t prev, next; /* free list (next only) or LRU list; -1 ends  */
    int32_t hnext;      /* next block in its hash bucket; -1 ends       */
    bool keyed;         /* in the hash table: holds a reusable prefix   */
    uint64_t key, parent;
} sl_kv_block_t;

struct sl_kv {
    int32_t num_blocks, block_size;
    bool prefix;
    sl_kv_block_t *b;     /* [num_blocks]                                  */
    int32_t *tokens;      /* [num_blocks, block_size] tokens of keyed blocks */
    int32_t free_head;    /* stack of free blocks (via next)               */
    int32_t num_free;
    int32_t lru_head, lru_tail; /* cached blocks, least recently used first */
    int32_t num_cached;
    int32_t *buckets;     /* [mask + 1] first block of each hash chain      */
    uint64_t mask;
    uint64_t query_tokens, hit_tokens, evictions;
};

sl_status_t sl_kv_blocks_for_bytes(uint64_t bytes, uint64_t bytes_per_token,
                                   int32_t block_size, int32_t *blocks_p)
{
    uint64_t per_block = bytes_per_token * (uint64_t)block_size;
    uint64_t blocks = per_block > 0 ? bytes / per_block : 0;

    if (blocks < 1) {
        sl_error("KV cache memory of %llu bytes holds no block of %d tokens "
                 "(%llu bytes each)",
                 (unsigned long long)bytes, block_size, (unsigned long long)per_block);
        return SL_ERR_INVALID_ARG;
    }
    *blocks_p = blocks > INT32_MAX / 2 ? INT32_MAX / 2 : (int32_t)blocks;
    return SL_OK;
}

sl_status_t sl_kv_create(int32_t num_blocks, int32_t block_size, bool prefix_cache,
                         sl_kv_t **kv_p)
{
    sl_kv_t *kv;
    size_t slots;

    if (num_blocks < 1 || block_size < 1 ||
        __builtin_mul_overflow((size_t)num_blocks, (size_t)block_size, &slots)) {
        sl_error("KV cache of %d blocks of %d tokens: need at least one block of one token",
                 num_blocks, block_size);
        return SL_ERR_INVALID_ARG;
    }
    kv = calloc(1, sizeof(*kv));
    if (kv == NULL)
        goto err_nomem;
    kv->num_blocks = num_blocks;
    kv->block_size = block_size;
    kv->prefix = prefix_cache;
    kv->mask = 1;
    while (kv->mask < (uint64_t)num_blocks)
        kv->mask <<= 1;
    kv->mask--; /* a power of two >= num_blocks buckets: chains stay short */
    kv->b = calloc((size_t)num_blocks, sizeof(*kv->b));
    kv->tokens = prefix_cache ? malloc(slots * sizeof(*kv->tokens)) : NULL;
    kv->buckets = malloc((size_t)(kv->mask + 1) * sizeof(*kv->buckets));
    if (kv->b == NULL || kv->buckets == NULL || (prefix_cache && kv->tokens == NULL))
        goto err_nomem;
    for (uint64_t i = 0; i <= kv->mask; i++)
        kv->buckets[i] = -1;
    /* Pushed in reverse so that blocks are handed out 0, 1, 2, ... */
    kv->free_head = -1;
    for (int32_t i = num_blocks - 1; i >= 0; i--) {
        kv->b[i] = (sl_kv_block_t){.prev = -1, .next = kv->free_head, .hnext = -1};
        kv->free_head = i;
    }
    kv->num_free = num_blocks;
    kv->lru_head = kv->lru_tail = -1;
    *kv_p = kv;
    return SL_OK;
err_nomem:
    sl_error("out of memory for the block manager of %d KV blocks", num_blocks);
    sl_kv_free(kv);
    return SL_ERR_NO_MEMORY;
}

void sl_kv_free(sl_kv_t *kv)
{
    if (kv == NULL)
        return;
    free(kv->b);
    free(kv->tokens);
    free(kv->buckets);
    free(kv);
}

int32_t sl_kv_block_size(const sl_kv_t *kv) { return kv->block_size; }
int32_t sl_kv_num_blocks(const sl_kv_t *kv) { return kv->num_blocks; }
bool sl_kv_prefix_cache(const sl_kv_t *kv) { return kv->prefix; }
int32_t sl_kv_available(const sl_kv_t *kv) { return kv->num_free + kv->num_cached; }

uint64_t sl_kv_hash(uint64_t parent, const int32_t *tokens, int32_t block_size)
{
    return XXH3_64bits_withSeed(tokens, (size_t)block_size * sizeof(*tokens), parent);
}

/* ---- the LRU list of cached blocks -------------------------------------------- */

static void sl_lru_remove(sl_kv_t *kv, int32_t i)
{
    sl_kv_block_t *b = &kv->b[i];

    if (b->prev >= 0)
        kv->b[b->prev].next = b->next;
    else
        kv->lru_head = b->next;
    if (b->next >= 0)
        kv->b[b->next].prev = b->prev;
    else
        kv->lru_tail = b->prev;
    b->prev = b->next = -1;
    kv->num_cached--;
}

static void sl_lru_append(sl_kv_t *kv, int32_t i)
{
    sl_kv_block_t *b = &kv->b[i];

    b->prev = kv->lru_tail;
    b->next = -1;
    if (kv->lru_tail >= 0)
        kv->b[kv->lru_tail].next = i;
    else
        kv->lru_head = i;
    kv->lru_tail = i;
    kv->num_cached++;
}

/* ---- the hash table ------------------------------------------------------------ */

static void sl_hash_remove(sl_kv_t *kv, int32_t i)
{
    int32_t *link = &kv->buckets[kv->b[i].key & kv->mask];

    while (*link != i)
        link = &kv->b[*link].hnext;
    *link = kv->b[i].hnext;
    kv->b[i].hnext = -1;
    kv->b[i].keyed = false;
}

static int32_t sl_hash_find(const sl_kv_t *kv, uint64_t parent, uint64_t key,
                            const int32_t *tokens)
{
    size_t bytes = (size_t)kv->block_size * sizeof(*tokens);

    for (int32_t i = kv->buckets[key & kv->mask]; i >= 0; i = kv->b[i].hnext) {
        const sl_kv_block_t *b = &kv->b[i];
        if (b->key == key && b->parent == parent &&
            memcmp(kv->tokens + (size_t)i * (size_t)kv->block_size, tokens, bytes) == 0)
            return i;
    }
    return -1;
}

/* ---- allocation ------------------------------------------------------------------ */

sl_status_t sl_kv_alloc(sl_kv_t *kv, int32_t *block_p)
{
    int32_t i;

    if (kv->free_head >= 0) {
        i = kv->free_head;
        kv->free_head = kv->b[i].next;
        kv->num_free--;
    } else if (kv->lru_head >= 0) {
        i = kv->lru_head;
        sl_lru_remove(kv, i);
        sl_hash_remove(kv, i);
        kv->evictions++;
    } else {
        return SL_ERR_NO_MEMORY;
    }
    kv->b[i].ref = 1;
    kv->b[i].prev = kv->b[i].next = -1;
    *block_p = i;
    return SL_OK;
}

void sl_kv_ref(sl_kv_t *kv, int32_t block)
{
    kv->b[block].ref++;
}

void sl_kv_unref(sl_kv_t *kv, int32_t block)
{
    sl_kv_block_t *b = &kv->b[block];

    if (--b->ref > 0)
        return;
    if (b->keyed) {
        sl_lru_append(kv, block);
    } else {
        b->next = kv->free_head;
        kv->free_head = block;
        kv->num_free++;
    }
}

int32_t sl_kv_lookup(sl_kv_t *kv, uint64_t parent, uint64_t key, const int32_t *tokens)
{
    int32_t i;

    if (!kv->prefix || (i = sl_hash_find(kv, parent, key, tokens)) < 0)
        return -1;
    if (kv->b[i].ref == 0)
        sl_lru_remove(kv, i);
    kv->b[i].ref++;
    return i;
}

void sl_kv_publish(sl_kv_t *kv, int32_t block, uint64_t parent, uint64_t key,
                   const int32_t *tokens)
{
    sl_kv_block_t *b = &kv->b[block];

    /* Two sequences may compute the same prefix in the same step (neither
     * found it yet): the first published stays, the other is private. */
    if (!kv->prefix || b->keyed || sl_hash_find(kv, parent, key, tokens) >= 0)
        return;
    b->keyed = true;
    b->key = key;
    b->parent = parent;
    memcpy(kv->tokens + (size_t)block * (size_t)kv->block_size, tokens,
           (size_t)kv->block_size * sizeof(*tokens));
    b->hnext = kv->buckets[key & kv->mask];
    kv->buckets[key & kv->mask] = block;
}

void sl_kv_note_lookup(sl_kv_t *kv, int64_t query, int64_t hit)
{
    kv->query_tokens += (uint64_t)query;
    kv->hit_tokens += (uint64_t)hit;
}

void sl_kv_get_stats(const sl_kv_t *kv, sl_kv_stats_t *st)
{
    *st = (sl_kv_stats_t){
        .num_blocks = kv->num_blocks, .block_size = kv->block_size,
        .free_blocks = kv->num_free + kv->num_cached, .cached_blocks = kv->num_cached,
        .query_tokens = kv->query_tokens, .hit_tokens = kv->hit_tokens,
        .evictions = kv->evictions,
    };
}

sl_status_t sl_kv_check(const sl_kv_t *kv)
{
    int32_t nfree = 0, ncached = 0, nkeyed = 0, prev = -1;

    for (int32_t i = kv->free_head; i >= 0; i = kv->b[i].next, nfree++)
        if (kv->b[i].ref != 0 || kv->b[i].keyed || nfree > kv->num_blocks)
            goto bad;
    for (int32_t i = kv->lru_head; i >= 0; prev = i, i = kv->b[i].next, ncached++)
        if (kv->b[i].ref != 0 || !kv->b[i].keyed || kv->b[i].prev != prev ||
            ncached > kv->num_blocks)
            goto bad;
    if (prev != kv->lru_tail || nfree != kv->num_free || ncached != kv->num_cached)
        goto bad;
    for (uint64_t h = 0; h <= kv->mask; h++)
        for (int32_t i = kv->buckets[h]; i >= 0; i = kv->b[i].hnext, nkeyed++)
            if (!kv->b[i].keyed || (kv->b[i].key & kv->mask) != h || nkeyed > kv->num_blocks)
                goto bad;
    for (int32_t i = 0; i < kv->num_blocks; i++) {
        if (kv->b[i].ref < 0)
            goto bad;
        nkeyed -= kv->b[i].keyed;
    }
    if (nkeyed != 0)
        goto bad;
    return SL_OK;
bad:
    sl_error("internal: KV block manager inconsistent (free %d/%d, cached %d/%d)", nfree,
             kv->num_free, ncached, kv->num_cached);
    return SL_ERR_INTERNAL;
}
