/* metrics.c - histograms and the Prometheus text of /metrics; see metrics.h. */
#include "config.h"

#include "server/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* vLLM's buckets, so dashboards made for it read ours. */
static const double sl_server_bounds[SL_SERVER_NUM_HISTS][SL_SERVER_HIST_BOUNDS] = {
    [SL_SERVER_HIST_TTFT] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                             0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0},
    [SL_SERVER_HIST_ITL] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                            0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0},
    [SL_SERVER_HIST_E2E] = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0,
                            20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0},
};

static const struct {
    const char *name, *help;
} sl_server_hist_names[SL_SERVER_NUM_HISTS] = {
    [SL_SERVER_HIST_TTFT] = {"slinfer_time_to_first_token_seconds",
                             "Time from a request's submission to the engine to its first "
                             "token."},
    [SL_SERVER_HIST_ITL] = {"slinfer_inter_token_latency_seconds",
                            "Time between two consecutive tokens of a sequence."},
    [SL_SERVER_HIST_E2E] = {"slinfer_e2e_request_latency_seconds",
                            "Time from a request's submission to the engine to its end."},
};

static const char *const sl_server_done_names[SL_SERVER_NUM_DONE] = {
    [SL_SERVER_DONE_STOP] = "stop", [SL_SERVER_DONE_LENGTH] = "length",
    [SL_SERVER_DONE_ABORT] = "abort", [SL_SERVER_DONE_ERROR] = "error",
};

const double *sl_server_hist_bounds(sl_server_hist_kind_t kind)
{
    return sl_server_bounds[kind];
}

void sl_server_hist_observe(sl_server_hist_t *h, sl_server_hist_kind_t kind, double v)
{
    int b = 0;

    if (!(v >= 0))
        v = 0; /* a clock step backwards or NaN: count it, as 0 */
    while (b < SL_SERVER_HIST_BOUNDS && v > sl_server_bounds[kind][b])
        b++;
    h->bucket[b]++;
    h->count++;
    h->sum += v;
}

/* ---- text exposition ---------------------------------------------------------- */

static void sl_server_family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void sl_server_label_value(FILE *f, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            fputc('\\', f);
            fputc(*v, f);
        } else if (*v == '\n') {
            fputs("\\n", f);
        } else {
            fputc(*v, f);
        }
    }
}

/* One gauge or counter per group: EXPR of `st`, group g's stats. */
#define SL_SERVER_PER_GROUP(f, name, type, help, expr)                                     \
    do {                                                                                   \
        sl_server_family((f), (name), (type), (help));                                     \
        for (int g = 0; g < num_groups; g++) {                                             \
            const sl_server_stats_t *st = &groups[g];                                      \
            (void)st;                                                                      \
            fprintf((f), "%s{dp_group=\"%d\"} %.17g\n", (name), g, (double)(expr));        \
        }                                                                                  \
    } while (0)

static void sl_server_render_hist(FILE *f, const sl_server_stats_t *groups, int num_groups,
                                  sl_server_hist_kind_t kind)
{
    const char *name = sl_server_hist_names[kind].name;

    sl_server_family(f, name, "histogram", sl_server_hist_names[kind].help);
    for (int g = 0; g < num_groups; g++) {
        const sl_server_hist_t *h = &groups[g].hist[kind];
        uint64_t cum = 0;
        for (int b = 0; b < SL_SERVER_HIST_BOUNDS; b++) {
            cum += h->bucket[b];
            fprintf(f, "%s_bucket{dp_group=\"%d\",le=\"%g\"} %llu\n", name, g,
                    sl_server_bounds[kind][b], (unsigned long long)cum);
        }
        cum += h->bucket[SL_SERVER_HIST_BOUNDS];
        fprintf(f, "%s_bucket{dp_group=\"%d\",le=\"+Inf\"} %llu\n", name, g,
                (unsigned long long)cum);
        fprintf(f, "%s_sum{dp_group=\"%d\"} %.17g\n", name, g, h->sum);
        fprintf(f, "%s_count{dp_group=\"%d\"} %llu\n", name, g, (unsigned long long)h->count);
    }
}

