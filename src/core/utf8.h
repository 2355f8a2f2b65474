/*
 * utf8.h - UTF-8 primitives shared by the tokenizer, the chat templates and
 * the input readers: one strict validator (no overlongs, surrogates or code
 * points above U+10FFFF), one decoder, one encoder.
 */
#ifndef SL_CORE_UTF8_H
#define SL_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the character starting with LEAD in valid UTF-8. */
static inline size_t sl_utf8_len(unsigned char lead)
{
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* Decodes one character of valid UTF-8; returns its length. */
size_t sl_utf8_decode(const char *s, uint32_t *cp_p);

/* Writes CP as UTF-8 to OUT; returns the length (1-4). */
size_t sl_utf8_encode(uint32_t cp, char out[4]);

/* Length of the valid character at S[0..LEN) (LEN >= 1), or the length of
 * the maximal invalid subpart there, negated (Unicode's "best practice" for
 * U+FFFD, which Rust's from_utf8_lossy implements). */
long sl_utf8_step(const unsigned char *s, size_t len);

/* Strict validation; on failure *bad_p (when not NULL) is the offset of the
 * first bad byte. */
bool sl_utf8_valid(const char *s, size_t len, size_t *bad_p);

#endif /* SL_CORE_UTF8_H */
