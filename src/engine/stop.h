/*
 * stop.h - when a sequence stops: stop strings matched on the detokenized
 * text, stop token ids and EOS.
 *
 * Stop strings are matched on text, not tokens, so a stop string spread over
 * several tokens ("\n\n" as "\n" + "\n", "END" as "E" + "ND") is found. The
 * stop string and everything after it are not returned. Text that could
 * still turn out to be the start of a stop string is held back (not
 * "emitted") until the next token decides, so a streaming caller never shows
 * text it must later take back.
 *
 * A stop token (EOS unless ignore_eos, or one of the request's stop ids)
 * ends the sequence and stays in its output ids, but adds no text (vLLM
 * keeps the id; its text would be the special token anyway).
 *
 * min_tokens: until that many tokens are generated the sampler suppresses
 * EOS and the stop ids, and stop strings are not checked (as vLLM).
 */
#ifndef SL_ENGINE_STOP_H
#define SL_ENGINE_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* The text of one sequence and how much of it is final. */
typedef struct sl_stop {
    char *text;      /* [len] the text so far (NUL-terminated), cut at a stop string */
    size_t len, cap;
    size_t emitted;  /* text[0, emitted) is final: no stop string can start in it */
    bool cut;        /* a stop string was found and cut off                        */
} sl_stop_t;

/* Frees the text; ST is zeroed. */
void sl_stop_free(sl_stop_t *st);

/* The length of the longest suffix of TEXT ([len]) that is a proper prefix
 * of one of STOPS ([n] NUL-terminated, non-empty): the bytes to hold back. */
size_t sl_stop_holdback(const char *text, size_t len, char *const *stops, int32_t n);

/* The earliest position of a stop string in TEXT ([len]) among the
 * occurrences that end past OLD_LEN (in the text added since OLD_LEN):
 * returns true and sets *pos_p, or false. */
bool sl_stop_find(const char *text, size_t len, size_t old_len, char *const *stops, int32_t n,
                  size_t *pos_p);

/*
 * Appends CHUNK ([n] bytes of new text). With CHECK, looks for a stop string
 * ending in the new text: if found, cuts the text at its start, sets
 * ST->cut and *stopped_p. Then moves ST->emitted up to what can no longer
 * start a stop string. stopped_p may be NULL.
 */
sl_status_t sl_stop_push(sl_stop_t *st, const char *chunk, size_t n, char *const *stops,
                         int32_t nstops, bool check, bool *stopped_p);

/* The sequence ended: everything held back is final. */
static inline void sl_stop_release(sl_stop_t *st)
{
    st->emitted = st->len;
}

/* Whether TOKEN ends a sequence: one of EOS ([neos], ignored with
 * IGNORE_EOS) or of STOP_IDS ([nstop]). */
bool sl_stop_is_stop_token(int32_t token, const int32_t *eos, int32_t neos, bool ignore_eos,
                           const int32_t *stop_ids, int32_t nstop);

#endif /* SL_ENGINE_STOP_H */
