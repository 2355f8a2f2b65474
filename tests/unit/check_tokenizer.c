/* check_tokenizer.c - the tokenizer on the small tokenizers of
 * tests/data/tokenizers, with ids worked out by hand (the derivations are in
 * the comments), and the refusal of what is not supported.
 *
 * tiny-bytelevel: GPT-2 byte alphabet (id = byte value, so "a" is 97 and
 *   "Ġ" (space) is 32), Llama 3's split regex, 12 merges:
 *   0 Ġ t->256  1 h e->257  2 Ġt he->258  3 l l->259  4 e ll->260
 *   5 h ell->261  6 hell o->262  7 Ġ w->263  8 o r->264  9 Ġw or->265
 *   10 Ġwor l->266  11 Ġworl d->267; added <|end|> 268, <|user|> 269,
 *   <s> 270 (BOS, special).
 * tiny-spm: <unk> 0, <s> 1, </s> 2, <0x00>..<0xFF> 3..258, ▁ 259, a 260,
 *   b 261, c 262, ▁a 263, ab 264, ▁ab 265, h 266, i 267, hi 268, ▁hi 269,
 *   ▁b 270; merges 0 "▁ a" 1 "a b" 2 "▁a b" 3 "h i" 4 "▁ hi" 5 "▁ b";
 *   Prepend+Replace normalizer, byte_fallback, fuse_unk, Llama 2 decoder. */
#include "config.h"

#include "tokenizer_check.h"

/* ---- byte-level BPE ------------------------------------------------------- */

