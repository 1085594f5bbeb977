/* cap: the pure metrics of moecap (Cost, Accuracy, Performance).
 *
 * Everything here is a function of its arguments: no I/O, no clock, no globals. Every figure is
 * defined in docs/METRICS.md under the anchor-like name quoted next to it (e.g. smbu.time_weighted);
 * cap.json output refers to the same names.
 *
 *   records   per-forward-pass records (mc_pass) and their JSON Lines form      (pass.c)
 *   usage     bytes and FLOPs of a pass, S-MBU / S-MFU, run aggregates          (usage.c)
 *   ref       reproduction of the MoE-CAP reference code's numbers (moecap-ref) (ref.c)
 *   experts   expected distinct experts for T tokens                            (usage.c)
 *   latency   TTFT / TPOT / ITL / E2E, summary statistics, throughput, goodput  (latency.c)
 *   cost      $/hour, $/1M tokens, J/token, the reference's cost formula        (cost.c)
 *   radar     CAP radar normalisation                                           (radar.c)
 *   predict   the analytic CAP model: roofline TPOT/TTFT, memory fit, offload,
 *             throughput, S-MBU/S-MFU, cost; max batch under an SLO; required
 *             bandwidth; efficiency calibration                                (predict.c)
 *
 * Ownership: an mc_pass owns its arrays (mc_pass_deinit frees them); mc_pass_set owns its passes.
 * Functions that allocate can fail with MC_ERR_NOMEM. Thread safety: reentrant; a finalized
 * mc_model and an mc_hw_deploy are only read. */
#ifndef MC_CAP_H
#define MC_CAP_H

#include "base.h"
#include "hw.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* ==== records (pass.record) ===================================================================== */

typedef enum mc_pass_mode {
    MC_PASS_PREFILL = 0, /* "prefill" / "extend": prompt tokens (possibly a chunk) */
    MC_PASS_DECODE,      /* "decode" / "decoding": one (or a few, speculative) new token per sequence */
    MC_PASS_MIXED,       /* "mixed" / "unknown" / missing: prefill chunks and decodes together */
    MC_PASS_MODE_COUNT
} mc_pass_mode;

const char *mc_pass_mode_name(mc_pass_mode m); /* "prefill", "decode", "mixed" */

/* One request's share of a pass (MoE-CAP per_req_info). */
typedef struct mc_req_chunk {
    char req_id[64];     /* req_id, else req_pool_idx, as text */
    int64_t extend_len;  /* tokens of this request computed in this pass; 0 if missing */
    int64_t total_len;   /* sequence length after this pass (cached + this chunk); -1 if missing */
    int is_last_chunk;   /* 1, 0, or -1 when missing */
} mc_req_chunk;

typedef struct mc_pass {
    int64_t forward_pass_id;   /* -1 if missing */
    mc_pass_mode mode;
    int64_t new_tokens;        /* tokens computed by this pass (pass.new_tokens) */
    int64_t batch_size;        /* sequences in the pass */
    int64_t seq_lens_sum;      /* sum over sequences of total length incl. this pass's tokens */
    double latency_s;          /* > 0 */
    double expert_activation;  /* mean distinct routed experts per MoE layer; < 0 = not recorded */
    int64_t n_layer_experts;   /* entries of experts_per_layer (0 = absent) */
    double *experts_per_layer; /* distinct experts hit per layer (one per MoE layer, or per layer) */
    int64_t tpe_rows, tpe_cols;/* shape of tokens_per_expert (0 x 0 = absent) */
    int64_t *tokens_per_expert;/* [tpe_rows][tpe_cols] row-major: tokens routed to each expert */
    int64_t n_chunks;
    mc_req_chunk *chunks;      /* per_req_info */
    /* expert offloading (docs/METRICS.md "pass.cache"); absent unless an expert cache ran */
    int64_t n_cache_layers;    /* entries of cache_hits / cache_misses (0 = absent) */
    int64_t *cache_hits;       /* per MoE layer: activated experts found in the fast tier */
    int64_t *cache_misses;     /* per MoE layer: activated experts read from the slow tier */
    int64_t slow_bytes;        /* bytes read from the slow tier by this pass; -1 = not recorded */
    double slow_stall_s;       /* seconds the pass waited on the slow tier; -1 = not recorded */
    int gpu_num;               /* devices that ran the pass; 0 = not recorded */
    char gpu_raw_type[96];     /* "" = not recorded */
    int64_t line;              /* line of the records file it came from; 0 = not from a file */
} mc_pass;

void mc_pass_init(mc_pass *p);   /* empty record: ids -1, activation -1, mode mixed */
void mc_pass_deinit(mc_pass *p); /* frees the arrays; mc_pass_init state afterwards */

/* Parses one JSON object (one line, len bytes, need not be NUL-terminated) into *out, which is
 * overwritten without being freed (pass an empty or deinit'ed record); on error *out is left
 * empty (mc_pass_init state). Accepts our field names and
 * the MoE-CAP reference's (docs/METRICS.md "pass.record", including the defaults for missing
 * fields). Errors name the field: "latency: must be a number > 0". */
mc_err mc_pass_parse(const char *json, size_t len, mc_pass *out, mc_diag *d);

/* Appends p as one JSON line (our field names, '\n'-terminated) to b. */
mc_err mc_pass_format(const mc_pass *p, mc_buf *b, mc_diag *d);

typedef struct mc_pass_line_err {
    int64_t line; /* 1-based */
    mc_err err;
    char msg[240];
} mc_pass_line_err;

