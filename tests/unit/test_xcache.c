/* test_xcache.c: the engine's expert cache (src/engine/xcache*.c, docs/ENGINE.md "Expert
 * offloading"): the policies on synthetic access sequences (exact hit and miss counts worked out
 * by hand), generation with a tiny cache equal bit for bit to the engine without one (q8_0 and
 * f16; lru, lfu, static, prefetch), the records' hits + misses = distinct experts and the exact
 * slow-tier bytes, O_DIRECT reads of tensors at unaligned offsets (and the buffered path), fault
 * injection, and the start-up errors. */
#include "engine_fixtures.h"
#include "engine_impl.h"
#include "harness.h"
#include "xcache.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define V 300

static const char *make(const mc_make_opts *o, const char *name)
{
    static char path[8][4096];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 4096, "%s/%s", harness_tmpdir(), name);
    return ef_make(o, p) ? p : NULL;
}

/* ---- policies on synthetic sequences ---- */

static void sim(int policy, int64_t slots, const int64_t *pins, int64_t np, const int64_t *seq,
                const int64_t *glen, int64_t ng, int64_t want_hits, int64_t want_misses)
{
    xc_sim s = {policy, slots, 32, pins, np};
    int64_t h = -1, m = -1;
    CHECK(xc_simulate(&s, seq, glen, ng, &h, &m, NULL) == MC_OK);
    CHECK_EQ_INT(h, want_hits);
    CHECK_EQ_INT(m, want_misses);
}

TEST(policies_exact_counts)
{
    static const int64_t one[6] = {1, 1, 1, 1, 1, 1};
    /* 0 1 0 2 1 0 in 2 slots. LRU: m m h m(evicts 1) m(evicts 0) m(evicts 2) */
    const int64_t a[6] = {0, 1, 0, 2, 1, 0};
    sim(MC_XCACHE_LRU, 2, NULL, 0, a, one, 6, 1, 5);
    /* LFU: m m h(0: 2 uses) m(evicts 1: 1 use) m(evicts 2: 1 use, not 0) h */
    sim(MC_XCACHE_LFU, 2, NULL, 0, a, one, 6, 2, 4);
    /* LFU ties go to the least recently used: 0 1 2 1 -> 2 evicts 0 (both 1 use), 1 hits */
    const int64_t b[4] = {0, 1, 2, 1};
    sim(MC_XCACHE_LFU, 2, NULL, 0, b, one, 4, 1, 3);
    /* groups guard their experts and take hits first: [0 1] [2 0] [1] [0] in 2 slots: the
     * second group hits 0 and must evict 1 (not 0); 0 was used before 2 was placed, so [1]
     * evicts 0 and [0] misses */
    const int64_t c[6] = {0, 1, 2, 0, 1, 0}, cl[4] = {2, 2, 1, 1};
    sim(MC_XCACHE_LRU, 2, NULL, 0, c, cl, 4, 1, 5);
    /* a group larger than the cache goes in rounds: [0 1 2] = 3 misses (round 2 evicts 0, the
     * older of the round-1 pair), then [0] misses, [2] hits */
    const int64_t d[5] = {0, 1, 2, 0, 2}, dl[3] = {3, 1, 1};
    sim(MC_XCACHE_LRU, 2, NULL, 0, d, dl, 3, 1, 4);
    /* static: 5 pinned in one of 3 slots, LRU over the other two: 5 h, 1 m, 2 m, 5 h, 3 m
     * (evicts 1), 1 m (evicts 2), 5 h */
    const int64_t pin[1] = {5}, e[7] = {5, 1, 2, 5, 3, 1, 5};
    sim(MC_XCACHE_STATIC, 3, pin, 1, e, one, 6, 2, 4);
    sim(MC_XCACHE_STATIC, 3, pin, 1, e, (const int64_t[7]){1, 1, 1, 1, 1, 1, 1}, 7, 3, 4);
    /* the same sequence under LRU with 3 slots: 5 m 1 m 2 m 5 h 3 m(evicts 1) 1 m(evicts 2) 5 h */
    sim(MC_XCACHE_LRU, 3, NULL, 0, e, (const int64_t[7]){1, 1, 1, 1, 1, 1, 1}, 7, 2, 5);
    /* pins may not fill the cache */
    xc_sim s = {MC_XCACHE_STATIC, 1, 32, pin, 1};
    int64_t h, m;
    CHECK(xc_simulate(&s, e, one, 1, &h, &m, NULL) == MC_ERR_ARG);
}

