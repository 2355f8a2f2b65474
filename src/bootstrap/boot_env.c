/*
 * boot_env.c - the "env" bootstrap backend: ranks started by hand or by a
 * script, without a launcher, find each other through a coordinator address
 * in the environment (as torchrun's rendezvous does):
 *
 *   SLINFER_RANK=R SLINFER_WORLD_SIZE=N SLINFER_COORDINATOR=HOST:PORT slinfer ...
 *
 * Rank 0 listens on PORT (on HOST's address; HOST may be 0.0.0.0) and every
 * other rank connects to it, retrying until the bootstrap timeout: the ranks
 * may start in any order. The connections form a star through which every
 * collective goes as one round trip: each rank sends its contribution in a
 * frame, rank 0 waits for all of them and sends every rank the result. A
 * collective never reorders: every rank makes the same calls in the same
 * order (bootstrap.h), so a rank reads exactly one contribution per peer
 * per collective.
 *
 * publish/lookup (the liveness star's start-up exchange) are rank 0's
 * only: its publish pushes the key and value to every rank at once, where
 * lookup finds them among the frames it reads.
 *
 * A peer that dies closes its socket: the collective in progress fails on
 * the ranks that notice (rank 0 at once, the others when rank 0 aborts);
 * abort exits, and the liveness star ends the others.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bootstrap/boot_internal.h"
#include "core/log.h"
#include "core/net.h"

#define SL_ENV_MAGIC 0x534c4542u      /* "SLEB" */
#define SL_ENV_CONNECT_STEP_MS 250    /* between two tries to reach rank 0 */
#define SL_ENV_WRITE_STEP_MS 10000    /* a peer that takes no bytes this long is gone */
#define SL_ENV_KEY_MAX 128

enum { SL_ENV_HELLO = 1, SL_ENV_CONTRIB, SL_ENV_RESULT, SL_ENV_PUT };

/* Every message: this header, then len bytes. */
typedef struct sl_env_frame {
    uint32_t magic;
    uint32_t type;
    uint64_t seq;   /* collective number; the rank in HELLO */
    uint64_t len;
} sl_env_frame_t;

/* A key rank 0 published, as lookup() will want it. */
typedef struct sl_env_kv {
    char key[SL_ENV_KEY_MAX];
    char *value;
    struct sl_env_kv *next;
} sl_env_kv_t;

typedef struct sl_env {
    int *fds;          /* rank 0: [size] sockets of ranks 1..size-1; others: fds[0] */
    sl_env_kv_t *kv;   /* what rank 0 published, as seen here */
} sl_env_t;

/* ---- frames ----------------------------------------------------------------- */

/* When a wait that starts now gives up (timeout 0: in a century). */
static long long sl_env_deadline(const sl_boot_t *boot)
{
    return sl_net_now_ms() + 1000LL * (boot->timeout_s > 0 ? boot->timeout_s : 3155760000LL);
}

static sl_status_t sl_env_send(int fd, uint32_t type, uint64_t seq, const void *a, size_t alen,
                               const void *b, size_t blen)
{
    sl_env_frame_t f = {.magic = SL_ENV_MAGIC, .type = type, .seq = seq,
                        .len = (uint64_t)alen + blen};

    const struct iovec frame[3] = {{.iov_base = &f, .iov_len = sizeof(f)},
                                   {.iov_base = (void *)a, .iov_len = alen},
                                   {.iov_base = (void *)b, .iov_len = blen}};
    if (sl_net_writev_all(fd, frame, 3, SL_ENV_WRITE_STEP_MS) != SL_OK)
        return SL_ERR_BOOTSTRAP;
    return SL_OK;
}

/* Reads one whole frame: *F and its payload in *DATA_P (malloc'ed, '\0'
 * past the end). */
static sl_status_t sl_env_recv(int fd, long long deadline, sl_env_frame_t *f, char **data_p)
{
    char *data = NULL;

    if (sl_net_read_all(fd, f, sizeof(*f), deadline) != SL_OK || f->magic != SL_ENV_MAGIC ||
        f->len > ((uint64_t)1 << 32))
        return SL_ERR_BOOTSTRAP;
    data = malloc((size_t)f->len + 1);
    if (data == NULL)
        return SL_ERR_NO_MEMORY;
    if (f->len > 0 && sl_net_read_all(fd, data, (size_t)f->len, deadline) != SL_OK) {
        free(data);
        return SL_ERR_BOOTSTRAP;
    }
    data[f->len] = '\0';
    *data_p = data;
    return SL_OK;
}