#define MC_PASS_SET_MAX_ERRS 100 /* per-line errors kept (n_errs counts them all) */

typedef struct mc_pass_set {
    mc_pass *v;
    size_t n, cap;
    int64_t n_lines;   /* lines seen (blank ones included) */
    int64_t n_errs;    /* bad lines (skip mode) */
    mc_pass_line_err errs[MC_PASS_SET_MAX_ERRS];
} mc_pass_set;

void mc_pass_set_init(mc_pass_set *s);
void mc_pass_set_deinit(mc_pass_set *s);

/* Parses a JSON Lines buffer: one record per line, blank lines ignored. strict: the first bad
 * line fails the call with "line N: ..."; else bad lines are skipped and listed in s->errs.
 * Appends to s (which must be initialised). At most max_records records (0 = 10,000,000). */
mc_err mc_pass_parse_jsonl(const char *buf, size_t len, int strict, size_t max_records,
                           mc_pass_set *s, mc_diag *d);

/* ==== moecap formula: bytes and FLOPs of one pass (bytes.pass, flops.pass) ===================== */

typedef enum mc_act_source {
    MC_ACT_NONE = 0,  /* dense model: no routed experts */
    MC_ACT_PER_LAYER, /* experts_per_layer */
    MC_ACT_TOKENS,    /* experts with tokens > 0 in tokens_per_expert */
    MC_ACT_MEAN,      /* expert_activation (the same mean for every MoE layer) */
    MC_ACT_UNIFORM    /* not recorded: expected distinct experts under uniform routing */
} mc_act_source;

const char *mc_act_source_name(mc_act_source s);

typedef struct mc_pass_bytes {
    double layers;        /* attention, norms, router, shared, dense FFN, distinct routed experts */
    double head;          /* LM head (+ final norm) */
    double embed;         /* embedding rows of the new tokens */
    double kv_read;       /* KV cache of the context before this pass */
    double kv_write;      /* KV cache of the new tokens */
    double total;
    double distinct_mean; /* mean distinct routed experts per MoE layer (0 for dense models) */
    mc_act_source source;
} mc_pass_bytes;

typedef struct mc_pass_flops {
    double linear;      /* 2 x new tokens x matmul parameters of all layers (top_k experts) */
    double head;        /* 2 x logits rows x vocab x hidden */
    double attn;        /* score + value FLOPs over (query, key) pairs, all layers */
    double total;
    double attn_pairs;  /* causal (query, key) pairs of one layer */
    double logits_rows; /* rows of logits computed */
    int pairs_from_chunks; /* 1: per_req_info used; 0: equal-length sequences assumed */
} mc_pass_flops;

mc_err mc_cap_pass_bytes(const mc_model *m, const mc_pass *p, mc_pass_bytes *out, mc_diag *d);
void mc_cap_pass_flops(const mc_model *m, const mc_pass *p, mc_pass_flops *out);

/* Causal (query, key) pairs for b sequences with n_total new tokens and s_total total length,
 * all assumed of equal length: b (n c + n (n + 1) / 2), n = n_total / b, c = s_total / b - n. */
double mc_cap_attn_pairs_equal(double b, double n_total, double s_total);

/* Peak figures of a deployment that the utilisations divide by. */
typedef struct mc_cap_peak {
    int devices;
    double bw_Bps;   /* devices x peak memory bandwidth */
    double flops;    /* devices x dense peak FLOP/s at prec; 0 = not available (S-MFU is NaN) */
    mc_prec prec;    /* mc_dtype_compute_prec of the routed-expert storage type, or the
                        fallback precision actually used */
    int fallback;    /* 1: the device has no peak at the weights' compute precision, so the
                        bf16 (then fp32) peak is used: the weights are dequantised and computed
                        at that precision (e.g. int4 on GPUs, any GGUF type on the CPU engine,
                        whose probe measures only f32 FMA) */
} mc_cap_peak;

/* Fails when the deployment has no devices or no bandwidth figure. */
mc_err mc_cap_peak_of(const mc_model *m, const mc_hw_deploy *dep, mc_cap_peak *out, mc_diag *d);

typedef struct mc_pass_usage {
    mc_pass_bytes bytes;
    mc_pass_flops flops;
    double smbu; /* smbu.pass = bytes / latency / (devices x peak bandwidth) */
    double smfu; /* smfu.pass = FLOPs / latency / (devices x dense peak); NaN without a peak */
} mc_pass_usage;

mc_err mc_cap_pass_usage(const mc_model *m, const mc_cap_peak *pk, const mc_pass *p,
                         mc_pass_usage *out, mc_diag *d);

/* ==== run aggregates (smbu.time_weighted, smbu.pass_mean, ...) ================================ */

typedef struct mc_cap_group {
    int64_t passes;
    int64_t new_tokens;
    int64_t sequences;      /* sum of batch_size */
    double time_s;          /* sum of latency */
    double bytes, flops;    /* sums */
    double smbu_tw, smfu_tw;     /* smbu.time_weighted: sum bytes / sum latency / peak */
    double smbu_mean, smfu_mean; /* smbu.pass_mean: unweighted mean of per-pass values */
    double tok_per_s;       /* throughput.*: sum new tokens / sum latency */
    double tok_per_s_mean;  /* unweighted mean of new tokens / latency (MoE-CAP style) */
    double act_mean;        /* experts.activation_mean: mean over passes of distinct_mean */
    int64_t act_estimated;  /* passes whose activation is the uniform-routing estimate */
} mc_cap_group;

