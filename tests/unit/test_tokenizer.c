/* test_tokenizer.c: the tokenizer on small hand-built vocabularies (exact ids worked out by hand
 * in the comments), its pre-tokenizer regexes, decoding and streaming, errors, allocation
 * behaviour, and the llama.cpp test vectors of three real vocabularies (needs ../shared/data). */
#include "gguf.h"
#include "harness.h"
#include "tok_internal.h"
#include "tokenizer.h"

#include <stdarg.h>

/* ---- building vocabularies by hand ---- */

#define TV_MAX 600
typedef struct tv {
    char text[TV_MAX][24];
    mc_tok_str tok[TV_MAX];
    float score[TV_MAX];
    int32_t type[TV_MAX];
    int32_t n;
    mc_tok_str merge[64];
    int32_t n_merges;
} tv;

static int32_t tv_add(tv *v, const char *s, float score, int type)
{
    int32_t i = v->n++;
    snprintf(v->text[i], sizeof v->text[i], "%s", s);
    v->tok[i] = (mc_tok_str){v->text[i], strlen(v->text[i])};
    v->score[i] = score;
    v->type[i] = type;
    return i;
}

static void tv_merge(tv *v, const char *s) { v->merge[v->n_merges++] = (mc_tok_str){s, strlen(s)}; }

#define SP "\xe2\x96\x81" /* U+2581 */

/* SPM: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces with scores. */
static tv spm_tv;
static mc_tok_vocab spm_vocab(void)
{
    tv *v = &spm_tv;
    memset(v, 0, sizeof *v);
    tv_add(v, "<unk>", 0, MC_TOKT_UNKNOWN);
    tv_add(v, "<s>", 0, MC_TOKT_CONTROL);
    tv_add(v, "</s>", 0, MC_TOKT_CONTROL);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tv_add(v, name, 0, MC_TOKT_BYTE);
    }
    tv_add(v, SP, -1.0f, 1);          /* 259 */
    tv_add(v, "h", -3.0f, 1);         /* 260 */
    tv_add(v, "e", -3.0f, 1);         /* 261 */
    tv_add(v, "l", -3.0f, 1);         /* 262 */
    tv_add(v, "o", -3.0f, 1);         /* 263 */
    tv_add(v, "ll", -1.0f, 1);        /* 264 */
    tv_add(v, "he", -2.0f, 1);        /* 265 */
    tv_add(v, "llo", -0.5f, 1);       /* 266 */
    tv_add(v, SP "he", -1.5f, 1);     /* 267 */
    tv_add(v, "hell", -0.1f, 1);      /* 268: only reachable if "he" merged before "ll" */
    tv_add(v, "<tool>", 0, MC_TOKT_USER_DEFINED); /* 269 */
    tv_add(v, SP SP, -1.2f, 1);       /* 270 */
    mc_tok_vocab voc;
    mc_tok_vocab_init(&voc);
    voc.model = "llama";
    voc.n_tokens = v->n;
    voc.tokens = v->tok;
    voc.scores = v->score;
    voc.types = v->type;
    voc.bos_id = 1;
    voc.eos_id = 2;
    voc.unk_id = 0;
    return voc;
}

static mc_tok *spm_new(void)
{
    mc_tok_vocab voc = spm_vocab();
    mc_tok *t = NULL;
    mc_diag d = {{0}};
    if (mc_tok_new(&voc, &t, &d))
        fprintf(stderr, "spm_new: %s\n", d.msg);
    return t;
}

/* BPE: ids 0..255 are the GPT-2 characters of bytes 0..255, then merge results and specials. */
static tv bpe_tv;
static mc_tok_vocab bpe_vocab(const char *pre)
{
    tv *v = &bpe_tv;
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) {
        char s[8] = {0};
        tok_utf8_put(tok_gpt2_cp((uint8_t)b), s);
        tv_add(v, s, 0, 1);
    }
    const char *merges[] = {"l l",  "h e",   "he ll",  "hell o", "\xc4\xa0 w", "o r",
                            "\xc4\xa0w or", "l d", "\xc4\xa0wor ld", "q u", "qu e", "e l"};
    const char *results[] = {"ll",  "he", "hell", "hello", "\xc4\xa0w", "or", "\xc4\xa0wor",
                             "ld", "\xc4\xa0world", NULL, "que", "el"};
    for (int i = 0; i < 12; i++) {
        tv_merge(v, merges[i]);
        if (results[i]) /* "qu" stays out of the vocabulary: a merge-only string */
            tv_add(v, results[i], 0, 1); /* 256 ll, 257 he, 258 hell, 259 hello, 260 Gw,
                                            261 or, 262 Gwor, 263 ld, 264 Gworld, 265 que,
                                            266 el */
    }
    tv_add(v, "<|endoftext|>", 0, MC_TOKT_CONTROL); /* 267 */
    tv_add(v, "<tool>", 0, MC_TOKT_USER_DEFINED);   /* 268 */
    tv_add(v, "xyz", 0, 1);                         /* 269: no merge makes it */
    tv_add(v, "<to", 0, MC_TOKT_USER_DEFINED);      /* 270 */
    mc_tok_vocab voc;
    mc_tok_vocab_init(&voc);
    voc.model = "gpt2";
    voc.pre = pre;
    voc.n_tokens = v->n;
    voc.tokens = v->tok;
    voc.types = v->type;
    voc.n_merges = v->n_merges;
    voc.merges = v->merge;
    voc.bos_id = voc.eos_id = 267;
    return voc;
}

