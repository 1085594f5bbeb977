/* gguf_write.c: builds GGUF files (v3 by default, or v2): metadata of every value type, tensor
 * descriptions, and the aligned layout; writes to a path atomically (temp file + fsync + rename,
 * streaming tensor bytes in chunks) or to one heap buffer. Files end padded to the alignment, as
 * ggml writes them. Depends on base only; must not depend on the reader or on mc_model. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FILL_CHUNK (1u << 20)

typedef struct wtensor {
    char name[MC_GGUF_MAX_NAME];
    uint32_t type, n_dims;
    int64_t dims[MC_GGUF_MAX_DIMS];
    uint64_t n_bytes;
    const void *data; /* borrowed or == owned */
    void *owned;
    mc_gguf_fill_fn fill;
    void *fill_ctx;
} wtensor;

struct mc_gguf_writer {
    uint32_t version, alignment;
    mc_buf kv; /* encoded key-value pairs, as in the file */
    uint64_t n_kv;
    char **keys; /* copies, for duplicate checks */
    uint64_t cap_keys;
    wtensor *t;
    uint64_t n_t, cap_t;
};

mc_gguf_writer *mc_gguf_writer_new(void)
{
    mc_gguf_writer *w = mc_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->version = 3;
    w->alignment = MC_GGUF_DEFAULT_ALIGNMENT;
    mc_buf_init(&w->kv, 0);
    return w;
}

void mc_gguf_writer_free(mc_gguf_writer *w)
{
    if (!w)
        return;
    mc_buf_deinit(&w->kv);
    for (uint64_t i = 0; i < w->n_kv; i++)
        mc_free(w->keys[i]);
    mc_free(w->keys);
    for (uint64_t i = 0; i < w->n_t; i++)
        mc_free(w->t[i].owned);
    mc_free(w->t);
    mc_free(w);
}

mc_err mc_gguf_writer_set_version(mc_gguf_writer *w, uint32_t version, mc_diag *d)
{
    if (version != 2 && version != 3)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: version %u (only 2 and 3)", version);
    w->version = version;
    return MC_OK;
}

/* ---- metadata -------------------------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static mc_err put_u32(mc_buf *b, uint32_t v)
{
    uint8_t p[4];
    put_le(p, v, 4);
    return mc_buf_append(b, p, 4);
}

static mc_err put_u64(mc_buf *b, uint64_t v)
{
    uint8_t p[8];
    put_le(p, v, 8);
    return mc_buf_append(b, p, 8);
}

static mc_err put_str(mc_buf *b, const char *s, uint64_t len)
{
    mc_err e = put_u64(b, len);
    return e ? e : mc_buf_append(b, s, (size_t)len);
}

/* Appends key and type after checking the key; *mark is where the record starts, so a failed
 * value can be rolled back with unput(). */
static mc_err begin_kv(mc_gguf_writer *w, const char *key, mc_gguf_type type, size_t *mark,
                       mc_diag *d)
{
    if (!key || !*key)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: empty key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return mc_fail(d, MC_ERR_ARG, "gguf writer: duplicate key '%s'", key);
    if (w->n_kv == w->cap_keys) {
        uint64_t ncap = w->cap_keys ? 2 * w->cap_keys : 16;
        char **k = mc_reallocarray(w->keys, (size_t)ncap, sizeof *k);
        if (!k)
            return mc_fail(d, MC_ERR_NOMEM, "gguf writer: out of memory");
        w->keys = k;
        w->cap_keys = ncap;
    }
    *mark = w->kv.len;
    if (put_str(&w->kv, key, strlen(key)) || put_u32(&w->kv, (uint32_t)type))
        return mc_fail(d, MC_ERR_NOMEM, "gguf writer: out of memory");
    return MC_OK;
}

static void unput(mc_gguf_writer *w, size_t mark)
{
    w->kv.len = mark;
    if (w->kv.data)
        w->kv.data[mark] = 0;
}