typedef struct mc_cap_summary {
    mc_cap_group mode[MC_PASS_MODE_COUNT]; /* indexed by mc_pass_mode */
    mc_cap_group all;
    mc_cap_peak peak;
} mc_cap_summary;

/* Every pass counts (no skip rules: see docs/METRICS.md). Errors name the pass and its line
 * ("line 18 (forward_pass_id 17): ..."). Empty input gives zeros. */
mc_err mc_cap_summarise(const mc_model *m, const mc_cap_peak *pk, const mc_pass *p, size_t n,
                        mc_cap_summary *out, mc_diag *d);

/* ==== expected distinct experts (experts.expected_uniform, experts.expected_freq) ============== */

/* N (1 - (1 - k/N)^T): expected distinct experts hit by T tokens routed uniformly to top-k of N. */
double mc_cap_expected_distinct_uniform(double n_experts, double top_k, double tokens);
/* sum_i 1 - (1 - f_i)^T for routing frequencies f (fraction of tokens sent to expert i, sum = k).
 * Fails when an f_i is outside [0, 1] or not finite. */
mc_err mc_cap_expected_distinct_freq(const double *f, size_t n, double tokens, double *out,
                                     mc_diag *d);

/* ==== moecap-ref: the MoE-CAP reference code's numbers (ref.*) ================================= */

typedef enum mc_ref_family {
    MC_REF_DEFAULT = 0, /* Mixtral, gpt-oss, DBRX, anything else */
    MC_REF_QWEN,        /* qwen2_moe (Qwen1.5-MoE, Qwen2-MoE): one shared block per layer */
    MC_REF_QWEN3,       /* qwen3_moe: MoE and dense layers */
    MC_REF_DEEPSEEK     /* any MLA model: MLA attention, 2 shared experts (hard-coded) */
} mc_ref_family;

const char *mc_ref_family_name(mc_ref_family f);

/* The reference's sizes, in its units: parameters / 1e12 ("tera-parameters"). */
typedef struct mc_ref_sizes {
    mc_ref_family family;
    double s_attn;       /* attention weights of one layer */
    double s_exp;        /* one routed expert (3 x ff x d) */
    double s_shared;     /* shared block of one layer (DeepSeek: 2 x s_exp, hard-coded) */
    double s_dense;      /* dense FFN of one layer */
    double kv_per_token; /* KV elements per token, all layers */
    double score_per_ctx;/* attention_score / seq_lens_sum */
    double n_layers, n_moe, n_dense;
    double bytes_per_param; /* the reference's precision: weights AND KV */
} mc_ref_sizes;

mc_err mc_cap_ref_sizes(const mc_model *m, mc_ref_sizes *out, mc_diag *d);

/* Reference S-MBU / S-MFU of one sample: ctx = seq_lens_sum (or a request's total tokens),
 * a = expert_activation, t = latency (or TTFT), tok_per_s = batch / t (decode) or ctx / t
 * (prefill). */
typedef struct mc_ref_sample {
    double ctx, a, t, tok_per_s;
} mc_ref_sample;
void mc_cap_ref_util(const mc_ref_sizes *z, const mc_cap_peak *pk, const mc_ref_sample *s,
                     double *smbu, double *smfu);

typedef struct mc_ref_summary {
    double prefill_smbu, prefill_smfu, decoding_smbu, decoding_smfu; /* unweighted means */
    double kv_size;             /* mean true_kv_size, mega-elements */
    double decoding_throughput; /* mean batch / latency, tokens/s */
    double prefill_tp;          /* mean prefill tokens / TTFT, tokens/s */
    double ttft, tpot;          /* mean, s */
    int64_t prefill_samples, decode_samples;
    int64_t skipped_activation; /* expert_activation missing or < 0 */
    int64_t skipped_probe;      /* prefill seq_lens_sum <= 10 */
    int64_t incomplete_requests;/* per_req_info requests without a last chunk */
    int per_request;            /* 1: per_req_info chunk aggregation was used for prefill */
} mc_ref_summary;

mc_err mc_cap_ref_summarise(const mc_model *m, const mc_cap_peak *pk, const mc_pass *p, size_t n,
                            mc_ref_summary *out, mc_diag *d);

/* ==== latency (latency.*, stats.*, throughput.*, goodput) ====================================== */

/* One request as a load generator saw it. Times in seconds from any common origin (nanosecond
 * timestamps: multiply by 1e-9 first). */
typedef struct mc_req_timing {
    double start_s;        /* request sent (or scheduled, for open-loop schedules) */
    double first_s;        /* first token-bearing chunk; < 0 = none */
    double end_s;          /* last token-bearing chunk (completion) */
    int64_t in_tokens;
    int64_t out_tokens;
    int ok;                /* completed successfully */
    const double *chunk_s; /* arrival of every token-bearing chunk (optional, borrowed) */
    int64_t n_chunks;
} mc_req_timing;

/* Per-request figures; each returns 0 and writes *out, or returns -1 when undefined
 * (failed request, no first token, or for TPOT fewer than 2 output tokens). */
int mc_cap_ttft_s(const mc_req_timing *r, double *out);
int mc_cap_e2e_s(const mc_req_timing *r, double *out);
int mc_cap_tpot_s(const mc_req_timing *r, double *out);

typedef struct mc_cap_stats {
    size_t n;
    double mean, sd, min, p50, p90, p95, p99, p999, max;
} mc_cap_stats;