static mc_tok *bpe_new(const char *pre)
{
    mc_tok_vocab voc = bpe_vocab(pre);
    mc_tok *t = NULL;
    mc_diag d = {{0}};
    if (mc_tok_new(&voc, &t, &d))
        fprintf(stderr, "bpe_new: %s\n", d.msg);
    return t;
}

/* Encodes s and compares with the expected ids (terminated by -9). */
static int enc_is(mc_tok *t, const char *s, size_t len, unsigned flags, ...)
{
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    mc_diag d = {{0}};
    if (mc_tok_encode(t, NULL, s, len, flags, &ids, &d)) {
        fprintf(stderr, "encode: %s\n", d.msg);
        return 0;
    }
    va_list ap;
    va_start(ap, flags);
    int ok = 1;
    size_t i = 0;
    for (int x = va_arg(ap, int); x != -9; x = va_arg(ap, int), i++)
        ok &= i < ids.n && ids.v[i] == x;
    va_end(ap);
    ok &= i == ids.n;
    if (!ok) {
        fprintf(stderr, "  got:");
        for (size_t k = 0; k < ids.n; k++)
            fprintf(stderr, " %d", ids.v[k]);
        fprintf(stderr, "\n");
    }
    mc_tok_ids_deinit(&ids);
    return ok;
}
#define ENC(t, s, flags, ...) enc_is(t, s, sizeof(s) - 1, flags, __VA_ARGS__, -9)
#define NB MC_TOK_NO_BOS_EOS