/* ---- start ------------------------------------------------------------------ */

static sl_status_t sl_env_int(const char *name, int lo, int hi, int *value_p)
{
    const char *text = getenv(name);
    char *end;
    long v;

    if (text == NULL) {
        sl_error("bootstrap env: %s is not set (the env bootstrap needs SLINFER_RANK, "
                 "SLINFER_WORLD_SIZE and SLINFER_COORDINATOR=HOST:PORT)", name);
        return SL_ERR_BOOTSTRAP;
    }
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        sl_error("bootstrap env: %s='%s' is not a whole number in %d..%d", name, text, lo, hi);
        return SL_ERR_BOOTSTRAP;
    }
    *value_p = (int)v;
    return SL_OK;
}

/* SLINFER_COORDINATOR=HOST:PORT as an IPv4 address (HOST resolved). */
static sl_status_t sl_env_coordinator(struct sockaddr_in *addr)
{
    const char *text = getenv("SLINFER_COORDINATOR");
    char host[SL_BOOT_HOSTNAME_MAX];
    const char *colon = text != NULL ? strrchr(text, ':') : NULL;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char *end;
    long port;

    if (text == NULL) {
        sl_error("bootstrap env: SLINFER_COORDINATOR is not set (the env bootstrap needs "
                 "SLINFER_RANK, SLINFER_WORLD_SIZE and SLINFER_COORDINATOR=HOST:PORT)");
        return SL_ERR_BOOTSTRAP;
    }
    if (colon == NULL || colon == text ||
        (size_t)(colon - text) >= sizeof(host)) {
        sl_error("bootstrap env: SLINFER_COORDINATOR='%s' is not HOST:PORT (rank 0's host "
                 "and a free TCP port every rank can reach)", text);
        return SL_ERR_BOOTSTRAP;
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
        sl_error("bootstrap env: SLINFER_COORDINATOR='%s': the port must be 1..65535", text);
        return SL_ERR_BOOTSTRAP;
    }
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL) {
        sl_error("bootstrap env: SLINFER_COORDINATOR='%s': cannot resolve '%s': %s", text,
                 host, gai_strerror(rc));
        return SL_ERR_BOOTSTRAP;
    }
    *addr = *(struct sockaddr_in *)res->ai_addr;
    addr->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return SL_OK;
}

/* Rank 0: listens and takes one HELLO from each other rank. */
static sl_status_t sl_env_accept_all(sl_boot_t *boot, sl_env_t *env,
                                     const struct sockaddr_in *addr)
{
    long long deadline = sl_env_deadline(boot);
    int missing = boot->size - 1, one = 1;
    sl_status_t status = SL_ERR_BOOTSTRAP;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listener, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        listen(listener, boot->size < 4096 ? boot->size : 4096) != 0) {
        sl_error("bootstrap env: rank 0 cannot listen on %s:%d (SLINFER_COORDINATOR): %s",
                 inet_ntoa(addr->sin_addr), ntohs(addr->sin_port), strerror(errno));
        goto out;
    }
    while (missing > 0) {
        int ready = sl_net_wait(listener, POLLIN, deadline);
        if (ready <= 0) {
            sl_error("bootstrap env: %d of %d ranks did not reach rank 0 at %s:%d within %d s",
                     missing, boot->size - 1, inet_ntoa(addr->sin_addr),
                     ntohs(addr->sin_port), boot->timeout_s);
            goto out;
        }
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        sl_net_tune(fd);
        sl_env_frame_t f;
        char *data = NULL;
        if (sl_env_recv(fd, sl_net_now_ms() + 10000, &f, &data) != SL_OK ||
            f.type != SL_ENV_HELLO || f.seq < 1 || f.seq >= (uint64_t)boot->size ||
            env->fds[f.seq] >= 0) {
            /* a stray connection, or a second rank with the same number */
            sl_warn("bootstrap env: refused a connection that is not a new rank of this job%s",
                    data != NULL && f.type == SL_ENV_HELLO ? " (a rank number twice?)" : "");
            free(data);
            close(fd);
            continue;
        }
        free(data);
        env->fds[f.seq] = fd;
        missing--;
    }
    status = SL_OK;
out:
    if (listener >= 0)
        close(listener);
    return status;
}

