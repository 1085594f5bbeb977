/* srv_fake.h: a fake backend for the server's tests: a hand-built SentencePiece tokenizer and a
 * deterministic "model" with the engine's step contract, so the scheduler and the HTTP layer can
 * be tested without the engine.
 *
 * Vocabulary: 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3..258 the byte tokens <0x00>..<0xFF>,
 * 259 U+2581 (space), 260..285 the letters a..z, 286 <|im_start|>, 287 <|im_end|> (control).
 * Text of lowercase letters and spaces encodes one token per character (BOS first).
 *
 * Model: the logits after token t at position p favour exactly one next token (logit 6; the
 * id after it gets 3; all others -4), a function of (t, p) only, so greedy output is the same
 * whatever else is in the batch:
 *   BOS -> 'h'; a letter c -> EOS if c == 'z', else the next letter, but a space when p % 5 == 4;
 *   'q' -> byte 0xC3 -> byte 0xA9 -> 'r' (U+00E9 split over two tokens);
 *   space -> the letter 'a' + p % 7; anything else -> 'x'.
 * Each step sleeps delay_us (default 200) and records a pass like the engine's: 2 MoE layers with
 * min(8, 2 x new tokens) and min(8, new tokens + 1) distinct experts. */
#ifndef MC_SRV_FAKE_H
#define MC_SRV_FAKE_H

#include "server.h"

typedef struct srv_fake srv_fake;

enum { FAKE_BOS = 1, FAKE_EOS = 2, FAKE_SPACE = 259, FAKE_A = 260 };
#define FAKE_BYTE(b) (3 + (b))
#define FAKE_LETTER(c) (FAKE_A + ((c) - 'a'))

srv_fake *srv_fake_new(int max_seqs, int64_t n_ctx, int64_t max_step_tokens);
void srv_fake_free(srv_fake *f);
mc_srv_backend *srv_fake_backend(srv_fake *f);
const mc_tok *srv_fake_tok(srv_fake *f);
void srv_fake_set_delay(srv_fake *f, int delay_us);
void srv_fake_set_template(srv_fake *f, const char *tmpl);
void srv_fake_fail_steps(srv_fake *f, int n);    /* the next n steps fail */
void srv_fake_set_no_trace(srv_fake *f, int on); /* last_pass returns NULL (engine no_trace) */
int64_t srv_fake_steps(srv_fake *f);
int64_t srv_fake_max_batch(srv_fake *f); /* most items seen in one step */
/* The next token the model favours after token t at position p. */
int32_t srv_fake_next(int32_t t, int64_t p);

#endif
