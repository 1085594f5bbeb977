/* fuzz_prom.c: the Prometheus text parser and the counter deltas on arbitrary bytes (a /metrics
 * page comes from the network). Properties: every sample's name is a prefix of its key, a page
 * compared with itself has no resets and only zero deltas, parsing the page in two halves finds
 * at most two more samples than whole (only the cut line changes: "a 1b 2" is no sample, its halves
 * are two). Never a crash, hang or leak. Seeds: tests/fuzz/corpus/prom/. */
#include "loadgen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_samples(const mc_lg_prom *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const mc_lg_prom_sample *s = &p->v[i];
        if (s->name_len == 0 || s->name_len > strlen(s->key))
            abort();
        if (s->cumulative && s->kind != MC_PROM_COUNTER && s->kind != MC_PROM_HISTOGRAM &&
            s->kind != MC_PROM_SUMMARY)
            abort();
    }
}

static void check_self_deltas(const mc_lg_prom *p)
{
    mc_lg_prom_delta *v = NULL;
    size_t n = 0;
    if (mc_lg_prom_deltas(p, p, &v, &n, NULL) != MC_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        /* duplicate keys may pair a sample with another of the same key: only check uniques */
        size_t same = 0;
        for (size_t j = 0; j < p->n; j++)
            same += strcmp(p->v[j].key, v[i].key) == 0;
        if (same == 1 && (v[i].reset || v[i].is_new || v[i].delta != 0))
            abort();
    }
    mc_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t max = size ? 1 + data[0] % 64 : 1;
    const char *text = (const char *)data;
    mc_lg_prom whole, half;
    mc_lg_prom_init(&whole);
    mc_lg_prom_init(&half);
    mc_err e = mc_lg_prom_parse(text, size, max, &whole, NULL);
    if (e != MC_OK && e != MC_ERR_RANGE)
        abort();
    check_samples(&whole);
    if (e == MC_OK)
        check_self_deltas(&whole);
    if (e == MC_OK) {
        size_t cut = size / 2;
        mc_err e1 = mc_lg_prom_parse(text, cut, 0, &half, NULL);
        mc_err e2 = e1 ? e1 : mc_lg_prom_parse(text + cut, size - cut, 0, &half, NULL);
        if (e2 != MC_OK || half.n > whole.n + 2)
            abort();
    }
    mc_lg_prom_deinit(&whole);
    mc_lg_prom_deinit(&half);
    return 0;
}