/* Decodes ids and compares with the expected bytes. */
static int dec_is(mc_tok *t, const int32_t *ids, size_t n, unsigned flags, const char *want,
                  size_t want_len)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_diag d = {{0}};
    int ok = mc_tok_decode(t, ids, n, flags, &b, &d) == MC_OK && b.len == want_len &&
             memcmp(b.data ? b.data : "", want, want_len) == 0;
    if (!ok)
        fprintf(stderr, "  decoded \"%.*s\" (%zu bytes) %s\n", (int)b.len, b.data ? b.data : "",
                b.len, d.msg);
    mc_buf_deinit(&b);
    return ok;
}
#define DEC(t, flags, want, ...)                                                                   \
    dec_is(t, (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / 4, flags,  \
           want, sizeof(want) - 1)

/* ---- SentencePiece ---- */

TEST(spm_merge_order)
{
    mc_tok *t = spm_new();
    CHECK(t != NULL);
    if (!t)
        return;
    /* "▁hello": pairs he(-2.0), ll(-1.0): ll first, then llo(-0.5), then he, then ▁he(-1.5).
     * A left-to-right merge would have made "hell" (268) instead. */
    CHECK(ENC(t, "hello", NB, 267, 266));
    /* equal scores: the leftmost pair merges first: ▁ [ll] l */
    CHECK(ENC(t, "lll", NB, 259, 264, 262));
    /* BOS from the vocabulary's add_bos default (llama: on), forced off by the flag */
    CHECK(ENC(t, "hello", 0, 1, 267, 266));
    /* leading space: prefix + " " = ▁▁ */
    CHECK(ENC(t, " h", NB, 270, 260));
    mc_tok_free(t);
}

TEST(spm_byte_fallback)
{
    mc_tok *t = spm_new();
    if (!t)
        return;
    CHECK(ENC(t, "hi", NB, 259, 260, 3 + 'i'));
    CHECK(ENC(t, "\xc3\xa9", NB, 259, 3 + 0xC3, 3 + 0xA9)); /* é: not a piece -> its bytes */
    /* invalid UTF-8: every bad byte is its own symbol and falls back to its byte token */
    CHECK(ENC(t, "\xff", NB, 259, 3 + 0xFF));
    CHECK(ENC(t, "\xe2\x96", NB, 259, 3 + 0xE2, 3 + 0x96)); /* truncated U+2581 */
    mc_tok_free(t);

    /* without byte tokens: one unknown token per unknown character */
    tv v = {0};
    tv_add(&v, "<unk>", 0, MC_TOKT_UNKNOWN);
    tv_add(&v, SP, -1, 1);
    tv_add(&v, "a", -2, 1);
    mc_tok_vocab voc;
    mc_tok_vocab_init(&voc);
    voc.model = "llama";
    voc.n_tokens = v.n;
    voc.tokens = v.tok;
    voc.scores = v.score;
    voc.types = v.type;
    voc.unk_id = 0;
    voc.add_bos = 0;
    mc_tok *u = NULL;
    CHECK_EQ_INT(mc_tok_new(&voc, &u, NULL), MC_OK);
    if (u) {
        CHECK(ENC(u, "ab", 0, 1, 2, 0));
        CHECK(ENC(u, "\xc3\xa9", 0, 1, 0));
    }
    mc_tok_free(u);
}

TEST(spm_special_tokens)
{
    mc_tok *t = spm_new();
    if (!t)
        return;
    /* parse_special: <s> is a token and the text after it gets a space prefix again */
    CHECK(ENC(t, "<s>he", MC_TOK_PARSE_SPECIAL, 1, 1, 267));
    /* off: "<s>" is text: ▁ < s > then he */
    CHECK(ENC(t, "<s>he", 0, 1, 259, 3 + '<', 3 + 's', 3 + '>', 265));
    /* user-defined tokens are matched either way */
    CHECK(ENC(t, "a<tool>b", NB, 259, 3 + 'a', 269, 259, 3 + 'b'));
    /* empty input: nothing, or just BOS */
    CHECK(enc_is(t, "", 0, NB, -9));
    CHECK(enc_is(t, NULL, 0, 0, 1, -9));
    mc_tok_free(t);
}

TEST(spm_decode)
{
    mc_tok *t = spm_new();
    if (!t)
        return;
    CHECK(DEC(t, 0, "hello", 267, 266));
    CHECK(DEC(t, MC_TOK_KEEP_LEADING_SPACE, " hello", 267, 266));
    CHECK(DEC(t, 0, "hello", 1, 267, 266));                      /* BOS renders nothing */
    CHECK(DEC(t, MC_TOK_RENDER_SPECIAL, "<s> hello", 1, 267, 266)); /* ... unless asked */
    CHECK(DEC(t, 0, " h", 270, 260));                            /* ▁▁h: one space stripped */
    CHECK(DEC(t, 0, "\xc3\xa9", 259, 3 + 0xC3, 3 + 0xA9));      /* byte tokens -> bytes */
    CHECK(DEC(t, 0, "a<tool> b", 259, 3 + 'a', 269, 259, 3 + 'b')); /* user-defined: its text */
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_tok_decode(t, (const int32_t[]){260, 5000}, 2, 0, &b, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "token id 5000 at position 1");
    CHECK_EQ_INT(b.len, 0);
    mc_buf_deinit(&b);
    const char *p;
    CHECK_EQ_INT(mc_tok_piece(t, 267, 0, &p), 3);
    CHECK(memcmp(p, " he", 3) == 0);
    CHECK_EQ_INT(mc_tok_piece(t, -1, 0, &p), 0);
    mc_tok_free(t);
}

/* ---- byte-level BPE ---- */

TEST(bpe_merges)
{
    mc_tok *t = bpe_new("gpt-2");
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(ENC(t, "hello", 0, 259)); /* gpt2 default: no BOS */
    /* "hell": ll (rank 0) before he (1) before el (11), then he+ll */
    CHECK(ENC(t, "hell", 0, 258));
    /* equal ranks: leftmost first */
    CHECK(ENC(t, "lll", 0, 256, 'l'));
    /* "Hello world": words "Hello" and " world"; H is not h */
    CHECK(ENC(t, "Hello world", 0, 'H', 'e', 256, 'o', 264));
    /* merge-only string "qu": "que" completes, "qua" falls back to bytes */
    CHECK(ENC(t, "que", 0, 265));
    CHECK(ENC(t, "qua", 0, 'q', 'u', 'a'));
    CHECK(ENC(t, "\xc3\xa9", 0, 0xC3, 0xA9));
    /* invalid UTF-8: each bad byte becomes U+FFFD (EF BF BD) */
    CHECK(ENC(t, "\xff", 0, 0xEF, 0xBF, 0xBD));
    CHECK(ENC(t, "a\x80", 0, 'a', 0xEF, 0xBF, 0xBD));
    CHECK(enc_is(t, "", 0, 0, -9));
    mc_tok_free(t);
}

TEST(bpe_special_tokens)
{
    mc_tok *t = bpe_new("gpt-2");
    if (!t)
        return;
    CHECK(ENC(t, "a<|endoftext|>b", MC_TOK_PARSE_SPECIAL, 'a', 267, 'b'));
    /* off: ordinary text, split by the regex into a, <|, endoftext, |>, b */
    CHECK(ENC(t, "a<|endoftext|>b", 0, 'a', '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't',
              '|', '>', 'b'));
    /* user-defined, always; the longest match first (<tool> before <to) */
    CHECK(ENC(t, "<tool>x<to", 0, 268, 'x', 270));
    CHECK(mc_tok_is_eog(t, 267));
    CHECK(!mc_tok_is_eog(t, 268));
    CHECK_EQ_INT(mc_tok_find(t, "xyz", 3), 269);
    CHECK_EQ_INT(mc_tok_find(t, "qu", 2), -1); /* merge-only strings are not tokens */
    mc_tok_free(t);
}

TEST(bpe_llama3_ignore_merges_and_bos)
{
    mc_tok *t = bpe_new("llama3");
    mc_tok *g = bpe_new("gpt2");
    if (!t || !g)
        goto out;
    CHECK(ENC(t, "xyz", NB, 269)); /* llama3: a word that is a token is taken whole */
    CHECK(ENC(g, "xyz", NB, 'x', 'y', 'z'));
    CHECK(ENC(t, "xyz", 0, 267, 269)); /* llama3 adds BOS by default */
    CHECK(mc_tok_adds_bos(t));
    CHECK(!mc_tok_adds_bos(g));
    CHECK_STR(mc_tok_pre_name(t), "llama3");
out:
    mc_tok_free(t);
    mc_tok_free(g);
}

TEST(bpe_decode)
{
    mc_tok *t = bpe_new("gpt-2");
    if (!t)
        return;
    CHECK(DEC(t, 0, "hello world", 259, 264)); /* no space prefix to strip in BPE */
    CHECK(DEC(t, 0, " world", 264));
    CHECK(DEC(t, 0, "\xc3\xa9", 0xC3, 0xA9));
    CHECK(DEC(t, 0, "ab", 'a', 267, 'b'));
    CHECK(DEC(t, MC_TOK_RENDER_SPECIAL, "a<|endoftext|>b", 'a', 267, 'b'));
    mc_tok_free(t);
}

/* ---- pre-tokenizers: the words the regexes produce ---- */

static int split_is(const char *pre, const char *text, const char *const *want)
{
    mc_tok *t = bpe_new(pre);
    mc_tok_scratch *s = mc_tok_scratch_new();
    const tok_span *w = NULL;
    size_t n = 0, i = 0;
    int ok = t && s && tok_pretok_split(t, s, text, strlen(text), &w, &n, NULL) == MC_OK;
    for (; ok && want[i]; i++)
        ok = i < n && w[i].len == strlen(want[i]) &&
             memcmp(text + w[i].off, want[i], w[i].len) == 0;
    ok = ok && i == n;
    if (!ok)
        for (size_t k = 0; k < n; k++)
            fprintf(stderr, "  word %zu: \"%.*s\"\n", k, (int)w[k].len, text + w[k].off);
    mc_tok_scratch_free(s);
    mc_tok_free(t);
    return ok;
}
#define SPLIT(pre, text, ...) split_is(pre, text, (const char *const[]){__VA_ARGS__, NULL})

TEST(pretokenizers)
{
    /* gpt2: \s+(?!\S) leaves the last space to the next word */
    CHECK(SPLIT("gpt-2", "Hello world's  end\n", "Hello", " world", "'s", " ", " end", "\n"));
    /* \s is Unicode White_Space: U+3000 and U+0085 are spaces, split one by one before a word */
    CHECK(SPLIT("gpt-2", "a\xe3\x80\x80\xe3\x80\x80"
                         "b",
                "a", "\xe3\x80\x80", "\xe3\x80\x80", "b"));
    CHECK(SPLIT("gpt-2", "a\xc2\x85\xc2\x85" "b", "a", "\xc2\x85", "\xc2\x85", "b"));
    /* llama3: case-insensitive contractions, digits in threes, punctuation takes newlines */
    CHECK(SPLIT("llama3", "I'M 12345 ok!!\n\nx", "I", "'M", " ", "123", "45", " ok", "!!\n\n",
                "x"));
    /* qwen2: the same with single digits */
    CHECK(SPLIT("qwen2", "I'M 12345 ok!!\n\nx", "I", "'M", " ", "1", "2", "3", "4", "5", " ok",
                "!!\n\n", "x"));
    /* deepseek-llm: six regexes in sequence; gaps between matches stay pieces */
    CHECK(SPLIT("deepseek-llm", "Hello, \xe4\xb8\x96\xe7\x95\x8c 123\n", "Hello", ",", " ",
                "\xe4\xb8\x96\xe7\x95\x8c", " ", "123", "\n"));
    /* default: punctuation runs, then the gpt2 regex, then digit runs, then digit triples */
    CHECK(SPLIT("default", "x+=12345;", "x", "+=", "123", "45", ";"));
}

/* ---- streaming ---- */

TEST(stream_utf8)
{
    mc_tok *t = spm_new();
    if (!t)
        return;
    mc_tok_stream st;
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_tok_stream_init(&st, 0);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 259, &b, NULL), MC_OK); /* " " stripped */
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 3 + 0xC3, &b, NULL), MC_OK); /* half of é: held */
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(st.n_hold, 1);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 3 + 0xA9, &b, NULL), MC_OK);
    CHECK_STR(b.data, "\xc3\xa9");
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 260, &b, NULL), MC_OK);
    CHECK_STR(b.data, "\xc3\xa9h");
    /* a lead byte followed by ASCII can never complete: both go out as they are */
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 3 + 0xE3, &b, NULL), MC_OK);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 3 + 'a', &b, NULL), MC_OK);
    CHECK_STR(b.data, "\xe3" "a");
    /* the stream ends inside a sequence: flush writes the held bytes */
    mc_buf_reset(&b);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 3 + 0xF0, &b, NULL), MC_OK);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 3 + 0x9F, &b, NULL), MC_OK);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(mc_tok_stream_flush(&st, &b, NULL), MC_OK);
    CHECK(b.len == 2 && memcmp(b.data, "\xf0\x9f", 2) == 0);
    CHECK_EQ_INT(mc_tok_stream_feed(t, &st, 99999, &b, NULL), MC_ERR_RANGE);
    mc_buf_deinit(&b);
    mc_tok_free(t);
}

