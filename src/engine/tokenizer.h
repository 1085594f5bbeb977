/* tokenizer: text <-> token ids for the engine, built from a plain vocabulary description.
 *
 * Two models, as GGUF names them in tokenizer.ggml.model:
 *   "llama" SentencePiece-style: spaces become U+2581, an optional space prefix, greedy merging
 *           of adjacent pieces by the best score of the merged piece, byte fallback <0xXX>.
 *   "gpt2"  byte-level BPE: every input byte is a GPT-2 "byte character", the text is first split
 *           by the pre-tokenizer regexes named by tokenizer.ggml.pre, then merged by rank.
 * docs/TOKENIZER.md lists the supported pre-tokenizers and every known difference from llama.cpp
 * and HF tokenizers.
 *
 * Ownership and threads: mc_tok_new copies everything it needs out of the mc_tok_vocab, so the
 * description (and whatever file it points into) may be freed right after. A built mc_tok is
 * read-only and may be shared by threads. Encoding needs scratch memory: pass an mc_tok_scratch
 * (one per thread, reused across calls, so the hot path does not allocate once it has grown) or
 * NULL for a temporary one. Pointers returned by getters live as long as the mc_tok.
 * All _free functions accept NULL. */
#ifndef MC_TOKENIZER_H
#define MC_TOKENIZER_H

#include "base.h"

#include <stddef.h>
#include <stdint.h>

/* Token types as GGUF stores them in tokenizer.ggml.token_type (0 = undefined, read as normal). */
enum {
    MC_TOKT_NORMAL = 1,
    MC_TOKT_UNKNOWN = 2,
    MC_TOKT_CONTROL = 3,
    MC_TOKT_USER_DEFINED = 4,
    MC_TOKT_UNUSED = 5,
    MC_TOKT_BYTE = 6
};

/* Hard limits: a description or input beyond these is refused with MC_ERR_RANGE. */
#define MC_TOK_MAX_TOKENS (1 << 24)     /* vocabulary entries */
#define MC_TOK_MAX_MERGES (1 << 24)
#define MC_TOK_MAX_TEXT ((size_t)1 << 30) /* bytes of one encode input */

typedef struct mc_tok_str {
    const char *ptr; /* need not be NUL-terminated; may be NULL when len == 0 */
    size_t len;
} mc_tok_str;

/* The plain description a tokenizer is built from (filled by mc_tok_from_gguf or by hand).
 * Ids are -1 when absent. The add_* flags are -1 for "the model's default":
 *   llama: add_bos 1, add_eos 0, add_space_prefix 1;
 *   gpt2:  add_bos 0 (1 for the llama3 pre-tokenizer), add_eos 0, no space prefix (ignored). */
typedef struct mc_tok_vocab {
    const char *model;        /* "llama" | "gpt2" */
    const char *pre;          /* gpt2 only: pre-tokenizer name; NULL or "" = "default" */
    int32_t n_tokens;
    const mc_tok_str *tokens; /* [n_tokens] token texts (gpt2: in GPT-2 byte characters) */
    const float *scores;      /* [n_tokens] or NULL (llama merges need them; NULL = all 0) */
    const int32_t *types;     /* [n_tokens] MC_TOKT_* or NULL (= all normal) */
    int32_t n_merges;
    const mc_tok_str *merges; /* [n_merges] "left right", rank = index; gpt2 requires them */
    int32_t bos_id, eos_id, unk_id, pad_id;
    int add_bos, add_eos, add_space_prefix;
} mc_tok_vocab;

/* A vocab with every id -1, every flag -1 and everything else zero/NULL. */
void mc_tok_vocab_init(mc_tok_vocab *v);

typedef struct mc_tok mc_tok;
typedef struct mc_tok_scratch mc_tok_scratch;
struct mc_gguf; /* src/model/gguf.h */

/* Builds a tokenizer. Errors: MC_ERR_ARG (missing arrays), MC_ERR_RANGE (ids or sizes out of
 * range), MC_ERR_FORMAT (bad token type, merge without a separator), MC_ERR_UNSUPPORTED (model or
 * pre-tokenizer name), MC_ERR_NOMEM. The message names the field and the value. */
mc_err mc_tok_new(const mc_tok_vocab *v, mc_tok **out, mc_diag *d);
void mc_tok_free(mc_tok *t);

/* Builds the tokenizer a GGUF file describes in its tokenizer.ggml.* keys, with llama.cpp's
 * defaults for absent ones (docs/TOKENIZER.md, "From GGUF"). The file may be closed afterwards.
 * Errors name the file and the key: MC_ERR_NOT_FOUND (no tokenizer.ggml.model / .tokens),
 * MC_ERR_FORMAT (wrong value types, arrays shorter than the token list), and mc_tok_new's. */
mc_err mc_tok_from_gguf(const struct mc_gguf *g, mc_tok **out, mc_diag *d);
/* mc_gguf_open + mc_tok_from_gguf + close. */
mc_err mc_tok_load(const char *path, mc_tok **out, mc_diag *d);

mc_tok_scratch *mc_tok_scratch_new(void);
void mc_tok_scratch_free(mc_tok_scratch *s);

