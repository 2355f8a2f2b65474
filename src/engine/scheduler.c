/* scheduler.c - continuous batching over the block manager; see scheduler.h. */
#include "config.h"

#include "engine/scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* A doubly linked list of sequences in age order (seq->order ascending). */
typedef struct sl_seq_list {
    sl_sequence_t *head, *tail;
    int32_t count;
} sl_seq_list_t;

struct sl_sched {
    sl_kv_t *kv;
    sl_sched_options_t opt;
    int32_t bs;
    int32_t watermark;     /* blocks admissions leave free for running ones */
    sl_seq_list_t waiting, running;
    int32_t *block_tokens; /* [bs] scratch: the tokens of one block */
    uint64_t preemptions;
};

/* ---- lists ------------------------------------------------------------------ */

/* Inserts SEQ in age order, searching from the end nearer to its place:
 * new requests go to the tail, preempted (old) ones near the head. */
static void sl_list_insert(sl_seq_list_t *l, sl_sequence_t *seq, bool from_head)
{
    sl_sequence_t *after = NULL; /* SEQ goes right after this one */

    if (from_head) {
        for (sl_sequence_t *p = l->head; p != NULL && p->order < seq->order; p = p->next)
            after = p;
    } else {
        after = l->tail;
        while (after != NULL && after->order > seq->order)
            after = after->prev;
    }
    seq->prev = after;
    seq->next = after != NULL ? after->next : l->head;
    if (seq->next != NULL)
        seq->next->prev = seq;
    else
        l->tail = seq;
    if (after != NULL)
        after->next = seq;
    else
        l->head = seq;
    l->count++;
}

static void sl_list_remove(sl_seq_list_t *l, sl_sequence_t *seq)
{
    if (seq->prev != NULL)
        seq->prev->next = seq->next;
    else
        l->head = seq->next;
    if (seq->next != NULL)
        seq->next->prev = seq->prev;
    else
        l->tail = seq->prev;
    seq->prev = seq->next = NULL;
    l->count--;
}

/* ---- life cycle --------------------------------------------------------------- */

sl_status_t sl_sched_create(sl_kv_t *kv, const sl_sched_options_t *opt, sl_sched_t **sched_p)
{
    sl_sched_t *s = calloc(1, sizeof(*s));

    if (opt->max_running < 1 || opt->max_prefill_tokens < 1) {
        sl_error("scheduler: max running sequences %d and max prefill tokens %d must be >= 1",
                 opt->max_running, opt->max_prefill_tokens);
        free(s);
        return SL_ERR_INVALID_ARG;
    }
    if (s == NULL || (s->block_tokens = malloc((size_t)sl_kv_block_size(kv) *
                                               sizeof(int32_t))) == NULL) {
        sl_error("out of memory for the scheduler");
        free(s);
        return SL_ERR_NO_MEMORY;
    }
    s->kv = kv;
    s->opt = *opt;
    s->bs = sl_kv_block_size(kv);
    s->watermark = sl_kv_num_blocks(kv) / 100;
    *sched_p = s;
    return SL_OK;
}

void sl_sched_free(sl_sched_t *s)
{
    if (s == NULL)
        return;
    free(s->block_tokens);
    free(s);
}

int32_t sl_sched_num_waiting(const sl_sched_t *s) { return s->waiting.count; }
int32_t sl_sched_num_running(const sl_sched_t *s) { return s->running.count; }
uint64_t sl_sched_num_preemptions(const sl_sched_t *s) { return s->preemptions; }

void sl_sched_plan_free(sl_sched_plan_t *plan)
{
    free(plan->entries);
    memset(plan, 0, sizeof(*plan));
}

/* ---- blocks of one sequence ------------------------------------------------------ */

static bool sl_seq_grow_tables(sl_sequence_t *seq, int32_t blocks)
{
    if (blocks <= seq->cap_blocks)
        return true;
    int32_t cap = seq->cap_blocks ? seq->cap_blocks : 4;
    while (cap < blocks)
        cap *= 2;
    int32_t *table = realloc(seq->blocks, (size_t)cap * sizeof(*table));
    if (table != NULL)
        seq->blocks = table;
    uint64_t *hashes = realloc(seq->hashes, (size_t)cap * sizeof(*hashes));
    if (hashes != NULL)
        seq->hashes = hashes;
    if (table == NULL || hashes == NULL) {
        sl_error("out of memory for a block table of %d blocks", cap);
        return false;
    }
    seq->cap_blocks = cap;
    return true;
}

/* Frees SEQ's blocks, last first: the LRU then evicts the deepest prefix
 * blocks first, keeping the ones a later lookup reaches first. */
static void sl_seq_release(sl_sched_t *s, sl_sequence_t *seq)
{
    for (int32_t i = seq->num_blocks - 1; i >= 0; i--)
        sl_kv_unref(s->kv, seq->blocks[i]);
    seq->num_blocks = 0;
    seq->num_computed = 0;
}