/* decode(encode(s)) == s, and the stream gives the same bytes as decode at every step. */
static int roundtrip(mc_tok *t, const char *s, size_t len, unsigned enc_flags)
{
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    mc_buf whole, streamed;
    mc_buf_init(&whole, 0);
    mc_buf_init(&streamed, 0);
    int ok = mc_tok_encode(t, NULL, s, len, enc_flags, &ids, NULL) == MC_OK &&
             mc_tok_decode(t, ids.v, ids.n, 0, &whole, NULL) == MC_OK;
    mc_tok_stream st;
    mc_tok_stream_init(&st, 0);
    for (size_t i = 0; ok && i < ids.n; i++)
        ok = mc_tok_stream_feed(t, &st, ids.v[i], &streamed, NULL) == MC_OK;
    ok = ok && mc_tok_stream_flush(&st, &streamed, NULL) == MC_OK;
    ok = ok && whole.len == len && memcmp(whole.data ? whole.data : "", s, len) == 0;
    ok = ok && streamed.len == len && memcmp(streamed.data ? streamed.data : "", s, len) == 0;
    mc_tok_ids_deinit(&ids);
    mc_buf_deinit(&whole);
    mc_buf_deinit(&streamed);
    return ok;
}

TEST(roundtrip_small)
{
    mc_tok *t = spm_new(), *g = bpe_new("gpt-2");
    if (!t || !g)
        goto out;
    /* not "a<tool>b": llama puts a space prefix after every special token (as llama.cpp
     * does), which decoding keeps: "a<tool> b" (see spm_decode) */
    const char *cases[] = {"hello", " h", "  two  spaces ", "\xc3\xa9t\xc3\xa9", "\xff\xfe x",
                           "tab\tnl\n", ""};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(roundtrip(t, cases[i], strlen(cases[i]), 0)); /* with BOS */
        CHECK(roundtrip(t, cases[i], strlen(cases[i]), NB));
    }
    /* BPE is lossless for valid UTF-8; invalid bytes come back as U+FFFD */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (i != 4)
            CHECK(roundtrip(g, cases[i], strlen(cases[i]), 0));
    CHECK(!roundtrip(g, cases[4], strlen(cases[4]), 0));