TEST(directory_victims)
{
    xc_dir d;
    CHECK(xc_dir_init(&d, MC_XCACHE_LRU, 3, 10, NULL) == MC_OK);
    CHECK_EQ_INT(xc_dir_victim(&d), 0); /* empty slots first, lowest index */
    xc_dir_place(&d, 0, 4, 0);
    xc_dir_place(&d, 1, 7, 0);
    CHECK_EQ_INT(xc_dir_victim(&d), 2);
    xc_dir_place(&d, 2, 9, 0);
    CHECK_EQ_INT(xc_dir_victim(&d), -1); /* all guarded in this round */
    xc_dir_new_round(&d);
    CHECK_EQ_INT(xc_dir_victim(&d), 0);
    xc_dir_pin(&d, 0);
    CHECK_EQ_INT(xc_dir_victim(&d), 1);
    xc_dir_drop(&d, 2);
    CHECK_EQ_INT(d.slot_of[9], -1);
    CHECK_EQ_INT(xc_dir_victim(&d), 2);
    xc_dir_deinit(&d);
    /* a prefetch's victim: only slots unused since a clock. Uses 1, 2, 3 in slots 0, 1, 2; the
     * LRU victim is slot 0, but not once the clock is before its use */
    CHECK(xc_dir_init(&d, MC_XCACHE_LRU, 3, 10, NULL) == MC_OK);
    for (int64_t s = 0; s < 3; s++)
        xc_dir_place(&d, s, s + 3, 0);
    xc_dir_new_round(&d);
    CHECK_EQ_INT(xc_dir_victim_before(&d, 3), 0);
    CHECK_EQ_INT(xc_dir_victim_before(&d, 1), 0);
    CHECK_EQ_INT(xc_dir_victim_before(&d, 0), -1);
    xc_dir_use(&d, 0); /* clock 4: slot 1 (used at 2) is now the oldest */
    xc_dir_new_round(&d);
    CHECK_EQ_INT(xc_dir_victim_before(&d, 1), -1);
    CHECK_EQ_INT(xc_dir_victim_before(&d, 2), 1);
    xc_dir_drop(&d, 2); /* an empty slot is always a victim */
    CHECK_EQ_INT(xc_dir_victim_before(&d, 0), 2);
    xc_dir_deinit(&d);
}

/* ---- the engine with a cache ---- */

typedef struct xopts {
    int64_t bytes;
    int policy, prefetch, direct;
    const char *profile;
    ssize_t (*rd)(int, void *, size_t, off_t);
    int64_t chunk; /* expert_chunk_bytes (0 = the default 1 MiB) */
} xopts;

static mc_engine *open_x(const char *path, const xopts *x, mc_diag *d)
{
    mc_engine_opts o;
    mc_engine_opts_default(&o);
    o.model_path = path;
    o.n_threads = 2;
    o.max_seqs = 2;
    o.n_ctx = 64;
    o.max_step_tokens = 64;
    o.trace_tokens = 1;
    o.kernels = getenv("MC_TEST_KERNELS");
    if (x) {
        o.expert_cache_bytes = x->bytes;
        o.expert_cache_policy = x->policy;
        o.expert_prefetch = x->prefetch;
        o.expert_direct = x->direct;
        o.expert_profile = x->profile;
        o.expert_pread = x->rd;
        o.expert_chunk_bytes = x->chunk;
    }
    mc_engine *e = NULL;
    mc_diag dd = {{0}};
    if (mc_engine_open(&o, &e, d ? d : &dd) != MC_OK && !d)
        fprintf(stderr, "engine open %s: %s\n", path, dd.msg);
    return e;
}

