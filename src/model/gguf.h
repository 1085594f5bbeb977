/* gguf: reading and writing GGUF files (the llama.cpp / ggml model format, versions 2 and 3,
 * little-endian), and describing a GGUF model as an mc_model.
 *
 * Reader. mc_gguf_open maps a file read-only; mc_gguf_parse reads a caller-owned buffer (which
 * must outlive the handle). Both validate the whole header before returning: magic, version,
 * counts against the file size, every key and value (types, string lengths, bools, nested
 * arrays), general.alignment, every tensor info (name, dims, ggml type, overflow of every
 * product, alignment, data inside the file, no overlaps, no duplicates). On failure the diag holds
 * one line "gguf: <file>: <item>: <problem>" and nothing is allocated. A valid handle never needs
 * bounds checks from the caller: every pointer it returns lies inside the mapping. Memory use is
 * bounded by a small multiple of the file size, whatever the counts in the header claim.
 * Strings in the file are NOT NUL-terminated: they come back as (pointer, length) views into the
 * mapping (mc_gguf_str), valid until mc_gguf_free. Tensor names are the exception (copied,
 * NUL-terminated, at most 63 bytes, as ggml requires). A handle is read-only after open and may be
 * shared between threads.
 *
 * Writer. An in-memory builder of metadata and tensor descriptions; tensor bytes may be copied,
 * borrowed until the write, or produced by a callback while streaming (so a 1 GB file never needs
 * to be held in memory). mc_gguf_writer_write_file writes path atomically (temp file + fsync +
 * rename; never a partial file); mc_gguf_writer_write_mem returns the file as one heap buffer.
 *
 * Model. mc_model_load_gguf / mc_model_from_gguf fill an mc_model from general.architecture,
 * the <arch>.* hyper-parameters and the real tensor sizes (exact_bytes = 1), see docs/GGUF.md. */
#ifndef MC_GGUF_H
#define MC_GGUF_H

#include "base.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* ---- value and tensor types ------------------------------------------------------------------ */

typedef enum mc_gguf_type {
    MC_GGUF_UINT8 = 0,
    MC_GGUF_INT8 = 1,
    MC_GGUF_UINT16 = 2,
    MC_GGUF_INT16 = 3,
    MC_GGUF_UINT32 = 4,
    MC_GGUF_INT32 = 5,
    MC_GGUF_FLOAT32 = 6,
    MC_GGUF_BOOL = 7,
    MC_GGUF_STRING = 8,
    MC_GGUF_ARRAY = 9,
    MC_GGUF_UINT64 = 10,
    MC_GGUF_INT64 = 11,
    MC_GGUF_FLOAT64 = 12,
    MC_GGUF_TYPE_COUNT
} mc_gguf_type;

const char *mc_gguf_type_name(mc_gguf_type t); /* "uint8", ..., "array"; "?" if unknown */
size_t mc_gguf_type_size(mc_gguf_type t);      /* bytes of a scalar; 0 for string/array/unknown */

/* ggml tensor storage types (the numbers are the file format's). Gaps (4, 5, 31-33, 36-38) are
 * types ggml removed; they and anything >= MC_GGML_TYPE_COUNT are rejected by the reader. */
typedef enum mc_ggml_type {
    MC_GGML_F32 = 0,
    MC_GGML_F16 = 1,
    MC_GGML_Q4_0 = 2,
    MC_GGML_Q4_1 = 3,
    MC_GGML_Q5_0 = 6,
    MC_GGML_Q5_1 = 7,
    MC_GGML_Q8_0 = 8,
    MC_GGML_Q8_1 = 9,
    MC_GGML_Q2_K = 10,
    MC_GGML_Q3_K = 11,
    MC_GGML_Q4_K = 12,
    MC_GGML_Q5_K = 13,
    MC_GGML_Q6_K = 14,
    MC_GGML_Q8_K = 15,
    MC_GGML_IQ2_XXS = 16,
    MC_GGML_IQ2_XS = 17,
    MC_GGML_IQ3_XXS = 18,
    MC_GGML_IQ1_S = 19,
    MC_GGML_IQ4_NL = 20,
    MC_GGML_IQ3_S = 21,
    MC_GGML_IQ2_S = 22,
    MC_GGML_IQ4_XS = 23,
    MC_GGML_I8 = 24,
    MC_GGML_I16 = 25,
    MC_GGML_I32 = 26,
    MC_GGML_I64 = 27,
    MC_GGML_F64 = 28,
    MC_GGML_IQ1_M = 29,
    MC_GGML_BF16 = 30,
    MC_GGML_TQ1_0 = 34,
    MC_GGML_TQ2_0 = 35,
    MC_GGML_MXFP4 = 39,
    MC_GGML_NVFP4 = 40,
    MC_GGML_TYPE_COUNT = 41
} mc_ggml_type;

