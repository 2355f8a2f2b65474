/* nfc_tables.h - the Unicode tables of nfc.c, generated into nfc_tables.c by
 * gen_nfc_tables.py (which documents their layout). */
#ifndef SL_TOKENIZER_NFC_TABLES_H
#define SL_TOKENIZER_NFC_TABLES_H

#include <stddef.h>
#include <stdint.h>

extern const char sl_nfc_unicode_version[];
extern const uint32_t sl_nfc_limit; /* every code point from here on is 0 */
extern const unsigned sl_nfc_shift;
extern const uint8_t sl_nfc_stage1[];
extern const uint16_t sl_nfc_stage2[];
extern const uint32_t sl_nfc_decomp[][3];
extern const size_t sl_nfc_n_decomp;
extern const uint32_t sl_nfc_comp[][3];
extern const size_t sl_nfc_n_comp;

#endif /* SL_TOKENIZER_NFC_TABLES_H */
