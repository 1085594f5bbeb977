/* gguf_get.c: the ggml type table and the getters of a validated mc_gguf handle: key lookup,
 * typed values with integer coercion and range checks, arrays (numeric by index, anything by
 * iteration) and tensor lookup. Depends on base and the reader's private layout (gguf_impl.h);
 * must not depend on mc_model beyond the mc_dtype enum. */
#include "gguf_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- types ----------------------------------------------------------------------------------- */

/* Elements and bytes per block of each ggml type (ggml-common.h block structs; ggml.c
 * type_traits). Unnamed entries are removed or unknown types. */
static const struct {
    const char *name;
    uint16_t block;
    uint16_t bytes;
} ggml_types[MC_GGML_TYPE_COUNT] = {
    [MC_GGML_F32] = {"f32", 1, 4},
    [MC_GGML_F16] = {"f16", 1, 2},
    [MC_GGML_Q4_0] = {"q4_0", 32, 18},
    [MC_GGML_Q4_1] = {"q4_1", 32, 20},
    [MC_GGML_Q5_0] = {"q5_0", 32, 22},
    [MC_GGML_Q5_1] = {"q5_1", 32, 24},
    [MC_GGML_Q8_0] = {"q8_0", 32, 34},
    [MC_GGML_Q8_1] = {"q8_1", 32, 36},
    [MC_GGML_Q2_K] = {"q2_K", 256, 84},
    [MC_GGML_Q3_K] = {"q3_K", 256, 110},
    [MC_GGML_Q4_K] = {"q4_K", 256, 144},
    [MC_GGML_Q5_K] = {"q5_K", 256, 176},
    [MC_GGML_Q6_K] = {"q6_K", 256, 210},
    [MC_GGML_Q8_K] = {"q8_K", 256, 292},
    [MC_GGML_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [MC_GGML_IQ2_XS] = {"iq2_xs", 256, 74},
    [MC_GGML_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [MC_GGML_IQ1_S] = {"iq1_s", 256, 50},
    [MC_GGML_IQ4_NL] = {"iq4_nl", 32, 18},
    [MC_GGML_IQ3_S] = {"iq3_s", 256, 110},
    [MC_GGML_IQ2_S] = {"iq2_s", 256, 82},
    [MC_GGML_IQ4_XS] = {"iq4_xs", 256, 136},
    [MC_GGML_I8] = {"i8", 1, 1},
    [MC_GGML_I16] = {"i16", 1, 2},
    [MC_GGML_I32] = {"i32", 1, 4},
    [MC_GGML_I64] = {"i64", 1, 8},
    [MC_GGML_F64] = {"f64", 1, 8},
    [MC_GGML_IQ1_M] = {"iq1_m", 256, 56},
    [MC_GGML_BF16] = {"bf16", 1, 2},
    [MC_GGML_TQ1_0] = {"tq1_0", 256, 54},
    [MC_GGML_TQ2_0] = {"tq2_0", 256, 66},
    [MC_GGML_MXFP4] = {"mxfp4", 32, 17},
    [MC_GGML_NVFP4] = {"nvfp4", 64, 36},
};

uint32_t mc_ggml_block_size(uint32_t type)
{
    return type < MC_GGML_TYPE_COUNT ? ggml_types[type].block : 0;
}

uint32_t mc_ggml_block_bytes(uint32_t type)
{
    return type < MC_GGML_TYPE_COUNT ? ggml_types[type].bytes : 0;
}

const char *mc_ggml_type_name(uint32_t type)
{
    return type < MC_GGML_TYPE_COUNT && ggml_types[type].name ? ggml_types[type].name : "?";
}

int mc_ggml_to_dtype(uint32_t type, mc_dtype *out)
{
    static const struct {
        uint32_t g;
        mc_dtype t;
    } map[] = {
        {MC_GGML_F32, MC_DT_F32},   {MC_GGML_F16, MC_DT_F16},     {MC_GGML_BF16, MC_DT_BF16},
        {MC_GGML_Q8_0, MC_DT_Q8_0}, {MC_GGML_Q4_0, MC_DT_Q4_0},   {MC_GGML_Q4_1, MC_DT_Q4_1},
        {MC_GGML_Q5_0, MC_DT_Q5_0}, {MC_GGML_Q5_1, MC_DT_Q5_1},   {MC_GGML_Q2_K, MC_DT_Q2_K},
        {MC_GGML_Q3_K, MC_DT_Q3_K}, {MC_GGML_Q4_K, MC_DT_Q4_K},   {MC_GGML_Q5_K, MC_DT_Q5_K},
        {MC_GGML_Q6_K, MC_DT_Q6_K}, {MC_GGML_MXFP4, MC_DT_MXFP4},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].g == type) {
            *out = map[i].t;
            return 1;
        }
    return 0;
}

mc_err mc_ggml_nbytes(uint32_t type, uint64_t n_elements, uint64_t *out)
{
    uint32_t bs = mc_ggml_block_size(type);
    if (bs == 0)
        return MC_ERR_UNSUPPORTED;
    if (n_elements % bs != 0)
        return MC_ERR_RANGE;
    if (__builtin_mul_overflow(n_elements / bs, (uint64_t)mc_ggml_block_bytes(type), out))
        return MC_ERR_RANGE;
    return MC_OK;
}

const char *mc_gguf_type_name(mc_gguf_type t)
{
    static const char *names[MC_GGUF_TYPE_COUNT] = {
        "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
        "bool",  "string", "array",  "uint64", "int64",  "float64"};
    return (unsigned)t < MC_GGUF_TYPE_COUNT ? names[t] : "?";
}

size_t mc_gguf_type_size(mc_gguf_type t)
{
    static const size_t sizes[MC_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t < MC_GGUF_TYPE_COUNT ? sizes[t] : 0;
}

/* ---- scalar conversions ---------------------------------------------------------------------- */

/* 1: signed integer in *s; 2: unsigned integer in *u; 0: not an integer type. */
static int int_of(mc_gguf_type t, const uint8_t *p, int64_t *s, uint64_t *u)
{
    switch (t) {
    case MC_GGUF_UINT8: *u = p[0]; return 2;
    case MC_GGUF_UINT16: *u = mc_le16(p); return 2;
    case MC_GGUF_UINT32: *u = mc_le32(p); return 2;
    case MC_GGUF_UINT64: *u = mc_le64(p); return 2;
    case MC_GGUF_INT8: *s = (int8_t)p[0]; return 1;
    case MC_GGUF_INT16: *s = (int16_t)mc_le16(p); return 1;
    case MC_GGUF_INT32: *s = (int32_t)mc_le32(p); return 1;
    case MC_GGUF_INT64: *s = (int64_t)mc_le64(p); return 1;
    default: return 0;
    }
}

mc_err mc_gguf_value_i64(const mc_gguf_value *v, int64_t *out)
{
    int64_t s = 0;
    uint64_t u = 0;
    int k = int_of(v->type, v->p, &s, &u);
    if (k == 0)
        return MC_ERR_FORMAT;
    if (k == 2 && u > INT64_MAX)
        return MC_ERR_RANGE;
    *out = k == 1 ? s : (int64_t)u;
    return MC_OK;
}

mc_err mc_gguf_value_u64(const mc_gguf_value *v, uint64_t *out)
{
    int64_t s = 0;
    uint64_t u = 0;
    int k = int_of(v->type, v->p, &s, &u);
    if (k == 0)
        return MC_ERR_FORMAT;
    if (k == 1 && s < 0)
        return MC_ERR_RANGE;
    *out = k == 1 ? (uint64_t)s : u;
    return MC_OK;
}

mc_err mc_gguf_value_f64(const mc_gguf_value *v, double *out)
{
    if (v->type == MC_GGUF_FLOAT32) {
        uint32_t bits = mc_le32(v->p);
        float f;
        memcpy(&f, &bits, sizeof f);
        *out = f;
        return MC_OK;
    }
    if (v->type == MC_GGUF_FLOAT64) {
        uint64_t bits = mc_le64(v->p);
        memcpy(out, &bits, sizeof *out);
        return MC_OK;
    }
    int64_t s = 0;
    uint64_t u = 0;
    int k = int_of(v->type, v->p, &s, &u);
    if (k == 0)
        return MC_ERR_FORMAT;
    *out = k == 1 ? (double)s : (double)u;
    return MC_OK;
}

mc_err mc_gguf_value_bool(const mc_gguf_value *v, int *out)
{
    if (v->type != MC_GGUF_BOOL)
        return MC_ERR_FORMAT;
    *out = v->p[0] != 0;
    return MC_OK;
}

/* ---- keys ------------------------------------------------------------------------------------ */

uint64_t mc_gguf_kv_count(const mc_gguf *g)
{
    return g->n_kv;
}

int64_t mc_gguf_find_key(const mc_gguf *g, const char *key)
{
    uint64_t lo = 0, hi = g->n_kv, klen = strlen(key);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = g->kv_sorted[mid];
        int r = mc_gguf_key_cmp(kv->key.p, kv->key.len, key, klen);
        if (r == 0)
            return (int64_t)(kv - g->kv);
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

mc_gguf_str mc_gguf_kv_key(const mc_gguf *g, uint64_t i)
{
    return i < g->n_kv ? g->kv[i].key : (mc_gguf_str){"", 0};
}

mc_gguf_type mc_gguf_kv_type(const mc_gguf *g, uint64_t i)
{
    return i < g->n_kv ? g->kv[i].v.type : MC_GGUF_TYPE_COUNT;
}

mc_gguf_value mc_gguf_kv_value(const mc_gguf *g, uint64_t i)
{
    return i < g->n_kv ? g->kv[i].v : (mc_gguf_value){.type = MC_GGUF_TYPE_COUNT};
}

static mc_err lookup(const mc_gguf *g, const char *key, const mc_gguf_value **v, mc_diag *d)
{
    int64_t i = mc_gguf_find_key(g, key);
    if (i < 0)
        return mc_fail(d, MC_ERR_NOT_FOUND, "gguf: %s: missing key '%s'", g->name, key);
    *v = &g->kv[i].v;
    return MC_OK;
}

/* The message for a failed conversion of key's value to `want`. */
static mc_err conv_fail(const mc_gguf *g, const char *key, const mc_gguf_value *v, mc_err e,
                        const char *want, mc_diag *d)
{
    if (e == MC_ERR_FORMAT)
        return mc_fail(d, e, "gguf: %s: key '%s' is %s, expected %s", g->name, key,
                       mc_gguf_type_name(v->type), want);
    int64_t s = 0;
    uint64_t u = 0;
    int k = int_of(v->type, v->p, &s, &u);
    if (k == 1)
        return mc_fail(d, e, "gguf: %s: key '%s': value %" PRId64 " out of range for %s", g->name,
                       key, s, want);
    return mc_fail(d, e, "gguf: %s: key '%s': value %" PRIu64 " out of range for %s", g->name, key,
                   u, want);
}

mc_err mc_gguf_get_i64(const mc_gguf *g, const char *key, int64_t *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    mc_err e = lookup(g, key, &v, d);
    if (!e && (e = mc_gguf_value_i64(v, out)))
        return conv_fail(g, key, v, e, "int64", d);
    return e;
}

mc_err mc_gguf_get_u64(const mc_gguf *g, const char *key, uint64_t *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    mc_err e = lookup(g, key, &v, d);
    if (!e && (e = mc_gguf_value_u64(v, out)))
        return conv_fail(g, key, v, e, "uint64", d);
    return e;
}

mc_err mc_gguf_get_u32(const mc_gguf *g, const char *key, uint32_t *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    uint64_t u = 0;
    mc_err e = lookup(g, key, &v, d);
    if (e)
        return e;
    if ((e = mc_gguf_value_u64(v, &u)) || (u > UINT32_MAX && (e = MC_ERR_RANGE)))
        return conv_fail(g, key, v, e, "uint32", d);
    *out = (uint32_t)u;
    return MC_OK;
}

mc_err mc_gguf_get_f64(const mc_gguf *g, const char *key, double *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    mc_err e = lookup(g, key, &v, d);
    if (!e && (e = mc_gguf_value_f64(v, out)))
        return conv_fail(g, key, v, e, "a number", d);
    return e;
}

mc_err mc_gguf_get_bool(const mc_gguf *g, const char *key, int *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    mc_err e = lookup(g, key, &v, d);
    if (!e && (e = mc_gguf_value_bool(v, out)))
        return conv_fail(g, key, v, e, "bool", d);
    return e;
}

mc_err mc_gguf_get_str(const mc_gguf *g, const char *key, mc_gguf_str *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    mc_err e = lookup(g, key, &v, d);
    if (e)
        return e;
    if (v->type != MC_GGUF_STRING)
        return conv_fail(g, key, v, MC_ERR_FORMAT, "string", d);
    *out = (mc_gguf_str){(const char *)v->p, v->len};
    return MC_OK;
}

mc_err mc_gguf_get_str_copy(const mc_gguf *g, const char *key, char **out, mc_diag *d)
{
    mc_gguf_str s = {0};
    mc_err e = mc_gguf_get_str(g, key, &s, d);
    if (e)
        return e;
    if (memchr(s.p, 0, (size_t)s.len))
        return mc_fail(d, MC_ERR_FORMAT, "gguf: %s: key '%s': string contains a NUL byte", g->name,
                       key);
    char *c = mc_malloc((size_t)s.len + 1);
    if (!c)
        return mc_fail(d, MC_ERR_NOMEM, "gguf: %s: key '%s': out of memory", g->name, key);
    memcpy(c, s.p, (size_t)s.len);
    c[s.len] = 0;
    *out = c;
    return MC_OK;
}

mc_err mc_gguf_get_arr(const mc_gguf *g, const char *key, mc_gguf_value *out, mc_diag *d)
{
    const mc_gguf_value *v = NULL;
    mc_err e = lookup(g, key, &v, d);
    if (e)
        return e;
    if (v->type != MC_GGUF_ARRAY)
        return conv_fail(g, key, v, MC_ERR_FORMAT, "array", d);
    *out = *v;
    return MC_OK;
}

/* ---- arrays ---------------------------------------------------------------------------------- */

static mc_err arr_elem(const mc_gguf_value *arr, uint64_t i, mc_gguf_value *v)
{
    size_t es = mc_gguf_type_size(arr->elem);
    if (arr->type != MC_GGUF_ARRAY || es == 0)
        return MC_ERR_FORMAT;
    if (i >= arr->len)
        return MC_ERR_RANGE;
    *v = (mc_gguf_value){.type = arr->elem, .p = arr->p + i * es, .len = 1, .bytes = es};
    return MC_OK;
}

mc_err mc_gguf_arr_i64(const mc_gguf_value *arr, uint64_t i, int64_t *out)
{
    mc_gguf_value v = {0};
    mc_err e = arr_elem(arr, i, &v);
    return e ? e : mc_gguf_value_i64(&v, out);
}

mc_err mc_gguf_arr_f64(const mc_gguf_value *arr, uint64_t i, double *out)
{
    mc_gguf_value v = {0};
    mc_err e = arr_elem(arr, i, &v);
    return e ? e : mc_gguf_value_f64(&v, out);
}

void mc_gguf_iter_init(mc_gguf_iter *it, const mc_gguf_value *arr)
{
    int ok = arr->type == MC_GGUF_ARRAY;
    it->p = ok ? arr->p : NULL;
    it->end = ok ? arr->p + arr->bytes : NULL;
    it->left = ok ? arr->len : 0;
    it->elem = arr->elem;
}

/* Bytes of one encoded value of `type` at p (bounded by end); 0 if it does not fit. The handle
 * was validated, so this only re-walks what parse_value accepted; depth keeps recursion bounded. */
static uint64_t span_of(const uint8_t *p, const uint8_t *end, mc_gguf_type type, int depth)
{
    uint64_t room = (uint64_t)(end - p), es = mc_gguf_type_size(type);
    if (es)
        return es <= room ? es : 0;
    if (type == MC_GGUF_STRING)
        return room >= 8 && mc_le64(p) <= room - 8 ? 8 + mc_le64(p) : 0;
    if (type != MC_GGUF_ARRAY || depth >= MC_GGUF_MAX_DEPTH || room < 12)
        return 0;
    mc_gguf_type sub = (mc_gguf_type)mc_le32(p);
    uint64_t n = mc_le64(p + 4), pos = 12, ses = mc_gguf_type_size(sub);
    if (ses)
        return n <= (room - 12) / ses ? 12 + n * ses : 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t s = span_of(p + pos, end, sub, depth + 1);
        if (s == 0)
            return 0;
        pos += s;
    }
    return pos;
}

int mc_gguf_iter_next(mc_gguf_iter *it, mc_gguf_value *v)
{
    if (it->left == 0 || !it->p)
        return 0;
    uint64_t s = span_of(it->p, it->end, it->elem, 1);
    if (s == 0) {
        it->left = 0;
        return 0;
    }
    if (it->elem == MC_GGUF_STRING)
        *v = (mc_gguf_value){.type = MC_GGUF_STRING, .p = it->p + 8, .len = s - 8, .bytes = s - 8};
    else if (it->elem == MC_GGUF_ARRAY)
        *v = (mc_gguf_value){.type = MC_GGUF_ARRAY,
                             .elem = (mc_gguf_type)mc_le32(it->p),
                             .p = it->p + 12,
                             .len = mc_le64(it->p + 4),
                             .bytes = s - 12};
    else
        *v = (mc_gguf_value){.type = it->elem, .p = it->p, .len = 1, .bytes = s};
    it->p += s;
    it->left--;
    return 1;
}

mc_err mc_gguf_get_str_array(const mc_gguf *g, const char *key, mc_gguf_str **out, uint64_t *n,
                             mc_diag *d)
{
    mc_gguf_value arr = {0};
    mc_err e = mc_gguf_get_arr(g, key, &arr, d);
    if (e)
        return e;
    if (arr.elem != MC_GGUF_STRING)
        return mc_fail(d, MC_ERR_FORMAT, "gguf: %s: key '%s' is an array of %s, expected string",
                       g->name, key, mc_gguf_type_name(arr.elem));
    mc_gguf_str *tab = mc_mallocarray(arr.len ? (size_t)arr.len : 1, sizeof *tab);
    if (!tab)
        return mc_fail(d, MC_ERR_NOMEM, "gguf: %s: key '%s': out of memory for %" PRIu64 " strings",
                       g->name, key, arr.len);
    mc_gguf_iter it;
    mc_gguf_value v = {0};
    uint64_t k = 0;
    mc_gguf_iter_init(&it, &arr);
    while (k < arr.len && mc_gguf_iter_next(&it, &v))
        tab[k++] = (mc_gguf_str){(const char *)v.p, v.len};
    *out = tab;
    *n = k;
    return MC_OK;
}

/* ---- tensors --------------------------------------------------------------------------------- */

uint64_t mc_gguf_tensor_count(const mc_gguf *g)
{
    return g->n_tensors;
}

const mc_gguf_tensor *mc_gguf_tensor_at(const mc_gguf *g, uint64_t i)
{
    return i < g->n_tensors ? &g->t[i] : NULL;
}

const mc_gguf_tensor *mc_gguf_find_tensor(const mc_gguf *g, const char *name)
{
    uint64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int r = strcmp(g->t_sorted[mid]->name, name);
        if (r == 0)
            return g->t_sorted[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