/* Block geometry: elements per block and bytes per block (Q4_0: 32 and 18). Both 0 for unknown
 * or removed types. */
uint32_t mc_ggml_block_size(uint32_t type);
uint32_t mc_ggml_block_bytes(uint32_t type);
const char *mc_ggml_type_name(uint32_t type); /* ggml's names: "f32", "q4_K", "iq2_xxs"; "?" */
/* The mc_dtype with the same storage (f32, f16, bf16, q8_0, q4_0.. q6_K, mxfp4): returns 1 and
 * sets *out. Returns 0 for types mc_dtype does not have (iq*, q8_1, q8_K, tq*, i*, f64, nvfp4). */
int mc_ggml_to_dtype(uint32_t type, mc_dtype *out);
/* Bytes of n_elements of type (n_elements a multiple of the block size): MC_OK, MC_ERR_RANGE on
 * overflow or a partial block, MC_ERR_UNSUPPORTED for unknown types. */
mc_err mc_ggml_nbytes(uint32_t type, uint64_t n_elements, uint64_t *out);

/* ---- reader -----------------------------------------------------------------------------------
 */

typedef struct mc_gguf mc_gguf;

/* A view of bytes inside the mapping: not NUL-terminated. */
typedef struct mc_gguf_str {
    const char *p;
    uint64_t len;
} mc_gguf_str;

/* A metadata value as stored. Scalars: p points at the little-endian bytes (unaligned).
 * STRING: p/len are the bytes. ARRAY: elem is the element type, len the element count, p the
 * first element and bytes the total size of all elements in the file. */
typedef struct mc_gguf_value {
    mc_gguf_type type;
    mc_gguf_type elem;
    const uint8_t *p;
    uint64_t len;
    uint64_t bytes;
} mc_gguf_value;

#define MC_GGUF_MAX_DIMS 4
#define MC_GGUF_MAX_NAME 64 /* tensor names are 1..63 bytes (ggml's GGML_MAX_NAME) */
#define MC_GGUF_MAX_DEPTH 8 /* arrays nest at most this deep */
#define MC_GGUF_DEFAULT_ALIGNMENT 32

typedef struct mc_gguf_tensor {
    char name[MC_GGUF_MAX_NAME];    /* NUL-terminated copy */
    uint32_t type;                  /* mc_ggml_type */
    uint32_t n_dims;                /* 1..4 */
    int64_t dims[MC_GGUF_MAX_DIMS]; /* ggml order: dims[0] is the contiguous (row) dimension;
                                      unused entries are 1 */
    uint64_t n_elements;
    uint64_t n_bytes;
    uint64_t offset;      /* relative to the data section (as stored) */
    uint64_t file_offset; /* absolute */
    const void *data;     /* into the mapping (n_bytes bytes) */
} mc_gguf_tensor;

/* Opens and validates path (mmap, read-only). *out is NULL on error. */
mc_err mc_gguf_open(const char *path, mc_gguf **out, mc_diag *d);
/* Validates a caller-owned buffer; `name` is used in messages (NULL = "<memory>"). The buffer
 * must stay valid and unchanged until mc_gguf_free. */
mc_err mc_gguf_parse(const void *data, size_t size, const char *name, mc_gguf **out, mc_diag *d);
void mc_gguf_free(mc_gguf *g); /* NULL ok; unmaps a file opened with mc_gguf_open */

const char *mc_gguf_name(const mc_gguf *g); /* the path / name given at open */
uint32_t mc_gguf_version(const mc_gguf *g); /* 2 or 3 */
uint64_t mc_gguf_file_size(const mc_gguf *g);
uint32_t mc_gguf_alignment(const mc_gguf *g);
uint64_t mc_gguf_data_offset(const mc_gguf *g); /* aligned start of the tensor data section (may
                                                   equal or exceed the file size when the file has
                                                   no tensors) */
const uint8_t *mc_gguf_bytes(const mc_gguf *g); /* start of the mapping */

