/* journal.c - part file encoding, decoding and scanning; see journal.h. */
#include "config.h"

#include "io/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/log.h"

/* ---- encoding ---------------------------------------------------------- */

void sl_io_journal_put_header(sl_io_buf_t *out, const char *json)
{
    unsigned char h[SL_IO_J_FILE_HEADER];
    size_t len = strlen(json);

    memcpy(h, SL_IO_J_MAGIC, 8);
    sl_io_store_u32(h + 8, SL_IO_J_VERSION);
    sl_io_store_u32(h + 12, (uint32_t)len);
    sl_io_store_u64(h + 16, XXH3_64bits(json, len));
    sl_io_store_u64(h + 24, XXH3_64bits(h, 24));
    sl_io_put_bytes(out, h, sizeof(h));
    sl_io_put_bytes(out, json, len);
}

void sl_io_frame_header(unsigned char *hdr, uint32_t entries, uint64_t seq,
                        const unsigned char *payload, uint64_t len)
{
    sl_io_store_u32(hdr, SL_IO_J_FRAME_MAGIC);
    sl_io_store_u32(hdr + 4, entries);
    sl_io_store_u64(hdr + 8, seq);
    sl_io_store_u64(hdr + 16, len);
    sl_io_store_u64(hdr + 24, XXH3_64bits(payload, (size_t)len));
    sl_io_store_u64(hdr + 32, XXH3_64bits(hdr, 32));
}

/* Starts an entry: type, padding and a length patched by sl_io_entry_end. */
static size_t sl_io_entry_begin(sl_io_buf_t *b, sl_io_entry_type_t type)
{
    size_t at;

    sl_io_put_u8(b, (uint8_t)type);
    sl_io_put_u8(b, 0);
    sl_io_put_u8(b, 0);
    sl_io_put_u8(b, 0);
    at = b->len;
    sl_io_put_u32(b, 0);
    return at;
}

static void sl_io_entry_end(sl_io_buf_t *b, size_t at)
{
    size_t len = b->len - at - 4;

    if (b->failed)
        return;
    if (len > UINT32_MAX) {
        b->failed = 1;
        return;
    }
    sl_io_store_u32(b->data + at, (uint32_t)len);
}

void sl_io_entry_put_result(sl_io_buf_t *b, const sl_io_result_t *r)
{
    size_t at = sl_io_entry_begin(b, SL_IO_ENTRY_RESULT);

    sl_io_put_i64(b, r->index);
    sl_io_put_i64(b, r->line);
    sl_io_put_str(b, r->id, strlen(r->id));
    sl_io_put_u8(b, (uint8_t)r->endpoint);
    sl_io_put_u8(b, (uint8_t)r->status);
    sl_io_put_i32(b, r->prompt_tokens);
    sl_io_put_i32(b, r->cached_tokens);
    sl_io_put_f64(b, r->arrival_time);
    sl_io_put_f64(b, r->first_scheduled_time);
    sl_io_put_i32(b, r->node);
    sl_io_put_i32(b, r->rank);
    sl_io_put_i32(b, r->dp_group);
    sl_io_put_u32(b, (uint32_t)r->n_choices);
    for (size_t c = 0; c < r->n_choices; c++) {
        const sl_io_choice_t *ch = &r->choices[c];
        sl_io_put_u8(b, (uint8_t)ch->finish_reason);
        sl_io_put_i32(b, ch->completion_tokens);
        sl_io_put_f64(b, ch->first_token_time);
        sl_io_put_f64(b, ch->finish_time);
        sl_io_put_f64(b, ch->itl_mean);
        sl_io_put_f64(b, ch->itl_max);
        sl_io_put_u32(b, (uint32_t)ch->n_output_ids);
        for (size_t i = 0; i < ch->n_output_ids; i++)
            sl_io_put_i32(b, ch->output_ids[i]);
        sl_io_put_u8(b, ch->logprobs != NULL);
        if (ch->logprobs != NULL) {
            for (size_t i = 0; i < ch->n_output_ids; i++)
                sl_io_put_f32(b, ch->logprobs[i]);
        }
        sl_io_put_str(b, ch->text != NULL ? ch->text : "", ch->text != NULL ? ch->text_len : 0);
    }
    sl_io_entry_end(b, at);
}

