/* threadpool.c - fork-join pthread pool; see threadpool.h. */
#include "config.h"

#include "backend/cpu/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct sl_cpu_worker {
    sl_cpu_pool_t *pool;
    int index; /* 1..threads-1: its part of each job */
    pthread_t thread;
} sl_cpu_worker_t;

struct sl_cpu_pool {
    int threads;
    sl_cpu_worker_t *workers; /* [threads - 1] */
    pthread_mutex_t mutex;
    pthread_cond_t start;     /* a job was posted (or stop)      */
    pthread_cond_t done;      /* the last worker finished its part */
    unsigned long job;        /* incremented per posted job       */
    int pending;              /* workers still running the job    */
    int stop;
    /* the posted job */
    void (*fn)(void *arg, size_t begin, size_t end);
    void *arg;
    size_t n;
    int parts;
};

/* Part I of [0, N) split in PARTS. */
static void sl_pool_part(size_t n, int parts, int i, size_t *begin, size_t *end)
{
    *begin = n * (size_t)i / (size_t)parts;
    *end = n * (size_t)(i + 1) / (size_t)parts;
}

static void *sl_pool_worker(void *arg)
{
    sl_cpu_worker_t *w = arg;
    sl_cpu_pool_t *p = w->pool;
    unsigned long seen = 0;

    pthread_mutex_lock(&p->mutex);
    for (;;) {
        while (!p->stop && p->job == seen)
            pthread_cond_wait(&p->start, &p->mutex);
        if (p->stop)
            break;
        seen = p->job;
        int parts = p->parts;
        pthread_mutex_unlock(&p->mutex);
        if (w->index < parts) {
            size_t b, e;
            sl_pool_part(p->n, parts, w->index, &b, &e);
            p->fn(p->arg, b, e);
        }
        pthread_mutex_lock(&p->mutex);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mutex);
    return NULL;
}

sl_status_t sl_cpu_pool_create(int threads, sl_cpu_pool_t **pool_p)
{
    sl_cpu_pool_t *p;
    int err;

    if (threads < 1 || threads > 1024) {
        sl_error("thread pool of %d threads: must be 1 to 1024", threads);
        return SL_ERR_INVALID_ARG;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->workers = calloc((size_t)threads, sizeof(*p->workers))) == NULL) {
        free(p);
        sl_error("out of memory creating a pool of %d threads", threads);
        return SL_ERR_NO_MEMORY;
    }
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = 1;
    for (int i = 1; i < threads; i++) {
        sl_cpu_worker_t *w = &p->workers[i - 1];
        w->pool = p;
        w->index = i;
        err = pthread_create(&w->thread, NULL, sl_pool_worker, w);
        if (err != 0) {
            sl_error("pthread_create for worker %d of %d: %s", i, threads, strerror(err));
            sl_cpu_pool_free(p);
            return SL_ERR_NO_MEMORY;
        }
        p->threads++;
    }
    *pool_p = p;
    return SL_OK;
}

void sl_cpu_pool_free(sl_cpu_pool_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mutex);
    p->stop = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->workers[i - 1].thread, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->start);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}

int sl_cpu_pool_threads(const sl_cpu_pool_t *p)
{
    return p != NULL ? p->threads : 1;
}

void sl_cpu_parallel_for(sl_cpu_pool_t *p, size_t n, size_t grain,
                         void (*fn)(void *arg, size_t begin, size_t end), void *arg)
{
    size_t parts_wanted;
    int parts;
    size_t b, e;

    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    parts_wanted = (n + grain - 1) / grain;
    if (p == NULL || p->threads == 1 || parts_wanted < 2) {
        fn(arg, 0, n);
        return;
    }
    parts = parts_wanted < (size_t)p->threads ? (int)parts_wanted : p->threads;

    pthread_mutex_lock(&p->mutex);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->parts = parts;
    p->pending = p->threads - 1;
    p->job++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mutex);

    sl_pool_part(n, parts, 0, &b, &e);
    fn(arg, b, e);

    pthread_mutex_lock(&p->mutex);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mutex);
    pthread_mutex_unlock(&p->mutex);
}

int sl_cpu_default_threads(void)
{
    const char *env = getenv("SLINFER_THREADS");
    cpu_set_t set;

    if (env != NULL && env[0] != '\0') {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 1024)
            return (int)v;
        sl_warn("SLINFER_THREADS='%s' is not a number from 1 to 1024; ignored", env);
    }
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}