out:
    mc_tok_free(t);
    mc_tok_free(g);
}

/* ---- errors ---- */

TEST(build_errors)
{
    mc_diag d = {{0}};
    mc_tok *t = NULL;
    mc_tok_vocab v = bpe_vocab("gpt-2");
    v.model = "wordpiece";
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "'wordpiece'");
    v = bpe_vocab("klingon");
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "pre-tokenizer 'klingon'");
    v = bpe_vocab("gpt-2");
    v.eos_id = 271;
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "eos_token_id 271 out of range");
    v = bpe_vocab("gpt-2");
    bpe_tv.type[5] = 9;
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "token 5 has type 9");
    v = bpe_vocab("gpt-2");
    bpe_tv.merge[3] = (mc_tok_str){"hello", 5};
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "merge 3");
    v = bpe_vocab("gpt-2");
    v.merges = NULL;
    v.n_merges = 0;
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_ARG);
    v = bpe_vocab("gpt-2");
    v.add_bos = 1;
    v.bos_id = -1;
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "add_bos_token");
    v = bpe_vocab("gpt-2");
    v.n_tokens = 0;
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_ERR_RANGE);
    CHECK(t == NULL);
    /* a duplicate text keeps its first id; the later one still decodes */
    v = bpe_vocab("gpt-2");
    snprintf(bpe_tv.text[270], sizeof bpe_tv.text[270], "xyz");
    bpe_tv.tok[270].len = 3;
    CHECK_EQ_INT(mc_tok_new(&v, &t, &d), MC_OK);
    if (t) {
        CHECK_EQ_INT(mc_tok_find(t, "xyz", 3), 269);
        CHECK(DEC(t, 0, "xyz", 270));
    }
    mc_tok_free(t);
}

