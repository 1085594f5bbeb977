/* tok_pretok.c: the byte-level BPE pre-tokenizers: tokenizer.ggml.pre names -> regex lists, and
 * the splitter that applies them with PCRE2 (UTF-8 + Unicode properties, JIT when available).
 *
 * As in llama.cpp, a pre-tokenizer is a list of regexes applied in sequence: each regex splits
 * every piece the previous one produced into its matches and the gaps between them (gaps are kept
 * as pieces); matching sees only the piece, so lookaheads and `$` stop at its end. The regex texts
 * are those of the models' tokenizer.json files as llama.cpp adapts them (case-insensitive
 * contractions spelled out), with `\s` written as the explicit Unicode White_Space class, which is
 * what HF tokenizers and llama.cpp match. Depends on base, tok_internal.h and libpcre2-8. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok_internal.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

/* ---- regex texts ---- */

#define WS                                                                                         \
    "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"      \
    "\\x{205F}\\x{3000}"
#define S "[" WS "]"
#define NS "[^" WS "]"
#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define TAIL_WS S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"

static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                              "\\p{L}\\p{N}]+|" S "+(?!" NS ")|" S "+";
static const char RE_LLAMA3[] = CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS
                                "\\p{L}\\p{N}]+[\\r\\n]*|" TAIL_WS;
static const char RE_QWEN2[] = CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS
                               "\\p{L}\\p{N}]+[\\r\\n]*|" TAIL_WS;

/* DeepSeek-LLM's letter class: Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee, ... cased
 * letters, as listed in its tokenizer.json. */
#define DS_LETTERS                                                                                 \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"                 \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"         \
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"                  \
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"                       \
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"                 \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"                 \
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"        \
    "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"         \
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"                 \
    "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"                  \
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"                   \
    "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"        \
    "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"         \
    "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"                  \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"                 \
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"               \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"         \
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
#define CJK_HANGUL "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

static const char *const PRE_DEFAULT[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+",
                                          "[0-9][0-9][0-9]", NULL};
static const char *const PRE_GPT2[] = {RE_GPT2, NULL};
static const char *const PRE_LLAMA3[] = {RE_LLAMA3, NULL};
static const char *const PRE_QWEN2[] = {RE_QWEN2, NULL};
static const char *const PRE_STARCODER[] = {"\\p{N}", RE_GPT2, NULL};
static const char *const PRE_DEEPSEEK_LLM[] = {
    "[\\r\\n]",
    S "?[" DS_LETTERS "]+",
    S "?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    S "+$",
    CJK_HANGUL,
    "\\p{N}+",
    NULL};
static const char *const PRE_DEEPSEEK_CODER[] = {"[\\r\\n]", S "?\\p{L}+", S "?\\p{P}+",
                                                 CJK_HANGUL, "\\p{N}", NULL};
static const char *const PRE_DEEPSEEK_V3[] = {
    "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
    "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|" TAIL_WS,
    NULL};

typedef struct pre_def {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *const *re;
    int ignore_merges, add_bos;
} pre_def;

static const pre_def pre_defs[] = {
    {"default", PRE_DEFAULT, 0, 0},
    {"gpt-2|gpt2|phi-2|mpt|olmo|jais|roberta-bpe|jina-v1-en|jina-v2-code|jina-es|jina-de|"
     "jina-v2-es|jina-v2-de|gigachat|exaone4|mellum|modern-bert",
     PRE_GPT2, 0, 0},
    {"llama3|llama-v3|llama-bpe|falcon3|pixtral", PRE_LLAMA3, 1, 1},
    {"dbrx|smaug-bpe", PRE_LLAMA3, 0, 0},
    {"qwen2|deepseek-r1-qwen|stablelm2|megrez|hunyuan", PRE_QWEN2, 0, 0},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", PRE_STARCODER, 0, 0},
    {"deepseek-llm", PRE_DEEPSEEK_LLM, 0, 0},
    {"deepseek-coder", PRE_DEEPSEEK_CODER, 0, 0},
    {"deepseek-v3", PRE_DEEPSEEK_V3, 0, 0},
};

static int name_in(const char *names, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = names; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL) {
        const char *end = strchr(p, '|');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
    }
    return 0;
}

/* ---- compiling ---- */

static void *pc_malloc(size_t n, void *u)
{
    (void)u;
    return mc_malloc(n);
}

static void pc_free(void *p, void *u)
{
    (void)u;
    mc_free(p);
}

static mc_err compile_one(tok_pretok *p, int k, const char *re, mc_diag *d)
{
    pcre2_compile_context *cc = pcre2_compile_context_create(p->gctx);
    if (!cc)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory compiling a regex");
    int err;
    PCRE2_SIZE at;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &at, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return mc_fail(d, err == PCRE2_ERROR_HEAP_FAILED ? MC_ERR_NOMEM : MC_ERR_INTERNAL,
                       "tokenizer: pre-tokenizer regex %d: %s at offset %zu", k, (char *)msg,
                       (size_t)at);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional: the interpreter gives the same */
    p->re[k] = code;
    p->n = k + 1;
    return MC_OK;
}