/* Bytes of one slot (and the model's experts) from an engine with room for every expert. */
static int64_t slot_bytes(const char *path, int64_t *experts)
{
    xopts x = {(int64_t)1 << 40, MC_XCACHE_LRU, 0, 1, NULL, NULL, 0};
    mc_engine *e = open_x(path, &x, NULL);
    mc_engine_xstats s;
    int ok = e && mc_engine_xcache_stats(e, &s);
    mc_engine_free(e);
    if (experts)
        *experts = ok ? s.experts : 0;
    return ok ? s.slot_bytes : 0;
}

/* Runs an 18-token prefill, a 6-token chunk and 6 greedy decode steps; logits of every step's
 * last token into lg[8][V], greedy
 * tokens into tok. Checks each record's hits + misses = distinct experts when cached. */
static int run(mc_engine *e, float *lg, int32_t *tok, FILE *rec)
{
    int64_t at = 0, k = 0;
    int32_t cur;
    const int64_t chunks[2] = {18, 6};
    for (int c = 0; c < 2; c++, k++) {
        if (ef_step(e, 0, ef_prompt + at, chunks[c], MC_LOGITS_LAST, lg + k * V))
            return 0;
        at += chunks[c];
    }
    for (int s = 0; s < 6; s++, k++) {
        cur = ef_argmax(lg + (k - 1) * V, V);
        tok[s] = cur;
        const mc_pass *p = mc_engine_last_pass(e);
        for (int64_t l = 0; p && l < p->n_cache_layers; l++)
            CHECK_EQ_INT(p->cache_hits[l] + p->cache_misses[l], (int64_t)p->experts_per_layer[l]);
        if (rec && p) {
            mc_buf b;
            mc_buf_init(&b, 0);
            mc_pass_format(p, &b, NULL);
            fwrite(b.data, 1, b.len, rec);
            mc_buf_deinit(&b);
        }
        if (ef_step(e, 0, &cur, 1, MC_LOGITS_LAST, lg + k * V))
            return 0;
    }
    return 1;
}