sl_status_t sl_server_metrics_render(const sl_server_stats_t *groups, const int *ready,
                                     int num_groups, const sl_server_http_counts_t *http,
                                     const char *model, char **text_p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (f == NULL) {
        sl_error("metrics: open_memstream failed: %s", strerror(errno));
        return SL_ERR_NO_MEMORY;
    }
    sl_server_family(f, "slinfer_model_info", "gauge", "The model this server serves.");
    fputs("slinfer_model_info{model=\"", f);
    sl_server_label_value(f, model != NULL ? model : "");
    fputs("\"} 1\n", f);
    SL_SERVER_PER_GROUP(f, "slinfer_dp_group_ready", "gauge",
                        "1 when the DP group's engine is ready, else 0.", ready[g]);
    SL_SERVER_PER_GROUP(f, "slinfer_num_requests_running", "gauge",
                        "Requests in the engine's running batch.", st->running);
    SL_SERVER_PER_GROUP(f, "slinfer_num_requests_waiting", "gauge",
                        "Requests waiting for the engine (queued or preempted).", st->waiting);
    SL_SERVER_PER_GROUP(f, "slinfer_kv_cache_blocks", "gauge",
                        "KV cache blocks of the DP group.", st->kv_blocks);
    SL_SERVER_PER_GROUP(f, "slinfer_kv_cache_used_blocks", "gauge",
                        "KV cache blocks held by running sequences.", st->kv_used);
    SL_SERVER_PER_GROUP(f, "slinfer_kv_cache_usage_ratio", "gauge",
                        "Fraction of the KV cache blocks held by running sequences.",
                        st->kv_blocks > 0 ? (double)st->kv_used / (double)st->kv_blocks : 0.0);
    SL_SERVER_PER_GROUP(f, "slinfer_prefix_cache_hit_rate", "gauge",
                        "Prompt tokens found in the prefix cache over those looked up.",
                        st->prefix_query_tokens > 0
                            ? (double)st->prefix_hit_tokens / (double)st->prefix_query_tokens
                            : 0.0);
    SL_SERVER_PER_GROUP(f, "slinfer_prefix_cache_queries_total", "counter",
                        "Prompt tokens looked up in the prefix cache.", st->prefix_query_tokens);
    SL_SERVER_PER_GROUP(f, "slinfer_prefix_cache_hits_total", "counter",
                        "Prompt tokens found in the prefix cache.", st->prefix_hit_tokens);
    SL_SERVER_PER_GROUP(f, "slinfer_prompt_tokens_total", "counter",
                        "Prompt tokens of the requests submitted to the engine.",
                        st->prompt_tokens);
    SL_SERVER_PER_GROUP(f, "slinfer_generation_tokens_total", "counter",
                        "Tokens generated.", st->generation_tokens);
    SL_SERVER_PER_GROUP(f, "slinfer_num_preemptions_total", "counter",
                        "Sequences preempted when the KV cache ran out.", st->preemptions);
    SL_SERVER_PER_GROUP(f, "slinfer_engine_steps_total", "counter", "Engine steps run.",
                        st->steps);
    sl_server_family(f, "slinfer_request_success_total", "counter",
                     "Requests finished, by the finish reason of their first choice.");
    for (int g = 0; g < num_groups; g++)
        for (int k = 0; k < SL_SERVER_NUM_DONE; k++)
            fprintf(f, "slinfer_request_success_total{dp_group=\"%d\",finished_reason=\"%s\"} "
                    "%llu\n", g, sl_server_done_names[k],
                    (unsigned long long)groups[g].finished[k]);
    for (int k = 0; k < SL_SERVER_NUM_HISTS; k++)
        sl_server_render_hist(f, groups, num_groups, (sl_server_hist_kind_t)k);
    sl_server_family(f, "slinfer_http_responses_total", "counter",
                     "HTTP responses sent, by status class.");
    for (int c = 1; c <= 5; c++)
        fprintf(f, "slinfer_http_responses_total{code=\"%dxx\"} %llu\n", c,
                (unsigned long long)http->responses[c]);
    sl_server_family(f, "slinfer_http_queue_full_total", "counter",
                     "Requests refused with 429 because --max-queue requests were in flight.");
    fprintf(f, "slinfer_http_queue_full_total %llu\n",
            (unsigned long long)http->rejected_queue_full);
    sl_server_family(f, "slinfer_http_client_disconnects_total", "counter",
                     "Clients that went away before their request finished (aborted).");
    fprintf(f, "slinfer_http_client_disconnects_total %llu\n",
            (unsigned long long)http->disconnects);
    if (fclose(f) != 0 || text == NULL) {
        sl_error("metrics: out of memory for the exposition");
        free(text);
        return SL_ERR_NO_MEMORY;
    }
    *text_p = text;
    return SL_OK;
}
