/* pass.c: per-forward-pass records (mc_pass): JSON parse and format, and the JSON Lines reader
 * that turns a whole records buffer into an array plus per-line errors. Field names and the
 * defaults for missing fields are defined in docs/METRICS.md, "pass.record".
 * Parses strings only: no file or clock access. Depends on base and cJSON. */
#include "cap.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_LAYER_ENTRIES 100000
#define MAX_TPE_ELEMS (1 << 22)
#define MAX_CHUNKS (1 << 20)
#define MAX_INT_JSON 9007199254740992.0 /* 2^53: larger integers do not survive a double */

static const char *mode_names[MC_PASS_MODE_COUNT] = {"prefill", "decode", "mixed"};

const char *mc_pass_mode_name(mc_pass_mode m)
{
    return (unsigned)m < MC_PASS_MODE_COUNT ? mode_names[m] : "?";
}

void mc_pass_init(mc_pass *p)
{
    memset(p, 0, sizeof *p);
    p->forward_pass_id = -1;
    p->mode = MC_PASS_MIXED;
    p->expert_activation = -1;
    p->slow_bytes = -1;
    p->slow_stall_s = -1;
}

void mc_pass_deinit(mc_pass *p)
{
    mc_free(p->experts_per_layer);
    mc_free(p->tokens_per_expert);
    mc_free(p->chunks);
    mc_free(p->cache_hits);
    mc_free(p->cache_misses);
    mc_pass_init(p);
}

/* ---- field readers: JSON null counts as missing; *seen says whether the key was there ---- */

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static mc_err num_i64(const cJSON *v, const char *key, int64_t lo, int64_t hi, int64_t *out,
                      mc_diag *d)
{
    if (!cJSON_IsNumber(v))
        return mc_fail(d, MC_ERR_FORMAT, "%s: not a number", key);
    double x = v->valuedouble;
    if (x != floor(x) || fabs(x) > MAX_INT_JSON)
        return mc_fail(d, MC_ERR_FORMAT, "%s: %g is not an integer", key, x);
    if (x < (double)lo || x > (double)hi)
        return mc_fail(d, MC_ERR_RANGE, "%s: %.0f out of range [%lld, %lld]", key, x,
                       (long long)lo, (long long)hi);
    *out = (int64_t)x;
    return MC_OK;
}

static mc_err get_i64(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out,
                      int *seen, mc_diag *d)
{
    const cJSON *v = field(o, key);
    *seen = v != NULL;
    return v ? num_i64(v, key, lo, hi, out, d) : MC_OK;
}

static mc_err get_f64(const cJSON *o, const char *key, double lo, double *out, int *seen,
                      mc_diag *d)
{
    const cJSON *v = field(o, key);
    *seen = v != NULL;
    if (!v)
        return MC_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return mc_fail(d, MC_ERR_FORMAT, "%s: not a finite number", key);
    if (v->valuedouble < lo)
        return mc_fail(d, MC_ERR_RANGE, "%s: %g is below %g", key, v->valuedouble, lo);
    *out = v->valuedouble;
    return MC_OK;
}

static mc_err get_mode(const cJSON *o, mc_pass *p, mc_diag *d)
{
    static const struct {
        const char *name;
        mc_pass_mode mode;
    } names[] = {{"prefill", MC_PASS_PREFILL}, {"extend", MC_PASS_PREFILL},
                 {"decode", MC_PASS_DECODE},   {"decoding", MC_PASS_DECODE},
                 {"mixed", MC_PASS_MIXED},     {"unknown", MC_PASS_MIXED}};
    const cJSON *v = field(o, "forward_mode");
    p->mode = MC_PASS_MIXED;
    if (!v)
        return MC_OK;
    if (!cJSON_IsString(v))
        return mc_fail(d, MC_ERR_FORMAT, "forward_mode: not a string");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v->valuestring, names[i].name) == 0) {
            p->mode = names[i].mode;
            return MC_OK;
        }
    return mc_fail(d, MC_ERR_FORMAT,
                   "forward_mode: '%.40s' is not prefill, extend, decode, decoding, mixed or "
                   "unknown", v->valuestring);
}