/* The key of SEQ's full block I (computed once, kept across preemptions:
 * it depends on the tokens alone). Keys 0..I-1 exist. */
static uint64_t sl_seq_block_key(sl_sched_t *s, sl_sequence_t *seq, int32_t i)
{
    if (i < seq->num_hashed)
        return seq->hashes[i];
    for (int32_t j = 0; j < s->bs; j++)
        s->block_tokens[j] = sl_seq_token(seq, i * s->bs + j);
    seq->hashes[i] = sl_kv_hash(i > 0 ? seq->hashes[i - 1] : 0, s->block_tokens, s->bs);
    seq->num_hashed = i + 1;
    return seq->hashes[i];
}

/* Gives SEQ blocks for up to WANT more tokens, keeping RESERVE blocks free;
 * returns how many tokens it can compute now (0..WANT). */
static int32_t sl_seq_reserve(sl_sched_t *s, sl_sequence_t *seq, int32_t want, int32_t reserve)
{
    int32_t have = seq->num_blocks * s->bs - seq->num_computed; /* slots left */
    if (have >= want)
        return want;
    int32_t need = (want - have + s->bs - 1) / s->bs;
    int32_t avail = sl_kv_available(s->kv) - reserve;
    int32_t take = need < avail ? need : avail;
    if (take <= 0 || !sl_seq_grow_tables(seq, seq->num_blocks + take))
        return have;
    for (int32_t i = 0; i < take; i++) {
        int32_t b;
        if (sl_kv_alloc(s->kv, &b) != SL_OK) /* cannot happen: take <= available */
            return have + i * s->bs;
        seq->blocks[seq->num_blocks++] = b;
    }
    have += take * s->bs;
    return have < want ? have : want;
}

/* Takes the cached blocks of SEQ's longest cached prefix, short of its last
 * token. Returns the tokens found. */
static int32_t sl_seq_prefix_hit(sl_sched_t *s, sl_sequence_t *seq)
{
    int32_t max_blocks = (sl_seq_len(seq) - 1) / s->bs;

    if (!sl_kv_prefix_cache(s->kv) || max_blocks == 0 || !sl_seq_grow_tables(seq, max_blocks))
        return 0;
    for (int32_t i = 0; i < max_blocks; i++) {
        uint64_t key = sl_seq_block_key(s, seq, i);
        for (int32_t j = 0; j < s->bs; j++)
            s->block_tokens[j] = sl_seq_token(seq, i * s->bs + j);
        int32_t b = sl_kv_lookup(s->kv, i > 0 ? seq->hashes[i - 1] : 0, key, s->block_tokens);
        if (b < 0)
            break;
        seq->blocks[seq->num_blocks++] = b;
    }
    seq->num_computed = seq->num_blocks * s->bs;
    return seq->num_computed;
}

static void sl_preempt(sl_sched_t *s, sl_sequence_t *seq, sl_sched_plan_t *plan)
{
    sl_debug("preempting sequence %d of request %llu (%d tokens computed, %d blocks)",
             seq->index, (unsigned long long)seq->req->id, seq->num_computed, seq->num_blocks);
    sl_seq_release(s, seq);
    sl_list_remove(&s->running, seq);
    seq->state = SL_SEQ_WAITING;
    seq->num_preemptions++;
    sl_list_insert(&s->waiting, seq, true);
    s->preemptions++;
    plan->num_preempted++;
}

/* ---- the public operations ------------------------------------------------------- */

void sl_sched_add(sl_sched_t *s, sl_sequence_t *seq)
{
    seq->state = SL_SEQ_WAITING;
    sl_list_insert(&s->waiting, seq, false);
}

void sl_sched_fork(sl_sched_t *s, sl_sequence_t *parent, sl_sequence_t *child)
{
    int32_t full = parent->req->prompt_len / s->bs;

    if (!sl_seq_grow_tables(child, full > 0 ? full : 1)) {
        /* No table: the child starts from scratch like a preempted sequence. */
        sl_sched_add(s, child);
        return;
    }
    for (int32_t i = 0; i < full; i++) {
        sl_kv_ref(s->kv, parent->blocks[i]);
        child->blocks[i] = parent->blocks[i];
    }
    child->num_blocks = full;
    child->num_computed = full * s->bs;
    child->num_hashed = parent->num_hashed < full ? parent->num_hashed : full;
    memcpy(child->hashes, parent->hashes, (size_t)child->num_hashed * sizeof(uint64_t));
    child->state = SL_SEQ_RUNNING;
    sl_list_insert(&s->running, child, false);
}

void sl_sched_remove(sl_sched_t *s, sl_sequence_t *seq)
{
    if (seq->state == SL_SEQ_RUNNING)
        sl_list_remove(&s->running, seq);
    else if (seq->state == SL_SEQ_WAITING)
        sl_list_remove(&s->waiting, seq);
    sl_seq_release(s, seq);
}

