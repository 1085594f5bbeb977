/* gguf.c: opens and validates a GGUF file (v2/v3, little-endian) from an mmap or a caller buffer.
 *
 * Everything in the header is checked before the handle is returned (see gguf.h and
 * docs/GGUF.md), so getters never need bounds checks. Memory grows with the items actually
 * parsed, never with the counts the header claims. Depends on base only (and POSIX mmap); must not
 * depend on mc_model (gguf_model.c does the mapping). */
#include "gguf_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Smallest encodings, used to reject counts the file cannot hold: a key-value pair is at least a
 * length (8), one key byte, a type (4) and a one-byte value; a tensor info at least a length (8),
 * one name byte, n_dims (4), one dim (8), a type (4) and an offset (8). */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_BYTES 33u
#define HEADER_BYTES 24u

typedef struct cur {
    const uint8_t *b;
    uint64_t pos, size;
    const char *file;
    mc_diag *d;
} cur;

static mc_err bad(const cur *c, mc_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mc_err bad(const cur *c, mc_err e, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *q = msg; *q; q++) /* names come from the file: keep the message on one line */
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
    return mc_fail(c->d, e, "gguf: %s: %s", c->file, msg);
}

static uint64_t left(const cur *c)
{
    return c->size - c->pos;
}

const char *mc_gguf_show(char out[80], const char *p, uint64_t len)
{
    uint64_t n = len > 64 ? 64 : len;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (len > n)
        memcpy(out + n, "...", 4);
    else
        out[n] = 0;
    return out;
}

int mc_gguf_key_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen)
{
    uint64_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, (size_t)n) : 0;
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

/* ---- header ---------------------------------------------------------------------------------- */

static mc_err parse_header(cur *c, mc_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
    if (c->size < 4)
        return bad(c, MC_ERR_FORMAT, "truncated header (%llu bytes)", (unsigned long long)c->size);
    if (memcmp(c->b, "GGUF", 4) != 0)
        return bad(c, MC_ERR_FORMAT, "bad magic %02x %02x %02x %02x (not a GGUF file)", c->b[0],
                   c->b[1], c->b[2], c->b[3]);
    if (c->size < 8)
        return bad(c, MC_ERR_FORMAT, "truncated header (%llu bytes)", (unsigned long long)c->size);
    uint32_t v = mc_le32(c->b + 4);
    uint32_t swapped = __builtin_bswap32(v);
    if (v != 2 && v != 3 && swapped >= 1 && swapped <= 3)
        return bad(c, MC_ERR_UNSUPPORTED, "big-endian GGUF (version field 0x%08x) is not supported",
                   v);
    if (v != 2 && v != 3)
        return bad(c, MC_ERR_UNSUPPORTED,
                   "unsupported GGUF version %u (only 2 and 3 are supported)", v);
    if (c->size < HEADER_BYTES)
        return bad(c, MC_ERR_FORMAT, "truncated header (%llu bytes, need %u)",
                   (unsigned long long)c->size, HEADER_BYTES);
    g->version = v;
    *n_tensors = mc_le64(c->b + 8);
    *n_kv = mc_le64(c->b + 16);
    c->pos = HEADER_BYTES;
    uint64_t rest = left(c);
    if (*n_kv > rest / MIN_KV_BYTES)
        return bad(c, MC_ERR_FORMAT, "metadata count %llu impossible for a file of %llu bytes",
                   (unsigned long long)*n_kv, (unsigned long long)c->size);
    if (*n_tensors > rest / MIN_TENSOR_BYTES)
        return bad(c, MC_ERR_FORMAT, "tensor count %llu impossible for a file of %llu bytes",
                   (unsigned long long)*n_tensors, (unsigned long long)c->size);
    if (*n_kv * MIN_KV_BYTES + *n_tensors * MIN_TENSOR_BYTES > rest)
        return bad(c, MC_ERR_FORMAT,
                   "%llu keys and %llu tensors do not fit in a file of %llu "
                   "bytes (truncated?)",
                   (unsigned long long)*n_kv, (unsigned long long)*n_tensors,
                   (unsigned long long)c->size);
    return MC_OK;
}

/* ---- metadata values ------------------------------------------------------------------------- */