/* latency, else the reference's detailed_results names: ttft (prefill) or tpot (decode). */
static mc_err get_latency(const cJSON *o, mc_pass *p, mc_diag *d)
{
    static const char *keys[] = {"latency", "ttft", "tpot"};
    for (size_t i = 0; i < 3; i++) {
        int seen;
        mc_err e = get_f64(o, keys[i], 0, &p->latency_s, &seen, d);
        if (e)
            return e;
        if (!seen)
            continue;
        if (!(p->latency_s > 0))
            return mc_fail(d, MC_ERR_RANGE, "%s: must be > 0 seconds", keys[i]);
        return MC_OK;
    }
    return mc_fail(d, MC_ERR_FORMAT, "latency: missing");
}

/* gpu_num: a count, or a string ("N/A" in the reference's client fallback): 0 = not recorded. */
static mc_err get_gpus(const cJSON *o, mc_pass *p, mc_diag *d)
{
    const cJSON *v = field(o, "gpu_num");
    int64_t n = 0;
    if (v && cJSON_IsString(v)) {
        if (mc_parse_i64(v->valuestring, 0, 1000000, &n) != MC_OK)
            n = 0;
    } else if (v) {
        mc_err e = num_i64(v, "gpu_num", 0, 1000000, &n, d);
        if (e)
            return e;
    }
    p->gpu_num = (int)n;
    const cJSON *t = field(o, "gpu_raw_type");
    if (t && !cJSON_IsString(t))
        return mc_fail(d, MC_ERR_FORMAT, "gpu_raw_type: not a string");
    if (t)
        snprintf(p->gpu_raw_type, sizeof p->gpu_raw_type, "%s", t->valuestring);
    return MC_OK;
}

/* ---- arrays ---- */

static mc_err get_layer_experts(const cJSON *o, mc_pass *p, mc_diag *d)
{
    const cJSON *a = field(o, "experts_per_layer");
    if (!a)
        return MC_OK;
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || n < 1 || n > MAX_LAYER_ENTRIES)
        return mc_fail(d, MC_ERR_FORMAT, "experts_per_layer: not an array of 1..%d numbers",
                       MAX_LAYER_ENTRIES);
    p->experts_per_layer = mc_mallocarray((size_t)n, sizeof(double));
    if (!p->experts_per_layer)
        return mc_fail(d, MC_ERR_NOMEM, "experts_per_layer: out of memory");
    p->n_layer_experts = n;
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
            return mc_fail(d, MC_ERR_FORMAT, "experts_per_layer[%d]: not a number >= 0", i);
        p->experts_per_layer[i] = v->valuedouble;
    }
    return MC_OK;
}

/* One per-layer count array of the expert cache (cache_hits, cache_misses). */
static mc_err cache_counts(const cJSON *a, const char *key, int64_t n, int64_t *dst, mc_diag *d)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return mc_fail(d, MC_ERR_FORMAT, "%s: not an array of %lld counts", key, (long long)n);
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        char k[64];
        snprintf(k, sizeof k, "%s[%d]", key, i);
        mc_err e = num_i64(v, k, 0, INT64_MAX / 4, &dst[i], d);
        if (e)
            return e;
    }
    return MC_OK;
}

/* cache_hits and cache_misses (both or neither, same length), slow_tier_bytes, slow_tier_stall. */
static mc_err get_cache(const cJSON *o, mc_pass *p, mc_diag *d)
{
    int seen;
    mc_err e = get_i64(o, "slow_tier_bytes", 0, INT64_MAX / 4, &p->slow_bytes, &seen, d);
    if (!e)
        e = get_f64(o, "slow_tier_stall", 0, &p->slow_stall_s, &seen, d);
    const cJSON *h = field(o, "cache_hits"), *m = field(o, "cache_misses");
    if (e || (!h && !m))
        return e;
    int n = h ? cJSON_GetArraySize(h) : 0;
    if (!h || !m || !cJSON_IsArray(h) || n < 1 || n > MAX_LAYER_ENTRIES)
        return mc_fail(d, MC_ERR_FORMAT,
                       "cache_hits / cache_misses: need both, arrays of 1..%d counts",
                       MAX_LAYER_ENTRIES);
    p->cache_hits = mc_mallocarray((size_t)n, sizeof(int64_t));
    p->cache_misses = mc_mallocarray((size_t)n, sizeof(int64_t));
    if (!p->cache_hits || !p->cache_misses)
        return mc_fail(d, MC_ERR_NOMEM, "cache_hits: out of memory");
    p->n_cache_layers = n;
    e = cache_counts(h, "cache_hits", n, p->cache_hits, d);
    return e ? e : cache_counts(m, "cache_misses", n, p->cache_misses, d);
}

