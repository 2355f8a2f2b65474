/*
 * preflight.h - make sure every rank runs the same thing before any work.
 *
 * Each rank lists what must agree across the job (the slinfer version and
 * revision, the arguments that shape the computation, later the model files'
 * sizes and header hashes) as key/value pairs; sl_preflight_run() gathers
 * every rank's list and compares it with rank 0's. A difference is logged on
 * every rank, naming the ranks, their nodes, the key and both values, and
 * every rank returns SL_ERR_MISMATCH, so the whole job stops within one
 * collective instead of hanging or computing garbage later.
 */
#ifndef SL_JOB_PREFLIGHT_H
#define SL_JOB_PREFLIGHT_H

#include <stddef.h>

#include "bootstrap/bootstrap.h"
#include "core/status.h"

typedef struct sl_preflight sl_preflight_t;

/* An empty list, with "slinfer" (version and git revision) already in it. */
sl_status_t sl_preflight_create(sl_preflight_t **preflight_p);
void sl_preflight_destroy(sl_preflight_t *preflight);

/* Adds KEY=VALUE (value NULL is recorded as "(unset)"). Keys are compared
 * in the order they were added; neither may contain a newline. */
sl_status_t sl_preflight_add(sl_preflight_t *preflight, const char *key, const char *value);
sl_status_t sl_preflight_add_int(sl_preflight_t *preflight, const char *key, long long value);

/* Adds the model folder DIR: its path, and for config.json and every
 * safetensors file its size and header hash (model/fingerprint.h), so a node
 * with a stale or half-copied checkpoint is named before anything loads.
 * With DUMMY weights only config.json counts. Errors reading the folder are
 * logged and returned. */
sl_status_t sl_preflight_add_model(sl_preflight_t *preflight, const char *dir, int dummy);

/* Gathers every rank's list and compares it with rank 0's. SL_OK when all
 * agree; SL_ERR_MISMATCH (logged) when any differs; SL_ERR_BOOTSTRAP when the
 * gather fails. Collective: every rank calls it. */
sl_status_t sl_preflight_run(const sl_preflight_t *preflight, sl_boot_t *boot);

/* The comparison alone, for tests: `lists[r]` is rank r's serialized list
 * (as gathered), `hosts[r]` its host. Logs each difference; returns the
 * number of ranks that differ from rank 0. */
int sl_preflight_compare(int nranks, const char *const *lists, const char *const *hosts);

/* This rank's serialized list ("key=value\n" lines), for tests. */
const char *sl_preflight_text(const sl_preflight_t *preflight);

#endif /* SL_JOB_PREFLIGHT_H */
