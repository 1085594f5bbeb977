/* fuzz_passes.c: the per-pass records reader (mc_pass_parse_jsonl) on arbitrary bytes, in skip
 * and strict mode; every record it accepts must format and parse back with the same counts. */
#include "cap.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const mc_pass *p)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_pass q;
    if (mc_pass_format(p, &b, NULL) == MC_OK && mc_pass_parse(b.data, b.len, &q, NULL) == MC_OK) {
        if (q.batch_size != p->batch_size || q.new_tokens != p->new_tokens ||
            q.seq_lens_sum != p->seq_lens_sum || q.n_chunks != p->n_chunks ||
            q.latency_s != p->latency_s)
            abort();
        mc_pass_deinit(&q);
    } else if (b.len) {
        abort(); /* a record we accepted must parse back */
    }
    mc_buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int strict = 0; strict < 2; strict++) {
        mc_pass_set s;
        mc_pass_set_init(&s);
        mc_pass_parse_jsonl((const char *)data, size, strict, 1000, &s, NULL);
        for (size_t i = 0; i < s.n; i++)
            round_trip(&s.v[i]);
        mc_pass_set_deinit(&s);
    }
    return 0;
}