static mc_err tpe_row(const cJSON *row, int r, mc_pass *p, mc_diag *d)
{
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != p->tpe_cols)
        return mc_fail(d, MC_ERR_FORMAT, "tokens_per_expert[%d]: not an array of %lld counts", r,
                       (long long)p->tpe_cols);
    int64_t *dst = p->tokens_per_expert + (int64_t)r * p->tpe_cols;
    int c = 0;
    for (const cJSON *v = row->child; v; v = v->next, c++) {
        char key[64];
        snprintf(key, sizeof key, "tokens_per_expert[%d][%d]", r, c);
        mc_err e = num_i64(v, key, 0, INT64_MAX, &dst[c], d);
        if (e)
            return e;
    }
    return MC_OK;
}

static mc_err get_tokens_per_expert(const cJSON *o, mc_pass *p, mc_diag *d)
{
    const cJSON *a = field(o, "tokens_per_expert");
    if (!a)
        return MC_OK;
    int rows = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || rows < 1 || rows > MAX_LAYER_ENTRIES || !cJSON_IsArray(a->child))
        return mc_fail(d, MC_ERR_FORMAT, "tokens_per_expert: not an array of 1..%d arrays",
                       MAX_LAYER_ENTRIES);
    int cols = cJSON_GetArraySize(a->child);
    if (cols < 1 || (int64_t)rows * cols > MAX_TPE_ELEMS)
        return mc_fail(d, MC_ERR_FORMAT, "tokens_per_expert: %d x %d counts (1..%d allowed)",
                       rows, cols, MAX_TPE_ELEMS);
    p->tokens_per_expert = mc_mallocarray((size_t)rows * (size_t)cols, sizeof(int64_t));
    if (!p->tokens_per_expert)
        return mc_fail(d, MC_ERR_NOMEM, "tokens_per_expert: out of memory");
    p->tpe_rows = rows;
    p->tpe_cols = cols;
    int r = 0;
    for (const cJSON *row = a->child; row; row = row->next, r++) {
        mc_err e = tpe_row(row, r, p, d);
        if (e)
            return e;
    }
    return MC_OK;
}

/* req_id (string or number), else req_pool_idx: the reference's key for a request. */
static mc_err chunk_id(const cJSON *c, mc_req_chunk *ch, int i, mc_diag *d)
{
    const cJSON *v = field(c, "req_id");
    if (!v)
        v = field(c, "req_pool_idx");
    if (!v)
        return mc_fail(d, MC_ERR_FORMAT, "per_req_info[%d]: needs req_id or req_pool_idx", i);
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
        fabs(v->valuedouble) <= MAX_INT_JSON) {
        snprintf(ch->req_id, sizeof ch->req_id, "%.0f", v->valuedouble);
        return MC_OK;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof ch->req_id)
        return mc_fail(d, MC_ERR_FORMAT,
                       "per_req_info[%d].req_id: not an integer or a string of < 64 bytes", i);
    snprintf(ch->req_id, sizeof ch->req_id, "%s", v->valuestring);
    return MC_OK;
}

static mc_err chunk_parse(const cJSON *c, mc_req_chunk *ch, int i, mc_diag *d)
{
    if (!cJSON_IsObject(c))
        return mc_fail(d, MC_ERR_FORMAT, "per_req_info[%d]: not an object", i);
    mc_err e = chunk_id(c, ch, i, d);
    int seen;
    ch->total_len = -1;
    if (!e)
        e = get_i64(c, "extend_len", 0, INT64_MAX / 4, &ch->extend_len, &seen, d);
    if (!e)
        e = get_i64(c, "total_len", 0, INT64_MAX / 4, &ch->total_len, &seen, d);
    if (e) {
        mc_diag_prefix(d, "per_req_info[%d]", i);
        return e;
    }
    const cJSON *last = field(c, "is_last_chunk");
    ch->is_last_chunk = -1;
    if (last && cJSON_IsBool(last))
        ch->is_last_chunk = cJSON_IsTrue(last) ? 1 : 0;
    else if (last && cJSON_IsNumber(last))
        ch->is_last_chunk = last->valuedouble != 0;
    else if (last)
        return mc_fail(d, MC_ERR_FORMAT, "per_req_info[%d].is_last_chunk: not a boolean", i);
    return MC_OK;
}