/* stats.summary of v[0..n): SORTS v IN PLACE. sd is the population standard deviation.
 * Fails on a non-finite value. n = 0 gives all zeros. */
mc_err mc_cap_stats_of(double *v, size_t n, mc_cap_stats *out, mc_diag *d);
/* stats.percentile: q in [0, 1] of sorted v, linear interpolation between closest ranks. */
double mc_cap_percentile(const double *sorted, size_t n, double q);

typedef enum mc_lat_kind { MC_LAT_TTFT = 0, MC_LAT_TPOT, MC_LAT_E2E, MC_LAT_ITL } mc_lat_kind;

/* Collects the defined values of one latency kind over successful requests into v (capacity
 * cap); returns how many there are (may exceed cap: then only cap were written). ITL pools the
 * gaps between consecutive chunks of every request. */
size_t mc_cap_collect(const mc_req_timing *r, size_t n, mc_lat_kind kind, double *v, size_t cap);

typedef struct mc_cap_window {
    double start_s, end_s; /* end <= start: first request sent -> last successful completion */
} mc_cap_window;

typedef struct mc_cap_throughput {
    double duration_s;
    int64_t requests, ok, failed;
    int64_t in_tokens, out_tokens; /* of successful requests */
    double req_per_s, in_tok_per_s, out_tok_per_s, total_tok_per_s;
} mc_cap_throughput;

mc_err mc_cap_throughput_of(const mc_req_timing *r, size_t n, mc_cap_window w,
                            mc_cap_throughput *out, mc_diag *d);

typedef struct mc_cap_slo {
    double ttft_s, tpot_s, e2e_s; /* <= 0: no objective on that figure */
} mc_cap_slo;

typedef struct mc_cap_goodput {
    int64_t good;
    double good_fraction; /* good / all requests (failed ones included) */
    double req_per_s;     /* good / duration */
    double out_tok_per_s; /* output tokens of good requests / duration */
} mc_cap_goodput;

/* A request is good when it succeeded and meets every given objective (<=). Requests with one
 * output token have no TPOT and pass a TPOT objective (as vLLM counts them). */
int mc_cap_request_good(const mc_req_timing *r, const mc_cap_slo *slo);
mc_err mc_cap_goodput_of(const mc_req_timing *r, size_t n, const mc_cap_slo *slo,
                         mc_cap_window w, mc_cap_goodput *out, mc_diag *d);

/* ==== cost (cost.*, energy.*) ================================================================== */

typedef struct mc_cost_opts {
    int devices;
    double device_price_usd;   /* purchase price of one device */
    double device_power_w;     /* power of one device (TDP unless measured) */
    double host_price_usd;     /* default 7,214 (the MoE-CAP reference's CPU_COST) */
    double host_power_w;       /* default 350 (the reference's CPU_TDP) */
    double lifetime_years;     /* default 3 */
    double utilisation;        /* fraction of hours the system is used, default 1 */
    double pue;                /* power usage effectiveness, default 1.5 */
    double usd_per_kwh;        /* default 0.15 (the reference's ENERGY_COST) */
    double cloud_usd_per_device_hour; /* > 0: replaces capital and energy */
} mc_cost_opts;

void mc_cost_opts_default(mc_cost_opts *o); /* devices 1, prices/powers 0, the defaults above */

typedef struct mc_cost_hour {
    double capital_usd_per_h;  /* cost.capital_hourly */
    double energy_usd_per_h;   /* cost.energy_hourly */
    double usd_per_h;          /* cost.hourly */
    double facility_power_w;   /* (devices x device power + host power) x PUE */
} mc_cost_hour;

mc_err mc_cost_per_hour(const mc_cost_opts *o, mc_cost_hour *out, mc_diag *d);
/* cost.per_mtok: $ per 1M tokens at tok_per_s tokens/s (NaN when tok_per_s <= 0). */
double mc_cost_usd_per_mtok(double usd_per_h, double tok_per_s);
/* energy.per_token: joules per token at power_w watts (NaN when tok_per_s <= 0). */
double mc_cost_j_per_tok(double power_w, double tok_per_s);
/* cost.ref: the reference's run cost: 1.2 x energy + 1.25 x (price x n + 7,214), with energy =
 * (TDP x n + 350) / 1000 kW x 0.15 $/kWh x seconds / 3600. */
double mc_cost_ref_usd(double price_usd, double tdp_w, int n, double seconds);

/* ==== CAP radar (radar.*) ====================================================================== */

/* Normalise n values to the 0..100 radar scale with baseline b (0 <= b < 100). Fail on
 * non-finite or out-of-range input. */
mc_err mc_radar_performance(const double *v, size_t n, double b, double *r, mc_diag *d);
mc_err mc_radar_cost(const double *v, size_t n, double ceiling, double b, double *r, mc_diag *d);
mc_err mc_radar_accuracy(const double *v, size_t n, double b, double *r, mc_diag *d);

/* ==== analytic CAP model (predict.*) ============================================================
 * A decode step and a prefill are modelled as synthetic mc_pass records and priced by
 * mc_cap_pass_bytes / mc_cap_pass_flops, so a prediction and a measurement use the same
 * definitions (docs/METRICS.md section 11). Workload: B sequences, I prompt tokens and O output
 * tokens each, run together (static batch). */

#define MC_CAP_CACHE_LAYERS 256 /* per-layer arrays of the cache figures hold this many layers */

