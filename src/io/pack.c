/* pack.c - little-endian encoding; see pack.h. */
#include "config.h"

#include "io/pack.h"

#include <stdlib.h>
#include <string.h>

void sl_io_buf_free(sl_io_buf_t *buf)
{
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

int sl_io_buf_reserve(sl_io_buf_t *buf, size_t n)
{
    size_t cap;
    unsigned char *p;

    if (buf->failed)
        return -1;
    if (buf->cap - buf->len >= n)
        return 0;
    if (n > SIZE_MAX / 2 - buf->len) {
        buf->failed = 1;
        return -1;
    }
    cap = buf->cap ? buf->cap : 4096;
    while (cap - buf->len < n)
        cap *= 2;
    p = realloc(buf->data, cap);
    if (p == NULL) {
        buf->failed = 1;
        return -1;
    }
    buf->data = p;
    buf->cap = cap;
    return 0;
}

void sl_io_store_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void sl_io_store_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t sl_io_load_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

uint64_t sl_io_load_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void sl_io_put_bytes(sl_io_buf_t *buf, const void *p, size_t n)
{
    if (n == 0 || sl_io_buf_reserve(buf, n) != 0)
        return;
    memcpy(buf->data + buf->len, p, n);
    buf->len += n;
}

void sl_io_put_u8(sl_io_buf_t *buf, uint8_t v)
{
    sl_io_put_bytes(buf, &v, 1);
}

void sl_io_put_u32(sl_io_buf_t *buf, uint32_t v)
{
    unsigned char b[4];
    sl_io_store_u32(b, v);
    sl_io_put_bytes(buf, b, 4);
}

void sl_io_put_u64(sl_io_buf_t *buf, uint64_t v)
{
    unsigned char b[8];
    sl_io_store_u64(b, v);
    sl_io_put_bytes(buf, b, 8);
}

void sl_io_put_i32(sl_io_buf_t *buf, int32_t v)
{
    sl_io_put_u32(buf, (uint32_t)v);
}

void sl_io_put_i64(sl_io_buf_t *buf, int64_t v)
{
    sl_io_put_u64(buf, (uint64_t)v);
}

void sl_io_put_f32(sl_io_buf_t *buf, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    sl_io_put_u32(buf, u);
}

void sl_io_put_f64(sl_io_buf_t *buf, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    sl_io_put_u64(buf, u);
}

void sl_io_put_str(sl_io_buf_t *buf, const char *s, size_t len)
{
    if (len > UINT32_MAX - 1) {
        buf->failed = 1;
        return;
    }
    sl_io_put_u32(buf, (uint32_t)len);
    sl_io_put_bytes(buf, s, len);
    sl_io_put_u8(buf, 0);
}

const void *sl_io_get_bytes(sl_io_cursor_t *c, size_t n)
{
    const void *p;

    if (c->bad || c->len - c->pos < n) {
        c->bad = 1;
        return NULL;
    }
    p = c->p + c->pos;
    c->pos += n;
    return p;
}

uint8_t sl_io_get_u8(sl_io_cursor_t *c)
{
    const unsigned char *p = sl_io_get_bytes(c, 1);
    return p != NULL ? p[0] : 0;
}

uint32_t sl_io_get_u32(sl_io_cursor_t *c)
{
    const unsigned char *p = sl_io_get_bytes(c, 4);
    return p != NULL ? sl_io_load_u32(p) : 0;
}

uint64_t sl_io_get_u64(sl_io_cursor_t *c)
{
    const unsigned char *p = sl_io_get_bytes(c, 8);
    return p != NULL ? sl_io_load_u64(p) : 0;
}

int32_t sl_io_get_i32(sl_io_cursor_t *c)
{
    return (int32_t)sl_io_get_u32(c);
}

int64_t sl_io_get_i64(sl_io_cursor_t *c)
{
    return (int64_t)sl_io_get_u64(c);
}

float sl_io_get_f32(sl_io_cursor_t *c)
{
    uint32_t u = sl_io_get_u32(c);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

double sl_io_get_f64(sl_io_cursor_t *c)
{
    uint64_t u = sl_io_get_u64(c);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

const char *sl_io_get_str(sl_io_cursor_t *c, size_t *len_p)
{
    uint32_t len = sl_io_get_u32(c);
    const char *s = sl_io_get_bytes(c, (size_t)len + 1);

    if (s == NULL)
        return NULL;
    if (s[len] != '\0') {
        c->bad = 1;
        return NULL;
    }
    if (len_p != NULL)
        *len_p = len;
    return s;
}