/* Other ranks: connect to rank 0 (it may not listen yet) and say hello. */
static sl_status_t sl_env_connect(sl_boot_t *boot, sl_env_t *env, const struct sockaddr_in *addr)
{
    long long deadline = sl_env_deadline(boot);
    char ip[INET_ADDRSTRLEN];

    inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip));
    for (;;) {
        int fd = sl_net_connect(ip, ntohs(addr->sin_port),
                                sl_net_now_ms() + SL_ENV_CONNECT_STEP_MS);
        if (fd >= 0) {
            if (sl_env_send(fd, SL_ENV_HELLO, (uint64_t)boot->rank, NULL, 0, NULL, 0) == SL_OK) {
                env->fds[0] = fd;
                return SL_OK;
            }
            close(fd);
        }
        if (sl_net_now_ms() >= deadline) {
            sl_error("bootstrap env: rank %d cannot reach rank 0 at %s:%d "
                     "(SLINFER_COORDINATOR) within %d s",
                     boot->rank, ip, ntohs(addr->sin_port), boot->timeout_s);
            return SL_ERR_BOOTSTRAP;
        }
        usleep(SL_ENV_CONNECT_STEP_MS * 1000);
    }
}

static void sl_env_free(sl_env_t *env, int nfds)
{
    if (env == NULL)
        return;
    for (int i = 0; env->fds != NULL && i < nfds; i++)
        if (env->fds[i] >= 0)
            close(env->fds[i]);
    while (env->kv != NULL) {
        sl_env_kv_t *next = env->kv->next;
        free(env->kv->value);
        free(env->kv);
        env->kv = next;
    }
    free(env->fds);
    free(env);
}

static sl_status_t sl_boot_env_init(sl_boot_t *boot)
{
    struct sockaddr_in addr;
    sl_env_t *env;
    sl_status_t status;
    int size, rank;

    if ((status = sl_env_int("SLINFER_WORLD_SIZE", 1, 1 << 20, &size)) != SL_OK ||
        (status = sl_env_int("SLINFER_RANK", 0, size - 1, &rank)) != SL_OK ||
        (status = sl_env_coordinator(&addr)) != SL_OK)
        return status;
    if (gethostname(boot->my_hostname, sizeof(boot->my_hostname)) != 0 ||
        boot->my_hostname[0] == '\0')
        snprintf(boot->my_hostname, sizeof(boot->my_hostname), "localhost");
    boot->my_hostname[sizeof(boot->my_hostname) - 1] = '\0';
    boot->rank = rank;
    boot->size = size;
    env = calloc(1, sizeof(*env));
    if (env == NULL || (env->fds = malloc((size_t)size * sizeof(*env->fds))) == NULL) {
        sl_error("bootstrap env: out of memory for %d ranks", size);
        free(env);
        return SL_ERR_NO_MEMORY;
    }
    for (int i = 0; i < size; i++)
        env->fds[i] = -1;
    if (size > 1)
        status = rank == 0 ? sl_env_accept_all(boot, env, &addr)
                           : sl_env_connect(boot, env, &addr);
    if (status != SL_OK) {
        sl_env_free(env, size);
        return status;
    }
    boot->priv = env;
    return SL_OK;
}

static void sl_boot_env_finalize(sl_boot_t *boot)
{
    sl_env_free(boot->priv, boot->size);
    boot->priv = NULL;
}

/* ---- collectives ---------------------------------------------------------------- */

/* Rank 0: every other rank's contribution to collective SEQ, into
 * data[r] / len[r] (data[0] / len[0] are rank 0's own, set by the caller). */
