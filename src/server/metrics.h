/*
 * metrics.h - what /metrics reports, and the Prometheus text that says it.
 *
 * Each DP group keeps an sl_server_stats_t: gauges of its engine (requests
 * running and waiting, KV blocks used), counters (tokens, finished requests
 * by reason, prefix-cache lookups) and three latency histograms measured
 * where the engine runs (time to first token and end to end from the
 * submission to the engine; every gap between two tokens of a sequence). A
 * remote group's stats travel over the DP channel as they are (wire.h), so
 * the head renders every group the same way: per-group series with a
 * dp_group label, and job-wide totals without it.
 *
 * Buckets are fixed (vLLM's), so histograms of different groups add up.
 */
#ifndef SL_SERVER_METRICS_H
#define SL_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define SL_SERVER_HIST_BOUNDS 20 /* finite buckets; one more above them (+Inf) */

typedef enum {
    SL_SERVER_HIST_TTFT = 0, /* time to first token, seconds      */
    SL_SERVER_HIST_ITL,      /* inter-token latency, seconds      */
    SL_SERVER_HIST_E2E,      /* end-to-end request latency        */
    SL_SERVER_NUM_HISTS,
} sl_server_hist_kind_t;

typedef struct sl_server_hist {
    uint64_t bucket[SL_SERVER_HIST_BOUNDS + 1]; /* per bucket, not cumulative     */
    uint64_t count;
    double sum;
} sl_server_hist_t;

/* Finished requests by the finish reason of their first choice. */
typedef enum {
    SL_SERVER_DONE_STOP = 0,
    SL_SERVER_DONE_LENGTH,
    SL_SERVER_DONE_ABORT,
    SL_SERVER_DONE_ERROR,
    SL_SERVER_NUM_DONE,
} sl_server_done_kind_t;

typedef struct sl_server_stats {
    int64_t running, waiting;      /* requests now                                */
    int64_t kv_blocks, kv_used;    /* KV blocks in all, held by sequences now     */
    uint64_t prompt_tokens;        /* of requests submitted to the engine         */
    uint64_t generation_tokens;
    uint64_t finished[SL_SERVER_NUM_DONE];
    uint64_t prefix_query_tokens, prefix_hit_tokens;
    uint64_t preemptions, steps;
    sl_server_hist_t hist[SL_SERVER_NUM_HISTS];
} sl_server_stats_t;

/* Adds one observation V (seconds) to H, a histogram of KIND. */
void sl_server_hist_observe(sl_server_hist_t *h, sl_server_hist_kind_t kind, double v);

/* The finite upper bounds of KIND's buckets: [SL_SERVER_HIST_BOUNDS]. */
const double *sl_server_hist_bounds(sl_server_hist_kind_t kind);

/* Counters the HTTP layer keeps (not per group). */
typedef struct sl_server_http_counts {
    uint64_t responses[6];         /* by status class: [2] 2xx ... [5] 5xx        */
    uint64_t rejected_queue_full;  /* 429                                          */
    uint64_t disconnects;          /* clients gone before their request finished  */
} sl_server_http_counts_t;

/* The Prometheus text exposition (format 0.0.4) of GROUPS ([num_groups],
 * group g's stats at index g), READY ([num_groups], 1 when the group is
 * ready) and HTTP, as a malloc'd string in *text_p. */
sl_status_t sl_server_metrics_render(const sl_server_stats_t *groups, const int *ready,
                                     int num_groups, const sl_server_http_counts_t *http,
                                     const char *model, char **text_p);

#endif /* SL_SERVER_METRICS_H */