START_TEST(bytelevel_merge_priority)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    /* "hello": h e l l o; (h,e) rank 1 goes before (l,l) rank 3, and then
     * "e ll" can never apply: he ll o = 257 259 111, not "hello" (262).
     * " world": Ġ w (7) -> Ġw; o r (8) -> or; then Ġw or (9), Ġwor l (10),
     * Ġworl d (11): one token, 267. */
    tt_expect_ids(tok, "hello world", false, 257, 259, 111, 267);
    tt_expect_ids(tok, "hello world", true, 270, 257, 259, 111, 267);
    /* " the": Ġ t (0), then h e (1), then Ġt he (2) = 258; "the" has no
     * leading space: t + he. */
    tt_expect_ids(tok, " the", false, 258);
    tt_expect_ids(tok, "the", false, 116, 257);
    tt_expect_ids(tok, "", false);
    tt_expect_ids(tok, "", true, 270);
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_split_and_bytes)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    /* Letters with a non-letter before them stay one piece, so the bytes of
     * "Grüße" (ü = C3 BC, ß = C3 9F) are the ids. */
    tt_expect_ids(tok, "Grüße", false, 71, 114, 195, 188, 195, 159, 101);
    /* "1234": digits go in threes ("123", "4"); "  x": the regex gives
     * " " (\s+(?!\S)) then " x" - no merges. */
    tt_expect_ids(tok, "1234  x", false, 49, 50, 51, 52, 32, 32, 120);
    /* (?i:'s...) is case-insensitive: "'S" is one piece. */
    tt_expect_ids(tok, "'S", false, 39, 83);
    sl_tok_free(tok);
    /* Regexes mean what they mean in Oniguruma (HF's engine): `\s` takes
     * U+0085, `\w` takes combining marks (U+0301); PCRE2 alone would not. */
    tok = tt_variant_ok("tiny-bytelevel",
                        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
                        "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s|\\\\w\"}, "
                        "\"behavior\": \"Removed\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                        "\"add_prefix_space\": false, \"use_regex\": false}]}}");
    tt_expect_ids(tok, "!\xC2\x85!\xCC\x81!", false, 33, 33, 33);
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_added_tokens)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    /* "hi", <|end|>, "the" are encoded apart. */
    tt_expect_ids(tok, "hi<|end|>the", false, 104, 105, 268, 116, 257);
    /* Leftmost-longest: "<|end|>" wins over nothing else; a broken one is
     * text ("<|en" + "d|>"). */
    tt_expect_ids(tok, "<|user|><|end|>", true, 270, 269, 268);
    tt_expect_ids(tok, "<|end|", false, 60, 124, 101, 110, 100, 124);
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_decode)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    tt_expect_decode(tok, false, "hello world", 257, 259, 111, 267);
    tt_expect_decode(tok, false, "<s> the<|end|>", 270, 258, 268);
    tt_expect_decode(tok, true, " the", 270, 258, 268);
    /* Unknown ids are dropped, as HF does. */
    tt_expect_decode(tok, false, "ab", 97, -1, 100000, 98);
    /* Invalid UTF-8 becomes U+FFFD per maximal invalid subpart (Rust's
     * from_utf8_lossy): E6 97 (truncated) is one; E0 80 is two (80 cannot
     * follow E0); ED A0 80 (a surrogate) is three; C3 A9 is "é". */
    tt_expect_decode(tok, false, "\xEF\xBF\xBD", 230, 151);
    tt_expect_decode(tok, false, "\xEF\xBF\xBD\xEF\xBF\xBD", 224, 128);
    tt_expect_decode(tok, false, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 237, 160, 128);
    tt_expect_decode(tok, false, "x\xEF\xBF\xBDy\xC3\xA9", 120, 230, 151, 121, 195, 169);
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_accessors)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    size_t len;
    ck_assert_uint_eq(sl_tok_vocab_size(tok), 271);
    ck_assert_uint_eq(sl_tok_id_limit(tok), 271);
    ck_assert_int_eq(sl_tok_token_to_id(tok, "\xC4\xA0the", 5), 258); /* "Ġthe" */
    ck_assert_int_eq(sl_tok_token_to_id(tok, "<|end|>", 7), 268);
    ck_assert_int_eq(sl_tok_token_to_id(tok, "nope", 4), -1);
    ck_assert_str_eq(sl_tok_id_to_token(tok, 267, &len), "\xC4\xA0world");
    ck_assert_uint_eq(len, 7);
    ck_assert_ptr_null(sl_tok_id_to_token(tok, 271, NULL));
    ck_assert(sl_tok_is_special(tok, 268));
    ck_assert(!sl_tok_is_special(tok, 258));
    ck_assert_int_eq(sl_tok_bos_id(tok), 270);
    ck_assert_int_eq(sl_tok_eos_id(tok), 268); /* {"content": ...} form */
    ck_assert_str_eq(sl_tok_bos_token(tok), "<s>");
    ck_assert(sl_tok_add_bos(tok));
    ck_assert_str_eq(sl_tok_chat_template(tok),
                     "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}");
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_ignore_merges)
{
    /* With ignore_merges a piece that is a token is taken whole: "hello" is
     * 262 although the merges cannot build it. */
    sl_tok_t *tok = tt_variant_ok("tiny-bytelevel", "{\"model\": {\"ignore_merges\": true}}");
    tt_expect_ids(tok, "hello world", false, 262, 267);
    tt_expect_ids(tok, "hellos", false, 257, 259, 111, 115);
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_nfc)
{
    sl_tok_t *plain = tt_load("tiny-bytelevel");
    sl_tok_t *nfc = tt_variant_ok("tiny-bytelevel", "{\"normalizer\": {\"type\": \"NFC\"}}");
    /* e + U+0301 composes to é (C3 A9); without NFC the bytes stay. */
    tt_expect_ids(nfc, "e\xCC\x81", false, 195, 169);
    tt_expect_ids(plain, "e\xCC\x81", false, 101, 204, 129);
    /* Hangul: U+1100 U+1161 U+11A8 composes to U+AC01 (EA B0 81). */
    tt_expect_ids(nfc, "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", false, 234, 176, 129);
    sl_tok_free(plain);
    sl_tok_free(nfc);
}
END_TEST

START_TEST(split_behaviors)
{
    static const char *const fmt =
        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
        "{\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"%s\", "
        "\"invert\": %s}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
        "\"use_regex\": false}]}}";
    char patch[512];
    sl_tok_t *tok;

    /* "a tb": Isolated a|Ġ|tb; MergedWithNext a|Ġtb (Ġ t merges: 256);
     * MergedWithPrevious aĠ|tb; Removed a|tb; inverted Removed keeps the
     * spaces only. */
    snprintf(patch, sizeof(patch), fmt, "Isolated", "false");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a tb", false, 97, 32, 116, 98);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "MergedWithNext", "false");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a tb", false, 97, 256, 98);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "MergedWithPrevious", "false");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a tb", false, 97, 32, 116, 98);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "Removed", "false");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a tb", false, 97, 116, 98);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "Removed", "true");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a tb", false, 32);
    sl_tok_free(tok);
    /* Contiguous: the two spaces of "a  tb" stay together (ĠĠ), and with
     * MergedWithNext the first space stands alone, the second opens " tb". */
    snprintf(patch, sizeof(patch), fmt, "Contiguous", "false");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a  tb", false, 97, 32, 32, 116, 98);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "MergedWithNext", "false");
    tok = tt_variant_ok("tiny-bytelevel", patch);
    tt_expect_ids(tok, "a  tb", false, 97, 32, 256, 98);
    sl_tok_free(tok);
}
END_TEST