static sl_status_t sl_env_gather(sl_boot_t *boot, uint64_t seq, char **data, size_t *len)
{
    sl_env_t *env = boot->priv;
    long long deadline = sl_env_deadline(boot);
    int missing = boot->size - 1;
    struct pollfd *pfd = calloc((size_t)boot->size, sizeof(*pfd));
    sl_status_t status = SL_OK;

    if (pfd == NULL) {
        sl_error("bootstrap env: collective #%llu: out of memory", (unsigned long long)seq);
        return SL_ERR_NO_MEMORY;
    }
    while (missing > 0 && status == SL_OK) {
        int n = 0;
        for (int r = 1; r < boot->size; r++)
            if (data[r] == NULL)
                pfd[n++] = (struct pollfd){.fd = env->fds[r], .events = POLLIN};
        long long left = deadline - sl_net_now_ms();
        int ready = poll(pfd, (nfds_t)n, left > 60000 ? 60000 : left > 0 ? (int)left : 0);
        if (ready == 0 && left > 60000)
            continue; /* a long wait, in steps */
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            sl_error("bootstrap env: collective #%llu: %d rank(s) did not take part within "
                     "%d s", (unsigned long long)seq, missing, boot->timeout_s);
            status = SL_ERR_BOOTSTRAP;
            break;
        }
        for (int r = 1, i = 0; r < boot->size && status == SL_OK; r++) {
            if (data[r] != NULL)
                continue;
            short ev = pfd[i++].revents;
            if (ev == 0)
                continue;
            sl_env_frame_t f;
            if (sl_env_recv(env->fds[r], deadline, &f, &data[r]) != SL_OK ||
                f.type != SL_ENV_CONTRIB || f.seq != seq) {
                sl_error("bootstrap env: collective #%llu: rank %d is gone (its connection "
                         "to rank 0 closed or sent something else)",
                         (unsigned long long)seq, r);
                status = SL_ERR_BOOTSTRAP;
                break;
            }
            len[r] = (size_t)f.len;
            missing--;
        }
    }
    free(pfd);
    return status;
}

/* The result of an allgather as it travels: [size] uint64 lengths, then the
 * blobs one after the other. */
static sl_status_t sl_env_unpack(const sl_boot_t *boot, const char *buf, size_t size,
                                 sl_boot_blobs_t **blobs_p)
{
    size_t *lens = malloc((size_t)boot->size * sizeof(*lens));
    size_t head = (size_t)boot->size * sizeof(uint64_t), at = head;
    sl_boot_blobs_t *blobs;
    sl_status_t status = SL_ERR_BOOTSTRAP;

    if (lens == NULL)
        return SL_ERR_NO_MEMORY;
    if (size < head)
        goto out;
    for (int r = 0; r < boot->size; r++) {
        uint64_t l;
        memcpy(&l, buf + (size_t)r * sizeof(l), sizeof(l));
        if (l > size - at)
            goto out;
        lens[r] = (size_t)l;
        at += (size_t)l;
    }
    if ((status = sl_boot_blobs_alloc(boot->size, lens, &blobs)) != SL_OK)
        goto out;
    at = head;
    for (int r = 0; r < boot->size; r++) {
        memcpy(sl_boot_blob_ptr(blobs, r), buf + at, lens[r]);
        at += lens[r];
    }
    *blobs_p = blobs;
out:
    if (status == SL_ERR_BOOTSTRAP)
        sl_error("bootstrap env: a malformed collective result from rank 0");
    free(lens);
    return status;
}

/* Reads frames from rank 0 until the RESULT of collective SEQ, keeping the
 * keys rank 0 publishes on the way. */
static sl_status_t sl_env_await(sl_boot_t *boot, uint64_t type, uint64_t seq, const char *key,
                                char **data_p, size_t *len_p);