static sl_status_t sl_plan_add(sl_sched_plan_t *plan, sl_sequence_t *seq, int32_t n)
{
    if (plan->num_entries == plan->cap) {
        int32_t cap = plan->cap ? 2 * plan->cap : 64;
        sl_sched_entry_t *e = realloc(plan->entries, (size_t)cap * sizeof(*e));
        if (e == NULL) {
            sl_error("out of memory for a step plan of %d sequences", cap);
            return SL_ERR_NO_MEMORY;
        }
        plan->entries = e;
        plan->cap = cap;
    }
    bool decode = n == 1 && seq->num_computed == sl_seq_len(seq) - 1 && seq->num_out > 0;
    plan->entries[plan->num_entries++] = (sl_sched_entry_t){
        .seq = seq, .start = seq->num_computed, .num_tokens = n,
        .logits = seq->num_computed + n == sl_seq_len(seq),
    };
    if (decode)
        plan->decode_tokens += n;
    else
        plan->prefill_tokens += n;
    return SL_OK;
}

/* The most tokens of SEQ's prefill to plan now, out of BUDGET (0: none). */
static int32_t sl_chunk(const sl_sched_t *s, const sl_sequence_t *seq, int32_t budget)
{
    int32_t remaining = sl_seq_len(seq) - seq->num_computed;
    int32_t chunk = s->opt.chunked_prefill_size;

    if (budget <= 0)
        return 0;
    if (chunk <= 0) /* whole; over the budget only as the step's first prefill */
        return remaining <= budget || budget == s->opt.max_prefill_tokens ? remaining : 0;
    chunk = chunk < remaining ? chunk : remaining;
    return chunk < budget ? chunk : budget;
}

sl_status_t sl_sched_build(sl_sched_t *s, sl_sched_plan_t *plan)
{
    int32_t budget = s->opt.max_prefill_tokens;
    bool chunking = s->opt.chunked_prefill_size > 0;
    sl_status_t st;

    plan->num_entries = plan->prefill_tokens = plan->decode_tokens = plan->num_preempted = 0;

    /* 1. running sequences, oldest first */
    for (sl_sequence_t *seq = s->running.head; seq != NULL; seq = seq->next) {
        int32_t remaining = sl_seq_len(seq) - seq->num_computed, want, got;
        bool decode = remaining == 1;

        want = decode ? 1 : sl_chunk(s, seq, budget);
        if (want <= 0)
            continue; /* no budget left for its next chunk: it keeps its blocks */
        while ((got = sl_seq_reserve(s, seq, want, 0)) < (chunking ? 1 : want)) {
            sl_sequence_t *victim = s->running.tail; /* the youngest; not planned yet */
            sl_preempt(s, victim, plan);
            if (victim == seq)
                break;
        }
        if (seq->state != SL_SEQ_RUNNING)
            break; /* it was the youngest: nothing after it */
        if ((st = sl_plan_add(plan, seq, got)) != SL_OK)
            return st;
        if (!decode)
            budget -= got;
    }

    /* 2. waiting sequences, oldest first */
    while (plan->num_preempted == 0 && s->waiting.head != NULL &&
           s->running.count < s->opt.max_running && budget > 0) {
        sl_sequence_t *seq = s->waiting.head;
        int32_t hit = sl_seq_prefix_hit(s, seq), want, got;

        want = sl_chunk(s, seq, budget);
        /* The watermark keeps room for running sequences to grow into;
         * with none running, it would only keep the oldest waiting out. */
        got = want > 0 ? sl_seq_reserve(s, seq, want, s->running.count > 0 ? s->watermark : 0)
                       : 0;
        if (got == 0 || (!chunking && got < want)) {
            sl_seq_release(s, seq); /* the prefix blocks go back to the cache */
            break;
        }
        sl_kv_note_lookup(s->kv, sl_seq_len(seq), hit);
        if (seq->index == 0 && seq->num_preemptions == 0) /* the prompt's first admission */
            seq->req->cached_tokens = hit;
        sl_list_remove(&s->waiting, seq);
        seq->state = SL_SEQ_RUNNING;
        sl_list_insert(&s->running, seq, false);
        if ((st = sl_plan_add(plan, seq, got)) != SL_OK)
            return st;
        budget -= got;
    }
    return SL_OK;
}

void sl_sched_commit(sl_sched_t *s, const sl_sched_plan_t *plan)
{
    for (int32_t e = 0; e < plan->num_entries; e++) {
        sl_sequence_t *seq = plan->entries[e].seq;
        int32_t before = seq->num_computed / s->bs;

        seq->num_computed += plan->entries[e].num_tokens;
        if (!sl_kv_prefix_cache(s->kv))
            continue;
        for (int32_t i = before; i < seq->num_computed / s->bs; i++) {
            uint64_t key = sl_seq_block_key(s, seq, i);
            for (int32_t j = 0; j < s->bs; j++)
                s->block_tokens[j] = sl_seq_token(seq, i * s->bs + j);
            sl_kv_publish(s->kv, seq->blocks[i], i > 0 ? seq->hashes[i - 1] : 0, key,
                          s->block_tokens);
        }
    }
}