mc_err tok_pretok_init(mc_tok *t, const char *name, int *default_bos, mc_diag *d)
{
    if (!name || !*name)
        name = "default";
    const pre_def *def = NULL;
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0] && !def; i++)
        if (name_in(pre_defs[i].names, name))
            def = &pre_defs[i];
    if (!def)
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "tokenizer: pre-tokenizer '%.60s' not supported (see docs/TOKENIZER.md)",
                       name);
    snprintf(t->pre_name, sizeof t->pre_name, "%s", name);
    t->ignore_merges = def->ignore_merges;
    *default_bos = def->add_bos;
    t->pre.gctx = pcre2_general_context_create(pc_malloc, pc_free, NULL);
    if (!t->pre.gctx)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory");
    for (int k = 0; def->re[k]; k++) {
        mc_err e = compile_one(&t->pre, k, def->re[k], d);
        if (e)
            return e;
    }
    return MC_OK;
}

void tok_pretok_deinit(tok_pretok *p)
{
    for (int k = 0; k < p->n; k++)
        pcre2_code_free(p->re[k]);
    p->n = 0;
    pcre2_general_context_free(p->gctx);
    p->gctx = NULL;
}

/* ---- splitting ---- */

void tok_scratch_free_md(mc_tok_scratch *s)
{
    pcre2_match_data_free(s->md);
    pcre2_general_context_free(s->md_gctx);
    s->md = s->md_gctx = NULL;
}

static mc_err push_span(mc_tok_scratch *s, size_t *n, size_t off, size_t len)
{
    if (!TOK_RESERVE(s->sp[1], s->sp_cap[1], *n + 1))
        return MC_ERR_NOMEM;
    s->sp[1][(*n)++] = (tok_span){off, len};
    return MC_OK;
}

/* Splits one piece by one regex into s->sp[1] (matches and the gaps between them). */
static mc_err split_piece(const pcre2_code *re, mc_tok_scratch *s, const char *text, tok_span sp,
                          size_t *n, mc_diag *d)
{
    PCRE2_SPTR subj = (PCRE2_SPTR)(text + sp.off);
    size_t at = 0, start = 0;
    mc_err e = MC_OK;
    while (start < sp.len && !e) {
        int rc = pcre2_match(re, subj, sp.len, start, PCRE2_NO_UTF_CHECK, s->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc == PCRE2_ERROR_NOMEMORY)
            return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory in the pre-tokenizer");
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return mc_fail(d, MC_ERR_INTERNAL, "tokenizer: pre-tokenizer match failed: %s",
                           (char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* an empty match splits nothing: move on by one character */
            size_t l = tok_utf8_valid_len(subj + ms, sp.len - ms);
            start = ms + (l ? l : 1);
            continue;
        }
        if (ms > at)
            e = push_span(s, n, sp.off + at, ms - at);
        if (!e)
            e = push_span(s, n, sp.off + ms, me - ms);
        at = start = me;
    }
    if (!e && at < sp.len)
        e = push_span(s, n, sp.off + at, sp.len - at);
    return e;
}

static mc_err ensure_md(mc_tok_scratch *s, mc_diag *d)
{
    if (s->md)
        return MC_OK;
    if (!s->md_gctx)
        s->md_gctx = pcre2_general_context_create(pc_malloc, pc_free, NULL);
    if (s->md_gctx)
        s->md = pcre2_match_data_create(1, s->md_gctx);
    if (!s->md)
        return mc_fail(d, MC_ERR_NOMEM, "tokenizer: out of memory for regex match data");
    return MC_OK;
}

mc_err tok_pretok_split(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                        const tok_span **words, size_t *n_words, mc_diag *d)
{
    *n_words = 0;
    if (len == 0)
        return MC_OK;
    mc_err e = ensure_md(s, d);
    if (e)
        return e;
    if (!TOK_RESERVE(s->sp[0], s->sp_cap[0], 1))
        return MC_ERR_NOMEM;
    s->sp[0][0] = (tok_span){0, len};
    size_t n = 1;
    for (int k = 0; k < t->pre.n; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n && !e; i++)
            e = split_piece(t->pre.re[k], s, text, s->sp[0][i], &m, d);
        if (e)
            return e;
        tok_span *sw = s->sp[0];
        size_t swc = s->sp_cap[0];
        s->sp[0] = s->sp[1], s->sp_cap[0] = s->sp_cap[1];
        s->sp[1] = sw, s->sp_cap[1] = swc;
        n = m;
    }
    *words = s->sp[0];
    *n_words = n;
    /* the two buffers swap roles: keep them equally large so a warm scratch never grows */
    return TOK_RESERVE(s->sp[1], s->sp_cap[1], s->sp_cap[0]) ? MC_OK : MC_ERR_NOMEM;
}
