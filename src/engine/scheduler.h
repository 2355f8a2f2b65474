/*
 * scheduler.h - continuous batching: each step, which sequences run and
 * how many of their tokens.
 *
 * Sequences wait (new, or preempted) or run (admitted: they hold KV blocks
 * for their computed tokens). Both lists are kept in age order (sequence
 * order: submission order, then index in the request); older goes first.
 *
 * A step's plan is built in two passes:
 *  1. Running sequences, oldest first. One whose tokens are all computed but
 *     the last decodes that token; one still prefilling (its prompt, or all
 *     of its tokens again after a preemption) gets a chunk of at most
 *     chunked_prefill_size tokens out of the step's prefill budget
 *     (max_prefill_tokens). Decodes do not count against the budget, so long
 *     prompts never starve them. When the KV cache has no block for a
 *     running sequence, the youngest running sequence is preempted (its
 *     blocks freed; it waits again and recomputes later, cheaply when the
 *     prefix cache still holds its blocks) until the older one fits.
 *  2. Waiting sequences, oldest first, while fewer than max_running
 *     sequences run, budget remains and blocks are free (a watermark of 1%
 *     of the cache is kept for the running ones; none are admitted in a step
 *     that preempted). An admitted sequence first takes the longest prefix of
 *     its full blocks found in the prefix cache -- never its last token,
 *     whose logits are needed -- then a chunk of the rest.
 * A sequence never needs more than the whole cache (the engine refuses a
 * request that does not fit alone), so the oldest always progresses.
 *
 * Without chunking (chunked_prefill_size <= 0) a prefill runs whole in one
 * step; one longer than the budget runs alone in its step.
 */
#ifndef SL_ENGINE_SCHEDULER_H
#define SL_ENGINE_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/kv_cache.h"
#include "engine/request.h"

typedef struct sl_sched_options {
    int32_t max_running;          /* running sequences at most (--max-running-requests) */
    int32_t chunked_prefill_size; /* tokens of one prefill chunk; <= 0: no chunking   */
    int32_t max_prefill_tokens;   /* prefill tokens per step, all sequences            */
} sl_sched_options_t;

/* One sequence's part of a step: tokens [start, start + num_tokens). */
typedef struct sl_sched_entry {
    sl_sequence_t *seq;
    int32_t start;
    int32_t num_tokens;
    bool logits;            /* reaches the sequence's last token: sample after */
} sl_sched_entry_t;

typedef struct sl_sched_plan {
    sl_sched_entry_t *entries;  /* [num_entries], age order */
    int32_t num_entries, cap;
    int32_t prefill_tokens;     /* tokens of chunks of more than one token or
                                   of sequences not yet decoding              */
    int32_t decode_tokens;
    int32_t num_preempted;      /* sequences preempted while building it      */
} sl_sched_plan_t;

typedef struct sl_sched sl_sched_t;

/* KV must outlive the scheduler. */
sl_status_t sl_sched_create(sl_kv_t *kv, const sl_sched_options_t *options,
                            sl_sched_t **sched_p);
void sl_sched_free(sl_sched_t *sched);

/* Queues SEQ (state waiting, no blocks) in age order. */
void sl_sched_add(sl_sched_t *sched, sl_sequence_t *seq);

/* Makes CHILD (an unborn sequence of PARENT's request) run: it shares
 * PARENT's full prompt blocks, having computed them. PARENT has just
 * computed its whole prompt (num_computed = prompt_len). */
void sl_sched_fork(sl_sched_t *sched, sl_sequence_t *parent, sl_sequence_t *child);

/* Takes SEQ out of the scheduler (finished or aborted) and frees its blocks. */
void sl_sched_remove(sl_sched_t *sched, sl_sequence_t *seq);

/* Builds the next step's plan into PLAN (its arrays reused). An empty plan
 * means nothing can run. SL_ERR_NO_MEMORY only if the plan cannot grow. */
sl_status_t sl_sched_build(sl_sched_t *sched, sl_sched_plan_t *plan);

/* After the step ran: the planned tokens are computed; newly full blocks are
 * published in the prefix cache. */
void sl_sched_commit(sl_sched_t *sched, const sl_sched_plan_t *plan);

void sl_sched_plan_free(sl_sched_plan_t *plan);

int32_t sl_sched_num_waiting(const sl_sched_t *sched);
int32_t sl_sched_num_running(const sl_sched_t *sched);
uint64_t sl_sched_num_preemptions(const sl_sched_t *sched);

#endif /* SL_ENGINE_SCHEDULER_H */