static void same_as_uncached(const char *path, const xopts *x, const float *ref, const int32_t *rt)
{
    float lg[8 * V];
    int32_t tok[6];
    mc_engine *e = open_x(path, x, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK(run(e, lg, tok, NULL));
    CHECK(memcmp(lg, ref, sizeof lg) == 0);
    CHECK(memcmp(tok, rt, sizeof tok) == 0);
    /* steps with misses (and prefetch) allocate nothing */
    uint64_t a0 = mc_alloc_count();
    for (int k = 0; k < 4; k++)
        CHECK(ef_step(e, 1, ef_prompt + 7 * k, 1 + k, MC_LOGITS_LAST, lg) == MC_OK);
    CHECK_EQ_INT(mc_alloc_count() - a0, 0);
    mc_engine_xstats s;
    CHECK(mc_engine_xcache_stats(e, &s) == 1);
    CHECK(s.misses > 0);
    CHECK_EQ_INT(s.slots, x->bytes / s.slot_bytes);
    if (x->prefetch)
        CHECK(s.prefetched > 0);
    CHECK_EQ_INT(s.pinned, x->policy == MC_XCACHE_STATIC ? s.slots - 2 * (x->prefetch ? 2 : 1) : 0);
    mc_engine_free(e);
}

static void tiny_cache_equal(const char *arch, mc_dtype t, const char *name)
{
    mc_make_opts mo = ef_tiny(arch, t);
    const char *p = make(&mo, name);
    CHECK(p != NULL);
    if (!p)
        return;
    float ref[8 * V];
    int32_t rt[6];
    char prof[4096];
    snprintf(prof, sizeof prof, "%s.records.jsonl", p);
    FILE *f = fopen(prof, "w");
    mc_engine *e = open_x(p, NULL, NULL);
    CHECK(e && f && run(e, ref, rt, f));
    fclose(f);
    mc_engine_free(e);
    int64_t sb = slot_bytes(p, NULL);
    CHECK(sb > 0);
    xopts x = {2 * sb, MC_XCACHE_LRU, 0, 1, NULL, NULL, 0}; /* top_k = 2 slots */
    same_as_uncached(p, &x, ref, rt);
    x.policy = MC_XCACHE_LFU;
    same_as_uncached(p, &x, ref, rt);
    /* prefetch needs room beside the experts of this step and the last one (a prediction
     * never evicts those) */
    x.policy = MC_XCACHE_LRU;
    x.prefetch = 1;
    x.bytes = 8 * sb;
    same_as_uncached(p, &x, ref, rt);
    x.bytes = 3 * sb + 100; /* static: one pinned slot, two LRU */
    x.policy = MC_XCACHE_STATIC;
    x.prefetch = 0;
    x.profile = prof;
    same_as_uncached(p, &x, ref, rt);
    x.bytes = 6 * sb; /* with prefetch: 2 pinned, 4 LRU */
    x.prefetch = 1;
    same_as_uncached(p, &x, ref, rt);
    x = (xopts){8 * sb, MC_XCACHE_LFU, 1, 0, NULL, NULL, 0}; /* buffered reads */
    same_as_uncached(p, &x, ref, rt);
}

TEST(tiny_cache_same_tokens_q8_0)
{
    tiny_cache_equal("llama", MC_DT_Q8_0, "x_q8.gguf");
}

TEST(tiny_cache_same_tokens_f16)
{
    tiny_cache_equal("qwen2moe", MC_DT_F16, "x_f16.gguf");
}

/* Bytes a miss of an expert of MoE layer l reads: the three aligned spans (clipped at the end of
 * the file). Every expert of a fused tensor has the same span here (expert sizes are multiples of
 * 4 KiB in these models), checked. */
static int64_t miss_span(const char *path, int64_t l, int64_t chunk);

static int64_t miss_bytes(const char *path, int64_t l)
{
    return miss_span(path, l, 0);
}

/* chunk 0: the bytes of miss_bytes; else the read requests of chunk bytes at most. */
static int64_t miss_span(const char *path, int64_t l, int64_t chunk)
{
    static const char *nm[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    mc_gguf *g = NULL;
    int64_t sum = 0;
    if (mc_gguf_open(path, &g, NULL))
        return -1;
    for (int k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)l, nm[k]);
        const mc_gguf_tensor *t = mc_gguf_find_tensor(g, name);
        uint64_t per = t->n_bytes / (uint64_t)t->dims[2], off = t->file_offset;
        uint64_t end = off + per, fsz = mc_gguf_file_size(g);
        CHECK(per % 4096 == 0);
        end = (end + 4095) / 4096 * 4096;
        int64_t span = (int64_t)((end < fsz ? end : fsz) - off / 4096 * 4096);
        sum += chunk ? (span + chunk - 1) / chunk : span;
    }
    mc_gguf_free(g);
    return sum;
}

/* Tensors at offsets that are not multiples of 4 KiB, read with O_DIRECT (when the test
 * directory's file system takes it) and buffered; the records' bytes are the aligned spans. */