static mc_err get_chunks(const cJSON *o, mc_pass *p, mc_diag *d)
{
    const cJSON *a = field(o, "per_req_info");
    if (!a)
        return MC_OK;
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || n > MAX_CHUNKS)
        return mc_fail(d, MC_ERR_FORMAT, "per_req_info: not an array of at most %d objects",
                       MAX_CHUNKS);
    if (n == 0)
        return MC_OK;
    p->chunks = mc_calloc((size_t)n, sizeof *p->chunks);
    if (!p->chunks)
        return mc_fail(d, MC_ERR_NOMEM, "per_req_info: out of memory");
    p->n_chunks = n;
    int i = 0;
    for (const cJSON *c = a->child; c; c = c->next, i++) {
        mc_err e = chunk_parse(c, &p->chunks[i], i, d);
        if (e)
            return e;
    }
    return MC_OK;
}

/* ---- defaults and consistency (docs/METRICS.md "pass.record") ---- */

typedef struct seen_fields {
    int batch, new_tokens, scheduled, seq_lens;
    int64_t scheduled_tokens;
} seen_fields;

static int64_t chunk_extend_sum(const mc_pass *p)
{
    int64_t s = 0;
    for (int64_t i = 0; i < p->n_chunks; i++)
        s += p->chunks[i].extend_len;
    return s;
}

static void apply_defaults(mc_pass *p, const seen_fields *s)
{
    if (!s->batch)
        p->batch_size = p->n_chunks > 0 ? p->n_chunks : 1;
    if (!s->new_tokens) {
        int64_t ext = chunk_extend_sum(p);
        if (s->scheduled)
            p->new_tokens = s->scheduled_tokens;
        else if (ext > 0)
            p->new_tokens = ext;
        else if (p->mode == MC_PASS_PREFILL && s->seq_lens)
            p->new_tokens = p->seq_lens_sum;
        else
            p->new_tokens = p->batch_size;
    }
    if (!s->seq_lens)
        p->seq_lens_sum = p->new_tokens;
}

static mc_err check_counts(const mc_pass *p, mc_diag *d)
{
    if (p->batch_size < 1)
        return mc_fail(d, MC_ERR_RANGE, "batch_size: must be >= 1");
    if (p->new_tokens < p->batch_size)
        return mc_fail(d, MC_ERR_RANGE,
                       "new_tokens %lld < batch_size %lld (every sequence computes a token)",
                       (long long)p->new_tokens, (long long)p->batch_size);
    if (p->seq_lens_sum < p->new_tokens)
        return mc_fail(d, MC_ERR_RANGE, "seq_lens_sum %lld < new_tokens %lld",
                       (long long)p->seq_lens_sum, (long long)p->new_tokens);
    return MC_OK;
}

static mc_err parse_counts(const cJSON *o, mc_pass *p, mc_diag *d)
{
    const int64_t big = INT64_MAX / 4;
    seen_fields s = {0};
    int seen;
    mc_err e = get_i64(o, "forward_pass_id", -1, big, &p->forward_pass_id, &seen, d);
    if (!e)
        e = get_i64(o, "batch_size", 0, big, &p->batch_size, &s.batch, d);
    if (!e)
        e = get_i64(o, "new_tokens", 0, big, &p->new_tokens, &s.new_tokens, d);
    if (!e)
        e = get_i64(o, "scheduled_tokens", 0, big, &s.scheduled_tokens, &s.scheduled, d);
    if (!e)
        e = get_i64(o, "seq_lens_sum", 0, big, &p->seq_lens_sum, &s.seq_lens, d);
    if (e)
        return e;
    apply_defaults(p, &s);
    return check_counts(p, d);
}

static mc_err parse_object(const cJSON *o, mc_pass *p, mc_diag *d)
{
    int seen;
    mc_err e = get_mode(o, p, d);
    if (!e)
        e = get_latency(o, p, d);
    if (!e)
        e = get_f64(o, "expert_activation", -INFINITY, &p->expert_activation, &seen, d);
    if (!e)
        e = get_gpus(o, p, d);
    if (!e)
        e = get_layer_experts(o, p, d);
    if (!e)
        e = get_tokens_per_expert(o, p, d);
    if (!e)
        e = get_chunks(o, p, d);
    if (!e)
        e = get_cache(o, p, d);
    if (!e)
        e = parse_counts(o, p, d); /* last: its defaults use the chunks */
    return e;
}