/* Keys, in file order. */
uint64_t mc_gguf_kv_count(const mc_gguf *g);
int64_t mc_gguf_find_key(const mc_gguf *g, const char *key); /* index, or -1 */
mc_gguf_str mc_gguf_kv_key(const mc_gguf *g, uint64_t i);
mc_gguf_type mc_gguf_kv_type(const mc_gguf *g, uint64_t i);
mc_gguf_value mc_gguf_kv_value(const mc_gguf *g, uint64_t i);

/* Conversions of one value (no messages): MC_ERR_FORMAT for the wrong type, MC_ERR_RANGE when the
 * value does not fit. Integers convert between all integer types; f64 also accepts integers. */
mc_err mc_gguf_value_i64(const mc_gguf_value *v, int64_t *out);
mc_err mc_gguf_value_u64(const mc_gguf_value *v, uint64_t *out);
mc_err mc_gguf_value_f64(const mc_gguf_value *v, double *out);
mc_err mc_gguf_value_bool(const mc_gguf_value *v, int *out);

/* Typed getters by key: MC_ERR_NOT_FOUND when absent, MC_ERR_FORMAT for the wrong type,
 * MC_ERR_RANGE out of range; the diag names the file and the key. */
mc_err mc_gguf_get_i64(const mc_gguf *g, const char *key, int64_t *out, mc_diag *d);
mc_err mc_gguf_get_u64(const mc_gguf *g, const char *key, uint64_t *out, mc_diag *d);
mc_err mc_gguf_get_u32(const mc_gguf *g, const char *key, uint32_t *out, mc_diag *d);
mc_err mc_gguf_get_f64(const mc_gguf *g, const char *key, double *out, mc_diag *d);
mc_err mc_gguf_get_bool(const mc_gguf *g, const char *key, int *out, mc_diag *d);
mc_err mc_gguf_get_str(const mc_gguf *g, const char *key, mc_gguf_str *out, mc_diag *d);
/* A NUL-terminated heap copy (mc_free); MC_ERR_FORMAT if the string contains a NUL byte. */
mc_err mc_gguf_get_str_copy(const mc_gguf *g, const char *key, char **out, mc_diag *d);
/* An array value (type ARRAY) */
mc_err mc_gguf_get_arr(const mc_gguf *g, const char *key, mc_gguf_value *out, mc_diag *d);

/* Element i of a numeric (or bool) array: O(1). MC_ERR_FORMAT for string/array elements,
 * MC_ERR_RANGE for i out of bounds or a value that does not fit. */
mc_err mc_gguf_arr_i64(const mc_gguf_value *arr, uint64_t i, int64_t *out);
mc_err mc_gguf_arr_f64(const mc_gguf_value *arr, uint64_t i, double *out);

/* Iterates the elements of any array (strings and nested arrays included), in order:
 *   mc_gguf_iter it; mc_gguf_iter_init(&it, &arr); mc_gguf_value v;
 *   while (mc_gguf_iter_next(&it, &v)) { ... }
 * Each v is a scalar, a STRING or a nested ARRAY value. */
typedef struct mc_gguf_iter {
    const uint8_t *p, *end;
    uint64_t left;
    mc_gguf_type elem;
} mc_gguf_iter;
void mc_gguf_iter_init(mc_gguf_iter *it, const mc_gguf_value *arr);
int mc_gguf_iter_next(mc_gguf_iter *it, mc_gguf_value *v);

/* The strings of a string array as a heap table of views (mc_free the table): for random access
 * (a tokenizer's vocabulary). MC_ERR_FORMAT if the key is not an array of strings. */
mc_err mc_gguf_get_str_array(const mc_gguf *g, const char *key, mc_gguf_str **out, uint64_t *n,
                             mc_diag *d);

/* Tensors, in file order. */
uint64_t mc_gguf_tensor_count(const mc_gguf *g);
const mc_gguf_tensor *mc_gguf_tensor_at(const mc_gguf *g, uint64_t i); /* NULL if out of range */
const mc_gguf_tensor *mc_gguf_find_tensor(const mc_gguf *g, const char *name); /* NULL if absent */

/* ---- writer -----------------------------------------------------------------------------------
 */

typedef struct mc_gguf_writer mc_gguf_writer;

/* Produces `len` bytes of tensor `t` starting at byte `offset` of that tensor into buf. */
typedef mc_err (*mc_gguf_fill_fn)(void *ctx, const char *tensor, uint64_t offset, void *buf,
                                  size_t len, mc_diag *d);

