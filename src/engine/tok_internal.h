/* tok_internal.h: the tokenizer's private structures, shared by the tok_*.c files only.
 * Nothing outside src/engine/tok_*.c may include this. */
#ifndef MC_TOK_INTERNAL_H
#define MC_TOK_INTERNAL_H

#include "tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tok_model { TOK_SPM = 1, TOK_BPE = 2 } tok_model;

/* A pre-tokenizer: up to TOK_PRE_MAX regexes applied in sequence (tok_pretok.c). */
#define TOK_PRE_MAX 6
typedef struct tok_pretok {
    int n;
    void *re[TOK_PRE_MAX]; /* pcre2_code_8 * */
    void *gctx;            /* pcre2_general_context_8 * (allocation through mc_malloc) */
} tok_pretok;

/* Open-addressing map from string id to itself, keyed by the string bytes. Slots hold id + 1. */
typedef struct tok_strmap {
    uint32_t *slot;
    size_t mask;
    size_t used;
} tok_strmap;

/* Merge table: (left string id, right string id) -> rank and result string id. */
/* Trie of the special-token texts, to find in one pass which of them occur in a text. */
typedef struct tok_trie {
    int32_t root[256]; /* child of the root per byte, or -1 */
    uint64_t *ekey;    /* other edges: (node << 8 | byte) + 1; 0 = empty */
    int32_t *echild;
    size_t emask;
    int32_t *term;     /* [n_nodes] index k into mc_tok.special ending here, or -1 */
    int32_t n_nodes;
} tok_trie;

typedef struct tok_mergemap {
    uint64_t *key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t *rank;
    int32_t *res;
    size_t mask;
} tok_mergemap;

struct mc_tok {
    tok_model model;
    char pre_name[32];
    int32_t n_tokens; /* real tokens: ids [0, n_tokens) */
    int32_t n_strs;   /* tokens + strings that only occur in merges: ids [n_tokens, n_strs) */
    size_t cap_off, cap_len;
    char *blob;       /* all string bytes */
    size_t blob_len, blob_cap;
    size_t *str_off;  /* [cap_strs] */
    uint32_t *str_len;
    uint8_t *type;    /* [n_tokens] MC_TOKT_* (undefined stored as normal) */
    float *score;     /* [n_tokens] */
    uint8_t *eog;     /* [n_tokens] 1 = ends generation */
    size_t max_tok_len;
    tok_strmap map;
    tok_mergemap merges;
    int32_t byte_id[256]; /* spm: token of byte b (<0xXX> or the 1-byte text) or -1;
                             bpe: string id of b's GPT-2 character or -1 */
    char *piece;          /* decoded bytes of every token */
    size_t *piece_off;    /* [n_tokens] */
    uint32_t *piece_len;
    int32_t *special;     /* control/unknown/user-defined ids, longest text first */
    int32_t n_special;
    tok_trie trie;
    int32_t bos, eos, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    tok_pretok pre;
};

/* A fragment of the input after special-token partitioning: a token, or raw text. */
typedef struct tok_frag {
    int32_t id; /* -1 = raw text text[off, off+len) */
    size_t off, len;
} tok_frag;

typedef struct tok_span {
    size_t off, len;
} tok_span;

typedef struct tok_sym {
    int32_t prev, next; /* -1 = none */
    int32_t id;         /* bpe: string id or -1 */
    uint32_t off, len;  /* bytes in the word/text; len 0 = merged away */
} tok_sym;

typedef struct tok_bigram {
    float score;        /* spm: score of the merged piece (higher first) */
    int32_t rank;       /* bpe: merge rank (lower first) */
    int32_t left, right;
    int32_t lid, rid;   /* bpe: ids the pair had when queued */
    int32_t res;        /* bpe: id of the merged string */
    uint32_t size;      /* spm: merged length in bytes when queued */
} tok_bigram;

struct mc_tok_scratch {
    char *text;
    size_t text_cap;
    char *word;
    size_t word_cap;
    tok_frag *fr[2];
    size_t fr_cap[2];
    tok_span *sp[2];
    size_t sp_cap[2];
    tok_sym *sym;
    size_t sym_cap;
    tok_bigram *heap;
    size_t heap_cap;
    size_t heap_n;
    uint8_t *mark; /* [n_special] 1 = occurs in the current text; all 0 between calls */
    size_t mark_cap;
    void *md;      /* pcre2_match_data_8 *, created on first use */
    void *md_gctx; /* its pcre2_general_context_8 * */
};

/* Grows *(T **)pp to hold at least need elements of elem bytes (geometric). 1 = ok, 0 = no
 * memory (the old block stays valid). */
int tok_grow(void *pp, size_t *cap, size_t need, size_t elem);
#define TOK_RESERVE(ptr, cap, need)                                                                \
    ((size_t)(need) <= (cap) || tok_grow(&(ptr), &(cap), (size_t)(need), sizeof *(ptr)))

mc_err tok_ids_push(mc_tok_ids *ids, int32_t id);

/* ---- string map (tok_vocab.c) ---- */
uint64_t tok_hash(const char *p, size_t n);
int32_t tok_map_find(const mc_tok *t, const char *p, size_t n);

/* ---- UTF-8 helpers (tok_encode.c) ---- */
/* Length of the valid UTF-8 sequence at p[0..n) (1..4), or 0 if the bytes there are not one. */
size_t tok_utf8_valid_len(const unsigned char *p, size_t n);

/* ---- GPT-2 byte characters (tok_bpe.c) ---- */
/* The code point that stands for byte b. */
uint32_t tok_gpt2_cp(uint8_t b);
/* The byte a code point stands for, or -1. */
int tok_gpt2_byte(uint32_t cp);
size_t tok_utf8_put(uint32_t cp, char *out); /* out needs 4 bytes */

/* ---- per-model encoders: append ids for one raw fragment ---- */
mc_err tok_spm_encode(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                      mc_tok_ids *out);
mc_err tok_bpe_encode_word(const mc_tok *t, mc_tok_scratch *s, const char *w, size_t n,
                           mc_tok_ids *out);

/* ---- pre-tokenizer (tok_pretok.c) ---- */
/* Resolves a pre-tokenizer name, compiles its regexes into t->pre and sets t->pre_name and
 * t->ignore_merges. *default_bos is set to 1 when the name implies add_bos (llama3). */
mc_err tok_pretok_init(mc_tok *t, const char *name, int *default_bos, mc_diag *d);
void tok_pretok_deinit(tok_pretok *p);
void tok_scratch_free_md(mc_tok_scratch *s);
/* Splits valid UTF-8 text[0..len) into words: *words points into scratch, *n_words set. */
mc_err tok_pretok_split(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                        const tok_span **words, size_t *n_words, mc_diag *d);

/* ---- heaps (tok_spm.c / tok_bpe.c) ---- */
mc_err tok_heap_push(mc_tok_scratch *s, const tok_bigram *b, int (*before)(const tok_bigram *,
                                                                         const tok_bigram *));
void tok_heap_pop(mc_tok_scratch *s, tok_bigram *top,
                  int (*before)(const tok_bigram *, const tok_bigram *));

/* ---- special tokens (tok_special.c) ---- */
mc_err tok_trie_build(mc_tok *t, mc_diag *d);
void tok_trie_free(tok_trie *tr);
/* Splits text into fragments (s->fr[0][0..*n_frag)): special tokens and the raw text between. */
mc_err tok_partition(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                     unsigned flags, size_t *n_frag);

/* ---- decoding tables (tok_decode.c) ---- */
mc_err tok_build_pieces(mc_tok *t, mc_diag *d);

#endif