void sl_io_entry_put_error(sl_io_buf_t *b, const sl_io_error_t *e)
{
    size_t at = sl_io_entry_begin(b, SL_IO_ENTRY_ERROR);

    sl_io_put_i64(b, e->index);
    sl_io_put_i64(b, e->line);
    sl_io_put_str(b, e->id, strlen(e->id));
    sl_io_put_i32(b, e->dp_group);
    sl_io_put_u8(b, (uint8_t)e->code);
    sl_io_put_str(b, e->message, strlen(e->message));
    sl_io_entry_end(b, at);
}

void sl_io_entry_put_step(sl_io_buf_t *b, const sl_io_step_t *s)
{
    size_t at = sl_io_entry_begin(b, SL_IO_ENTRY_STEP);

    sl_io_put_i64(b, s->step);
    sl_io_put_i32(b, s->dp_group);
    sl_io_put_i32(b, s->batch_size);
    sl_io_put_i32(b, s->prefill_tokens);
    sl_io_put_i32(b, s->decode_tokens);
    sl_io_put_f64(b, s->time);
    sl_io_put_f64(b, s->duration);
    sl_io_entry_end(b, at);
}

/* ---- decoding ---------------------------------------------------------- */

static int sl_io_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    void *q;

    if (need <= *cap)
        return 0;
    q = realloc(*p, need * elem);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