/* Records the key begun at `mark` once its value was appended (e == MC_OK), else rolls back. */
static mc_err end_kv(mc_gguf_writer *w, const char *key, size_t mark, mc_err e, mc_diag *d)
{
    char *copy = e ? NULL : mc_strdup(key);
    if (!copy) {
        unput(w, mark);
        return mc_fail(d, e && e != MC_ERR_NOMEM ? e : MC_ERR_NOMEM,
                       "gguf writer: key '%s': out of memory", key);
    }
    w->keys[w->n_kv++] = copy;
    return MC_OK;
}

static mc_err add_scalar(mc_gguf_writer *w, const char *key, mc_gguf_type t, uint64_t bits,
                         mc_diag *d)
{
    size_t mark;
    mc_err e = begin_kv(w, key, t, &mark, d);
    if (e)
        return e;
    uint8_t p[8];
    int n = (int)mc_gguf_type_size(t);
    put_le(p, bits, n);
    return end_kv(w, key, mark, mc_buf_append(&w->kv, p, (size_t)n), d);
}

mc_err mc_gguf_add_u8(mc_gguf_writer *w, const char *key, uint8_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_UINT8, v, d);
}
mc_err mc_gguf_add_i8(mc_gguf_writer *w, const char *key, int8_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_INT8, (uint8_t)v, d);
}
mc_err mc_gguf_add_u16(mc_gguf_writer *w, const char *key, uint16_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_UINT16, v, d);
}
mc_err mc_gguf_add_i16(mc_gguf_writer *w, const char *key, int16_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_INT16, (uint16_t)v, d);
}
mc_err mc_gguf_add_u32(mc_gguf_writer *w, const char *key, uint32_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_UINT32, v, d);
}
mc_err mc_gguf_add_i32(mc_gguf_writer *w, const char *key, int32_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_INT32, (uint32_t)v, d);
}
mc_err mc_gguf_add_u64(mc_gguf_writer *w, const char *key, uint64_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_UINT64, v, d);
}
mc_err mc_gguf_add_i64(mc_gguf_writer *w, const char *key, int64_t v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_INT64, (uint64_t)v, d);
}
mc_err mc_gguf_add_bool(mc_gguf_writer *w, const char *key, int v, mc_diag *d)
{
    return add_scalar(w, key, MC_GGUF_BOOL, v ? 1 : 0, d);
}

mc_err mc_gguf_add_f32(mc_gguf_writer *w, const char *key, float v, mc_diag *d)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return add_scalar(w, key, MC_GGUF_FLOAT32, bits, d);
}

mc_err mc_gguf_add_f64(mc_gguf_writer *w, const char *key, double v, mc_diag *d)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return add_scalar(w, key, MC_GGUF_FLOAT64, bits, d);
}

mc_err mc_gguf_add_strn(mc_gguf_writer *w, const char *key, const char *s, size_t len, mc_diag *d)
{
    size_t mark;
    mc_err e = begin_kv(w, key, MC_GGUF_STRING, &mark, d);
    return e ? e : end_kv(w, key, mark, put_str(&w->kv, s, len), d);
}

mc_err mc_gguf_add_str(mc_gguf_writer *w, const char *key, const char *s, mc_diag *d)
{
    return mc_gguf_add_strn(w, key, s, strlen(s), d);
}

/* Host values of a scalar type, appended little-endian. */
static mc_err put_scalars(mc_buf *b, mc_gguf_type elem, const void *vals, uint64_t n)
{
    size_t es = mc_gguf_type_size(elem);
    const uint8_t *src = vals;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t bits = 0;
        uint8_t p[8];
        if (es == 1)
            bits = src[i] & (elem == MC_GGUF_BOOL ? 1 : 0xff);
        else if (es == 2)
            bits = ((const uint16_t *)vals)[i];
        else if (es == 4)
            bits = ((const uint32_t *)vals)[i];
        else
            bits = ((const uint64_t *)vals)[i];
        put_le(p, bits, (int)es);
        mc_err e = mc_buf_append(b, p, es);
        if (e)
            return e;
    }
    return MC_OK;
}