static sl_status_t sl_boot_env_allgatherv(sl_boot_t *boot, const void *buf, size_t len,
                                          sl_boot_blobs_t **blobs_p)
{
    sl_env_t *env = boot->priv;
    const uint64_t seq = boot->seq;
    sl_status_t status;

    if (boot->size == 1) {
        if ((status = sl_boot_blobs_alloc(1, &len, blobs_p)) == SL_OK && len > 0)
            memcpy(sl_boot_blob_ptr(*blobs_p, 0), buf, len);
        return status;
    }
    if (boot->rank != 0) {
        char *result = NULL;
        size_t rlen = 0;
        if (sl_env_send(env->fds[0], SL_ENV_CONTRIB, seq, buf, len, NULL, 0) != SL_OK) {
            sl_error("bootstrap env: collective #%llu: rank 0 is gone",
                     (unsigned long long)seq);
            return SL_ERR_BOOTSTRAP;
        }
        if ((status = sl_env_await(boot, SL_ENV_RESULT, seq, NULL, &result, &rlen)) != SL_OK)
            return status;
        status = sl_env_unpack(boot, result, rlen, blobs_p);
        free(result);
        return status;
    }

    char **data = calloc((size_t)boot->size, sizeof(*data));
    size_t *lens = calloc((size_t)boot->size, sizeof(*lens));
    uint64_t *head = calloc((size_t)boot->size, sizeof(*head));
    char *body = NULL;
    status = SL_ERR_NO_MEMORY;
    if (data == NULL || lens == NULL || head == NULL)
        goto out;
    data[0] = (char *)buf; /* not freed below */
    lens[0] = len;
    if ((status = sl_env_gather(boot, seq, data, lens)) != SL_OK)
        goto out;
    size_t total = 0;
    for (int r = 0; r < boot->size; r++) {
        head[r] = lens[r];
        total += lens[r];
    }
    status = SL_ERR_NO_MEMORY;
    if ((body = malloc(total + 1)) == NULL)
        goto out;
    total = 0;
    for (int r = 0; r < boot->size; r++) {
        if (lens[r] > 0)
            memcpy(body + total, data[r], lens[r]);
        total += lens[r];
    }
    for (int r = 1; r < boot->size; r++)
        if (sl_env_send(env->fds[r], SL_ENV_RESULT, seq, head, (size_t)boot->size * sizeof(*head),
                        body, total) != SL_OK) {
            sl_error("bootstrap env: collective #%llu: rank %d is gone",
                     (unsigned long long)seq, r);
            status = SL_ERR_BOOTSTRAP;
            goto out;
        }
    if ((status = sl_boot_blobs_alloc(boot->size, lens, blobs_p)) == SL_OK)
        for (int r = 0; r < boot->size; r++)
            if (lens[r] > 0)
                memcpy(sl_boot_blob_ptr(*blobs_p, r), data[r], lens[r]);
out:
    if (status == SL_ERR_NO_MEMORY)
        sl_error("bootstrap env: collective #%llu: out of memory", (unsigned long long)seq);
    for (int r = 1; data != NULL && r < boot->size; r++)
        free(data[r]);
    free(data);
    free(lens);
    free(head);
    free(body);
    return status;
}

static sl_status_t sl_boot_env_barrier(sl_boot_t *boot)
{
    sl_boot_blobs_t *blobs = NULL;
    sl_status_t status = sl_boot_env_allgatherv(boot, NULL, 0, &blobs);

    sl_boot_blobs_free(blobs);
    return status;
}

/* A broadcast is an allgather in which only ROOT says anything: one round
 * trip either way, and no second message kind to get wrong. */
static sl_status_t sl_boot_env_bcastv(sl_boot_t *boot, int root, const void *buf, size_t len,
                                      void **data_p, size_t *len_p)
{
    sl_boot_blobs_t *blobs = NULL;
    sl_status_t status =
        sl_boot_env_allgatherv(boot, boot->rank == root ? buf : NULL,
                               boot->rank == root ? len : 0, &blobs);
    char *data;

    if (status != SL_OK)
        return status;
    data = malloc(blobs->len[root] + 1);
    if (data == NULL) {
        sl_error("bootstrap env: bcast #%lu: cannot allocate %zu bytes", boot->seq,
                 blobs->len[root] + 1);
        sl_boot_blobs_free(blobs);
        return SL_ERR_NO_MEMORY;
    }
    memcpy(data, blobs->data[root], blobs->len[root] + 1);
    *data_p = data;
    *len_p = blobs->len[root];
    sl_boot_blobs_free(blobs);
    return SL_OK;
}

/* ---- publish / lookup (rank 0's keys) ------------------------------------------ */