START_TEST(bytelevel_gpt2_prefix_space)
{
    /* GPT-2 style: ByteLevel alone, with its own regex and a prefix space:
     * "the" becomes " the" = 258. */
    sl_tok_t *tok = tt_variant_ok(
        "tiny-bytelevel", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": "
                          "true, \"use_regex\": true}}");
    tt_expect_ids(tok, "the", false, 258);
    tt_expect_ids(tok, "the the", false, 258, 258);
    sl_tok_free(tok);
}
END_TEST

START_TEST(added_token_options)
{
    /* "[M]" strips spaces on both sides; "cat" must be a word of its own. */
    sl_tok_t *tok = tt_variant_ok(
        "tiny-bytelevel",
        "{\"model\": {\"vocab\": {\"[M]\": 271, \"cat\": 272}}, \"added_tokens\": ["
        "{\"id\": 270, \"content\": \"<s>\", \"special\": true, \"normalized\": false},"
        "{\"id\": 271, \"content\": \"[M]\", \"lstrip\": true, \"rstrip\": true, "
        "\"special\": false, \"normalized\": false},"
        "{\"id\": 272, \"content\": \"cat\", \"single_word\": true, \"special\": false, "
        "\"normalized\": false}]}");
    /* "a [M] b": the match takes " [M] ", leaving "a" and "b". */
    tt_expect_ids(tok, "a [M] b", false, 97, 271, 98);
    /* "cat concat cat.": the "cat" inside "concat" follows 'n' (a word
     * character), so it is text; " concat" and " " are pieces. */
    tt_expect_ids(tok, "cat concat cat.", false, 272, 32, 99, 111, 110, 99, 97, 116, 32, 272, 46);
    /* Non-special added tokens stay when decoding skips special ones. */
    tt_expect_decode(tok, true, "a[M]b", 270, 97, 271, 98);
    sl_tok_free(tok);
}
END_TEST

/* ---- SentencePiece-style BPE ---------------------------------------------- */

START_TEST(spm_merges_and_fallback)
{
    sl_tok_t *tok = tt_load("tiny-spm");
    /* "ab" -> "▁ab": (▁,a) rank 0 -> ▁a; its stale neighbour (a,b) is
     * skipped; (▁a,b) rank 2 -> ▁ab = 265. */
    tt_expect_ids(tok, "ab", false, 265);
    tt_expect_ids(tok, "ab", true, 1, 265);
    /* "hi ab" -> "▁hi▁ab": ranks 0 (▁a), 2 (▁ab), 3 (hi), 4 (▁hi). */
    tt_expect_ids(tok, "hi ab", false, 269, 265);
    /* "é" is not in the vocabulary: its bytes C3 A9 -> <0xC3> 198, <0xA9> 172. */
    tt_expect_ids(tok, "\xC3\xA9", false, 259, 198, 172);
    /* The normalizer runs on each stretch between added tokens: "<s>ab"
     * gives <s> then "▁ab". */
    tt_expect_ids(tok, "<s>ab", false, 1, 265);
    tt_expect_ids(tok, "", true, 1);
    sl_tok_free(tok);
}
END_TEST

START_TEST(spm_decode)
{
    sl_tok_t *tok = tt_load("tiny-spm");
    /* Replace ▁ by " ", ByteFallback, Fuse, Strip one leading space. */
    tt_expect_decode(tok, false, "hi ab", 269, 265);
    tt_expect_decode(tok, false, "\xC3\xA9", 259, 198, 172);
    /* A lone <0xC3> is not UTF-8: one U+FFFD per byte. */
    tt_expect_decode(tok, false, "a\xEF\xBF\xBD\xEF\xBF\xBD", 260, 198, 198);
    /* Special tokens go through the decoder too: "<s> ab" (the strip only
     * touches the very start); skipping them strips " ab" to "ab". */
    tt_expect_decode(tok, false, "<s> ab", 1, 265);
    tt_expect_decode(tok, true, "ab", 1, 265);
    sl_tok_free(tok);
}
END_TEST