/* ---- memory ---- */

static char *repeat_text(const char *unit, size_t total)
{
    char *s = malloc(total + 1);
    size_t u = strlen(unit);
    for (size_t i = 0; i < total; i++)
        s[i] = unit[i % u];
    s[total] = 0;
    return s;
}

TEST(no_allocation_when_warm)
{
    mc_tok *t = spm_new(), *g = bpe_new("llama3");
    mc_tok_scratch *s = mc_tok_scratch_new();
    char *text = repeat_text("hello world, \xc3\xa9t\xc3\xa9 123 <tool>\n", 20000);
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    if (!t || !g || !s)
        goto out;
    mc_tok *toks[2] = {t, g};
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(mc_tok_encode(toks[k], s, text, 20000, 0, &ids, NULL), MC_OK);
        size_t n = ids.n;
        ids.n = 0;
        mc_alloc_fail_at(0); /* resets the allocation counter */
        CHECK_EQ_INT(mc_tok_encode(toks[k], s, text, 20000, 0, &ids, NULL), MC_OK);
        CHECK_EQ_INT(mc_alloc_count(), 0);
        CHECK_EQ_INT(ids.n, n);
        ids.n = 0;
    }
out:
    free(text);
    mc_tok_ids_deinit(&ids);
    mc_tok_scratch_free(s);
    mc_tok_free(t);
    mc_tok_free(g);
}

/* Every allocation of building and encoding fails once in turn: a clean NOMEM, never a crash or
 * a leak (the sanitizer build checks leaks). */
TEST(allocation_failures)
{
    const char *pres[] = {"deepseek-llm", NULL};
    for (int k = 0; k < 2; k++) {
        int done = 0;
        for (uint64_t n = 1; n < 5000 && !done; n++) {
            mc_tok_vocab v = pres[k] ? bpe_vocab(pres[k]) : spm_vocab();
            mc_tok *t = NULL;
            mc_tok_ids ids;
            mc_tok_ids_init(&ids);
            mc_alloc_fail_at(n);
            mc_err e = mc_tok_new(&v, &t, NULL);
            if (e == MC_OK)
                e = mc_tok_encode(t, NULL, "Hello, world 123\n", 17, MC_TOK_PARSE_SPECIAL, &ids,
                                  NULL);
            uint64_t used = mc_alloc_count();
            mc_alloc_fail_at(0);
            if (e == MC_OK)
                done = used < n; /* the failure point lay beyond the last allocation */
            else
                CHECK_EQ_INT(e, MC_ERR_NOMEM);
            mc_tok_ids_deinit(&ids);
            mc_tok_free(t);
        }
        CHECK(done);
    }
}

/* ---- from GGUF: small files built in memory ---- */

enum { GV_OK, GV_DEFAULTS, GV_NO_TOKENS, GV_SHORT_SCORES, GV_STR_TYPES, GV_BAD_BOS, GV_BERT };

static mc_gguf_writer *spm_writer(int variant, mc_diag *d)
{
    mc_tok_vocab v = spm_vocab();
    static const char *texts[TV_MAX];
    for (int32_t i = 0; i < v.n_tokens; i++)
        texts[i] = spm_tv.text[i];
    mc_gguf_writer *w = mc_gguf_writer_new();
    uint64_t n = (uint64_t)v.n_tokens;
    mc_err e = w ? MC_OK : MC_ERR_NOMEM;
    if (!e)
        e = mc_gguf_add_str(w, "tokenizer.ggml.model", variant == GV_BERT ? "bert" : "llama", d);
    if (!e && variant != GV_NO_TOKENS)
        e = mc_gguf_add_arr_str(w, "tokenizer.ggml.tokens", texts, n, d);
    if (!e)
        e = mc_gguf_add_arr(w, "tokenizer.ggml.scores", MC_GGUF_FLOAT32, spm_tv.score,
                            variant == GV_SHORT_SCORES ? n - 1 : n, d);
    if (!e && variant == GV_STR_TYPES)
        e = mc_gguf_add_arr_str(w, "tokenizer.ggml.token_type", texts, n, d);
    else if (!e)
        e = mc_gguf_add_arr(w, "tokenizer.ggml.token_type", MC_GGUF_INT32, spm_tv.type, n, d);
    if (!e && variant != GV_DEFAULTS) {
        e = mc_gguf_add_u32(w, "tokenizer.ggml.bos_token_id", variant == GV_BAD_BOS ? 271 : 1, d);
        if (!e)
            e = mc_gguf_add_u32(w, "tokenizer.ggml.eos_token_id", 2, d);
        if (!e)
            e = mc_gguf_add_bool(w, "tokenizer.ggml.add_bos_token", 0, d);
    }
    if (e) {
        mc_gguf_writer_free(w);
        return NULL;
    }
    return w;
}

