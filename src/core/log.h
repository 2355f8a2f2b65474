/*
 * log.h - leveled logging to stderr.
 *
 * One line per message, written with a single write(2) so lines from
 * different threads never interleave. Every line carries a prefix naming the
 * host and, once the bootstrap knows it, the rank:
 *
 *     slinfer[gpu-node07:r3/16 12.041s] error: model.safetensors: ...
 *
 * The level comes from SLINFER_LOG_LEVEL (error, warn, info, debug, trace or
 * 0-4; default info) or --log-level. At debug and trace the source file and
 * line of the call are added.
 *
 * Rule: an error is logged once, where it is detected, with the file, field,
 * errno or peer that caused it; callers that only propagate a status stay
 * silent.
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

#include "core/status.h"

typedef enum {
    SL_LOG_ERROR = 0,
    SL_LOG_WARN  = 1,
    SL_LOG_INFO  = 2,
    SL_LOG_DEBUG = 3,
    SL_LOG_TRACE = 4,
} sl_log_level_t;

/* Current threshold; read by the macros below so a disabled message costs
 * one comparison. Change it only through sl_log_set_level(). */
extern sl_log_level_t sl_log_threshold;

/* Reads SLINFER_LOG_LEVEL and the hostname, starts the elapsed-time clock.
 * An unparsable SLINFER_LOG_LEVEL is reported (as a warning) and ignored.
 * Safe to call more than once. */
void sl_log_init(void);

/* "error", "warn"/"warning", "info", "debug", "trace" (any case) or "0".."4". */
sl_status_t sl_log_parse_level(const char *text, sl_log_level_t *level_p);
const char *sl_log_level_name(sl_log_level_t level);
void sl_log_set_level(sl_log_level_t level);

/* From now on prefix every line with "host:rRANK/SIZE". */
void sl_log_set_rank(int rank, int size);

/* Redirect log lines to another descriptor (tests); -1 restores stderr. */
void sl_log_set_fd(int fd);

void sl_log_message(sl_log_level_t level, const char *file, int line,
                    const char *format, ...)
    __attribute__((format(printf, 4, 5)));

#define sl_log_at(level, ...)                                               \
    do {                                                                    \
        if ((level) <= sl_log_threshold)                                    \
            sl_log_message((level), __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)

#define sl_error(...) sl_log_at(SL_LOG_ERROR, __VA_ARGS__)
#define sl_warn(...)  sl_log_at(SL_LOG_WARN, __VA_ARGS__)
#define sl_info(...)  sl_log_at(SL_LOG_INFO, __VA_ARGS__)
#define sl_debug(...) sl_log_at(SL_LOG_DEBUG, __VA_ARGS__)
#define sl_trace(...) sl_log_at(SL_LOG_TRACE, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* SL_CORE_LOG_H */