START_TEST(spm_unk)
{
    sl_tok_t *fused = tt_variant_ok("tiny-spm", "{\"model\": {\"byte_fallback\": false}}");
    sl_tok_t *apart = tt_variant_ok("tiny-spm",
                                    "{\"model\": {\"byte_fallback\": false, \"fuse_unk\": false}}");
    sl_tok_t *none = tt_variant_ok(
        "tiny-spm", "{\"model\": {\"byte_fallback\": false, \"unk_token\": null}}");
    /* "xyz" -> ▁ then three unknown characters. */
    tt_expect_ids(fused, "xyz", false, 259, 0);
    tt_expect_ids(apart, "xyz", false, 259, 0, 0, 0);
    tt_expect_ids(none, "xyz", false, 259); /* dropped, as HF does */
    tt_expect_ids(fused, "xay", false, 259, 0, 260, 0);
    sl_tok_free(fused);
    sl_tok_free(apart);
    sl_tok_free(none);
}
END_TEST

START_TEST(spm_config_and_template_file)
{
    sl_tok_t *tok = tt_load("tiny-spm");
    /* chat_template.jinja overrides tokenizer_config.json's template. */
    ck_assert_str_eq(sl_tok_chat_template(tok),
                     "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]"
                     "{% endfor %}");
    ck_assert_int_eq(sl_tok_bos_id(tok), 1);
    ck_assert_int_eq(sl_tok_eos_id(tok), 2);
    ck_assert_uint_eq(sl_tok_vocab_size(tok), 271);
    sl_tok_free(tok);
}
END_TEST

START_TEST(spm_normalized_added_token)
{
    /* A normalized added token is matched on normalized text, and is itself
     * normalized first: "xy" becomes "▁xy", so it is found after a space
     * and at the start, not inside a word. */
    sl_tok_t *tok = tt_variant_ok(
        "tiny-spm", "{\"model\": {\"vocab\": {\"xy\": 271}}, \"added_tokens\": ["
                    "{\"id\": 1, \"content\": \"<s>\", \"special\": true, "
                    "\"normalized\": false}, {\"id\": 271, \"content\": \"xy\", "
                    "\"special\": false, \"normalized\": true}]}");
    tt_expect_ids(tok, "ab xy", false, 265, 271);
    tt_expect_ids(tok, "xy", false, 271);
    tt_expect_ids(tok, "abxy", false, 265, 123, 124);
    sl_tok_free(tok);
}
END_TEST

START_TEST(metaspace)
{
    static const char *const fmt =
        "{\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": "
        "\"\\u2581\", \"prepend_scheme\": \"%s\", \"split\": %s}, \"decoder\": {\"type\": "
        "\"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"%s\", "
        "\"split\": true}}";
    char patch[512];
    sl_tok_t *tok;

    /* "first": only text at the very start gets "▁": after <s> the text
     * starts at offset 3, so "ab" is a+b -> ab (264). */
    snprintf(patch, sizeof(patch), fmt, "first", "false", "first");
    tok = tt_variant_ok("tiny-spm", patch);
    tt_expect_ids(tok, "ab", false, 265);
    tt_expect_ids(tok, "<s>ab", false, 1, 264);
    /* The decoder drops the first token's "▁". */
    tt_expect_decode(tok, false, "hi ab", 269, 265);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "always", "true", "always");
    tok = tt_variant_ok("tiny-spm", patch);
    tt_expect_ids(tok, "<s>ab", false, 1, 265);
    /* split: "▁hi▁ab" is cut before each "▁". */
    tt_expect_ids(tok, "hi ab", false, 269, 265);
    sl_tok_free(tok);
    snprintf(patch, sizeof(patch), fmt, "never", "true", "never");
    tok = tt_variant_ok("tiny-spm", patch);
    tt_expect_ids(tok, "ab b", false, 264, 270);
    tt_expect_decode(tok, false, " ab", 265);
    sl_tok_free(tok);
}
END_TEST

