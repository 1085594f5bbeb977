/* gguf_impl.h: the reader's private layout, shared by gguf.c (parsing and validation) and
 * gguf_get.c (getters). Not part of the public API; include only from src/model/gguf*.c. */
#ifndef MC_GGUF_IMPL_H
#define MC_GGUF_IMPL_H

#include "gguf.h"

typedef struct gguf_kv {
    mc_gguf_str key;
    mc_gguf_value v;
} gguf_kv;

struct mc_gguf {
    char name[256]; /* for messages */
    const uint8_t *base;
    uint64_t size;
    void *map; /* our mmap (mc_gguf_open), NULL for caller buffers */
    size_t map_len;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t n_kv, cap_kv;
    gguf_kv *kv;               /* file order */
    const gguf_kv **kv_sorted; /* by key bytes, for lookup */
    uint64_t n_tensors, cap_tensors;
    mc_gguf_tensor *t;               /* file order */
    const mc_gguf_tensor **t_sorted; /* by name */
};

/* Byte-wise order of two keys (memcmp, then length). */
int mc_gguf_key_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen);

/* Writes a printable, truncated copy of a name (control bytes become '?') into out[80]. */
const char *mc_gguf_show(char out[80], const char *p, uint64_t len);

static inline uint16_t mc_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t mc_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t mc_le64(const uint8_t *p)
{
    return (uint64_t)mc_le32(p) | (uint64_t)mc_le32(p + 4) << 32;
}

#endif