static mc_err need(const cur *c, uint64_t n, const char *what, const char *name)
{
    if (left(c) >= n)
        return MC_OK;
    return bad(c, MC_ERR_FORMAT,
               "%s '%s': truncated (needs %llu bytes at offset %llu, file is %llu)", what, name,
               (unsigned long long)n, (unsigned long long)c->pos, (unsigned long long)c->size);
}

static mc_err parse_value(cur *c, uint32_t type, int depth, mc_gguf_value *v, const char *key);

static mc_err parse_string(cur *c, mc_gguf_value *v, const char *key, uint64_t index)
{
    mc_err e = need(c, 8, "key", key);
    if (e)
        return e;
    uint64_t len = mc_le64(c->b + c->pos);
    c->pos += 8;
    if (len > left(c)) {
        if (index == UINT64_MAX)
            return bad(c, MC_ERR_FORMAT,
                       "key '%s': string length %llu runs past end of file (%llu)", key,
                       (unsigned long long)len, (unsigned long long)c->size);
        return bad(c, MC_ERR_FORMAT,
                   "key '%s': string #%llu length %llu runs past end of file (%llu)", key,
                   (unsigned long long)index, (unsigned long long)len, (unsigned long long)c->size);
    }
    *v = (mc_gguf_value){.type = MC_GGUF_STRING, .p = c->b + c->pos, .len = len, .bytes = len};
    c->pos += len;
    return MC_OK;
}

static mc_err check_bools(const cur *c, const uint8_t *p, uint64_t n, const char *key)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1)
            return bad(c, MC_ERR_FORMAT, "key '%s': bool element %llu is %u (must be 0 or 1)", key,
                       (unsigned long long)i, p[i]);
    return MC_OK;
}

/* Elements of an array of strings or arrays: each one parsed (and so bounds-checked) in turn. */
static mc_err parse_elements(cur *c, mc_gguf_value *v, int depth, const char *key)
{
    mc_gguf_value sub;
    for (uint64_t i = 0; i < v->len; i++) {
        mc_err e = v->elem == MC_GGUF_STRING ? parse_string(c, &sub, key, i)
                                             : parse_value(c, MC_GGUF_ARRAY, depth + 1, &sub, key);
        if (e)
            return e;
    }
    return MC_OK;
}

static mc_err parse_array(cur *c, int depth, mc_gguf_value *v, const char *key)
{
    if (depth >= MC_GGUF_MAX_DEPTH)
        return bad(c, MC_ERR_FORMAT, "key '%s': arrays nested deeper than %d", key,
                   MC_GGUF_MAX_DEPTH);
    mc_err e = need(c, 12, "key", key);
    if (e)
        return e;
    uint32_t elem = mc_le32(c->b + c->pos);
    uint64_t n = mc_le64(c->b + c->pos + 4);
    c->pos += 12;
    if (elem >= MC_GGUF_TYPE_COUNT)
        return bad(c, MC_ERR_FORMAT, "key '%s': unknown array element type %u", key, elem);
    size_t es = mc_gguf_type_size((mc_gguf_type)elem);
    uint64_t min = es ? es : (elem == MC_GGUF_STRING ? 8 : 12);
    if (n > left(c) / min)
        return bad(c, MC_ERR_FORMAT, "key '%s': array of %llu %s runs past end of file (%llu)", key,
                   (unsigned long long)n, mc_gguf_type_name((mc_gguf_type)elem),
                   (unsigned long long)c->size);
    uint64_t start = c->pos;
    *v = (mc_gguf_value){
        .type = MC_GGUF_ARRAY, .elem = (mc_gguf_type)elem, .p = c->b + start, .len = n};
    if (es) {
        if (elem == MC_GGUF_BOOL && (e = check_bools(c, v->p, n, key)))
            return e;
        c->pos += n * es;
    } else if ((e = parse_elements(c, v, depth, key))) {
        return e;
    }
    v->bytes = c->pos - start;
    return MC_OK;
}