/* ---- getters ---- */
int32_t mc_tok_n_tokens(const mc_tok *t);
const char *mc_tok_model_name(const mc_tok *t); /* "llama" | "gpt2" */
const char *mc_tok_pre_name(const mc_tok *t);   /* canonical pre-tokenizer name ("" for llama) */
int32_t mc_tok_bos(const mc_tok *t);            /* -1 when absent */
int32_t mc_tok_eos(const mc_tok *t);
int32_t mc_tok_unk(const mc_tok *t);
int32_t mc_tok_pad(const mc_tok *t);
int mc_tok_adds_bos(const mc_tok *t);
int mc_tok_adds_eos(const mc_tok *t);
/* The stored token text (not decoded) and its length; NULL for an id out of range. */
const char *mc_tok_text(const mc_tok *t, int32_t id, size_t *len);
int mc_tok_type(const mc_tok *t, int32_t id); /* MC_TOKT_*; 0 for an id out of range */
/* Token id of an exact token text, or -1. */
int32_t mc_tok_find(const mc_tok *t, const char *text, size_t len);
/* End of generation: the EOS id, or a control token whose text is a known end-of-turn marker
 * (<|eot_id|>, <|im_end|>, <|endoftext|>, <end_of_turn>, ...; list in docs/TOKENIZER.md). */
int mc_tok_is_eog(const mc_tok *t, int32_t id);

/* ---- encoding ---- */
typedef struct mc_tok_ids {
    int32_t *v;
    size_t n, cap;
} mc_tok_ids;

void mc_tok_ids_init(mc_tok_ids *ids);
void mc_tok_ids_deinit(mc_tok_ids *ids);

enum {
    /* control and unknown token texts in the input become their ids (longest token first);
     * without it they are ordinary text. User-defined tokens are always matched, as in
     * llama.cpp and HF tokenizers (they are the vocabulary's "added tokens"). */
    MC_TOK_PARSE_SPECIAL = 1u << 0,
    /* do not insert BOS/EOS even when the vocabulary asks for them */
    MC_TOK_NO_BOS_EOS = 1u << 1
};

/* Tokenizes text[0..len) and APPENDS the ids to out. Any bytes are accepted: invalid UTF-8
 * becomes byte-fallback tokens (llama) or U+FFFD per bad byte (gpt2), see docs/TOKENIZER.md.
 * s may be NULL (a temporary scratch is used). Errors: MC_ERR_RANGE (len > MC_TOK_MAX_TEXT),
 * MC_ERR_NOMEM, MC_ERR_INTERNAL (regex engine failure). On error out->n is restored. */
mc_err mc_tok_encode(const mc_tok *t, mc_tok_scratch *s, const char *text, size_t len,
                     unsigned flags, mc_tok_ids *out, mc_diag *d);

/* ---- decoding ---- */
enum {
    /* write the text of control/unknown/unused tokens (default: they produce nothing) */
    MC_TOK_RENDER_SPECIAL = 1u << 4,
    /* llama with a space prefix: keep the space the encoder added in front of the first piece
     * (default: strip it, so decode(encode(s)) == s) */
    MC_TOK_KEEP_LEADING_SPACE = 1u << 5
};

/* The bytes token id decodes to on its own (U+2581 -> space, <0xXX> -> that byte, GPT-2 byte
 * characters -> bytes; control tokens: their text, or nothing unless MC_TOK_RENDER_SPECIAL).
 * Returns the length and sets *p (not NUL-terminated); 0 for an id out of range. */
size_t mc_tok_piece(const mc_tok *t, int32_t id, unsigned flags, const char **p);

/* Appends the decoded bytes of ids[0..n) to out. A piece may end inside a UTF-8 sequence that the
 * next token completes; this function writes bytes as they are. Errors: MC_ERR_RANGE (an id out
 * of range, out unchanged), MC_ERR_NOMEM / MC_ERR_RANGE from the buffer's cap. */
mc_err mc_tok_decode(const mc_tok *t, const int32_t *ids, size_t n, unsigned flags, mc_buf *out,
                     mc_diag *d);

/* Streaming detokeniser for generation: feed one token at a time; only complete UTF-8 sequences
 * are appended, an incomplete tail is held until the next token completes it (or shows it can
 * never be completed, then the bytes go out as they are). The concatenation of everything a
 * stream appends, including mc_tok_stream_flush, equals mc_tok_decode of the same ids.
 * Pass MC_TOK_KEEP_LEADING_SPACE when the stream continues text (e.g. after a prompt). */
typedef struct mc_tok_stream {
    unsigned flags;
    int started;        /* a piece has produced bytes */
    unsigned char hold[4];
    int n_hold;
} mc_tok_stream;

void mc_tok_stream_init(mc_tok_stream *st, unsigned flags);
mc_err mc_tok_stream_feed(const mc_tok *t, mc_tok_stream *st, int32_t id, mc_buf *out,
                          mc_diag *d);
/* Writes any held bytes (the stream ended inside a UTF-8 sequence). */
mc_err mc_tok_stream_flush(mc_tok_stream *st, mc_buf *out, mc_diag *d);

#endif
