/* log.c - see log.h. */
#include "config.h"

#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longer messages are cut and end in "...". */
#define SL_LOG_LINE_MAX 4096

sl_log_level_t sl_log_threshold = SL_LOG_INFO;

static char sl_log_host[64] = "?";
static int sl_log_rank = -1;
static int sl_log_size = 0;
static int sl_log_fd = STDERR_FILENO;
static struct timespec sl_log_start;
static int sl_log_started;

static const char *const sl_log_names[] = {
    [SL_LOG_ERROR] = "error",
    [SL_LOG_WARN]  = "warning",
    [SL_LOG_INFO]  = "info",
    [SL_LOG_DEBUG] = "debug",
    [SL_LOG_TRACE] = "trace",
};

const char *sl_log_level_name(sl_log_level_t level)
{
    if (level < SL_LOG_ERROR || level > SL_LOG_TRACE)
        return "?";
    return sl_log_names[level];
}

sl_status_t sl_log_parse_level(const char *text, sl_log_level_t *level_p)
{
    static const struct {
        const char *name;
        sl_log_level_t level;
    } names[] = {
        {"error", SL_LOG_ERROR}, {"warn", SL_LOG_WARN}, {"warning", SL_LOG_WARN},
        {"info", SL_LOG_INFO},   {"debug", SL_LOG_DEBUG}, {"trace", SL_LOG_TRACE},
    };

    if (text == NULL)
        return SL_ERR_INVALID_ARG;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *level_p = names[i].level;
            return SL_OK;
        }
    }
    if (text[0] >= '0' && text[0] <= '4' && text[1] == '\0') {
        *level_p = (sl_log_level_t)(text[0] - '0');
        return SL_OK;
    }
    return SL_ERR_INVALID_ARG;
}

void sl_log_set_level(sl_log_level_t level)
{
    if (level < SL_LOG_ERROR)
        level = SL_LOG_ERROR;
    if (level > SL_LOG_TRACE)
        level = SL_LOG_TRACE;
    sl_log_threshold = level;
}

void sl_log_set_rank(int rank, int size)
{
    sl_log_rank = rank;
    sl_log_size = size;
}

void sl_log_set_fd(int fd)
{
    sl_log_fd = fd < 0 ? STDERR_FILENO : fd;
}

void sl_log_init(void)
{
    const char *env = getenv("SLINFER_LOG_LEVEL");
    sl_log_level_t level;

    if (!sl_log_started) {
        clock_gettime(CLOCK_MONOTONIC, &sl_log_start);
        sl_log_started = 1;
    }
    if (gethostname(sl_log_host, sizeof(sl_log_host)) != 0)
        snprintf(sl_log_host, sizeof(sl_log_host), "?");
    sl_log_host[sizeof(sl_log_host) - 1] = '\0';
    /* Short host name: cluster FQDNs make every line twice as long. */
    char *dot = strchr(sl_log_host, '.');
    if (dot != NULL)
        *dot = '\0';

    if (env != NULL && env[0] != '\0') {
        if (sl_log_parse_level(env, &level) == SL_OK)
            sl_log_set_level(level);
        else
            sl_warn("SLINFER_LOG_LEVEL='%s' is not one of error, warn, info, "
                    "debug, trace; keeping '%s'",
                    env, sl_log_level_name(sl_log_threshold));
    }
}

static double sl_log_elapsed(void)
{
    struct timespec now;

    if (!sl_log_started)
        return 0.0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - sl_log_start.tv_sec) +
           1e-9 * (double)(now.tv_nsec - sl_log_start.tv_nsec);
}

void sl_log_message(sl_log_level_t level, const char *file, int line,
                    const char *format, ...)
{
    char buf[SL_LOG_LINE_MAX];
    size_t used;
    int n;
    va_list ap;
    int saved_errno = errno; /* callers may log, then read errno */

    if (sl_log_rank >= 0)
        n = snprintf(buf, sizeof(buf), "slinfer[%s:r%d/%d %.3fs] %s: ", sl_log_host,
                     sl_log_rank, sl_log_size, sl_log_elapsed(), sl_log_level_name(level));
    else
        n = snprintf(buf, sizeof(buf), "slinfer[%s %.3fs] %s: ", sl_log_host,
                     sl_log_elapsed(), sl_log_level_name(level));
    used = n < 0 ? 0 : (size_t)n;

    if (sl_log_threshold >= SL_LOG_DEBUG && used < sizeof(buf)) {
        const char *base = strstr(file, "src/");
        n = snprintf(buf + used, sizeof(buf) - used, "[%s:%d] ",
                     base != NULL ? base + 4 : file, line);
        used += n < 0 ? 0 : (size_t)n;
    }

    if (used < sizeof(buf)) {
        va_start(ap, format);
        n = vsnprintf(buf + used, sizeof(buf) - used, format, ap);
        va_end(ap);
        used += n < 0 ? 0 : (size_t)n;
    }

    /* Room for the newline; mark truncation. */
    if (used >= sizeof(buf) - 1) {
        used = sizeof(buf) - 1;
        memcpy(buf + used - 3, "...", 3);
    }
    buf[used++] = '\n';

    for (size_t done = 0; done < used;) {
        ssize_t w = write(sl_log_fd, buf + done, used - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere left to report it */
        done += (size_t)w;
    }
    errno = saved_errno;
}