mc_err mc_pass_parse(const char *json, size_t len, mc_pass *out, mc_diag *d)
{
    const char *end = NULL;
    mc_pass_init(out);
    uint64_t f0 = mc_alloc_failures();
    cJSON *o = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!o && mc_alloc_failures() != f0)
        return mc_fail(d, MC_ERR_NOMEM, "out of memory parsing the record");
    if (!o) {
        size_t at = end ? (size_t)(end - json) : 0;
        return mc_fail(d, MC_ERR_FORMAT, "invalid JSON near byte %zu", at + 1);
    }
    mc_err e = MC_OK;
    for (const char *q = end; q < json + len && !e; q++)
        if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
            e = mc_fail(d, MC_ERR_FORMAT, "text after the JSON object at byte %zu",
                        (size_t)(q - json) + 1);
    if (!e && !cJSON_IsObject(o))
        e = mc_fail(d, MC_ERR_FORMAT, "not a JSON object");
    if (!e)
        e = parse_object(o, out, d);
    cJSON_Delete(o);
    if (e)
        mc_pass_deinit(out);
    return e;
}

/* ---- format ---- */

/* A number that parses back to exactly v: cJSON's own printer accepts 15 digits when they are
 * within an epsilon, which loses the last bits (and integers above 10^15). */
static cJSON *exact_number(double v)
{
    char s[40];
    double back = 0;
    snprintf(s, sizeof s, "%.15g", v);
    if (mc_parse_f64(s, &back) != MC_OK || back != v)
        snprintf(s, sizeof s, "%.17g", v);
    return cJSON_CreateRaw(s);
}

static int add_number(cJSON *o, const char *key, double v)
{
    cJSON *n = exact_number(v);
    if (n && !cJSON_AddItemToObject(o, key, n)) {
        cJSON_Delete(n); /* the key's copy failed: the item was not taken */
        return 0;
    }
    return n != NULL;
}

static int add_arrays(cJSON *o, const mc_pass *p)
{
    if (p->n_layer_experts > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "experts_per_layer");
        for (int64_t i = 0; a && i < p->n_layer_experts; i++)
            if (!cJSON_AddItemToArray(a, exact_number(p->experts_per_layer[i])))
                return -1;
        if (!a)
            return -1;
    }
    if (p->tpe_rows > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "tokens_per_expert");
        for (int64_t r = 0; a && r < p->tpe_rows; r++) {
            cJSON *row = cJSON_CreateArray();
            if (!row || !cJSON_AddItemToArray(a, row))
                return -1;
            for (int64_t c = 0; c < p->tpe_cols; c++) {
                double v = (double)p->tokens_per_expert[r * p->tpe_cols + c];
                if (!cJSON_AddItemToArray(row, exact_number(v)))
                    return -1;
            }
        }
        if (!a)
            return -1;
    }
    return 0;
}

static int add_cache(cJSON *o, const mc_pass *p)
{
    if (p->slow_bytes >= 0 && !add_number(o, "slow_tier_bytes", (double)p->slow_bytes))
        return -1;
    if (p->slow_stall_s >= 0 && !add_number(o, "slow_tier_stall", p->slow_stall_s))
        return -1;
    const char *keys[2] = {"cache_hits", "cache_misses"};
    const int64_t *vals[2] = {p->cache_hits, p->cache_misses};
    for (int k = 0; k < 2 && p->n_cache_layers > 0; k++) {
        cJSON *a = cJSON_AddArrayToObject(o, keys[k]);
        if (!a)
            return -1;
        for (int64_t i = 0; i < p->n_cache_layers; i++)
            if (!cJSON_AddItemToArray(a, exact_number((double)vals[k][i])))
                return -1;
    }
    return 0;
}