static mc_err parse_value(cur *c, uint32_t type, int depth, mc_gguf_value *v, const char *key)
{
    if (type >= MC_GGUF_TYPE_COUNT)
        return bad(c, MC_ERR_FORMAT, "key '%s': unknown value type %u", key, type);
    if (type == MC_GGUF_STRING)
        return parse_string(c, v, key, UINT64_MAX);
    if (type == MC_GGUF_ARRAY)
        return parse_array(c, depth, v, key);
    size_t s = mc_gguf_type_size((mc_gguf_type)type);
    mc_err e = need(c, s, "key", key);
    if (e)
        return e;
    if (type == MC_GGUF_BOOL && c->b[c->pos] > 1)
        return bad(c, MC_ERR_FORMAT, "key '%s': bool value %u (must be 0 or 1)", key, c->b[c->pos]);
    *v = (mc_gguf_value){.type = (mc_gguf_type)type, .p = c->b + c->pos, .len = 1, .bytes = s};
    c->pos += s;
    return MC_OK;
}

/* ---- key-value pairs ------------------------------------------------------------------------- */

static int grow(void **arr, uint64_t *cap, uint64_t need_n, size_t elem)
{
    if (need_n <= *cap)
        return 1;
    uint64_t ncap = *cap ? *cap * 2 : 16;
    if (ncap < need_n)
        ncap = need_n;
    void *p = mc_reallocarray(*arr, (size_t)ncap, elem);
    if (!p)
        return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

static mc_err parse_kv(cur *c, mc_gguf *g, uint64_t i)
{
    char shown[80];
    if (left(c) < 8)
        return bad(c, MC_ERR_FORMAT, "key #%llu: truncated at offset %llu (file is %llu)",
                   (unsigned long long)i, (unsigned long long)c->pos, (unsigned long long)c->size);
    uint64_t len = mc_le64(c->b + c->pos);
    c->pos += 8;
    if (len > left(c))
        return bad(c, MC_ERR_FORMAT, "key #%llu: name length %llu runs past end of file (%llu)",
                   (unsigned long long)i, (unsigned long long)len, (unsigned long long)c->size);
    if (len == 0)
        return bad(c, MC_ERR_FORMAT, "key #%llu: empty name", (unsigned long long)i);
    gguf_kv *kv = &g->kv[i];
    kv->key = (mc_gguf_str){(const char *)c->b + c->pos, len};
    c->pos += len;
    mc_gguf_show(shown, kv->key.p, len);
    mc_err e = need(c, 4, "key", shown);
    if (e)
        return e;
    uint32_t type = mc_le32(c->b + c->pos);
    c->pos += 4;
    return parse_value(c, type, 0, &kv->v, shown);
}

static int kv_ptr_cmp(const void *a, const void *b)
{
    const gguf_kv *x = *(const gguf_kv *const *)a, *y = *(const gguf_kv *const *)b;
    return mc_gguf_key_cmp(x->key.p, x->key.len, y->key.p, y->key.len);
}

static mc_err index_keys(cur *c, mc_gguf *g)
{
    char shown[80];
    if (g->n_kv == 0)
        return MC_OK;
    g->kv_sorted = mc_mallocarray((size_t)g->n_kv, sizeof *g->kv_sorted);
    if (!g->kv_sorted)
        return bad(c, MC_ERR_NOMEM, "out of memory indexing %llu keys",
                   (unsigned long long)g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++)
        g->kv_sorted[i] = &g->kv[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, kv_ptr_cmp);
    for (uint64_t i = 1; i < g->n_kv; i++)
        if (kv_ptr_cmp(&g->kv_sorted[i - 1], &g->kv_sorted[i]) == 0)
            return bad(c, MC_ERR_FORMAT, "duplicate key '%s'",
                       mc_gguf_show(shown, g->kv_sorted[i]->key.p, g->kv_sorted[i]->key.len));
    return MC_OK;
}

static mc_err parse_alignment(cur *c, mc_gguf *g)
{
    g->alignment = MC_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = mc_gguf_find_key(g, "general.alignment");
    if (i < 0)
        return MC_OK;
    const mc_gguf_value *v = &g->kv[i].v;
    if (v->type != MC_GGUF_UINT32)
        return bad(c, MC_ERR_FORMAT, "key 'general.alignment': type %s, must be uint32",
                   mc_gguf_type_name(v->type));
    uint32_t a = mc_le32(v->p);
    if (a == 0 || (a & (a - 1)) != 0)
        return bad(c, MC_ERR_FORMAT, "key 'general.alignment': %u is not a power of two", a);
    g->alignment = a;
    return MC_OK;
}

static mc_err parse_kvs(cur *c, mc_gguf *g, uint64_t n_kv)
{
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!grow((void **)&g->kv, &g->cap_kv, i + 1, sizeof *g->kv))
            return bad(c, MC_ERR_NOMEM, "out of memory reading key #%llu", (unsigned long long)i);
        mc_err e = parse_kv(c, g, i);
        if (e)
            return e;
        g->n_kv = i + 1;
    }
    mc_err e = index_keys(c, g);
    return e ? e : parse_alignment(c, g);
}