mc_err mc_gguf_add_arr(mc_gguf_writer *w, const char *key, mc_gguf_type elem, const void *vals,
                       uint64_t n, mc_diag *d)
{
    if (mc_gguf_type_size(elem) == 0)
        return mc_fail(d, MC_ERR_ARG,
                       "gguf writer: key '%s': mc_gguf_add_arr needs a scalar "
                       "element type, got %s",
                       key ? key : "", mc_gguf_type_name(elem));
    size_t mark;
    mc_err e = begin_kv(w, key, MC_GGUF_ARRAY, &mark, d);
    if (e)
        return e;
    e = put_u32(&w->kv, (uint32_t)elem);
    if (!e)
        e = put_u64(&w->kv, n);
    if (!e)
        e = put_scalars(&w->kv, elem, vals, n);
    return end_kv(w, key, mark, e, d);
}

mc_err mc_gguf_add_arr_str(mc_gguf_writer *w, const char *key, const char *const *strs, uint64_t n,
                           mc_diag *d)
{
    size_t mark;
    mc_err e = begin_kv(w, key, MC_GGUF_ARRAY, &mark, d);
    if (e)
        return e;
    e = put_u32(&w->kv, MC_GGUF_STRING);
    if (!e)
        e = put_u64(&w->kv, n);
    for (uint64_t i = 0; !e && i < n; i++)
        e = put_str(&w->kv, strs[i], strlen(strs[i]));
    return end_kv(w, key, mark, e, d);
}

mc_err mc_gguf_add_raw(mc_gguf_writer *w, const char *key, mc_gguf_type type, const void *enc,
                       size_t len, mc_diag *d)
{
    size_t mark;
    mc_err e = begin_kv(w, key, type, &mark, d);
    return e ? e : end_kv(w, key, mark, mc_buf_append(&w->kv, enc, len), d);
}

mc_err mc_gguf_writer_set_alignment(mc_gguf_writer *w, uint32_t alignment, mc_diag *d)
{
    if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: alignment %u is not a power of two", alignment);
    mc_err e = mc_gguf_add_u32(w, "general.alignment", alignment, d);
    if (!e)
        w->alignment = alignment;
    return e;
}

/* ---- tensors --------------------------------------------------------------------------------- */

static mc_err check_tensor(const mc_gguf_writer *w, const mc_gguf_tensor_src *t, uint64_t *nbytes,
                           mc_diag *d)
{
    size_t len = t->name ? strlen(t->name) : 0;
    if (len == 0 || len >= MC_GGUF_MAX_NAME)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: tensor name '%s' must be 1..%d bytes",
                       t->name ? t->name : "", MC_GGUF_MAX_NAME - 1);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, t->name) == 0)
            return mc_fail(d, MC_ERR_ARG, "gguf writer: duplicate tensor '%s'", t->name);
    uint32_t bs = mc_ggml_block_size(t->type);
    if (bs == 0)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: tensor '%s': unknown ggml type %u", t->name,
                       t->type);
    if (t->n_dims < 1 || t->n_dims > MC_GGUF_MAX_DIMS)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: tensor '%s': n_dims %u", t->name, t->n_dims);
    uint64_t n = 1;
    for (uint32_t j = 0; j < t->n_dims; j++)
        if (t->dims[j] <= 0 || __builtin_mul_overflow(n, (uint64_t)t->dims[j], &n) || n > INT64_MAX)
            return mc_fail(d, MC_ERR_ARG, "gguf writer: tensor '%s': bad dimension %u", t->name, j);
    if (t->dims[0] % bs != 0 || mc_ggml_nbytes(t->type, n, nbytes) != MC_OK)
        return mc_fail(d, MC_ERR_ARG,
                       "gguf writer: tensor '%s': %lld is not a multiple of the "
                       "%s block size %u",
                       t->name, (long long)t->dims[0], mc_ggml_type_name(t->type), bs);
    return MC_OK;
}

