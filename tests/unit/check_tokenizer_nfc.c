/* check_tokenizer_nfc.c - the NFC normalizer against Unicode's conformance
 * data (tests/data/tokenizers/nfc_vectors.txt, a sample of
 * NormalizationTest.txt), and the full file when Debian's unicode-data
 * package is installed. */
#include "config.h"

#include "tokenizer_check.h"
#include "tokenizer/tok_internal.h"

/* Hex code points separated by spaces, as UTF-8. */
static size_t tt_utf8_of(const char *field, char *out)
{
    size_t n = 0;
    char *end;

    for (const char *p = field; *p;) {
        unsigned long cp;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        cp = strtoul(p, &end, 16);
        n += sl_utf8_encode((uint32_t)cp, out + n);
        p = end;
    }
    return n;
}

/* Checks every line of F; returns the number of lines read. */
static long tt_nfc_file(FILE *f)
{
    char line[4096];
    long lines = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        static const int from[5] = {0, 1, 2, 3, 4}, to[5] = {1, 1, 1, 3, 3};
        char *field[5], *p = line;
        char cols[5][256];
        size_t len[5];
        if (line[0] == '#' || line[0] == '@' || line[0] == '\n')
            continue;
        for (int i = 0; i < 5; i++) {
            /* The sample drops the trailing ';' that the full file has. */
            field[i] = p;
            p = strpbrk(p, ";\n");
            ck_assert_msg(p != NULL || i == 4, "short line: %s", line);
            if (p != NULL)
                *p++ = '\0';
            len[i] = tt_utf8_of(field[i], cols[i]);
        }
        for (int k = 0; k < 5; k++) {
            sl_tok_buf_t out = {0};
            ck_assert_int_eq(sl_nfc_append(cols[from[k]], len[from[k]], &out), SL_OK);
            ck_assert_msg(out.len == len[to[k]] && memcmp(out.data, cols[to[k]], out.len) == 0,
                          "NFC(c%d) != c%d for %s", from[k] + 1, to[k] + 1, field[0]);
            sl_tok_buf_free(&out);
        }
        lines++;
    }
    return lines;
}

START_TEST(conformance_sample)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/tokenizers/nfc_vectors.txt", SL_TEST_DATA);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    ck_assert_int_gt(tt_nfc_file(f), 900);
    fclose(f);
}
END_TEST

START_TEST(conformance_full_if_installed)
{
    FILE *f = popen("bzcat /usr/share/unicode/NormalizationTest.txt.bz2 2>/dev/null", "r");
    long lines;

    ck_assert_ptr_nonnull(f);
    lines = tt_nfc_file(f);
    pclose(f);
    /* 0 when the package is absent: the sample above still ran. */
    ck_assert(lines == 0 || lines > 19000);
}
END_TEST

START_TEST(quick_check_keeps_text)
{
    /* Already-NFC text, ASCII or not, comes back byte for byte; a change
     * late in the text leaves the part before it alone. */
    static const char *const same[] = {"", "plain ascii", "Gr\xC3\xBC\xC3\x9F" "e",
                                       "\xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x98\x80"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        sl_tok_buf_t out = {0};
        ck_assert_int_eq(sl_nfc_append(same[i], strlen(same[i]), &out), SL_OK);
        ck_assert_uint_eq(out.len, strlen(same[i]));
        ck_assert(out.len == 0 || memcmp(out.data, same[i], out.len) == 0);
        sl_tok_buf_free(&out);
    }
    {
        sl_tok_buf_t out = {0};
        const char *in = "abc xe\xCC\x81"; /* ... e + U+0301 -> é */
        ck_assert_int_eq(sl_nfc_append(in, strlen(in), &out), SL_OK);
        ck_assert_str_eq(out.data, "abc x\xC3\xA9");
        sl_tok_buf_free(&out);
    }
}
END_TEST

static Suite *tokenizer_nfc_suite(void)
{
    Suite *s = suite_create("tokenizer_nfc");
    TCase *tc = tcase_create("nfc");

    tcase_add_test(tc, conformance_sample);
    tcase_add_test(tc, conformance_full_if_installed);
    tcase_add_test(tc, quick_check_keeps_text);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(tokenizer_nfc_suite)
