/*
 * pack.h - little-endian binary encoding for the journal: a growable output
 * buffer and a bounds-checked input cursor. Values are written byte by byte
 * so the format is the same on every host and nothing needs alignment.
 */
#ifndef SL_IO_PACK_H
#define SL_IO_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_io_buf {
    unsigned char *data; /* [cap] */
    size_t len, cap;
    int failed;          /* an allocation failed: every later put is ignored */
} sl_io_buf_t;

void sl_io_buf_free(sl_io_buf_t *buf);
/* Makes room for N more bytes; 0 on success, -1 (failed set) otherwise. */
int sl_io_buf_reserve(sl_io_buf_t *buf, size_t n);
void sl_io_put_u8(sl_io_buf_t *buf, uint8_t v);
void sl_io_put_u32(sl_io_buf_t *buf, uint32_t v);
void sl_io_put_u64(sl_io_buf_t *buf, uint64_t v);
void sl_io_put_i32(sl_io_buf_t *buf, int32_t v);
void sl_io_put_i64(sl_io_buf_t *buf, int64_t v);
void sl_io_put_f32(sl_io_buf_t *buf, float v);
void sl_io_put_f64(sl_io_buf_t *buf, double v);
void sl_io_put_bytes(sl_io_buf_t *buf, const void *p, size_t n);
/* u32 length, the bytes, and a NUL (so a reader can point at it). */
void sl_io_put_str(sl_io_buf_t *buf, const char *s, size_t len);

/* Encoders into fixed storage (headers). */
void sl_io_store_u32(unsigned char *p, uint32_t v);
void sl_io_store_u64(unsigned char *p, uint64_t v);
uint32_t sl_io_load_u32(const unsigned char *p);
uint64_t sl_io_load_u64(const unsigned char *p);

typedef struct sl_io_cursor {
    const unsigned char *p;
    size_t len, pos;
    int bad; /* a read ran past the end, or a string lacked its NUL */
} sl_io_cursor_t;

uint8_t sl_io_get_u8(sl_io_cursor_t *c);
uint32_t sl_io_get_u32(sl_io_cursor_t *c);
uint64_t sl_io_get_u64(sl_io_cursor_t *c);
int32_t sl_io_get_i32(sl_io_cursor_t *c);
int64_t sl_io_get_i64(sl_io_cursor_t *c);
float sl_io_get_f32(sl_io_cursor_t *c);
double sl_io_get_f64(sl_io_cursor_t *c);
/* Pointer to N bytes in the input (no copy), or NULL (bad set). */
const void *sl_io_get_bytes(sl_io_cursor_t *c, size_t n);
/* A string written by sl_io_put_str: points into the input, NUL-terminated. */
const char *sl_io_get_str(sl_io_cursor_t *c, size_t *len_p);

#endif /* SL_IO_PACK_H */