/* ---- tensor infos ---------------------------------------------------------------------------- */

static mc_err tensor_name(cur *c, mc_gguf_tensor *t, uint64_t i)
{
    char shown[80];
    if (left(c) < 8)
        return bad(c, MC_ERR_FORMAT, "tensor #%llu: truncated at offset %llu (file is %llu)",
                   (unsigned long long)i, (unsigned long long)c->pos, (unsigned long long)c->size);
    uint64_t len = mc_le64(c->b + c->pos);
    c->pos += 8;
    if (len > left(c))
        return bad(c, MC_ERR_FORMAT, "tensor #%llu: name length %llu runs past end of file (%llu)",
                   (unsigned long long)i, (unsigned long long)len, (unsigned long long)c->size);
    const char *p = (const char *)c->b + c->pos;
    c->pos += len;
    if (len == 0)
        return bad(c, MC_ERR_FORMAT, "tensor #%llu: empty name", (unsigned long long)i);
    if (len >= MC_GGUF_MAX_NAME)
        return bad(c, MC_ERR_FORMAT, "tensor #%llu: name '%s' is %llu bytes (max %d)",
                   (unsigned long long)i, mc_gguf_show(shown, p, len), (unsigned long long)len,
                   MC_GGUF_MAX_NAME - 1);
    if (memchr(p, 0, (size_t)len))
        return bad(c, MC_ERR_FORMAT, "tensor #%llu: name contains a NUL byte",
                   (unsigned long long)i);
    memcpy(t->name, p, (size_t)len);
    t->name[len] = 0;
    return MC_OK;
}

static mc_err tensor_dims(cur *c, mc_gguf_tensor *t)
{
    mc_err e = need(c, 4, "tensor", t->name);
    if (e)
        return e;
    t->n_dims = mc_le32(c->b + c->pos);
    c->pos += 4;
    if (t->n_dims < 1 || t->n_dims > MC_GGUF_MAX_DIMS)
        return bad(c, MC_ERR_FORMAT, "tensor '%s': n_dims %u out of range 1..%d", t->name,
                   t->n_dims, MC_GGUF_MAX_DIMS);
    if ((e = need(c, 8ull * t->n_dims, "tensor", t->name)))
        return e;
    uint64_t n = 1;
    for (uint32_t j = 0; j < MC_GGUF_MAX_DIMS; j++) {
        uint64_t dim = j < t->n_dims ? mc_le64(c->b + c->pos + 8ull * j) : 1;
        if (dim == 0)
            return bad(c, MC_ERR_FORMAT, "tensor '%s': dimension %u is 0", t->name, j);
        if (dim > INT64_MAX || __builtin_mul_overflow(n, dim, &n) || n > INT64_MAX)
            return bad(c, MC_ERR_RANGE,
                       "tensor '%s': element count overflows (dimension %u is %llu)", t->name, j,
                       (unsigned long long)dim);
        t->dims[j] = (int64_t)dim;
    }
    c->pos += 8ull * t->n_dims;
    t->n_elements = n;
    return MC_OK;
}

