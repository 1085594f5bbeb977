/* read.c: whole-file reads for the data loaders, with transparent bzip2 decompression (libbz2,
 * multi-stream files included) under a hard size cap. Depends on base and libbz2 only. */
#include "data.h"

#include <bzlib.h>
#include <limits.h>
#include <string.h>

static const char *bz_name(int rc)
{
    switch (rc) {
    case BZ_DATA_ERROR: return "corrupt data";
    case BZ_DATA_ERROR_MAGIC: return "bad magic";
    case BZ_MEM_ERROR: return "out of memory";
    case BZ_UNEXPECTED_EOF: return "unexpected end of the compressed data";
    default: return "decompression failed";
    }
}

/* Decompresses one or more concatenated bzip2 streams from in[0..n) into b. */
static mc_err bz_inflate(const char *path, const char *in, size_t n, mc_buf *b, mc_diag *d)
{
    char chunk[1 << 16];
    size_t off = 0;
    while (off < n) {
        bz_stream s;
        memset(&s, 0, sizeof s);
        if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK)
            return mc_fail(d, MC_ERR_NOMEM, "%s: bzip2: cannot initialise", path);
        int rc = BZ_OK;
        mc_err e = MC_OK;
        while (rc == BZ_OK && !e) {
            size_t left = n - off;
            s.next_in = (char *)(uintptr_t)(in + off);
            s.avail_in = left > UINT_MAX ? UINT_MAX : (unsigned)left;
            s.next_out = chunk;
            s.avail_out = sizeof chunk;
            unsigned before = s.avail_in;
            rc = BZ2_bzDecompress(&s);
            off += before - s.avail_in;
            if (rc == BZ_OK && s.avail_in == 0 && s.avail_out == sizeof chunk && off >= n)
                rc = BZ_UNEXPECTED_EOF;
            mc_err ae = rc == BZ_OK || rc == BZ_STREAM_END
                            ? mc_buf_append(b, chunk, sizeof chunk - s.avail_out)
                            : MC_OK;
            if (ae)
                e = ae == MC_ERR_RANGE
                        ? mc_fail(d, ae, "%s: more than %zu bytes decompressed", path, b->max)
                        : mc_fail(d, ae, "%s: out of memory", path);
        }
        BZ2_bzDecompressEnd(&s);
        if (e)
            return e;
        if (rc != BZ_STREAM_END)
            return mc_fail(d, MC_ERR_FORMAT, "%s: bzip2: %s", path, bz_name(rc));
    }
    return MC_OK;
}

mc_err mc_ds_read_file(const char *path, size_t max, char **out, size_t *len, mc_diag *d)
{
    char *raw = NULL;
    size_t n = 0;
    mc_err e = mc_read_file(path, max, &raw, &n, d);
    if (e)
        return e;
    if (n < 4 || memcmp(raw, "BZh", 3) != 0 || raw[3] < '1' || raw[3] > '9') {
        *out = raw;
        if (len)
            *len = n;
        return MC_OK;
    }
    mc_buf b;
    mc_buf_init(&b, max);
    e = bz_inflate(path, raw, n, &b, d);
    mc_free(raw);
    if (!e && !b.data && mc_buf_append(&b, "", 0))
        e = mc_fail(d, MC_ERR_NOMEM, "%s: out of memory", path);
    if (e) {
        mc_buf_deinit(&b);
        return e;
    }
    *out = b.data;
    if (len)
        *len = b.len;
    return MC_OK;
}
