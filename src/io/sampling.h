/*
 * sampling.h - type checks of the well-known OpenAI sampling fields, shared
 * by the input readers, the engine and the HTTP server so a request is
 * refused with the same words wherever it comes from.
 *
 * Only types and ranges that do not depend on the model are checked here;
 * values the model decides (token ids inside the vocabulary, max_tokens
 * within the context) are the engine's. Unknown fields are left alone (the
 * engine decides whether to ignore or refuse them). A JSON null counts as
 * an absent field, as the OpenAI API does.
 *
 *   max_tokens, max_completion_tokens, min_tokens   integer >= 0
 *   n, best_of                                      integer >= 1
 *   temperature                                     number >= 0
 *   top_p                                           number in [0, 1]
 *   min_p                                           number in [0, 1]
 *   top_k                                           integer >= -1 (-1, 0: off)
 *   presence_penalty, frequency_penalty             number in [-2, 2]
 *   repetition_penalty                              number > 0
 *   seed                                            integer
 *   stop                                            string or array of strings
 *   stop_token_ids                                  array of integers >= 0
 *   logprobs    chat: boolean; completions: integer in [0, 20]
 *   top_logprobs                                    integer in [0, 20]
 *   ignore_eos, skip_special_tokens, stream, echo   boolean
 *   user                                            string
 *   logit_bias                   object of numbers in [-100, 100]
 */
#ifndef SL_IO_SAMPLING_H
#define SL_IO_SAMPLING_H

#include <jansson.h>
#include <stddef.h>

#include "core/status.h"
#include "io/record.h"

/*
 * Checks PARAMS (an object; NULL counts as empty) for ENDPOINT. On the first
 * bad field returns SL_ERR_FORMAT and writes "FIELD: expected ..., got ..."
 * (e.g. "temperature: expected a number, got string") into ERR[ERR_SIZE],
 * without logging: the caller adds where the request came from. SL_OK and
 * ERR untouched when every well-known field is well typed.
 */
sl_status_t sl_io_sampling_validate(const json_t *params, sl_io_endpoint_t endpoint, char *err,
                                    size_t err_size);

#endif /* SL_IO_SAMPLING_H */