typedef enum mc_cache_policy {
    MC_CACHE_LRU = 0, /* least recently used: Che's approximation under independent references */
    MC_CACHE_LFU,     /* least frequently used: converges to STATIC under independent references */
    MC_CACHE_STATIC,  /* the hottest experts that fit, fixed */
    MC_CACHE_POLICY_COUNT
} mc_cache_policy;

/* The cache part alone for T routed tokens (T = B for a decode step, B x I for a prefill):
 * expected hit rate, per-layer hit rates, misses and miss bytes. Used by mc_predict_cache and by
 * mc_predict_run when a device holds only part of the experts. cache_bytes 0 = no cache (every
 * activated expert is a miss); otherwise it must hold the top_k experts of a layer. */
typedef struct mc_cache_expect {
    double hit_rate, experts_per_layer, misses, slow_bytes, expert_bytes, cached_fraction;
    double active_bytes; /* bytes of the expected activated experts, all MoE layers */
    double che_tokens;
    int64_t n_layers;
    double layer_hit_rate[MC_CAP_CACHE_LAYERS];
    double layer_experts[MC_CAP_CACHE_LAYERS]; /* expected distinct experts of each MoE layer */
} mc_cache_expect;
#define MC_PREDICT_MAX 16777216 /* upper limit of batch, input_len and output_len (2^24) */

typedef enum mc_predict_act {
    MC_PREDICT_ACT_EXPECTED = 0, /* expected distinct experts for the pass's tokens: uniform
                                    routing, or the routing frequencies when given */
    MC_PREDICT_ACT_MIN,          /* top_k per MoE layer (exact for one token) */
    MC_PREDICT_ACT_FULL          /* every routed expert of every MoE layer */
} mc_predict_act;

const char *mc_predict_act_name(mc_predict_act a); /* "expected", "minimal", "full" */

typedef struct mc_predict_opts {
    int64_t batch;      /* B, 1..MC_PREDICT_MAX (default 1) */
    int64_t input_len;  /* I prompt tokens per sequence, 1..MC_PREDICT_MAX (default 1024) */
    int64_t output_len; /* O generated tokens per sequence (the first comes from the prefill),
                           1..MC_PREDICT_MAX (default 256) */
    double eff_mem;     /* attained fraction of peak memory bandwidth, > 0 (default 1) */
    double eff_compute; /* attained fraction of dense peak FLOP/s, > 0 (default 1) */
    mc_predict_act act;
    /* Measured routing frequencies (fraction of tokens sent to each expert, a row sums to the
     * layer's top_k): route_rows = 1 (one row for every MoE layer) or the model's MoE layer count,
     * route_cols = the experts of each MoE layer. NULL = uniform routing. Borrowed. */
    const double *route_freq;
    size_t route_rows, route_cols;
    /* Expert cache (predict.tpot_offload). expert_cache_bytes > 0: routed experts live in a
     * cache of that many bytes and misses are read from the slow tier; 0: all weights are
     * resident, unless memory is short (then the experts that do not fit are cached the same
     * way over the host link, predict.offload). slow_Bps: the slow tier, 0 = devices x host
     * link. prefetch_overlap: fraction of the slow-tier time hidden behind compute, [0, 1]. */
    double expert_cache_bytes;
    double slow_Bps;
    mc_cache_policy cache_policy;
    double prefetch_overlap;
    /* Prices and powers; `devices` is ignored (the deployment's count is used). A device price
     * of 0 without a cloud price makes the cost unknown (NaN), never free; a device power of 0
     * makes the energy unknown. */
    mc_cost_opts cost;
} mc_predict_opts;

/* Defaults above; cost from mc_cost_opts_default with the device's catalogue price and TDP. */
void mc_predict_opts_default(mc_predict_opts *o, const mc_hw_deploy *dep);

typedef enum mc_predict_bound { MC_PREDICT_MEMORY = 0, MC_PREDICT_COMPUTE } mc_predict_bound;

typedef enum mc_predict_cache_mode {
    MC_PREDICT_CACHE_NONE = 0, /* every weight resident, or the share-of-every-byte offload */
    MC_PREDICT_CACHE_GIVEN,    /* expert_cache_bytes was given */
    MC_PREDICT_CACHE_MEMORY    /* the device holds only part of the experts */
} mc_predict_cache_mode;
const char *mc_predict_cache_mode_name(mc_predict_cache_mode c); /* "none", "given", "memory" */

/* One modelled pass (predict.decode_step or predict.prefill). */
typedef struct mc_predict_pass {
    mc_pass_bytes bytes;  /* bytes.pass of the synthetic pass (distinct_mean = experts/layer) */
    mc_pass_flops flops;  /* flops.pass */
    double mem_s;         /* bytes / (devices x peak bandwidth x eff_mem) */
    double compute_s;     /* FLOPs / (devices x dense peak x eff_compute); 0 without a peak */
    double offload_s;     /* non-resident share x bytes / (devices x host link); +inf when
                             something must be offloaded and there is no host link */
    double time_s;        /* max(mem_s, compute_s) + offload_s */
    mc_cache_expect cache;/* expert cache figures of the pass (cache_mode != NONE) */
    mc_predict_bound bound;
    double smbu;          /* bytes / time_s / (devices x peak bandwidth) */
    double smfu;          /* FLOPs / time_s / (devices x dense peak); NaN without a peak */
} mc_predict_pass;