static sl_status_t sl_io_decode_result(sl_io_cursor_t *c, sl_io_entry_t *e)
{
    sl_io_result_t *r = &e->result;
    size_t total_ids = 0, nch;
    uint8_t endpoint, status;
    /* two passes would be needed to size the id arrays; grow them as we go
     * and fix the choice pointers at the end instead */
    size_t *id_at = NULL, *lp_at = NULL;
    sl_status_t st = SL_ERR_FORMAT;

    memset(r, 0, sizeof(*r));
    r->index = sl_io_get_i64(c);
    r->line = sl_io_get_i64(c);
    r->id = sl_io_get_str(c, NULL);
    endpoint = sl_io_get_u8(c);
    status = sl_io_get_u8(c);
    r->prompt_tokens = sl_io_get_i32(c);
    r->cached_tokens = sl_io_get_i32(c);
    r->arrival_time = sl_io_get_f64(c);
    r->first_scheduled_time = sl_io_get_f64(c);
    r->node = sl_io_get_i32(c);
    r->rank = sl_io_get_i32(c);
    r->dp_group = sl_io_get_i32(c);
    nch = sl_io_get_u32(c);
    if (c->bad || endpoint > SL_IO_ENDPOINT_CHAT_COMPLETIONS ||
        status > SL_IO_STATUS_CANCELLED || nch == 0 || nch > c->len)
        return SL_ERR_FORMAT;
    r->endpoint = (sl_io_endpoint_t)endpoint;
    r->status = (sl_io_status_t)status;
    id_at = malloc(nch * sizeof(size_t));
    lp_at = malloc(nch * sizeof(size_t));
    if (id_at == NULL || lp_at == NULL ||
        sl_io_grow((void **)&e->choices, &e->choices_cap, nch, sizeof(sl_io_choice_t)) != 0) {
        st = SL_ERR_NO_MEMORY;
        goto done;
    }
    for (size_t k = 0; k < nch; k++) {
        sl_io_choice_t *ch = &e->choices[k];
        uint8_t finish = sl_io_get_u8(c), has_lp;
        size_t n;

        memset(ch, 0, sizeof(*ch));
        ch->completion_tokens = sl_io_get_i32(c);
        ch->first_token_time = sl_io_get_f64(c);
        ch->finish_time = sl_io_get_f64(c);
        ch->itl_mean = sl_io_get_f64(c);
        ch->itl_max = sl_io_get_f64(c);
        n = sl_io_get_u32(c);
        if (c->bad || finish > SL_IO_FINISH_ABORT || n > (c->len - c->pos) / 4)
            goto done;
        ch->finish_reason = (sl_io_finish_t)finish;
        ch->n_output_ids = n;
        if (sl_io_grow((void **)&e->ids, &e->ids_cap, total_ids + n + 1, sizeof(int32_t)) != 0 ||
            sl_io_grow((void **)&e->lps, &e->lps_cap, total_ids + n + 1, sizeof(float)) != 0) {
            st = SL_ERR_NO_MEMORY;
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            e->ids[total_ids + i] = sl_io_get_i32(c);
        has_lp = sl_io_get_u8(c);
        if (has_lp > 1)
            goto done;
        for (size_t i = 0; has_lp && i < n; i++)
            e->lps[total_ids + i] = sl_io_get_f32(c);
        id_at[k] = total_ids;
        lp_at[k] = has_lp ? total_ids : SIZE_MAX;
        total_ids += n;
        ch->text = sl_io_get_str(c, &ch->text_len);
        if (c->bad)
            goto done;
    }
    for (size_t k = 0; k < nch; k++) {
        e->choices[k].output_ids = e->ids + id_at[k];
        e->choices[k].logprobs = lp_at[k] == SIZE_MAX ? NULL : e->lps + lp_at[k];
    }
    r->n_choices = nch;
    r->choices = e->choices;
    st = SL_OK;
done:
    free(id_at);
    free(lp_at);
    return st;
}

sl_status_t sl_io_entry_decode(int type, const unsigned char *p, size_t len, sl_io_entry_t *e)
{
    sl_io_cursor_t c = {p, len, 0, 0};
    sl_status_t st = SL_OK;

    e->type = (sl_io_entry_type_t)type;
    if (type == SL_IO_ENTRY_RESULT) {
        st = sl_io_decode_result(&c, e);
    } else if (type == SL_IO_ENTRY_ERROR) {
        uint8_t code;
        memset(&e->error, 0, sizeof(e->error));
        e->error.index = sl_io_get_i64(&c);
        e->error.line = sl_io_get_i64(&c);
        e->error.id = (char *)sl_io_get_str(&c, NULL);
        e->error.dp_group = sl_io_get_i32(&c);
        code = sl_io_get_u8(&c);
        e->error.message = (char *)sl_io_get_str(&c, NULL);
        if (code >= SL_IO_ERR_NUM_CODES)
            c.bad = 1;
        e->error.code = (sl_io_error_code_t)code;
    } else if (type == SL_IO_ENTRY_STEP) {
        e->step.step = sl_io_get_i64(&c);
        e->step.dp_group = sl_io_get_i32(&c);
        e->step.batch_size = sl_io_get_i32(&c);
        e->step.prefill_tokens = sl_io_get_i32(&c);
        e->step.decode_tokens = sl_io_get_i32(&c);
        e->step.time = sl_io_get_f64(&c);
        e->step.duration = sl_io_get_f64(&c);
    } else {
        return SL_ERR_FORMAT;
    }
    if (st != SL_OK)
        return st;
    /* the encoding has no optional parts: it must end exactly here */
    return c.bad || c.pos != len ? SL_ERR_FORMAT : SL_OK;
}

void sl_io_entry_clear(sl_io_entry_t *e)
{
    free(e->choices);
    free(e->ids);
    free(e->lps);
    memset(e, 0, sizeof(*e));
}

int64_t sl_io_entry_index(int type, const unsigned char *p, size_t len)
{
    if ((type != SL_IO_ENTRY_RESULT && type != SL_IO_ENTRY_ERROR) || len < 8)
        return -1;
    return (int64_t)sl_io_load_u64(p);
}

int sl_io_payload_next(const unsigned char *payload, size_t len, size_t *pos, int *type_p,
                       const unsigned char **p_p, size_t *len_p)
{
    size_t n;

    if (*pos == len)
        return 0;
    if (len - *pos < 8)
        return -1;
    n = sl_io_load_u32(payload + *pos + 4);
    if (len - *pos - 8 < n)
        return -1;
    *type_p = payload[*pos];
    *p_p = payload + *pos + 8;
    *len_p = n;
    *pos += 8 + n;
    return 1;
}

/* ---- scanning ---------------------------------------------------------- */

struct sl_io_jscan {
    char *path;
    int fd, own_fd;
    uint64_t size;      /* file size at open */
    uint64_t off;       /* next frame */
    uint64_t last_seq;
    int done;
    char *json;
    unsigned char *buf; /* [cap] the current payload */
    size_t cap;
};

static sl_status_t sl_io_pread_all(sl_io_jscan_t *s, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t got = pread(s->fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            sl_error("%s: read error at offset %" PRIu64 ": %s", s->path, off + done,
                     strerror(errno));
            return SL_ERR_IO;
        }
        if (got == 0) {
            sl_error("%s: file shrank while being read (offset %" PRIu64 ")", s->path,
                     off + done);
            return SL_ERR_IO;
        }
        done += (size_t)got;
    }
    return SL_OK;
}