/* The variant as a parsed in-memory GGUF; *buf (mc_free after mc_gguf_free) holds the bytes. */
static mc_err gguf_from_mem(int variant, mc_gguf **g, void **buf, mc_diag *d)
{
    size_t len = 0;
    *g = NULL;
    *buf = NULL;
    mc_gguf_writer *w = spm_writer(variant, d);
    mc_err e = w ? mc_gguf_writer_write_mem(w, buf, &len, d) : MC_ERR_NOMEM;
    if (!e)
        e = mc_gguf_parse(*buf, len, "tok.gguf", g, d);
    mc_gguf_writer_free(w);
    return e;
}

static mc_err tok_from_mem(int variant, mc_tok **t, mc_diag *d)
{
    mc_gguf *g;
    void *buf;
    *t = NULL;
    mc_err e = gguf_from_mem(variant, &g, &buf, d);
    if (!e)
        e = mc_tok_from_gguf(g, t, d);
    mc_gguf_free(g); /* the tokenizer keeps no pointer into the file */
    mc_free(buf);
    return e;
}

TEST(from_gguf_keys)
{
    mc_diag d = {{0}};
    mc_tok *t = NULL;
    CHECK_EQ_INT(tok_from_mem(GV_OK, &t, &d), MC_OK);
    if (t) { /* scores and types came through: the same ids as the hand-built vocabulary */
        CHECK(ENC(t, "hello", 0, 267, 266)); /* add_bos_token false in the file */
        CHECK(ENC(t, "<s>\xc3\xa9", MC_TOK_PARSE_SPECIAL, 1, 259, 3 + 0xC3, 3 + 0xA9));
        CHECK_STR(mc_tok_model_name(t), "llama");
    }
    mc_tok_free(t);
    /* absent ids and flags: llama.cpp's llama defaults (BOS 1, EOS 2, unknown 0, add BOS) */
    CHECK_EQ_INT(tok_from_mem(GV_DEFAULTS, &t, &d), MC_OK);
    if (t) {
        CHECK(ENC(t, "hello", 0, 1, 267, 266));
        CHECK_EQ_INT(mc_tok_eos(t), 2);
        CHECK_EQ_INT(mc_tok_unk(t), 0);
        CHECK_EQ_INT(mc_tok_pad(t), -1);
    }
    mc_tok_free(t);
}