mc_err mc_gguf_add_tensor(mc_gguf_writer *w, const mc_gguf_tensor_src *t, mc_diag *d)
{
    uint64_t nbytes = 0;
    mc_err e = check_tensor(w, t, &nbytes, d);
    if (e)
        return e;
    if (w->n_t == w->cap_t) {
        uint64_t ncap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *nt = mc_reallocarray(w->t, (size_t)ncap, sizeof *nt);
        if (!nt)
            return mc_fail(d, MC_ERR_NOMEM, "gguf writer: out of memory");
        w->t = nt;
        w->cap_t = ncap;
    }
    wtensor *x = &w->t[w->n_t];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", t->name);
    x->type = t->type;
    x->n_dims = t->n_dims;
    for (uint32_t j = 0; j < MC_GGUF_MAX_DIMS; j++)
        x->dims[j] = j < t->n_dims ? t->dims[j] : 1;
    x->n_bytes = nbytes;
    x->data = t->data;
    x->fill = t->data ? NULL : t->fill;
    x->fill_ctx = t->fill_ctx;
    if (t->data && t->copy) {
        if (nbytes > SIZE_MAX || !(x->owned = mc_malloc((size_t)nbytes)))
            return mc_fail(d, MC_ERR_NOMEM, "gguf writer: tensor '%s': out of memory", t->name);
        memcpy(x->owned, t->data, (size_t)nbytes);
        x->data = x->owned;
    }
    w->n_t++;
    return MC_OK;
}

/* ---- layout and output ----------------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint32_t a)
{
    return v + (a - v % a) % a;
}

/* Header (magic .. tensor infos, padded to the alignment) into b; *data_bytes = padded size of
 * the data section. */
static mc_err build_header(const mc_gguf_writer *w, mc_buf *b, uint64_t *data_bytes)
{
    mc_err e = mc_buf_append(b, "GGUF", 4);
    if (!e)
        e = put_u32(b, w->version);
    if (!e)
        e = put_u64(b, w->n_t);
    if (!e)
        e = put_u64(b, w->n_kv);
    if (!e)
        e = mc_buf_append(b, w->kv.data ? w->kv.data : "", w->kv.len);
    uint64_t off = 0;
    for (uint64_t i = 0; !e && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        e = put_str(b, t->name, strlen(t->name));
        if (!e)
            e = put_u32(b, t->n_dims);
        for (uint32_t j = 0; !e && j < t->n_dims; j++)
            e = put_u64(b, (uint64_t)t->dims[j]);
        if (!e)
            e = put_u32(b, t->type);
        if (!e)
            e = put_u64(b, off);
        off = align_up(off + t->n_bytes, w->alignment);
    }
    static const char zeros[256];
    while (!e && b->len % w->alignment != 0) {
        size_t pad = w->alignment - b->len % w->alignment;
        e = mc_buf_append(b, zeros, pad < sizeof zeros ? pad : sizeof zeros);
    }
    *data_bytes = off;
    return e;
}

uint64_t mc_gguf_writer_size(const mc_gguf_writer *w)
{
    mc_buf b;
    uint64_t data = 0, n = 0;
    mc_buf_init(&b, 0);
    if (build_header(w, &b, &data) == MC_OK)
        n = b.len + data;
    mc_buf_deinit(&b);
    return n;
}

/* The bytes of tensor t from `off`, len of them, into buf (copy, callback or zeros). */
static mc_err tensor_bytes(const wtensor *t, uint64_t off, void *buf, size_t len, mc_diag *d)
{
    if (t->data)
        memcpy(buf, (const uint8_t *)t->data + off, len);
    else if (t->fill)
        return t->fill(t->fill_ctx, t->name, off, buf, len, d);
    else
        memset(buf, 0, len);
    return MC_OK;
}