static sl_status_t sl_env_keep(sl_env_t *env, const char *key, const char *value)
{
    sl_env_kv_t *kv = calloc(1, sizeof(*kv));

    if (kv == NULL || (kv->value = strdup(value)) == NULL) {
        free(kv);
        sl_error("bootstrap env: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    snprintf(kv->key, sizeof(kv->key), "%s", key);
    kv->next = env->kv;
    env->kv = kv;
    return SL_OK;
}

static const sl_env_kv_t *sl_env_find(const sl_env_t *env, const char *key)
{
    for (const sl_env_kv_t *kv = env->kv; kv != NULL; kv = kv->next)
        if (strcmp(kv->key, key) == 0)
            return kv;
    return NULL;
}

static sl_status_t sl_env_await(sl_boot_t *boot, uint64_t type, uint64_t seq, const char *key,
                                char **data_p, size_t *len_p)
{
    sl_env_t *env = boot->priv;
    long long deadline = sl_env_deadline(boot);

    for (;;) {
        sl_env_frame_t f;
        char *data = NULL;
        sl_status_t status = sl_env_recv(env->fds[0], deadline, &f, &data);
        if (status != SL_OK) {
            if (status == SL_ERR_BOOTSTRAP)
                sl_error("bootstrap env: rank 0 is gone, or did not answer within %d s "
                         "(waiting for %s)", boot->timeout_s,
                         type == SL_ENV_RESULT ? "a collective" : "a published key");
            return status;
        }
        if (f.type == SL_ENV_PUT) {
            /* "KEY\0VALUE" */
            size_t klen = strnlen(data, (size_t)f.len);
            status = klen < (size_t)f.len && klen < SL_ENV_KEY_MAX
                         ? sl_env_keep(env, data, data + klen + 1)
                         : SL_ERR_BOOTSTRAP;
            free(data);
            if (status != SL_OK)
                return status;
            if (type == SL_ENV_PUT && sl_env_find(env, key) != NULL)
                return SL_OK;
            continue;
        }
        if (f.type != type || f.seq != seq) {
            sl_error("bootstrap env: rank 0 sent message %u #%llu where %llu #%llu was due",
                     f.type, (unsigned long long)f.seq, (unsigned long long)type,
                     (unsigned long long)seq);
            free(data);
            return SL_ERR_BOOTSTRAP;
        }
        *data_p = data;
        *len_p = (size_t)f.len;
        return SL_OK;
    }
}

static sl_status_t sl_boot_env_publish(sl_boot_t *boot, const char *key, const char *value)
{
    sl_env_t *env = boot->priv;
    size_t klen = strlen(key);

    if (boot->rank != 0 || klen >= SL_ENV_KEY_MAX) {
        sl_error("bootstrap env: only rank 0 publishes (short) keys; rank %d tried '%s'",
                 boot->rank, key);
        return SL_ERR_UNSUPPORTED;
    }
    for (int r = 1; r < boot->size; r++)
        if (sl_env_send(env->fds[r], SL_ENV_PUT, 0, key, klen + 1, value, strlen(value)) !=
            SL_OK) {
            sl_error("bootstrap env: cannot tell rank %d key '%s': it is gone", r, key);
            return SL_ERR_BOOTSTRAP;
        }
    return sl_env_keep(env, key, value);
}

static sl_status_t sl_boot_env_lookup(sl_boot_t *boot, int rank, const char *key, int timeout_s,
                                      char **value_p)
{
    sl_env_t *env = boot->priv;
    const sl_env_kv_t *kv = sl_env_find(env, key);
    int saved = boot->timeout_s;
    char *unused = NULL;
    size_t unused_len;
    sl_status_t status = SL_OK;

    if (rank != 0) {
        sl_error("bootstrap env: only rank 0's keys can be looked up (asked for rank %d's '%s')",
                 rank, key);
        return SL_ERR_UNSUPPORTED;
    }
    if (kv == NULL && boot->rank != 0) {
        boot->timeout_s = timeout_s;
        status = sl_env_await(boot, SL_ENV_PUT, 0, key, &unused, &unused_len);
        boot->timeout_s = saved;
        kv = sl_env_find(env, key);
    }
    if (status != SL_OK || kv == NULL) {
        if (status == SL_OK)
            sl_error("bootstrap env: rank 0 has not published '%s'", key);
        return status != SL_OK ? status : SL_ERR_BOOTSTRAP;
    }
    if ((*value_p = strdup(kv->value)) == NULL) {
        sl_error("bootstrap env: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

/* Nothing is freed: another thread may still be polling the sockets (the
 * front end lets one thread abort). */
static void sl_boot_env_abort(sl_boot_t *boot, int exit_status, const char *message)
{
    const sl_env_t *env = boot->priv;

    (void)message; /* logged by the front end */
    /* Peers waiting in a collective see this rank leave at once. */
    for (int i = 0; env != NULL && i < boot->size; i++)
        if (env->fds[i] >= 0)
            shutdown(env->fds[i], SHUT_RDWR);
    exit(exit_status);
}

const sl_boot_ops_t sl_boot_env_ops = {
    .name       = "env",
    .init       = sl_boot_env_init,
    .finalize   = sl_boot_env_finalize,
    .barrier    = sl_boot_env_barrier,
    .bcastv     = sl_boot_env_bcastv,
    .allgatherv = sl_boot_env_allgatherv,
    .abort      = sl_boot_env_abort,
    .publish    = sl_boot_env_publish,
    .lookup     = sl_boot_env_lookup,
};