typedef struct mc_predict {
    int64_t batch, input_len, output_len;
    double eff_mem, eff_compute;  /* the factors used */
    mc_predict_act act;
    double decode_ctx_tok;        /* I + O/2: mean sequence length of a decode step */
    /* predict.memory */
    double weight_bytes;          /* every weight at its storage type (mc_model total_bytes) */
    double kv_bytes;              /* B x (I + O) x KV bytes per token */
    double need_bytes;            /* weight_bytes + kv_bytes */
    double mem_bytes;             /* devices x device memory */
    int fits;                     /* need_bytes <= mem_bytes */
    /* predict.offload */
    double offload_bytes;         /* max(0, need - mem) */
    double nonresident;           /* offload_bytes / need_bytes */
    double host_Bps;              /* devices x host link */
    /* nonresident: without an expert cache the share of every byte of a pass read over the host
     * link (offload_bytes / need_bytes); in cache mode "memory" the share of the non-expert
     * bytes (weights other than routed experts, KV) that do not fit; 0 in mode "given" */
    /* predict.cache_hit_rate: routed experts in a bounded cache */
    mc_predict_cache_mode cache_mode;
    double cache_bytes;           /* the cache: given, or what memory leaves for experts */
    double slow_Bps;              /* its slow tier (0 = none: a miss never completes) */
    /* peaks used: mc_cap_peak_of; when the device has no peak at the weights' compute
     * precision the bf16 (then fp32) peak is used and peak_fallback is 1 */
    mc_cap_peak peak;
    int peak_fallback;
    mc_predict_pass decode;       /* predict.decode_step: the mean decode step */
    mc_predict_pass prefill;      /* predict.prefill: the B prompts in one pass */
    double tpot_s;                /* predict.tpot = decode.time_s */
    double ttft_s;                /* predict.ttft = prefill.time_s */
    /* predict.throughput */
    double decode_tok_per_s;      /* B / TPOT */
    double request_s;             /* TTFT + (O - 1) x TPOT */
    double out_tok_per_s;         /* B x O / request_s */
    /* predict.cost */
    mc_cost_hour hour;
    double usd_per_mtok;          /* $ per 1M output tokens at out_tok_per_s; NaN = unknown */
    double j_per_tok;             /* facility J per output token; NaN = unknown */
} mc_predict;

/* Evaluates the model at o->batch. Errors: options out of range (names the option), a model
 * whose routing frequencies do not match, a deployment without bandwidth. Allocates only
 * scratch (MC_ERR_NOMEM). */
mc_err mc_predict_run(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *o,
                      mc_predict *out, mc_diag *d);

/* predict.memory: weights + B x (I + O) tokens of KV, the figure fits is decided on. */
double mc_predict_need_bytes(const mc_model *m, int64_t batch, int64_t input_len,
                             int64_t output_len);
/* The largest batch (<= MC_PREDICT_MAX) whose weights + KV fit in the deployment's memory;
 * 0 when even batch 1 does not fit. */
int64_t mc_predict_fit_batch(const mc_model *m, const mc_hw_deploy *dep, int64_t input_len,
                             int64_t output_len);

/* predict.max_batch: the largest batch that fits in memory and whose predicted TPOT is
 * <= tpot_slo_s (o->batch is ignored). *best = 0 when none; *at (optional) gets the prediction
 * at *best (untouched when *best = 0). TPOT is non-decreasing in the batch and memory fit is
 * monotonic, so this is a binary search. */
mc_err mc_predict_max_batch(const mc_model *m, const mc_hw_deploy *dep, const mc_predict_opts *o,
                            double tpot_slo_s, int64_t *best, mc_predict *at, mc_diag *d);

/* predict.bw_required: bytes of a decode step at batch 1 (context I + O/2) at minimal activation
 * (top_k per MoE layer) and full activation (every expert), divided by the TPOT SLO. */
typedef struct mc_predict_bw {
    double min_bytes, full_bytes;
    double min_Bps, full_Bps;
} mc_predict_bw;
mc_err mc_predict_bw_required(const mc_model *m, int64_t input_len, int64_t output_len,
                              double tpot_slo_s, mc_predict_bw *out, mc_diag *d);

/* predict.calibrate: efficiency factors that make prediction p reproduce a measured run at the
 * same point. The TPOT calibrates the resource the decode step is bound by, the TTFT that of the
 * prefill; when both are bound by the same resource, eff_mem comes from the TPOT and eff_compute
 * from the TTFT. A measurement <= 0 is "not given". A factor nothing calibrates keeps p's value
 * (its *_from is MC_CALIB_NONE). Fails when a measurement is not above the pass's host-link
 * time. */
typedef enum mc_calib_from { MC_CALIB_NONE = 0, MC_CALIB_TPOT, MC_CALIB_TTFT } mc_calib_from;
typedef struct mc_predict_eff {
    double eff_mem, eff_compute;
    mc_calib_from mem_from, compute_from;
} mc_predict_eff;
mc_err mc_predict_calibrate(const mc_predict *p, double tpot_s, double ttft_s,
                            mc_predict_eff *out, mc_diag *d);

/* ==== expert offloading: per-tier S-MBU and the expert cache (smbu.fast, smbu.slow, cache.*) =====
 * Records with pass.cache fields (an expert cache over a slow tier). The fast tier is the
 * deployment's memory (mc_cap_peak bw_Bps); the slow tier's bandwidth is given (probe's
 * slow_tier_Bps, --slow-bw, or the host link). docs/METRICS.md sections 3 and 11. */


/* Per-tier figures of one pass (smbu.fast, smbu.slow, cache.slow_bw, cache.hit_rate); NaN where
 * the record or the slow-tier bandwidth does not say. */