static mc_err tensor_type(cur *c, mc_gguf_tensor *t)
{
    mc_err e = need(c, 12, "tensor", t->name);
    if (e)
        return e;
    t->type = mc_le32(c->b + c->pos);
    t->offset = mc_le64(c->b + c->pos + 4);
    c->pos += 12;
    uint32_t bs = mc_ggml_block_size(t->type);
    if (bs == 0)
        return bad(c, MC_ERR_UNSUPPORTED, "tensor '%s': unknown ggml type %u", t->name, t->type);
    if ((uint64_t)t->dims[0] % bs != 0)
        return bad(c, MC_ERR_FORMAT,
                   "tensor '%s': row of %lld elements is not a multiple of the %s block size %u",
                   t->name, (long long)t->dims[0], mc_ggml_type_name(t->type), bs);
    if (mc_ggml_nbytes(t->type, t->n_elements, &t->n_bytes) != MC_OK)
        return bad(c, MC_ERR_RANGE, "tensor '%s': byte size overflows", t->name);
    return MC_OK;
}

static mc_err parse_tensor(cur *c, mc_gguf *g, uint64_t i)
{
    mc_gguf_tensor *t = &g->t[i];
    memset(t, 0, sizeof *t);
    mc_err e = tensor_name(c, t, i);
    if (!e)
        e = tensor_dims(c, t);
    if (!e)
        e = tensor_type(c, t);
    if (!e && t->offset % g->alignment != 0)
        e = bad(c, MC_ERR_FORMAT, "tensor '%s': offset %llu not aligned to %u", t->name,
                (unsigned long long)t->offset, g->alignment);
    return e;
}

static int tensor_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const mc_gguf_tensor *const *)a)->name,
                  (*(const mc_gguf_tensor *const *)b)->name);
}

static int tensor_pos_cmp(const void *a, const void *b)
{
    uint64_t x = (*(const mc_gguf_tensor *const *)a)->file_offset;
    uint64_t y = (*(const mc_gguf_tensor *const *)b)->file_offset;
    return x < y ? -1 : x > y;
}

/* Every tensor's bytes inside the file, and no two overlapping (checked in offset order). */
static mc_err place_tensors(cur *c, mc_gguf *g)
{
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        mc_gguf_tensor *t = &g->t[i];
        uint64_t start, end;
        if (__builtin_add_overflow(g->data_offset, t->offset, &start) ||
            __builtin_add_overflow(start, t->n_bytes, &end))
            return bad(c, MC_ERR_FORMAT, "tensor '%s': data offset %llu + %llu bytes overflows",
                       t->name, (unsigned long long)t->offset, (unsigned long long)t->n_bytes);
        if (end > c->size)
            return bad(c, MC_ERR_FORMAT, "tensor '%s': data [%llu, %llu) past end of file (%llu)",
                       t->name, (unsigned long long)start, (unsigned long long)end,
                       (unsigned long long)c->size);
        t->file_offset = start;
        t->data = c->b + start;
    }
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, tensor_pos_cmp);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const mc_gguf_tensor *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
        if (a->file_offset + a->n_bytes > b->file_offset)
            return bad(c, MC_ERR_FORMAT, "tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap",
                       a->name, (unsigned long long)a->file_offset,
                       (unsigned long long)(a->file_offset + a->n_bytes), b->name,
                       (unsigned long long)b->file_offset,
                       (unsigned long long)(b->file_offset + b->n_bytes));
    }
    return MC_OK;
}

static mc_err index_tensors(cur *c, mc_gguf *g)
{
    if (g->n_tensors == 0)
        return MC_OK;
    g->t_sorted = mc_mallocarray((size_t)g->n_tensors, sizeof *g->t_sorted);
    if (!g->t_sorted)
        return bad(c, MC_ERR_NOMEM, "out of memory indexing %llu tensors",
                   (unsigned long long)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        g->t_sorted[i] = &g->t[i];
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, tensor_name_cmp);
    for (uint64_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name) == 0)
            return bad(c, MC_ERR_FORMAT, "duplicate tensor name '%s'", g->t_sorted[i]->name);
    /* reuse the array for the overlap check, then restore name order for lookups */
    mc_err e = place_tensors(c, g);
    if (e)
        return e;
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, tensor_name_cmp);
    return MC_OK;
}