mc_err mc_gguf_writer_write_mem(const mc_gguf_writer *w, void **out, size_t *len, mc_diag *d)
{
    mc_buf b;
    uint64_t data = 0;
    mc_err e;
    uint8_t *mem = NULL;
    mc_buf_init(&b, 0);
    if ((e = build_header(w, &b, &data))) {
        e = mc_fail(d, e, "gguf writer: out of memory building the header");
        goto out;
    }
    if (data > SIZE_MAX - b.len || !(mem = mc_calloc(1, (size_t)(b.len + data)))) {
        e = mc_fail(d, MC_ERR_NOMEM, "gguf writer: out of memory for a %llu byte file",
                    (unsigned long long)(b.len + data));
        goto out;
    }
    memcpy(mem, b.data, b.len);
    uint64_t pos = b.len;
    for (uint64_t i = 0; i < w->n_t && !e; i++) {
        e = tensor_bytes(&w->t[i], 0, mem + pos, (size_t)w->t[i].n_bytes, d);
        pos = align_up(pos + w->t[i].n_bytes, w->alignment);
    }
    if (!e) {
        *out = mem;
        *len = (size_t)(b.len + data);
        mem = NULL;
    }
out:
    mc_free(mem);
    mc_buf_deinit(&b);
    return e;
}

static mc_err write_all(int fd, const void *p, size_t n, const char *tmp, mc_diag *d)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t r = write(fd, q, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return mc_fail(d, MC_ERR_IO, "gguf writer: %s: write failed: %s", tmp,
                           r < 0 ? strerror(errno) : "no progress");
        q += r;
        n -= (size_t)r;
    }
    return MC_OK;
}

/* One tensor and the padding after it, streamed through buf (FILL_CHUNK bytes). */
static mc_err write_tensor(int fd, const mc_gguf_writer *w, const wtensor *t, uint8_t *buf,
                           const char *tmp, mc_diag *d)
{
    mc_err e = MC_OK;
    for (uint64_t off = 0; off < t->n_bytes && !e;) {
        size_t n = t->n_bytes - off < FILL_CHUNK ? (size_t)(t->n_bytes - off) : FILL_CHUNK;
        if (t->data) {
            e = write_all(fd, (const uint8_t *)t->data + off, n, tmp, d);
        } else {
            e = tensor_bytes(t, off, buf, n, d);
            if (!e)
                e = write_all(fd, buf, n, tmp, d);
        }
        off += n;
    }
    uint64_t pad = align_up(t->n_bytes, w->alignment) - t->n_bytes;
    if (!e && pad) {
        memset(buf, 0, (size_t)pad);
        e = write_all(fd, buf, (size_t)pad, tmp, d);
    }
    return e;
}

static mc_err write_body(int fd, const mc_gguf_writer *w, const mc_buf *hdr, const char *tmp,
                         mc_diag *d)
{
    uint8_t *buf = mc_malloc(FILL_CHUNK > w->alignment ? FILL_CHUNK : w->alignment);
    if (!buf)
        return mc_fail(d, MC_ERR_NOMEM, "gguf writer: out of memory");
    mc_err e = write_all(fd, hdr->data, hdr->len, tmp, d);
    for (uint64_t i = 0; i < w->n_t && !e; i++)
        e = write_tensor(fd, w, &w->t[i], buf, tmp, d);
    mc_free(buf);
    return e;
}

mc_err mc_gguf_writer_write_file(const mc_gguf_writer *w, const char *path, mc_diag *d)
{
    char tmp[4096];
    mc_buf hdr;
    uint64_t data = 0;
    int fd = -1;
    mc_err e = MC_OK;
    mc_buf_init(&hdr, 0);
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return mc_fail(d, MC_ERR_ARG, "gguf writer: %s: path too long", path);
    if ((e = build_header(w, &hdr, &data))) {
        e = mc_fail(d, e, "gguf writer: out of memory building the header");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = mc_fail(d, MC_ERR_IO, "gguf writer: %s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    if ((e = write_body(fd, w, &hdr, tmp, d)))
        goto out;
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        e = mc_fail(d, MC_ERR_IO, "gguf writer: %s: sync/close failed: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        e = mc_fail(d, MC_ERR_IO, "gguf writer: %s: rename failed: %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (e && n > 0 && (size_t)n < sizeof tmp)
        unlink(tmp);
    mc_buf_deinit(&hdr);
    return e;
}
