/* progress.c - progress bar and log line; see progress.h. */
#include "config.h"

#include "io/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void sl_io_progress_duration(double s, char *buf, size_t size)
{
    long long t;

    if (!(s >= 0) || !isfinite(s) || s > 1e12) {
        snprintf(buf, size, "?");
        return;
    }
    t = (long long)(s + 0.5);
    if (t < 60)
        snprintf(buf, size, "%llds", t);
    else if (t < 3600)
        snprintf(buf, size, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, size, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, size, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
}

double sl_io_progress_eta(const sl_io_progress_t *p)
{
    int64_t run_done = p->done - p->done_at_start;

    if (p->total <= 0 || run_done <= 0 || !(p->elapsed > 0))
        return -1;
    if (p->done >= p->total)
        return 0;
    return (double)(p->total - p->done) * p->elapsed / (double)run_done;
}

static double sl_io_rate(double n, double elapsed)
{
    return elapsed > 0 ? n / elapsed : 0;
}

/* "812.3", "12.4k", "3.1M": rates fit in a few columns. */
static void sl_io_fmt_rate(double r, char *buf, size_t size)
{
    if (r >= 1e6)
        snprintf(buf, size, "%.1fM", r / 1e6);
    else if (r >= 1e4)
        snprintf(buf, size, "%.1fk", r / 1e3);
    else
        snprintf(buf, size, "%.1f", r);
}

size_t sl_io_progress_bar(const sl_io_progress_t *p, int width, char *buf, size_t size)
{
    char counts[64], pct[16] = "", rate[24], eta[24] = "", tail[160];
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    double e = sl_io_progress_eta(p);
    int n, bar;

    if (size == 0)
        return 0;
    if (frac > 1)
        frac = 1;
    if (p->total > 0) {
        snprintf(counts, sizeof(counts), "%lld/%lld", (long long)p->done, (long long)p->total);
        snprintf(pct, sizeof(pct), "  %5.1f%%", 100.0 * frac);
    } else {
        snprintf(counts, sizeof(counts), "%lld", (long long)p->done);
    }
    sl_io_fmt_rate(sl_io_rate((double)p->tokens, p->elapsed), rate, sizeof(rate));
    if (e >= 0) {
        char d[16];
        sl_io_progress_duration(e, d, sizeof(d));
        snprintf(eta, sizeof(eta), "  ETA %s", d);
    }
    n = snprintf(tail, sizeof(tail), "  %s%s  %s tok/s%s", counts, pct, rate, eta);
    /* "[" + bar + "]" + tail, within WIDTH */
    bar = width > 0 ? width - n - 2 : 30;
    if (bar > 40)
        bar = 40;
    if (bar < 10 || p->total <= 0) {
        n = snprintf(buf, size, "%s", tail + 2);
        if (width > 0 && n > width && (size_t)width < size) {
            buf[width] = '\0';
            n = width;
        }
        return n < 0 ? 0 : (size_t)n;
    }
    {
        int full = (int)(frac * bar + 1e-9);
        char bars[64];
        memset(bars, '#', (size_t)full);
        memset(bars + full, '.', (size_t)(bar - full));
        bars[bar] = '\0';
        n = snprintf(buf, size, "[%s]%s", bars, tail);
    }
    return n < 0 ? 0 : (size_t)n;
}

size_t sl_io_progress_line(const sl_io_progress_t *p, char *buf, size_t size)
{
    char counts[80], rate[24], req[24], el[16], eta[16];
    int64_t run_done = p->done - p->done_at_start;
    double e = sl_io_progress_eta(p);
    int n;

    if (p->total > 0)
        snprintf(counts, sizeof(counts), "%lld/%lld (%.1f%%)", (long long)p->done,
                 (long long)p->total, 100.0 * (double)p->done / (double)p->total);
    else
        snprintf(counts, sizeof(counts), "%lld", (long long)p->done);
    sl_io_fmt_rate(sl_io_rate((double)p->tokens, p->elapsed), rate, sizeof(rate));
    sl_io_fmt_rate(sl_io_rate((double)run_done, p->elapsed), req, sizeof(req));
    sl_io_progress_duration(p->elapsed, el, sizeof(el));
    if (e >= 0)
        sl_io_progress_duration(e, eta, sizeof(eta));
    else
        snprintf(eta, sizeof(eta), "?");
    n = snprintf(buf, size, "progress: %s, %lld error%s, %s tok/s, %s req/s, elapsed %s, ETA %s",
                 counts, (long long)p->errors, p->errors == 1 ? "" : "s", rate, req, el, eta);
    return n < 0 ? 0 : (size_t)n;
}

int sl_io_progress_use_bar(int fd)
{
    return isatty(fd) == 1;
}