static mc_err parse_tensors(cur *c, mc_gguf *g, uint64_t n_tensors)
{
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!grow((void **)&g->t, &g->cap_tensors, i + 1, sizeof *g->t))
            return bad(c, MC_ERR_NOMEM, "out of memory reading tensor #%llu",
                       (unsigned long long)i);
        mc_err e = parse_tensor(c, g, i);
        if (e)
            return e;
        g->n_tensors = i + 1;
    }
    /* data section: the end of the tensor infos rounded up to the alignment */
    g->data_offset = c->pos + (g->alignment - c->pos % g->alignment) % g->alignment;
    return index_tensors(c, g);
}

/* ---- open / parse / free --------------------------------------------------------------------- */

static mc_err parse_into(mc_gguf *g, mc_diag *d)
{
    cur c = {g->base, 0, g->size, g->name, d};
    uint64_t n_tensors = 0, n_kv = 0;
    mc_err e = parse_header(&c, g, &n_tensors, &n_kv);
    if (!e)
        e = parse_kvs(&c, g, n_kv);
    if (!e)
        e = parse_tensors(&c, g, n_tensors);
    return e;
}

static mc_gguf *new_handle(const void *data, uint64_t size, const char *name)
{
    mc_gguf *g = mc_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    snprintf(g->name, sizeof g->name, "%s", name ? name : "<memory>");
    g->base = data;
    g->size = size;
    return g;
}

mc_err mc_gguf_parse(const void *data, size_t size, const char *name, mc_gguf **out, mc_diag *d)
{
    static const uint8_t empty[1];
    *out = NULL;
    mc_gguf *g = new_handle(data ? data : empty, data ? size : 0, name);
    if (!g)
        return mc_fail(d, MC_ERR_NOMEM, "gguf: %s: out of memory", name ? name : "<memory>");
    mc_err e = parse_into(g, d);
    if (e) {
        mc_gguf_free(g);
        return e;
    }
    *out = g;
    return MC_OK;
}

static mc_err map_file(const char *path, void **map, uint64_t *size, mc_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mc_fail(d, MC_ERR_IO, "gguf: %s: cannot open: %s", path, strerror(errno));
    mc_err e = MC_OK;
    struct stat st;
    *map = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        e = mc_fail(d, MC_ERR_IO, "gguf: %s: not a regular file", path);
        goto out;
    }
    *size = (uint64_t)st.st_size;
    if ((uint64_t)st.st_size > SIZE_MAX) {
        e = mc_fail(d, MC_ERR_RANGE, "gguf: %s: file too large to map", path);
        goto out;
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            e = mc_fail(d, MC_ERR_IO, "gguf: %s: mmap failed: %s", path, strerror(errno));
            goto out;
        }
        *map = p;
    }
out:
    close(fd);
    return e;
}

mc_err mc_gguf_open(const char *path, mc_gguf **out, mc_diag *d)
{
    void *map = NULL;
    uint64_t size = 0;
    *out = NULL;
    mc_err e = map_file(path, &map, &size, d);
    if (e)
        return e;
    static const uint8_t empty[1];
    mc_gguf *g = new_handle(map ? map : empty, size, path);
    if (!g) {
        if (map)
            munmap(map, (size_t)size);
        return mc_fail(d, MC_ERR_NOMEM, "gguf: %s: out of memory", path);
    }
    g->map = map;
    g->map_len = (size_t)size;
    if ((e = parse_into(g, d))) {
        mc_gguf_free(g);
        return e;
    }
    *out = g;
    return MC_OK;
}

void mc_gguf_free(mc_gguf *g)
{
    if (!g)
        return;
    if (g->map)
        munmap(g->map, g->map_len);
    mc_free(g->kv);
    mc_free(g->kv_sorted);
    mc_free(g->t);
    mc_free(g->t_sorted);
    mc_free(g);
}

const char *mc_gguf_name(const mc_gguf *g)
{
    return g->name;
}
uint32_t mc_gguf_version(const mc_gguf *g)
{
    return g->version;
}
uint64_t mc_gguf_file_size(const mc_gguf *g)
{
    return g->size;
}
uint32_t mc_gguf_alignment(const mc_gguf *g)
{
    return g->alignment;
}
uint64_t mc_gguf_data_offset(const mc_gguf *g)
{
    return g->data_offset;
}
const uint8_t *mc_gguf_bytes(const mc_gguf *g)
{
    return g->base;
}