TEST(from_gguf_errors)
{
    mc_diag d = {{0}};
    mc_tok *t = NULL;
    CHECK_EQ_INT(tok_from_mem(GV_NO_TOKENS, &t, &d), MC_ERR_NOT_FOUND);
    CHECK_CONTAINS(d.msg, "tokenizer.ggml.tokens");
    CHECK_EQ_INT(tok_from_mem(GV_SHORT_SCORES, &t, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "tok.gguf: tokenizer.ggml.scores: 270 entries for 271 tokens");
    CHECK_EQ_INT(tok_from_mem(GV_STR_TYPES, &t, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "tokenizer.ggml.token_type: array of string");
    CHECK_EQ_INT(tok_from_mem(GV_BAD_BOS, &t, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "tok.gguf: tokenizer: bos_token_id 271 out of range");
    CHECK_EQ_INT(tok_from_mem(GV_BERT, &t, &d), MC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(d.msg, "'bert'");
    CHECK(t == NULL);
    CHECK_EQ_INT(mc_tok_load("/nonexistent/x.gguf", &t, &d), MC_ERR_IO);
}

TEST(from_gguf_allocation_failures)
{
    mc_gguf *g;
    void *buf;
    CHECK_EQ_INT(gguf_from_mem(GV_OK, &g, &buf, NULL), MC_OK);
    int done = 0;
    for (uint64_t n = 1; g && n < 5000 && !done; n++) {
        mc_tok *t = NULL;
        mc_alloc_fail_at(n);
        mc_err e = mc_tok_from_gguf(g, &t, NULL);
        uint64_t used = mc_alloc_count();
        mc_alloc_fail_at(0);
        if (e == MC_OK)
            done = used < n;
        else
            CHECK_EQ_INT(e, MC_ERR_NOMEM);
        mc_tok_free(t);
    }
    CHECK(done);
    mc_gguf_free(g);
    mc_free(buf);
}

/* ---- llama.cpp's test vectors (vocab-only GGUFs in ../shared/data/vocab, see SOURCE.md) ---- */

static void load_vectors(const char *path, char **inp, char **out, mc_diag *d)
{
    char p[4200];
    size_t n;
    snprintf(p, sizeof p, "%s.inp", path);
    if (mc_read_file(p, 1 << 20, inp, &n, d))
        *inp = NULL;
    snprintf(p, sizeof p, "%s.out", path);
    if (mc_read_file(p, 1 << 20, out, &n, d))
        *out = NULL;
}

/* Encodes every .inp string (no BOS, no special parsing) and compares with the .out line; also
 * decodes each back. Counts strings, mismatches, tokens and strings that do not round-trip. */
static void run_vectors(mc_tok *t, char *inp, char *out, int *n_str, int *bad, int *total,
                        int *lossy)
{
    static const char sep[] = "\n__ggml_vocab_test__\n";
    mc_tok_scratch *sc = mc_tok_scratch_new();
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    mc_buf got, dec;
    mc_buf_init(&got, 0);
    mc_buf_init(&dec, 0);
    char *s = inp, *o = out, *e, *eol;
    for (; (e = strstr(s, sep)) && (eol = strchr(o, '\n')); s = e + strlen(sep), o = eol + 1) {
        size_t len = (size_t)(e - s);
        ids.n = 0;
        mc_buf_reset(&got);
        mc_buf_reset(&dec);
        CHECK_EQ_INT(mc_tok_encode(t, sc, s, len, MC_TOK_NO_BOS_EOS, &ids, NULL), MC_OK);
        for (size_t i = 0; i < ids.n; i++)
            mc_buf_printf(&got, " %d", ids.v[i]);
        if (got.len != (size_t)(eol - o) || memcmp(got.data ? got.data : "", o, got.len) != 0) {
            (*bad)++;
            fprintf(stderr, "  string %d \"%.*s\"\n  want%.*s\n  got %s\n", *n_str, (int)len, s,
                    (int)(eol - o), o, got.data ? got.data : "");
        }
        CHECK_EQ_INT(mc_tok_decode(t, ids.v, ids.n, 0, &dec, NULL), MC_OK);
        *lossy += dec.len != len || memcmp(dec.data ? dec.data : "", s, len) != 0;
        *total += (int)ids.n;
        (*n_str)++;
    }
    mc_buf_deinit(&got);
    mc_buf_deinit(&dec);
    mc_tok_ids_deinit(&ids);
    mc_tok_scratch_free(sc);
}

/* 100 KB of the test strings must tokenize in well under a second. */
static double time_100k(mc_tok *t, const char *inp)
{
    size_t big = 100 * 1024, n = strlen(inp);
    char *text = malloc(big);
    for (size_t i = 0; i < big; i++)
        text[i] = inp[i % n];
    mc_tok_ids ids;
    mc_tok_ids_init(&ids);
    mc_ns t0 = mc_now_ns();
    CHECK_EQ_INT(mc_tok_encode(t, NULL, text, big, 0, &ids, NULL), MC_OK);
    double s = mc_ns_to_s(mc_now_ns() - t0);
    CHECK(ids.n > 10000);
    mc_tok_ids_deinit(&ids);
    free(text);
    return s;
}

static void vocab_vectors(const char *name, const char *pre, int want_total)
{
    char rel[128], path[4096];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *p = harness_data_path(rel);
    if (!p)
        SKIP("../shared/data/vocab is absent");
    snprintf(path, sizeof path, "%s", p);
    mc_diag d = {{0}};
    mc_tok *t = NULL;
    char *inp = NULL, *out = NULL;
    CHECK_EQ_INT(mc_tok_load(path, &t, &d), MC_OK);
    load_vectors(path, &inp, &out, &d);
    CHECK(t && inp && out);
    if (t && inp && out) {
        int n_str = 0, bad = 0, total = 0, lossy = 0;
        run_vectors(t, inp, out, &n_str, &bad, &total, &lossy);
        CHECK_EQ_INT(n_str, 46);
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(total, want_total); /* the token totals SOURCE.md gives */
        CHECK_EQ_INT(lossy, 0);          /* every test string round-trips */
        CHECK_STR(mc_tok_pre_name(t), pre);
        double s = time_100k(t, inp);
        fprintf(stderr, "  %s: 100 KB in %.3f s\n", name, s);
        CHECK(s < 1.0);
    }
    if (!t)
        fprintf(stderr, "  %s\n", d.msg);
    mc_free(inp);
    mc_free(out);
    mc_tok_free(t);
}

TEST(vectors_llama_spm) { vocab_vectors("llama-spm", "", 519); }
TEST(vectors_gpt2) { vocab_vectors("gpt-2", "gpt-2", 472); }
TEST(vectors_deepseek_llm) { vocab_vectors("deepseek-llm", "deepseek-llm", 451); }

int main(void)
{
    RUN(spm_merge_order);
    RUN(spm_byte_fallback);
    RUN(spm_special_tokens);
    RUN(spm_decode);
    RUN(bpe_merges);
    RUN(bpe_special_tokens);
    RUN(bpe_llama3_ignore_merges_and_bos);
    RUN(bpe_decode);
    RUN(pretokenizers);
    RUN(stream_utf8);
    RUN(roundtrip_small);
    RUN(build_errors);
    RUN(no_allocation_when_warm);
    RUN(allocation_failures);
    RUN(from_gguf_keys);
    RUN(from_gguf_errors);
    RUN(from_gguf_allocation_failures);
    RUN(vectors_llama_spm);
    RUN(vectors_gpt2);
    RUN(vectors_deepseek_llm);
    return harness_done();
}