static int add_chunks(cJSON *o, const mc_pass *p)
{
    if (p->n_chunks == 0)
        return 0;
    cJSON *a = cJSON_AddArrayToObject(o, "per_req_info");
    if (!a)
        return -1;
    for (int64_t i = 0; i < p->n_chunks; i++) {
        const mc_req_chunk *c = &p->chunks[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(a, e))
            return -1;
        int bad = !cJSON_AddStringToObject(e, "req_id", c->req_id) ||
                  !add_number(e, "extend_len", (double)c->extend_len);
        if (c->total_len >= 0)
            bad |= !add_number(e, "total_len", (double)c->total_len);
        if (c->is_last_chunk >= 0)
            bad |= !cJSON_AddBoolToObject(e, "is_last_chunk", c->is_last_chunk);
        if (bad)
            return -1;
    }
    return 0;
}

static cJSON *pass_object(const mc_pass *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int bad = 0;
    if (p->forward_pass_id >= 0)
        bad |= !add_number(o, "forward_pass_id", (double)p->forward_pass_id);
    bad |= !cJSON_AddStringToObject(o, "forward_mode", mc_pass_mode_name(p->mode));
    bad |= !add_number(o, "batch_size", (double)p->batch_size);
    bad |= !add_number(o, "new_tokens", (double)p->new_tokens);
    bad |= !add_number(o, "seq_lens_sum", (double)p->seq_lens_sum);
    bad |= !add_number(o, "latency", p->latency_s);
    if (p->expert_activation >= 0)
        bad |= !add_number(o, "expert_activation", p->expert_activation);
    bad |= add_arrays(o, p) != 0 || add_chunks(o, p) != 0 || add_cache(o, p) != 0;
    if (p->gpu_num > 0)
        bad |= !add_number(o, "gpu_num", p->gpu_num);
    if (p->gpu_raw_type[0])
        bad |= !cJSON_AddStringToObject(o, "gpu_raw_type", p->gpu_raw_type);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

mc_err mc_pass_format(const mc_pass *p, mc_buf *b, mc_diag *d)
{
    cJSON *o = pass_object(p);
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return mc_fail(d, MC_ERR_NOMEM, "records: out of memory formatting a pass");
    mc_err e = mc_buf_append(b, s, strlen(s));
    if (!e)
        e = mc_buf_append(b, "\n", 1);
    cJSON_free(s);
    return e ? mc_fail(d, e, "records: output buffer full") : MC_OK;
}

/* ---- JSON Lines ---- */

void mc_pass_set_init(mc_pass_set *s) { memset(s, 0, sizeof *s); }

void mc_pass_set_deinit(mc_pass_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        mc_pass_deinit(&s->v[i]);
    mc_free(s->v);
    mc_pass_set_init(s);
}

static mc_err set_push(mc_pass_set *s, mc_pass *p, size_t max, mc_diag *d)
{
    if (s->n >= max)
        return mc_fail(d, MC_ERR_RANGE, "more than %zu records", max);
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        mc_pass *nv = mc_reallocarray(s->v, ncap, sizeof *nv);
        if (!nv)
            return mc_fail(d, MC_ERR_NOMEM, "records: out of memory");
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = *p;
    mc_pass_init(p);
    return MC_OK;
}

static int blank(const char *q, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (q[i] != ' ' && q[i] != '\t' && q[i] != '\r')
            return 0;
    return 1;
}

static void note_error(mc_pass_set *s, int64_t line, mc_err e, const mc_diag *ld)
{
    if (s->n_errs < MC_PASS_SET_MAX_ERRS) {
        mc_pass_line_err *le = &s->errs[s->n_errs];
        le->line = line;
        le->err = e;
        snprintf(le->msg, sizeof le->msg, "%.*s", (int)sizeof le->msg - 1, ld->msg);
    }
    s->n_errs++;
}

mc_err mc_pass_parse_jsonl(const char *buf, size_t len, int strict, size_t max_records,
                           mc_pass_set *s, mc_diag *d)
{
    size_t max = max_records ? max_records : 10000000;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        int64_t line = ++s->n_lines;
        if (!blank(buf + pos, n)) {
            mc_diag ld = {{0}};
            mc_pass p;
            mc_err e = mc_pass_parse(buf + pos, n, &p, &ld);
            p.line = line;
            if (e == MC_ERR_NOMEM || (e && strict))
                return mc_fail(d, e, "line %lld: %s", (long long)line, ld.msg);
            if (e)
                note_error(s, line, e, &ld);
            else if ((e = set_push(s, &p, max, d)) != MC_OK) {
                mc_pass_deinit(&p);
                return e;
            }
        }
        pos += n + (nl ? 1 : 0);
    }
    return MC_OK;
}