sl_status_t sl_io_jscan_open(const char *path, int fd, sl_io_jscan_t **scan_p,
                             const char **header_json_p)
{
    sl_io_jscan_t *s = calloc(1, sizeof(*s));
    unsigned char h[SL_IO_J_FILE_HEADER];
    struct stat sb;
    uint32_t json_len;
    sl_status_t st;

    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        sl_error("%s: out of memory", path);
        return SL_ERR_NO_MEMORY;
    }
    s->fd = fd;
    if (fd < 0) {
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0) {
            sl_error("%s: cannot open: %s", path, strerror(errno));
            st = errno == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
            goto err_s;
        }
        s->own_fd = 1;
    }
    if (fstat(s->fd, &sb) != 0) {
        sl_error("%s: cannot stat: %s", path, strerror(errno));
        st = SL_ERR_IO;
        goto err_s;
    }
    s->size = (uint64_t)sb.st_size;
    st = SL_ERR_FORMAT;
    if (s->size < SL_IO_J_FILE_HEADER) {
        sl_error("%s: %" PRIu64 " bytes: too short for a part file header", path, s->size);
        goto err_s;
    }
    st = sl_io_pread_all(s, h, sizeof(h), 0);
    if (st != SL_OK)
        goto err_s;
    st = SL_ERR_FORMAT;
    json_len = sl_io_load_u32(h + 12);
    if (memcmp(h, SL_IO_J_MAGIC, 8) != 0 || sl_io_load_u64(h + 24) != XXH3_64bits(h, 24)) {
        sl_error("%s: not a slinfer part file (bad header)", path);
        goto err_s;
    }
    if (sl_io_load_u32(h + 8) != SL_IO_J_VERSION) {
        sl_error("%s: part file version %u; this slinfer reads version %u", path,
                 sl_io_load_u32(h + 8), SL_IO_J_VERSION);
        goto err_s;
    }
    if (json_len > SL_IO_J_MAX_HEADER_JSON || SL_IO_J_FILE_HEADER + json_len > s->size) {
        sl_error("%s: header JSON of %u bytes does not fit the file", path, json_len);
        goto err_s;
    }
    s->json = malloc(json_len + 1);
    if (s->json == NULL) {
        st = SL_ERR_NO_MEMORY;
        sl_error("%s: out of memory", path);
        goto err_s;
    }
    st = sl_io_pread_all(s, s->json, json_len, SL_IO_J_FILE_HEADER);
    if (st != SL_OK)
        goto err_s;
    s->json[json_len] = '\0';
    if (XXH3_64bits(s->json, json_len) != sl_io_load_u64(h + 16)) {
        sl_error("%s: header JSON checksum mismatch", path);
        st = SL_ERR_FORMAT;
        goto err_s;
    }
    s->off = SL_IO_J_FILE_HEADER + json_len;
    *scan_p = s;
    *header_json_p = s->json;
    return SL_OK;
err_s:
    sl_io_jscan_close(s);
    return st;
}

void sl_io_jscan_close(sl_io_jscan_t *s)
{
    if (s == NULL)
        return;
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    free(s->json);
    free(s->buf);
    free(s->path);
    free(s);
}

/* 1 when the 40 bytes at H are a valid frame header (magic and checksum). */
static int sl_io_frame_header_ok(const unsigned char *h)
{
    return sl_io_load_u32(h) == SL_IO_J_FRAME_MAGIC &&
           sl_io_load_u64(h + 32) == XXH3_64bits(h, 32);
}

/* After a bad frame at FROM: a valid frame header further on means the bad
 * bytes are not a torn tail but damage to committed data. */
static sl_status_t sl_io_jscan_check_tail(sl_io_jscan_t *s, uint64_t from)
{
    enum { WINDOW = 1 << 20 };
    unsigned char *w = malloc(WINDOW);
    sl_status_t st = SL_OK;

    if (w == NULL) {
        sl_error("%s: out of memory", s->path);
        return SL_ERR_NO_MEMORY;
    }
    for (uint64_t off = from + 1; off + SL_IO_J_FRAME_HEADER <= s->size;) {
        size_t n = (size_t)(s->size - off < WINDOW ? s->size - off : WINDOW);
        st = sl_io_pread_all(s, w, n, off);
        if (st != SL_OK)
            break;
        for (size_t i = 0; i + SL_IO_J_FRAME_HEADER <= n; i++) {
            if (w[i] == 'S' && sl_io_frame_header_ok(w + i)) {
                sl_error("%s: the commit at offset %" PRIu64 " is damaged but a later one "
                         "(offset %" PRIu64 ") is intact: this is corruption, not an "
                         "interrupted write; refusing to cut committed results", s->path,
                         from, off + i);
                st = SL_ERR_FORMAT;
                goto done;
            }
        }
        if (n < WINDOW)
            break;
        off += n - SL_IO_J_FRAME_HEADER + 1;
    }
done:
    free(w);
    return st;
}

