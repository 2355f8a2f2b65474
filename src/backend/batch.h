/*
 * batch.h - one forward step over a batch of sequences: what the engine
 * hands a backend (any backend: cpu, cuda), and what it gets back.
 *
 * The KV cache is paged: it is an array of blocks of block_size token slots,
 * owned by the backend (per TP rank, each rank holding its KV heads), and
 * handed out by the engine. A sequence's block table lists the physical
 * blocks of its positions in order: position p lives in slot p % block_size of
 * block block_table[p / block_size]. Sequences may share blocks (a common
 * prefix); the engine must not let two sequences write the same slot.
 *
 * In a step each sequence contributes num_tokens consecutive new tokens at
 * positions start_pos, start_pos + 1, ...: a whole prompt (start_pos 0), a
 * chunk of a prompt (chunked prefill: start_pos = tokens already cached), or
 * one decode token. Prefills and decodes mix freely in one batch. The backend
 * first writes the new tokens' K and V into their slots, then each new token
 * attends causally to positions [0, its own] of its sequence (further limited
 * by a sliding window where the model has one). Positions [0, start_pos) must
 * already be in the cache from earlier steps; the backend cannot check that.
 *
 * Tokens are laid out sequence after sequence: tokens of seqs[0], then of
 * seqs[1], ... (num_tokens = the sum). Logits are computed only for the token
 * indices in logit_indices (usually the last token of each sequence, or every
 * token for scoring), written as rows of a float32 [num_logits, vocab] array.
 */
#ifndef SL_BACKEND_BATCH_H
#define SL_BACKEND_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_batch_seq {
    int32_t num_tokens;         /* new tokens this step, >= 1             */
    int32_t start_pos;          /* position of the first; = cached tokens */
    int32_t num_blocks;         /* entries in block_table                  */
    const int32_t *block_table; /* [num_blocks] physical block ids; covers
                                   positions [0, start_pos + num_tokens)   */
} sl_batch_seq_t;

typedef struct sl_batch {
    int32_t num_seqs;
    const sl_batch_seq_t *seqs;   /* [num_seqs]                            */
    int32_t num_tokens;           /* sum of seqs[i].num_tokens             */
    const int32_t *tokens;        /* [num_tokens] token ids                */
    int32_t num_logits;
    const int32_t *logit_indices; /* [num_logits] indices into tokens,
                                     strictly increasing                   */
} sl_batch_t;

/* The limits a batch is checked against (a backend's KV cache and model). */
typedef struct sl_batch_limits {
    int32_t block_size;   /* slots per KV block            */
    int32_t num_blocks;   /* physical blocks in the cache  */
    int32_t vocab_size;   /* token ids are < vocab_size    */
    int32_t max_position; /* positions are < max_position  */
} sl_batch_limits_t;

/*
 * Checks every invariant above that can be checked: counts, token ids,
 * positions, block tables long enough and block ids in range, logit indices.
 * Logs the first violation (naming the sequence / index) and returns
 * SL_ERR_INVALID_ARG. Backends call it before running a step, so a bad batch
 * never reaches a kernel.
 */
sl_status_t sl_batch_validate(const sl_batch_t *batch, const sl_batch_limits_t *limits);

/*
 * positions:  [num_tokens] position of each token
 * seq_of:     [num_tokens] index of each token's sequence (may be NULL)
 * The batch must be valid.
 */
void sl_batch_positions(const sl_batch_t *batch, int32_t *positions, int32_t *seq_of);

/*
 * slots: [num_tokens] cache slot of each token: block * block_size + offset
 * positions, seq_of: from sl_batch_positions()
 */
void sl_batch_slots(const sl_batch_t *batch, const int32_t *positions, const int32_t *seq_of,
                    int32_t block_size, int64_t *slots);

/*
 * A batch as one flat buffer (batch_pack.c), for sending it to the processes
 * of a TP group that spans several: counts, then the sequences, block
 * tables, tokens and logit indices, each padded to 8 bytes (the host's byte
 * order: every rank of a job runs the same binary). Unpacking checks every
 * count and length against the buffer, so a truncated or foreign buffer is
 * an error, not a crash; ranges are sl_batch_validate()'s.
 */

/* Bytes BATCH packs into, a multiple of 8 (0 when a count is negative). */
size_t sl_batch_packed_size(const sl_batch_t *batch);

/* Writes BATCH into BUF ([size] bytes, at least sl_batch_packed_size()). */
sl_status_t sl_batch_pack(const sl_batch_t *batch, void *buf, size_t size);

/* Reads a packed batch from BUF ([size] bytes, 4-byte aligned): *batch_p
 * points into BUF and into *seqs_p ([num_seqs], malloc'ed, the caller
 * frees it). Logs and returns SL_ERR_FORMAT for anything malformed. */
sl_status_t sl_batch_unpack(const void *buf, size_t size, sl_batch_t *batch_p,
                            sl_batch_seq_t **seqs_p);

#endif /* SL_BACKEND_BATCH_H */