typedef struct mc_pass_tier {
    double fast_bytes;   /* bytes.pass: every byte the compute read, all from the fast tier */
    double slow_bytes;   /* slow_tier_bytes; NaN when not recorded */
    double smbu_fast;    /* fast_bytes / latency / fast bandwidth */
    double smbu_slow;    /* slow_bytes / latency / slow bandwidth */
    double slow_bw_Bps;  /* cache.slow_bw: slow_bytes / slow_tier_stall (NaN when stall is 0) */
    double smbu_stall;   /* smbu.slow_stall: slow_bw_Bps / slow bandwidth */
    double hit_rate;     /* hits / (hits + misses) over the pass's layers */
} mc_pass_tier;

/* fast_Bps > 0 (devices x peak bandwidth); slow_Bps <= 0 = unknown. Fails when the pass's
 * bytes cannot be priced (as mc_cap_pass_bytes). */
mc_err mc_cap_pass_tier(const mc_model *m, const mc_pass *p, double fast_Bps, double slow_Bps,
                        mc_pass_tier *out, mc_diag *d);

/* Run aggregates over the passes that carry cache fields (n_cache_layers > 0). */
typedef struct mc_cap_tier_group {
    int64_t passes;            /* passes with cache fields */
    int64_t hits, misses;      /* summed over passes and layers */
    double hit_rate;           /* cache.hit_rate: hits / (hits + misses); NaN without any */
    double time_s;             /* sum of those passes' latency */
    double fast_bytes;         /* sum of bytes.pass */
    double smbu_fast;          /* smbu.fast (time-weighted): fast_bytes / time_s / fast bw */
    int64_t slow_passes;       /* passes that recorded slow_tier_bytes */
    double slow_bytes;         /* sum of slow_tier_bytes */
    double slow_time_s;        /* sum of the latency of the passes that recorded it */
    double smbu_slow;          /* smbu.slow: slow_bytes / slow_time_s / slow bw (NaN: unknown) */
    double stall_bytes;        /* slow bytes of passes that recorded both bytes and stall */
    double stall_s;            /* their summed slow_tier_stall */
    double slow_bw_Bps;        /* cache.slow_bw: stall_bytes / stall_s (NaN when stall_s = 0) */
    double smbu_stall;         /* smbu.slow_stall: slow_bw_Bps / slow bw */
} mc_cap_tier_group;

typedef struct mc_cap_tier_summary {
    mc_cap_tier_group mode[MC_PASS_MODE_COUNT];
    mc_cap_tier_group all;
    double fast_Bps, slow_Bps; /* the bandwidths used (slow 0 = unknown) */
    int64_t n_layers;          /* per-layer entries below (0 = no pass had cache fields) */
    int64_t layer_hits[MC_CAP_CACHE_LAYERS], layer_misses[MC_CAP_CACHE_LAYERS];
    double layer_hit_rate[MC_CAP_CACHE_LAYERS]; /* cache.layer_hit_rate (NaN: no activations) */
} mc_cap_tier_summary;

/* Every pass with cache fields must have one entry per MoE layer of the model (at most
 * MC_CAP_CACHE_LAYERS); errors name the line. No pass with cache fields gives passes = 0. */
mc_err mc_cap_tier_summarise(const mc_model *m, double fast_Bps, double slow_Bps,
                             const mc_pass *p, size_t n, mc_cap_tier_summary *out, mc_diag *d);

/* experts.route_freq: routing frequencies from the records' tokens_per_expert, summed over
 * passes: f[l][i] = top_k x tokens of expert i / tokens of layer l, one row per MoE layer
 * (rows = n_moe_layers, cols = max_experts), the table mc_predict_opts.route_freq and
 * mc_predict_cache_in.freq take. *freq is heap (mc_free). Fails when no pass has
 * tokens_per_expert, when a layer routed no tokens, or when the shapes do not match the model
 * (every MoE layer must have max_experts experts). */
mc_err mc_cap_route_freq(const mc_model *m, const mc_pass *p, size_t n, double **freq,
                         size_t *rows, size_t *cols, mc_diag *d);

/* ==== cache.replay: a routing trace replayed through an expert cache (cache_replay.c) ========= */

typedef struct mc_cache_replay {
    int64_t n_layers;    /* MoE layers */
    int64_t slots;       /* whole experts the cache holds: floor(cache_bytes / the largest
                            expert's bytes), at most every routed expert */
    int64_t passes;      /* passes with tokens_per_expert replayed (counted once) */
    double hits, misses; /* of the counted (second) replay, summed over MoE layers */
    double hit_rate;     /* cache.replay_hit_rate: hits / (hits + misses) */
    double layer_hits[MC_CAP_CACHE_LAYERS], layer_misses[MC_CAP_CACHE_LAYERS];
    double layer_hit_rate[MC_CAP_CACHE_LAYERS]; /* NaN: the layer activated nothing */
} mc_cache_replay;

/* Replays the passes' tokens_per_expert (rows = MoE layers or all layers, cols = max_experts;
 * passes without it are skipped) through a cache of cache_bytes under the policy, twice, and
 * counts the second replay (docs/METRICS.md cache.replay_hit_rate). STATIC pins the experts with
 * the most tokens in the trace in all slots but top_k. Errors: a dense model, shapes that do not
 * match the model (naming the record's line), no record with tokens_per_expert, a cache of fewer
 * than top_k experts. Allocates only scratch. */