sl_status_t sl_io_jscan_next(sl_io_jscan_t *s, const unsigned char **payload_p, size_t *len_p,
                             uint32_t *entries_p)
{
    unsigned char h[SL_IO_J_FRAME_HEADER];
    uint64_t len;
    sl_status_t st;

    if (s->done || s->size - s->off < SL_IO_J_FRAME_HEADER)
        goto end;
    st = sl_io_pread_all(s, h, sizeof(h), s->off);
    if (st != SL_OK)
        return st;
    if (!sl_io_frame_header_ok(h))
        goto bad;
    len = sl_io_load_u64(h + 16);
    if (len > SL_IO_J_MAX_PAYLOAD || len > s->size - s->off - SL_IO_J_FRAME_HEADER)
        goto bad;
    if (len > s->cap) {
        unsigned char *p = realloc(s->buf, (size_t)len);
        if (p == NULL) {
            sl_error("%s: out of memory for a %" PRIu64 "-byte commit", s->path, len);
            return SL_ERR_NO_MEMORY;
        }
        s->buf = p;
        s->cap = (size_t)len;
    }
    st = sl_io_pread_all(s, s->buf, (size_t)len, s->off + SL_IO_J_FRAME_HEADER);
    if (st != SL_OK)
        return st;
    if (XXH3_64bits(s->buf, (size_t)len) != sl_io_load_u64(h + 24))
        goto bad;
    s->off += SL_IO_J_FRAME_HEADER + len;
    s->last_seq = sl_io_load_u64(h + 8);
    *payload_p = s->buf;
    *len_p = (size_t)len;
    *entries_p = sl_io_load_u32(h + 4);
    return SL_OK;
bad:
    st = sl_io_jscan_check_tail(s, s->off);
    if (st != SL_OK)
        return st;
end:
    s->done = 1;
    *payload_p = NULL;
    *len_p = 0;
    *entries_p = 0;
    return SL_OK;
}

void sl_io_jscan_end(const sl_io_jscan_t *s, uint64_t *valid_end_p, uint64_t *file_size_p,
                     uint64_t *last_seq_p)
{
    *valid_end_p = s->off;
    *file_size_p = s->size;
    *last_seq_p = s->last_seq;
}

sl_status_t sl_io_journal_walk(const char *path, int fd, sl_io_entry_fn fn, void *ctx,
                               sl_io_walk_info_t *info)
{
    sl_io_jscan_t *scan;
    const char *json;
    sl_io_walk_info_t w;
    sl_status_t st = sl_io_jscan_open(path, fd, &scan, &json);

    if (st != SL_OK)
        return st;
    memset(&w, 0, sizeof(w));
    for (;;) {
        const unsigned char *payload, *p;
        size_t len, pos = 0, n;
        uint32_t entries;
        int type, more;

        st = sl_io_jscan_next(scan, &payload, &len, &entries);
        if (st != SL_OK || payload == NULL)
            break;
        w.commits++;
        while (st == SL_OK && (more = sl_io_payload_next(payload, len, &pos, &type, &p, &n)) == 1)
            st = fn != NULL ? fn(ctx, type, p, n) : SL_OK;
        if (st == SL_OK && more < 0) {
            sl_error("%s: commit %" PRIu64 " has valid checksums but malformed entries (a bug "
                     "in the writer)", path, w.commits);
            st = SL_ERR_FORMAT;
        }
        if (st != SL_OK)
            break;
    }
    sl_io_jscan_end(scan, &w.valid_end, &w.file_size, &w.last_seq);
    if (st == SL_OK && info != NULL) {
        w.header_json = strdup(json);
        if (w.header_json == NULL) {
            sl_error("%s: out of memory", path);
            st = SL_ERR_NO_MEMORY;
        }
    }
    sl_io_jscan_close(scan);
    if (st == SL_OK && info != NULL)
        *info = w;
    return st;
}