static void unaligned_reads(int direct)
{
    mc_make_opts mo = ef_tiny("llama", MC_DT_Q8_0);
    mo.layers = 3;
    const char *p = make(&mo, direct ? "x_dir.gguf" : "x_buf.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    mc_gguf *g = NULL;
    int unaligned = 0;
    CHECK(mc_gguf_open(p, &g, NULL) == MC_OK);
    for (uint64_t i = 0; g && i < mc_gguf_tensor_count(g); i++)
        unaligned += strstr(mc_gguf_tensor_at(g, i)->name, "_exps") &&
                     mc_gguf_tensor_at(g, i)->file_offset % 4096 != 0;
    mc_gguf_free(g);
    CHECK(unaligned >= 3); /* else the test would prove nothing */
    int64_t sb = slot_bytes(p, NULL);
    xopts x = {2 * sb, MC_XCACHE_LRU, 0, direct, NULL, NULL, 0};
    mc_engine *e = open_x(p, &x, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    if (direct && mc_engine_xcache_direct(e) != 1) {
        fprintf(stderr, "note: %s\n", mc_engine_xcache_note(e));
        mc_engine_free(e);
        SKIP("the test directory's file system refuses O_DIRECT (the buffered path is tested)");
    }
    CHECK_EQ_INT(mc_engine_xcache_direct(e), direct);
    CHECK_CONTAINS(direct ? "posix_fadvise" : mc_engine_xcache_note(e), "posix_fadvise");
    float lg[V];
    CHECK(ef_step(e, 0, ef_prompt, 20, MC_LOGITS_LAST, lg) == MC_OK);
    const mc_pass *r = mc_engine_last_pass(e);
    int64_t want = 0, misses = 0;
    for (int64_t l = 0; l < 3; l++) {
        want += r->cache_misses[l] * miss_bytes(p, l);
        misses += r->cache_misses[l];
        CHECK_EQ_INT(r->cache_hits[l] + r->cache_misses[l], (int64_t)r->experts_per_layer[l]);
    }
    CHECK(misses >= 6);
    CHECK_EQ_INT(r->slow_bytes, want);
    CHECK(r->slow_stall_s >= 0 && r->slow_stall_s < r->latency_s);
    mc_engine_free(e);
}

TEST(odirect_unaligned_tensors)
{
    unaligned_reads(1);
}

/* Every matrix read in 4 KiB and in 12 KiB chunks (the tiny experts' spans are 69,632 B: 17 and
 * 6 chunks, the last one short), with and without prefetch (of the confident half of each
 * top-k, and of all of it): the logits equal the engine's
 * without a cache bit for bit, each miss makes one request per chunk, the bytes are the aligned
 * spans. A chunk size that is not a multiple of 4096 is an error at open. */
TEST(chunked_reads)
{
    mc_make_opts mo = ef_tiny("olmoe", MC_DT_Q8_0);
    const char *p = make(&mo, "x_chunk.gguf");
    int64_t sb = p ? slot_bytes(p, NULL) : 0;
    float ref[V], lg[V];
    mc_engine *e0 = p ? open_x(p, NULL, NULL) : NULL;
    CHECK(e0 && ef_step(e0, 0, ef_prompt, 12, MC_LOGITS_LAST, ref) == MC_OK);
    mc_engine_free(e0);
    for (int k = 0; e0 && k < 4; k++) {
        int64_t chunk = k % 2 ? 12288 : 4096, reads = 0, bytes = 0;
        /* k = 2, 3: prefetch 1 and 2, with a third slot for the predictions */
        xopts x = {(2 + k / 2) * sb, MC_XCACHE_LRU, k / 2 ? k - 1 : 0, 1, NULL, NULL, chunk};
        mc_engine *e = open_x(p, &x, NULL);
        CHECK(e && ef_step(e, 0, ef_prompt, 12, MC_LOGITS_LAST, lg) == MC_OK);
        CHECK(e && memcmp(lg, ref, sizeof lg) == 0);
        const mc_pass *r = e ? mc_engine_last_pass(e) : NULL;
        for (int64_t l = 0; r && l < 2; l++) {
            reads += r->cache_misses[l] * miss_span(p, l, chunk);
            bytes += r->cache_misses[l] * miss_bytes(p, l);
        }
        CHECK(miss_span(p, 0, chunk) > 3 * (k % 2 ? 1 : 3)); /* several chunks per matrix */
        mc_engine_xstats s;
        CHECK(e && mc_engine_xcache_stats(e, &s));
        if (e && k / 2 == 0) { /* without prefetch every request belongs to a miss */
            CHECK_EQ_INT(s.reads, reads);
            CHECK_EQ_INT(r->slow_bytes, bytes);
        }
        mc_engine_free(e);
    }
    xopts bad = {2 * sb, MC_XCACHE_LRU, 0, 1, NULL, NULL, 5000};
    mc_diag d = {{0}};
    CHECK(p && open_x(p, &bad, &d) == NULL);
    CHECK_CONTAINS(d.msg, "expert read chunk of 5000 bytes");
}

TEST(buffered_unaligned_tensors)
{
    unaligned_reads(0);
}

/* ---- faults ---- */

static _Atomic int g_fail_at = -1, g_calls, g_short; /* the I/O threads call concurrently */

static ssize_t faulty_pread(int fd, void *buf, size_t n, off_t off)
{
    if (g_calls++ == g_fail_at) {
        if (g_short)
            return 0; /* an early end of file: a short read */
        errno = EIO;
        return -1;
    }
    return pread(fd, buf, n, off);
}

static void fault_case(const char *p, int64_t sb, int short_read, int prefetch, int64_t chunk)
{
    float ref[V], lg[V];
    mc_engine *e0 = open_x(p, NULL, NULL);
    CHECK(e0 && ef_step(e0, 0, ef_prompt, 10, MC_LOGITS_LAST, ref) == MC_OK);
    CHECK(e0 && ef_step(e0, 0, ef_prompt + 10, 1, MC_LOGITS_LAST, ref) == MC_OK);
    mc_engine_free(e0);
    xopts x = {2 * sb, MC_XCACHE_LRU, prefetch, 1, NULL, faulty_pread, chunk};
    g_fail_at = -1;
    mc_engine *e = open_x(p, &x, NULL);
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK(ef_step(e, 0, ef_prompt, 10, MC_LOGITS_LAST, lg) == MC_OK);
    g_calls = 0;
    g_fail_at = 1; /* the second read of the next step */
    g_short = short_read;
    mc_batch_item it = {
        .seq = 0, .tokens = ef_prompt + 10, .n_tokens = 1, .logits = 1, .logits_out = lg};
    mc_diag d = {{0}};
    CHECK(mc_engine_step(e, &it, 1, &d) == MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "engine: expert cache: reading MoE layer");
    CHECK_CONTAINS(d.msg, short_read ? "short read" : "Input/output error");
    CHECK(mc_engine_last_pass(e) == NULL);
    CHECK_EQ_INT(mc_engine_seq_len(e, 0), 10);
    g_fail_at = -1; /* the disk recovers: the same step works and equals an engine never hurt */
    CHECK(mc_engine_step(e, &it, 1, &d) == MC_OK);
    CHECK(memcmp(lg, ref, sizeof lg) == 0);
    CHECK(mc_engine_last_pass(e) != NULL);
    mc_engine_free(e);
}

TEST(fault_injection)
{
    mc_make_opts mo = ef_tiny("llama", MC_DT_Q8_0);
    const char *p = make(&mo, "x_fault.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    int64_t sb = slot_bytes(p, NULL);
    fault_case(p, sb, 0, 0, 0);
    fault_case(p, sb, 1, 0, 0);
    fault_case(p, sb, 0, 1, 0);
    fault_case(p, sb, 0, 0, 8192); /* a chunk of a matrix read in several fails */
    fault_case(p, sb, 1, 1, 8192);
}

/* ---- start-up errors and a cache of every expert ---- */

TEST(startup_errors)
{
    mc_make_opts mo = ef_tiny("llama", MC_DT_Q8_0);
    const char *p = make(&mo, "x_err.gguf");
    CHECK(p != NULL);
    if (!p)
        return;
    int64_t sb = slot_bytes(p, NULL);
    char want[160];
    snprintf(want, sizeof want, "holds 1 expert slot of %.1f MiB; a layer needs at least top_k = 2",
             (double)sb / 1048576.0);
    mc_diag d = {{0}};
    xopts x = {sb + 10, MC_XCACHE_LRU, 0, 1, NULL, NULL, 0};
    CHECK(open_x(p, &x, &d) == NULL);
    CHECK_CONTAINS(d.msg, want);
    CHECK_CONTAINS(d.msg, "engine: --expert-cache-mb ");
    x.bytes = 4 * sb;
    x.prefetch = 3;
    CHECK(open_x(p, &x, &d) == NULL);
    CHECK_CONTAINS(d.msg, "engine: expert_prefetch 3 (0 off");
    x.prefetch = 0;
    x.policy = MC_XCACHE_STATIC;
    CHECK(open_x(p, &x, &d) == NULL);
    CHECK_CONTAINS(d.msg, "the static expert cache policy needs a profile");
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", harness_tmpdir());
    FILE *f = fopen(bad, "w");
    fputs("{\"latency\":0.1,\"batch_size\":1,\"new_tokens\":1,\"seq_lens_sum\":1,"
          "\"tokens_per_expert\":[[1,2,3,4,5,6,7,8]]}\n",
          f);
    fclose(f);
    x.profile = bad;
    CHECK(open_x(p, &x, &d) == NULL);
    CHECK_CONTAINS(d.msg, "tokens_per_expert has 1 rows; the model has 2 MoE layers");
    x.policy = MC_XCACHE_LRU;
    CHECK(open_x(p, &x, &d) == NULL);
    CHECK_CONTAINS(d.msg, "only used by the static policy");
    mc_make_opts dense = ef_tiny("llama", MC_DT_Q8_0);
    dense.experts = 0;
    dense.top_k = 0;
    const char *pd = make(&dense, "x_dense.gguf");
    x = (xopts){4 * sb, MC_XCACHE_LRU, 0, 1, NULL, NULL, 0};
    CHECK(pd && open_x(pd, &x, &d) == NULL);
    CHECK_CONTAINS(d.msg, "needs routed experts");
}

/* With room for every expert each expert is read once: total misses = distinct (layer, expert)
 * pairs the run used, and everything after is hits. */
TEST(full_cache_reads_each_expert_once)
{
    mc_make_opts mo = ef_tiny("olmoe", MC_DT_Q8_0);
    const char *p = make(&mo, "x_full.gguf");
    int64_t experts = 0, sb = p ? slot_bytes(p, &experts) : 0;
    CHECK_EQ_INT(experts, 16);
    xopts x = {experts * sb, MC_XCACHE_LRU, 0, 1, NULL, NULL, 0};
    mc_engine *e = p ? open_x(p, &x, NULL) : NULL;
    CHECK(e != NULL);
    if (!e)
        return;
    uint8_t used[16] = {0};
    float lg[V];
    int64_t rec_hits = 0, rec_miss = 0;
    for (int s = 0; s < 6; s++) {
        CHECK(ef_step(e, 0, ef_prompt + 3 * s, 3, MC_LOGITS_LAST, lg) == MC_OK);
        const mc_pass *r = mc_engine_last_pass(e);
        for (int i = 0; i < 16; i++)
            used[i] |= r->tokens_per_expert[i] > 0;
        for (int l = 0; l < 2; l++) {
            rec_hits += r->cache_hits[l];
            rec_miss += r->cache_misses[l];
        }
    }
    int64_t distinct = 0;
    for (int i = 0; i < 16; i++)
        distinct += used[i];
    mc_engine_xstats s;
    CHECK(mc_engine_xcache_stats(e, &s));
    CHECK_EQ_INT(s.misses, distinct);
    CHECK_EQ_INT(rec_miss, distinct);
    CHECK_EQ_INT(s.hits, rec_hits);
    CHECK_EQ_INT(s.slots, 16);
    CHECK_EQ_INT(s.reads, 3 * distinct);
    CHECK(s.read_s > 0 && s.bytes >= distinct * 3 * 69632);
    mc_engine_free(e);
}

int main(void)
{
    RUN(policies_exact_counts);
    RUN(directory_victims);
    RUN(tiny_cache_same_tokens_q8_0);
    RUN(tiny_cache_same_tokens_f16);
    RUN(buffered_unaligned_tensors);
    RUN(fault_injection);
    RUN(startup_errors);
    RUN(full_cache_reads_each_expert_once);
    RUN(chunked_reads);
    RUN(odirect_unaligned_tensors); /* last: it may SKIP */
    return harness_done();
}