/* ---- errors ------------------------------------------------------------------ */

START_TEST(unsupported_components)
{
    static const char *const patches[] = {
        "{\"model\": {\"type\": \"Unigram\"}}",
        "{\"normalizer\": {\"type\": \"Lowercase\"}}",
        "{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}]}}",
        "{\"pre_tokenizer\": {\"type\": \"Digits\", \"individual_digits\": true}}",
        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
        "\"ByteLevel\"}, {\"type\": \"Split\", \"pattern\": {\"String\": \"x\"}, \"behavior\": "
        "\"Isolated\", \"invert\": false}]}}",
        "{\"decoder\": {\"type\": \"WordPiece\"}}",
        "{\"post_processor\": {\"type\": \"Mystery\"}}",
        "{\"model\": {\"dropout\": 0.1}}",
    };
    for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
        sl_status_t st;
        sl_tok_t *tok = tt_variant("tiny-bytelevel", patches[i], &st);
        ck_assert_msg(st == SL_ERR_UNSUPPORTED && tok == NULL, "%s: got %s", patches[i],
                      sl_status_string(st));
    }
}
END_TEST

START_TEST(malformed_files)
{
    static const char *const patches[] = {
        "{\"model\": {\"merges\": [[\"q\", \"z\"]]}}", /* merge result not in vocab */
        "{\"model\": {\"merges\": [\"a b c\"]}}",
        "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
        "\"behavior\": \"Isolated\", \"invert\": false}}",
        "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, "
        "\"behavior\": \"Sideways\", \"invert\": false}}",
        "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
        "{\"id\": \"<none>\", \"type_id\": 0}}], \"special_tokens\": {}}}",
        "{\"added_tokens\": [{\"content\": \"x\"}]}",
    };
    sl_tok_t *tok = NULL;
    for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
        sl_status_t st;
        tok = tt_variant("tiny-bytelevel", patches[i], &st);
        ck_assert_msg(st == SL_ERR_FORMAT && tok == NULL, "%s: got %s", patches[i],
                      sl_status_string(st));
    }
    ck_assert_int_eq(sl_tok_load("/nonexistent-dir", &tok), SL_ERR_NOT_FOUND);
}
END_TEST

START_TEST(invalid_utf8_input)
{
    sl_tok_t *tok = tt_load("tiny-bytelevel");
    int32_t *ids = NULL;
    size_t n = 0;
    ck_assert_int_eq(sl_tok_encode(tok, "a\xFF", 2, false, &ids, &n), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_tok_encode(tok, "\xED\xA0\x80", 3, false, &ids, &n), SL_ERR_INVALID_ARG);
    ck_assert_ptr_null(ids);
    /* Embedded NUL is text like any other byte. */
    {
        const int32_t want[] = {97, 0, 98};
        tt_check_ids(tok, "a\0b", 3, false, want, 3);
    }
    sl_tok_free(tok);
}
END_TEST

static Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *bl = tcase_create("bytelevel");
    TCase *spm = tcase_create("spm");
    TCase *err = tcase_create("errors");

    tcase_add_test(bl, bytelevel_merge_priority);
    tcase_add_test(bl, bytelevel_split_and_bytes);
    tcase_add_test(bl, bytelevel_added_tokens);
    tcase_add_test(bl, bytelevel_decode);
    tcase_add_test(bl, bytelevel_accessors);
    tcase_add_test(bl, bytelevel_ignore_merges);
    tcase_add_test(bl, bytelevel_nfc);
    tcase_add_test(bl, split_behaviors);
    tcase_add_test(bl, bytelevel_gpt2_prefix_space);
    tcase_add_test(bl, added_token_options);
    tcase_add_test(spm, spm_merges_and_fallback);
    tcase_add_test(spm, spm_decode);
    tcase_add_test(spm, spm_unk);
    tcase_add_test(spm, spm_config_and_template_file);
    tcase_add_test(spm, spm_normalized_added_token);
    tcase_add_test(spm, metaspace);
    tcase_add_test(err, unsupported_components);
    tcase_add_test(err, malformed_files);
    tcase_add_test(err, invalid_utf8_input);
    suite_add_tcase(s, bl);
    suite_add_tcase(s, spm);
    suite_add_tcase(s, err);
    return s;
}

SL_CHECK_MAIN(tokenizer_suite)