mc_err mc_cache_replay_of(const mc_model *m, const mc_pass *p, size_t n, double cache_bytes,
                          mc_cache_policy policy, mc_cache_replay *out, mc_diag *d);

/* ==== predict.cache_hit_rate, predict.tpot_offload: routed experts in a bounded cache ========= */


const char *mc_cache_policy_name(mc_cache_policy p); /* "lru", "lfu", "static" */
mc_err mc_cache_policy_parse(const char *s, mc_cache_policy *out, mc_diag *d);

typedef struct mc_predict_cache_in {
    int64_t batch;          /* B sequences, one new token each, 1..MC_PREDICT_MAX */
    double context_tok;     /* mean sequence length after the step (incl. the new token), >= 1:
                               the step reads B x (context - 1) tokens of KV */
    double cache_bytes;     /* fast-tier bytes for routed experts, > 0 (the rest is resident) */
    mc_cache_policy policy;
    double fast_Bps;        /* fast tier bandwidth, > 0 (devices x peak) */
    double slow_Bps;        /* slow tier bandwidth, > 0 (disk: probe; GPU: host link) */
    double eff;             /* attained fraction of fast_Bps, (0, 1]; 0 = 1 */
    double overlap;         /* fraction of slow-tier time hidden behind compute, [0, 1] */
    /* Routing frequencies as mc_predict_opts.route_freq (1 row or one per MoE layer, a row sums
     * to top_k); NULL = uniform routing. Borrowed. */
    const double *freq;
    size_t freq_rows, freq_cols;
    /* A routing trace replayed through the cache (mc_cache_replay_of); when set, each MoE
     * layer's hit rate is the replay's (cache.replay_hit_rate) instead of the model's; the
     * expected distinct experts still come from freq or uniform routing. Borrowed; NULL = none. */
    const mc_cache_replay *replay;
} mc_predict_cache_in;

typedef struct mc_predict_cache_out {
    double hit_rate;          /* predict.cache_hit_rate: expected hits / expected activations */
    double experts_per_layer; /* mean expected distinct experts per MoE layer for B tokens */
    double misses_per_step;   /* expected misses summed over MoE layers */
    double expert_bytes;      /* bytes of every routed expert of the model */
    double cached_fraction;   /* min(1, cache_bytes / expert_bytes) */
    double che_tokens;        /* LRU: Che's characteristic time in tokens (+inf when every
                                 expert that is ever routed fits; 0 for other policies) */
    double fast_bytes;        /* bytes.pass of the step: read from the fast tier */
    double slow_bytes;        /* expected miss bytes per step: read from the slow tier */
    double fast_s;            /* fast_bytes / (fast_Bps x eff) */
    double slow_s;            /* slow_bytes / slow_Bps */
    double tpot_s;            /* predict.tpot_offload: fast_s + (1 - overlap) x slow_s */
    double smbu_fast;         /* fast_bytes / tpot_s / fast_Bps */
    double smbu_slow;         /* slow_bytes / tpot_s / slow_Bps */
    int64_t n_layers;         /* MoE layers (entries of layer_hit_rate, at most the array) */
    double layer_hit_rate[MC_CAP_CACHE_LAYERS];
    const char *hit_model;    /* where the hit rate comes from: "uniform", "che" (LRU over
                                 frequencies), "hottest" (LFU / STATIC over frequencies) or
                                 "replay" (a trace); static string */
} mc_predict_cache_out;

/* The decode step of B sequences with routed experts in a cache of cache_bytes (every other
 * weight and the KV cache resident in the fast tier). Errors: inputs out of range (named), a
 * cache smaller than the top_k experts of one layer, routing frequencies that do not match the
 * model, a dense model. Allocates only scratch. docs/METRICS.md predict.tpot_offload. */
mc_err mc_predict_cache(const mc_model *m, const mc_predict_cache_in *in, mc_predict_cache_out *out,
                        mc_diag *d);

mc_err mc_cache_expect_of(const mc_model *m, double tokens, double cache_bytes,
                          mc_cache_policy policy, const double *freq, size_t rows, size_t cols,
                          mc_cache_expect *out, mc_diag *d);

/* The smallest expert cache a model can run with: max over MoE layers of top_k x one expert. */
double mc_cache_min_bytes(const mc_model *m);
/* Bytes of every routed expert of the model. */
double mc_cache_expert_bytes(const mc_model *m);

/* ==== cost.memory_capital: the purchase price of the memory a system needs ===================== */

typedef struct mc_mem_capital_in {
    double fast_bytes;     /* bytes of fast memory (DRAM / HBM) the system needs */
    const char *fast_tier; /* tier name in the price table, e.g. "ddr5-rdimm" */
    double slow_bytes;     /* bytes of the slow tier (SSD); 0 = none (slow_tier may be NULL) */
    const char *slow_tier;
} mc_mem_capital_in;

typedef struct mc_mem_capital {
    double fast_usd, slow_usd, usd;          /* bytes / 1e9 x $ per GB, and the sum */
    double fast_usd_per_gb, slow_usd_per_gb; /* the prices used */
} mc_mem_capital;

/* Prices from the memory price table (mc_hw_mem_prices_load, hw.h). Tier names match
 * case-insensitively. Fails on an unknown tier (naming it and listing the table's tiers) or
 * bytes < 0 / not finite. */
mc_err mc_cost_memory_capital(const mc_mem_price *tab, size_t n, const mc_mem_capital_in *in,
                              mc_mem_capital *out, mc_diag *d);

#endif