typedef struct mc_gguf_tensor_src {
    const char *name;
    uint32_t type; /* mc_ggml_type */
    uint32_t n_dims;
    int64_t dims[MC_GGUF_MAX_DIMS];
    const void *data;     /* the tensor's bytes, or NULL (then fill, else zeros) */
    int copy;             /* 1: copy data now; 0: data is borrowed until the write */
    mc_gguf_fill_fn fill; /* used when data == NULL; called in chunks while writing */
    void *fill_ctx;
} mc_gguf_tensor_src;

mc_gguf_writer *mc_gguf_writer_new(void); /* NULL on OOM; version 3, alignment 32 */
void mc_gguf_writer_free(mc_gguf_writer *w);
mc_err mc_gguf_writer_set_version(mc_gguf_writer *w, uint32_t version, mc_diag *d); /* 2 or 3 */
/* Power of two; also records general.alignment (uint32). Call before adding that key yourself. */
mc_err mc_gguf_writer_set_alignment(mc_gguf_writer *w, uint32_t alignment, mc_diag *d);

/* Metadata. Keys must be non-empty and unique (MC_ERR_ARG otherwise). */
mc_err mc_gguf_add_u8(mc_gguf_writer *w, const char *key, uint8_t v, mc_diag *d);
mc_err mc_gguf_add_i8(mc_gguf_writer *w, const char *key, int8_t v, mc_diag *d);
mc_err mc_gguf_add_u16(mc_gguf_writer *w, const char *key, uint16_t v, mc_diag *d);
mc_err mc_gguf_add_i16(mc_gguf_writer *w, const char *key, int16_t v, mc_diag *d);
mc_err mc_gguf_add_u32(mc_gguf_writer *w, const char *key, uint32_t v, mc_diag *d);
mc_err mc_gguf_add_i32(mc_gguf_writer *w, const char *key, int32_t v, mc_diag *d);
mc_err mc_gguf_add_f32(mc_gguf_writer *w, const char *key, float v, mc_diag *d);
mc_err mc_gguf_add_bool(mc_gguf_writer *w, const char *key, int v, mc_diag *d);
mc_err mc_gguf_add_u64(mc_gguf_writer *w, const char *key, uint64_t v, mc_diag *d);
mc_err mc_gguf_add_i64(mc_gguf_writer *w, const char *key, int64_t v, mc_diag *d);
mc_err mc_gguf_add_f64(mc_gguf_writer *w, const char *key, double v, mc_diag *d);
mc_err mc_gguf_add_str(mc_gguf_writer *w, const char *key, const char *s, mc_diag *d);
mc_err mc_gguf_add_strn(mc_gguf_writer *w, const char *key, const char *s, size_t len, mc_diag *d);
/* Array of a scalar type; vals holds n host values of that type (bool: one byte each, 0/1). */
mc_err mc_gguf_add_arr(mc_gguf_writer *w, const char *key, mc_gguf_type elem, const void *vals,
                       uint64_t n, mc_diag *d);
mc_err mc_gguf_add_arr_str(mc_gguf_writer *w, const char *key, const char *const *strs, uint64_t n,
                           mc_diag *d);
/* A value already encoded as in the file (everything after the type field), e.g. nested arrays.
 * Not validated: tests use it to build malformed files. */
mc_err mc_gguf_add_raw(mc_gguf_writer *w, const char *key, mc_gguf_type type, const void *enc,
                       size_t len, mc_diag *d);

/* Tensors, laid out in the order added. Names 1..63 bytes and unique, known type, dims > 0 with
 * dims[0] a multiple of the block size. */
mc_err mc_gguf_add_tensor(mc_gguf_writer *w, const mc_gguf_tensor_src *t, mc_diag *d);

uint64_t mc_gguf_writer_size(const mc_gguf_writer *w); /* bytes of the file it would write */
mc_err mc_gguf_writer_write_file(const mc_gguf_writer *w, const char *path, mc_diag *d);
mc_err mc_gguf_writer_write_mem(const mc_gguf_writer *w, void **out, size_t *len, mc_diag *d);

/* ---- GGUF -> mc_model -------------------------------------------------------------------------
 */

/* Opens path and describes the model in it (see docs/GGUF.md for the mapping). *out is a
 * finalized model with exact_bytes = 1, freed with mc_model_free. */
mc_err mc_model_load_gguf(const char *path, mc_model **out, mc_diag *d);
mc_err mc_model_from_gguf(const mc_gguf *g, mc_model **out, mc_diag *d);

#endif
