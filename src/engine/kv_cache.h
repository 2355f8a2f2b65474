/*
 * kv_cache.h - the KV block manager: which physical blocks of the backend's
 * paged KV cache (backend/batch.h) hold what, who uses them, and the prefix
 * cache.
 *
 * The cache is NUM_BLOCKS blocks of BLOCK_SIZE token slots. A block is free,
 * used (reference count > 0: in the block tables of that many sequences), or
 * cached (count 0 but its contents are a known prefix: it can be reused by a
 * later sequence with the same prefix, or evicted when free blocks run out,
 * least recently used first).
 *
 * Prefix caching: a *full* block is keyed by the hash of its tokens chained
 * with the key of the block before it (XXH3_64bits_withSeed over the
 * block's token ids, seeded with the previous block's key; 0 for the first),
 * so a key names the whole prefix up to the block's end. Lookups also
 * compare the parent key and the tokens, so a hash collision can never
 * share wrong K/V. Only full blocks are shared, and a sequence never writes
 * into a block it did not fill itself, so no copy-on-write is needed.
 *
 * Not thread-safe: one engine (one DP group's scheduler) owns it.
 */
#ifndef SL_ENGINE_KV_CACHE_H
#define SL_ENGINE_KV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_kv sl_kv_t;

typedef struct sl_kv_stats {
    int32_t num_blocks, block_size;
    int32_t free_blocks;      /* free + cached (allocatable)            */
    int32_t cached_blocks;    /* count 0, holding a reusable prefix     */
    uint64_t query_tokens;    /* prompt tokens looked up (admissions)   */
    uint64_t hit_tokens;      /* of which found in the cache            */
    uint64_t evictions;       /* cached blocks reused for new content   */
} sl_kv_stats_t;

/* NUM_BLOCKS >= 1 blocks of BLOCK_SIZE >= 1 slots; PREFIX_CACHE false keeps
 * nothing once its count drops to 0. */
sl_status_t sl_kv_create(int32_t num_blocks, int32_t block_size, bool prefix_cache,
                         sl_kv_t **kv_p);
void sl_kv_free(sl_kv_t *kv);

/* Blocks for a memory budget: BYTES / (BLOCK_SIZE * BYTES_PER_TOKEN), where
 * BYTES_PER_TOKEN is what one token's K and V take in all of the group's
 * ranks. Logs and returns SL_ERR_INVALID_ARG when not even one block fits. */
sl_status_t sl_kv_blocks_for_bytes(uint64_t bytes, uint64_t bytes_per_token,
                                   int32_t block_size, int32_t *blocks_p);

int32_t sl_kv_block_size(const sl_kv_t *kv);
int32_t sl_kv_num_blocks(const sl_kv_t *kv);
bool sl_kv_prefix_cache(const sl_kv_t *kv);
/* Blocks an allocation can get now: free plus cached. */
int32_t sl_kv_available(const sl_kv_t *kv);

/* A block with count 1: a free one, else the least recently used cached one
 * (forgetting its prefix). SL_ERR_NO_MEMORY (not logged: the scheduler
 * preempts) when every block is in use. */
sl_status_t sl_kv_alloc(sl_kv_t *kv, int32_t *block_p);

/* One more user of BLOCK (n > 1 sequences sharing their prompt). */
void sl_kv_ref(sl_kv_t *kv, int32_t block);

/* One user less; at 0 a block with a prefix key becomes cached (most
 * recently used), any other free. */
void sl_kv_unref(sl_kv_t *kv, int32_t block);

/* The key of a full block: TOKENS ([block_size]) chained after PARENT. */
uint64_t sl_kv_hash(uint64_t parent, const int32_t *tokens, int32_t block_size);

/* The block holding TOKENS ([block_size]) after the prefix PARENT, taking a
 * reference to it, or -1. With prefix caching off: always -1. */
int32_t sl_kv_lookup(sl_kv_t *kv, uint64_t parent, uint64_t key, const int32_t *tokens);

/* BLOCK (in use, now full with TOKENS after PARENT; KEY = sl_kv_hash()) is
 * published for sharing. A block already published, or a key some other
 * block already holds, is left as it is. No-op with prefix caching off. */
void sl_kv_publish(sl_kv_t *kv, int32_t block, uint64_t parent, uint64_t key,
                   const int32_t *tokens);

/* Counts a prefix lookup of QUERY tokens of which HIT were found. */
void sl_kv_note_lookup(sl_kv_t *kv, int64_t query, int64_t hit);

void sl_kv_get_stats(const sl_kv_t *kv, sl_kv_stats_t *stats);

/* Debug check of every invariant (lists, counts, hash table); logs the first
 * violation and returns SL_ERR_INTERNAL. O(num_blocks): tests only. */
sl_status_t sl_kv_check(const sl_kv_t *kv);

#endif /* SL_ENGINE_KV_CACHE_H */
