/* test_gguf.c: the GGUF reader (every value type, tensors, a table of corruptions with their exact
 * messages, every truncation, allocation failures), the writer (memory and atomic file output,
 * streaming), the vocab-only GGUFs of ../shared/data/vocab, and that the fuzz seed corpus matches
 * what this file and gguf_fixtures.c generate. The GGUF -> mc_model mapping: test_gguf_model.c. */
#include "gguf.h"
#include "gguf_fixtures.h"
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Parses buf and returns the error code; the message goes to d. */
static mc_err parse_err(const void *buf, size_t n, mc_diag *d)
{
    mc_gguf *g = NULL;
    mc_err e = mc_gguf_parse(buf, n, "m.gguf", &g, d);
    CHECK((e == MC_OK) == (g != NULL));
    mc_gguf_free(g);
    return e;
}

/* ---- ggml types ------------------------------------------------------------------------------ */

TEST(ggml_type_table)
{
    static const struct {
        uint32_t t, block, bytes;
        const char *name;
    } want[] = {
        {0, 1, 4, "f32"},         {1, 1, 2, "f16"},         {2, 32, 18, "q4_0"},
        {3, 32, 20, "q4_1"},      {6, 32, 22, "q5_0"},      {7, 32, 24, "q5_1"},
        {8, 32, 34, "q8_0"},      {9, 32, 36, "q8_1"},      {10, 256, 84, "q2_K"},
        {11, 256, 110, "q3_K"},   {12, 256, 144, "q4_K"},   {13, 256, 176, "q5_K"},
        {14, 256, 210, "q6_K"},   {15, 256, 292, "q8_K"},   {16, 256, 66, "iq2_xxs"},
        {17, 256, 74, "iq2_xs"},  {18, 256, 98, "iq3_xxs"}, {19, 256, 50, "iq1_s"},
        {20, 32, 18, "iq4_nl"},   {21, 256, 110, "iq3_s"},  {22, 256, 82, "iq2_s"},
        {23, 256, 136, "iq4_xs"}, {24, 1, 1, "i8"},         {25, 1, 2, "i16"},
        {26, 1, 4, "i32"},        {27, 1, 8, "i64"},        {28, 1, 8, "f64"},
        {29, 256, 56, "iq1_m"},   {30, 1, 2, "bf16"},       {34, 256, 54, "tq1_0"},
        {35, 256, 66, "tq2_0"},   {39, 32, 17, "mxfp4"},    {40, 64, 36, "nvfp4"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK_EQ_INT(mc_ggml_block_size(want[i].t), want[i].block);
        CHECK_EQ_INT(mc_ggml_block_bytes(want[i].t), want[i].bytes);
        CHECK_STR(mc_ggml_type_name(want[i].t), want[i].name);
    }
    static const uint32_t removed[] = {4, 5, 31, 32, 33, 36, 37, 38, 41, 1000};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        CHECK_EQ_INT(mc_ggml_block_size(removed[i]), 0);
        CHECK_STR(mc_ggml_type_name(removed[i]), "?");
    }
    mc_dtype t;
    CHECK(mc_ggml_to_dtype(MC_GGML_Q4_K, &t) && t == MC_DT_Q4_K);
    CHECK(mc_ggml_to_dtype(MC_GGML_BF16, &t) && t == MC_DT_BF16);
    CHECK(mc_ggml_to_dtype(MC_GGML_MXFP4, &t) && t == MC_DT_MXFP4);
    CHECK(!mc_ggml_to_dtype(MC_GGML_IQ2_XXS, &t));
    /* the mapped types have the same bits per weight as mc_dtype */
    for (uint32_t g = 0; g < MC_GGML_TYPE_COUNT; g++)
        if (mc_ggml_to_dtype(g, &t))
            CHECK_NEAR(8.0 * mc_ggml_block_bytes(g) / mc_ggml_block_size(g), mc_dtype_bits(t), 0);
    uint64_t nb = 0;
    CHECK_EQ_INT(mc_ggml_nbytes(MC_GGML_Q4_K, 512, &nb), MC_OK);
    CHECK_EQ_INT(nb, 288);
    CHECK_EQ_INT(mc_ggml_nbytes(MC_GGML_Q4_K, 100, &nb), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_ggml_nbytes(MC_GGML_F64, UINT64_MAX / 4, &nb), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_ggml_nbytes(31, 32, &nb), MC_ERR_UNSUPPORTED);
}

/* ---- metadata round trip --------------------------------------------------------------------- */

/* An array of 2 arrays of strings ["x", "yz"], [] encoded by hand. */
static size_t nested_value(uint8_t *p)
{
    size_t n = 0;
    put32(p + n, MC_GGUF_ARRAY), n += 4;
    put64(p + n, 2), n += 8;
    put32(p + n, MC_GGUF_STRING), n += 4; /* first inner array: 2 strings */
    put64(p + n, 2), n += 8;
    put64(p + n, 1), n += 8;
    p[n++] = 'x';
    put64(p + n, 2), n += 8;
    p[n++] = 'y';
    p[n++] = 'z';
    put32(p + n, MC_GGUF_UINT16), n += 4; /* second inner array: empty */
    put64(p + n, 0), n += 8;
    return n;
}

static mc_gguf_writer *all_types_writer(uint32_t version)
{
    mc_diag d;
    mc_gguf_writer *w = mc_gguf_writer_new();
    mc_err e = mc_gguf_writer_set_version(w, version, &d);
    static const float f32s[] = {1.5f, -2.25f, 0.0f};
    static const int32_t i32s[] = {-7, 0, 2147483647};
    static const uint8_t bools[] = {1, 0, 1};
    static const uint64_t u64s[] = {0, UINT64_MAX};
    static const char *strs[] = {"", "ab", "\xc3\xa9t\xc3\xa9"};
    uint8_t raw[128];
    size_t nraw = nested_value(raw);
    if (!e)
        e = mc_gguf_add_u8(w, "u8", 200, &d);
    if (!e)
        e = mc_gguf_add_i8(w, "i8", -100, &d);
    if (!e)
        e = mc_gguf_add_u16(w, "u16", 65535, &d);
    if (!e)
        e = mc_gguf_add_i16(w, "i16", -32768, &d);
    if (!e)
        e = mc_gguf_add_u32(w, "u32", 4000000000u, &d);
    if (!e)
        e = mc_gguf_add_i32(w, "i32", -2000000000, &d);
    if (!e)
        e = mc_gguf_add_f32(w, "f32", 0.1f, &d);
    if (!e)
        e = mc_gguf_add_bool(w, "bool", 1, &d);
    if (!e)
        e = mc_gguf_add_str(w, "str", "hello \xe2\x9c\x93", &d);
    if (!e)
        e = mc_gguf_add_strn(w, "str0", "a\0b", 3, &d);
    if (!e)
        e = mc_gguf_add_u64(w, "u64", UINT64_MAX, &d);
    if (!e)
        e = mc_gguf_add_i64(w, "i64", INT64_MIN, &d);
    if (!e)
        e = mc_gguf_add_f64(w, "f64", 1e300, &d);
    if (!e)
        e = mc_gguf_add_arr(w, "arr.f32", MC_GGUF_FLOAT32, f32s, 3, &d);
    if (!e)
        e = mc_gguf_add_arr(w, "arr.i32", MC_GGUF_INT32, i32s, 3, &d);
    if (!e)
        e = mc_gguf_add_arr(w, "arr.bool", MC_GGUF_BOOL, bools, 3, &d);
    if (!e)
        e = mc_gguf_add_arr(w, "arr.u64", MC_GGUF_UINT64, u64s, 2, &d);
    if (!e)
        e = mc_gguf_add_arr(w, "arr.empty", MC_GGUF_INT8, NULL, 0, &d);
    if (!e)
        e = mc_gguf_add_arr_str(w, "arr.str", strs, 3, &d);
    if (!e)
        e = mc_gguf_add_raw(w, "arr.nested", MC_GGUF_ARRAY, raw, nraw, &d);
    CHECK_EQ_INT(e, MC_OK);
    return w;
}

static void check_scalars(const mc_gguf *g)
{
    mc_diag d;
    int64_t i = 0;
    uint64_t u = 0;
    uint32_t u32 = 0;
    double f = 0;
    int b = 0;
    CHECK_EQ_INT(mc_gguf_get_i64(g, "u8", &i, &d), MC_OK);
    CHECK_EQ_INT(i, 200);
    CHECK_EQ_INT(mc_gguf_get_i64(g, "i8", &i, &d), MC_OK);
    CHECK_EQ_INT(i, -100);
    CHECK_EQ_INT(mc_gguf_get_u32(g, "u16", &u32, &d), MC_OK);
    CHECK_EQ_INT(u32, 65535);
    CHECK_EQ_INT(mc_gguf_get_i64(g, "i16", &i, &d), MC_OK);
    CHECK_EQ_INT(i, -32768);
    CHECK_EQ_INT(mc_gguf_get_u32(g, "u32", &u32, &d), MC_OK);
    CHECK_EQ_INT(u32, 4000000000u);
    CHECK_EQ_INT(mc_gguf_get_i64(g, "i32", &i, &d), MC_OK);
    CHECK_EQ_INT(i, -2000000000);
    CHECK_EQ_INT(mc_gguf_get_f64(g, "f32", &f, &d), MC_OK);
    CHECK_NEAR(f, 0.1f, 0);
    CHECK_EQ_INT(mc_gguf_get_bool(g, "bool", &b, &d), MC_OK);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(mc_gguf_get_u64(g, "u64", &u, &d), MC_OK);
    CHECK(u == UINT64_MAX);
    CHECK_EQ_INT(mc_gguf_get_i64(g, "i64", &i, &d), MC_OK);
    CHECK(i == INT64_MIN);
    CHECK_EQ_INT(mc_gguf_get_f64(g, "f64", &f, &d), MC_OK);
    CHECK_NEAR(f, 1e300, 0);
    CHECK_EQ_INT(mc_gguf_get_f64(g, "i16", &f, &d), MC_OK); /* integers convert to f64 */
    CHECK_NEAR(f, -32768, 0);
}

static void check_coercion_errors(const mc_gguf *g)
{
    mc_diag d;
    int64_t i = 0;
    uint64_t u = 0;
    uint32_t u32 = 0;
    int b = 0;
    CHECK_EQ_INT(mc_gguf_get_i64(g, "u64", &i, &d), MC_ERR_RANGE);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'u64': value 18446744073709551615 out of range for int64");
    CHECK_EQ_INT(mc_gguf_get_u64(g, "i8", &u, &d), MC_ERR_RANGE);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'i8': value -100 out of range for uint64");
    CHECK_EQ_INT(mc_gguf_get_u32(g, "u64", &u32, &d), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_gguf_get_i64(g, "str", &i, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'str' is string, expected int64");
    CHECK_EQ_INT(mc_gguf_get_bool(g, "u8", &b, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'u8' is uint8, expected bool");
    CHECK_EQ_INT(mc_gguf_get_i64(g, "nope", &i, &d), MC_ERR_NOT_FOUND);
    CHECK_STR(d.msg, "gguf: m.gguf: missing key 'nope'");
    CHECK_EQ_INT(mc_gguf_get_f64(g, "str", (double[1]){0}, &d), MC_ERR_FORMAT);
}

static void check_strings(const mc_gguf *g)
{
    mc_diag d;
    mc_gguf_str s;
    char *c = NULL;
    CHECK_EQ_INT(mc_gguf_get_str(g, "str", &s, &d), MC_OK);
    CHECK_EQ_INT(s.len, 9);
    CHECK(memcmp(s.p, "hello \xe2\x9c\x93", 9) == 0);
    CHECK_EQ_INT(mc_gguf_get_str_copy(g, "str", &c, &d), MC_OK);
    CHECK_STR(c, "hello \xe2\x9c\x93");
    mc_free(c);
    CHECK_EQ_INT(mc_gguf_get_str(g, "str0", &s, &d), MC_OK);
    CHECK_EQ_INT(s.len, 3);
    CHECK_EQ_INT(mc_gguf_get_str_copy(g, "str0", &c, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'str0': string contains a NUL byte");
    CHECK_EQ_INT(mc_gguf_get_str(g, "u8", &s, &d), MC_ERR_FORMAT);
}

static void check_arrays(const mc_gguf *g)
{
    mc_diag d;
    mc_gguf_value a;
    int64_t i = 0;
    double f = 0;
    CHECK_EQ_INT(mc_gguf_get_arr(g, "arr.f32", &a, &d), MC_OK);
    CHECK_EQ_INT(a.elem, MC_GGUF_FLOAT32);
    CHECK_EQ_INT(a.len, 3);
    CHECK_EQ_INT(a.bytes, 12);
    CHECK_EQ_INT(mc_gguf_arr_f64(&a, 1, &f), MC_OK);
    CHECK_NEAR(f, -2.25, 0);
    CHECK_EQ_INT(mc_gguf_arr_f64(&a, 3, &f), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_gguf_get_arr(g, "arr.i32", &a, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_arr_i64(&a, 0, &i), MC_OK);
    CHECK_EQ_INT(i, -7);
    CHECK_EQ_INT(mc_gguf_arr_i64(&a, 2, &i), MC_OK);
    CHECK_EQ_INT(i, 2147483647);
    CHECK_EQ_INT(mc_gguf_get_arr(g, "arr.u64", &a, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_arr_i64(&a, 1, &i), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_gguf_get_arr(g, "arr.bool", &a, &d), MC_OK);
    CHECK_EQ_INT(a.elem, MC_GGUF_BOOL);
    CHECK(a.p[0] == 1 && a.p[1] == 0 && a.p[2] == 1);
    CHECK_EQ_INT(mc_gguf_get_arr(g, "arr.empty", &a, &d), MC_OK);
    CHECK_EQ_INT(a.len, 0);
    CHECK_EQ_INT(mc_gguf_get_arr(g, "u8", &a, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'u8' is uint8, expected array");

    mc_gguf_str *tab = NULL;
    uint64_t n = 0;
    CHECK_EQ_INT(mc_gguf_get_str_array(g, "arr.str", &tab, &n, &d), MC_OK);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_EQ_INT(tab[0].len, 0);
        CHECK(tab[1].len == 2 && memcmp(tab[1].p, "ab", 2) == 0);
        CHECK(tab[2].len == 5 && memcmp(tab[2].p, "\xc3\xa9t\xc3\xa9", 5) == 0);
    }
    mc_free(tab);
    CHECK_EQ_INT(mc_gguf_get_str_array(g, "arr.i32", &tab, &n, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'arr.i32' is an array of int32, expected string");
}

static void check_nested(const mc_gguf *g)
{
    mc_diag d;
    mc_gguf_value a, v, s;
    mc_gguf_iter it, in;
    CHECK_EQ_INT(mc_gguf_get_arr(g, "arr.nested", &a, &d), MC_OK);
    CHECK_EQ_INT(a.elem, MC_GGUF_ARRAY);
    CHECK_EQ_INT(a.len, 2);
    mc_gguf_iter_init(&it, &a);
    CHECK(mc_gguf_iter_next(&it, &v));
    CHECK_EQ_INT(v.type, MC_GGUF_ARRAY);
    CHECK_EQ_INT(v.elem, MC_GGUF_STRING);
    CHECK_EQ_INT(v.len, 2);
    mc_gguf_iter_init(&in, &v);
    CHECK(mc_gguf_iter_next(&in, &s) && s.len == 1 && s.p[0] == 'x');
    CHECK(mc_gguf_iter_next(&in, &s) && s.len == 2 && memcmp(s.p, "yz", 2) == 0);
    CHECK(!mc_gguf_iter_next(&in, &s));
    CHECK(mc_gguf_iter_next(&it, &v));
    CHECK(v.type == MC_GGUF_ARRAY && v.elem == MC_GGUF_UINT16 && v.len == 0);
    CHECK(!mc_gguf_iter_next(&it, &v));
}

TEST(metadata_round_trip)
{
    for (uint32_t version = 2; version <= 3; version++) {
        mc_gguf_writer *w = all_types_writer(version);
        void *buf = NULL;
        size_t n = 0;
        mc_diag d;
        mc_gguf *g = NULL;
        CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &buf, &n, &d), MC_OK);
        CHECK_EQ_INT(n, mc_gguf_writer_size(w));
        CHECK_EQ_INT(mc_gguf_parse(buf, n, "m.gguf", &g, &d), MC_OK);
        if (g) {
            CHECK_EQ_INT(mc_gguf_version(g), version);
            CHECK_EQ_INT(mc_gguf_kv_count(g), 20);
            CHECK_EQ_INT(mc_gguf_tensor_count(g), 0);
            CHECK_EQ_INT(mc_gguf_alignment(g), 32);
            CHECK_EQ_INT(mc_gguf_file_size(g), n);
            CHECK_EQ_INT(mc_gguf_data_offset(g) % 32, 0);
            mc_gguf_str k = mc_gguf_kv_key(g, 0);
            CHECK(k.len == 2 && memcmp(k.p, "u8", 2) == 0);
            CHECK_EQ_INT(mc_gguf_kv_type(g, 19), MC_GGUF_ARRAY);
            CHECK_EQ_INT(mc_gguf_find_key(g, "f64"), 12);
            CHECK_EQ_INT(mc_gguf_find_key(g, "f6"), -1);
            check_scalars(g);
            check_coercion_errors(g);
            check_strings(g);
            check_arrays(g);
            check_nested(g);
        }
        mc_gguf_free(g);
        mc_free(buf);
        mc_gguf_writer_free(w);
    }
}

/* ---- tensors --------------------------------------------------------------------------------- */

static mc_err fill_pattern(void *ctx, const char *tensor, uint64_t offset, void *buf, size_t len,
                           mc_diag *d)
{
    (void)ctx;
    (void)tensor;
    (void)d;
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = (uint8_t)((offset + i) * 7);
    return MC_OK;
}

static mc_gguf_writer *tensor_writer(const float *f32)
{
    mc_diag d;
    mc_gguf_writer *w = mc_gguf_writer_new();
    mc_err e = mc_gguf_writer_set_alignment(w, 64, &d);
    mc_gguf_tensor_src ts[] = {
        {.name = "a.f32", .type = MC_GGML_F32, .n_dims = 2, .dims = {3, 2}, .data = f32, .copy = 1},
        {.name = "b.q4_0", .type = MC_GGML_Q4_0, .n_dims = 3, .dims = {64, 2, 3}},
        {.name = "c.q4_K", .type = MC_GGML_Q4_K, .n_dims = 1, .dims = {512}, .fill = fill_pattern},
        {.name = "d.bf16", .type = MC_GGML_BF16, .n_dims = 4, .dims = {1, 2, 3, 5}},
        {.name = "e.mxfp4", .type = MC_GGML_MXFP4, .n_dims = 2, .dims = {32, 1}},
    };
    for (size_t i = 0; !e && i < sizeof ts / sizeof ts[0]; i++)
        e = mc_gguf_add_tensor(w, &ts[i], &d);
    CHECK_EQ_INT(e, MC_OK);
    return w;
}

static void check_tensors(const mc_gguf *g, const float *f32)
{
    /* header 24 + key (8+17+4+4=33) + infos (8+5+4+16+4+8 = 45, 8+6+4+24+4+8 = 54,
     * 8+6+4+8+4+8 = 38, 8+6+4+32+4+8 = 62, 8+7+4+16+4+8 = 47) = 303 -> data at 320 */
    CHECK_EQ_INT(mc_gguf_alignment(g), 64);
    CHECK_EQ_INT(mc_gguf_data_offset(g), 320);
    CHECK_EQ_INT(mc_gguf_tensor_count(g), 5);
    static const uint64_t bytes[] = {24, 216, 288, 60, 17}, offs[] = {0, 64, 320, 640, 704};
    for (uint64_t i = 0; i < 5; i++) {
        const mc_gguf_tensor *t = mc_gguf_tensor_at(g, i);
        CHECK_EQ_INT(t->n_bytes, bytes[i]);
        CHECK_EQ_INT(t->offset, offs[i]);
        CHECK_EQ_INT(t->file_offset, 320 + offs[i]);
        CHECK(t->data == mc_gguf_bytes(g) + 320 + offs[i]);
    }
    CHECK_EQ_INT(mc_gguf_file_size(g), 320 + 704 + 64); /* ends padded like ggml writes */
    const mc_gguf_tensor *b = mc_gguf_find_tensor(g, "b.q4_0");
    CHECK(b && b->n_dims == 3 && b->dims[0] == 64 && b->dims[2] == 3 && b->dims[3] == 1);
    CHECK(b && b->n_elements == 384 && b->type == MC_GGML_Q4_0);
    CHECK(mc_gguf_find_tensor(g, "b.q4") == NULL);
    const mc_gguf_tensor *a = mc_gguf_find_tensor(g, "a.f32");
    CHECK(a && memcmp(a->data, f32, 24) == 0);
    const mc_gguf_tensor *c = mc_gguf_find_tensor(g, "c.q4_K");
    CHECK(c && ((const uint8_t *)c->data)[100] == (uint8_t)700);
    CHECK(mc_gguf_tensor_at(g, 5) == NULL);
}

TEST(tensor_round_trip)
{
    float f32[6] = {1, 2, 3, 4, 5, 6};
    mc_gguf_writer *w = tensor_writer(f32);
    f32[0] = 99; /* copied at add time */
    float orig[6] = {1, 2, 3, 4, 5, 6};
    void *buf = NULL;
    size_t n = 0;
    mc_diag d;
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &buf, &n, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_parse(buf, n, "m.gguf", &g, &d), MC_OK);
    if (g)
        check_tensors(g, orig);
    mc_gguf_free(g);

    /* the same through an atomic file write and mmap */
    char path[4200];
    snprintf(path, sizeof path, "%s/t.gguf", harness_tmpdir());
    CHECK_EQ_INT(mc_gguf_writer_write_file(w, path, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_open(path, &g, &d), MC_OK);
    if (g) {
        check_tensors(g, orig);
        CHECK(memcmp(mc_gguf_bytes(g), buf, n) == 0);
        CHECK_STR(mc_gguf_name(g), path);
    }
    mc_gguf_free(g);
    mc_free(buf);
    mc_gguf_writer_free(w);
}

static mc_err fill_fail(void *ctx, const char *tensor, uint64_t offset, void *buf, size_t len,
                        mc_diag *d)
{
    (void)ctx, (void)offset, (void)buf, (void)len;
    return mc_fail(d, MC_ERR_IO, "generator for '%s' failed", tensor);
}

static int dir_entries(const char *dir)
{
    int n = 0;
    DIR *dp = opendir(dir);
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        n += e->d_name[0] != '.';
    if (dp)
        closedir(dp);
    return n;
}

TEST(writer_errors_and_atomic_file)
{
    mc_diag d;
    mc_gguf_writer *w = mc_gguf_writer_new();
    CHECK_EQ_INT(mc_gguf_add_u32(w, "k", 1, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_add_str(w, "k", "x", &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "gguf writer: duplicate key 'k'");
    CHECK_EQ_INT(mc_gguf_add_u8(w, "", 1, &d), MC_ERR_ARG);
    CHECK_EQ_INT(mc_gguf_writer_set_version(w, 1, &d), MC_ERR_ARG);
    CHECK_EQ_INT(mc_gguf_writer_set_alignment(w, 48, &d), MC_ERR_ARG);
    CHECK_EQ_INT(mc_gguf_add_arr(w, "s", MC_GGUF_STRING, NULL, 0, &d), MC_ERR_ARG);
    mc_gguf_tensor_src t = {.name = "x", .type = MC_GGML_Q4_0, .n_dims = 1, .dims = {16}};
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "gguf writer: tensor 'x': 16 is not a multiple of the q4_0 block size 32");
    t = (mc_gguf_tensor_src){.name = "x", .type = 31, .n_dims = 1, .dims = {32}};
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_ERR_ARG);
    t = (mc_gguf_tensor_src){.name = "x", .type = 0, .n_dims = 5, .dims = {1}};
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_ERR_ARG);
    t = (mc_gguf_tensor_src){.name = "x", .type = 0, .n_dims = 1, .dims = {0}};
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_ERR_ARG);
    t = (mc_gguf_tensor_src){.name = "x", .type = 0, .n_dims = 1, .dims = {4}, .fill = fill_fail};
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "gguf writer: duplicate tensor 'x'");
    t.name = "0123456789012345678901234567890123456789012345678901234567890123"; /* 64 bytes */
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_ERR_ARG);

    /* a failing generator leaves no file behind, nor a temp file */
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/atomic", harness_tmpdir());
    CHECK_EQ_INT(mc_mkdirs(dir, &d), MC_OK);
    snprintf(path, sizeof path, "%s/out.gguf", dir);
    CHECK_EQ_INT(mc_gguf_writer_write_file(w, path, &d), MC_ERR_IO);
    CHECK_STR(d.msg, "generator for 'x' failed");
    CHECK_EQ_INT(dir_entries(dir), 0);
    void *buf = NULL;
    size_t n = 0;
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &buf, &n, &d), MC_ERR_IO);
    CHECK(buf == NULL);
    snprintf(path, sizeof path, "%s/no/such/dir/out.gguf", harness_tmpdir());
    CHECK_EQ_INT(mc_gguf_writer_write_file(w, path, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "cannot create");
    mc_gguf_writer_free(w);
}

/* A generator streaming a tensor larger than the 1 MiB write chunk. */
TEST(writer_streams_large_tensor)
{
    mc_diag d;
    mc_gguf_writer *w = mc_gguf_writer_new();
    mc_gguf_tensor_src t = {
        .name = "big", .type = MC_GGML_I8, .n_dims = 2, .dims = {1000, 3000}, .fill = fill_pattern};
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/big.gguf", harness_tmpdir());
    CHECK_EQ_INT(mc_gguf_writer_write_file(w, path, &d), MC_OK);
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_open(path, &g, &d), MC_OK);
    const mc_gguf_tensor *b = g ? mc_gguf_find_tensor(g, "big") : NULL;
    CHECK(b && b->n_bytes == 3000000);
    int ok = b != NULL;
    for (uint64_t i = 0; b && i < b->n_bytes; i += 4099)
        ok &= ((const uint8_t *)b->data)[i] == (uint8_t)(i * 7);
    CHECK(ok);
    CHECK_EQ_INT(mc_gguf_file_size(g), mc_gguf_writer_size(w));
    mc_gguf_free(g);
    mc_gguf_writer_free(w);
    unlink(path);
}

/* ---- corruptions ----------------------------------------------------------------------------- */

/* The base file of the corruption table, laid out by hand:
 *   0   header (24)
 *   24  key "a"   uint32 7                    (8+1+4+4 = 17)
 *   41  key "s"   string "hello"              (8+1+4+8+5 = 26; length at 54)
 *   67  key "b"   bool 1                      (8+1+4+1 = 14; value at 80)
 *   81  key "arr" array uint32 [1, 2, 3]      (8+3+4+4+8+12 = 39; elem type at 96, count at 100)
 *   120 tensor "w0" f32 [8, 2] offset 0       (8+2+4+16+4+8 = 42; n_dims 130, dims 134/142,
 *                                              type 150, offset 154)
 *   162 tensor "w1" f32 [4] offset 64         (8+2+4+8+4+8 = 34; name 170, offset 188)
 *   196 padding, data at 224: w0 [224, 288), w1 [288, 304), padding to 320 */
static size_t base_file(uint8_t *buf)
{
    mc_diag d;
    mc_gguf_writer *w = mc_gguf_writer_new();
    static const uint32_t arr[] = {1, 2, 3};
    mc_err e = mc_gguf_add_u32(w, "a", 7, &d);
    if (!e)
        e = mc_gguf_add_str(w, "s", "hello", &d);
    if (!e)
        e = mc_gguf_add_bool(w, "b", 1, &d);
    if (!e)
        e = mc_gguf_add_arr(w, "arr", MC_GGUF_UINT32, arr, 3, &d);
    mc_gguf_tensor_src t0 = {.name = "w0", .type = 0, .n_dims = 2, .dims = {8, 2}};
    mc_gguf_tensor_src t1 = {.name = "w1", .type = 0, .n_dims = 1, .dims = {4}};
    if (!e)
        e = mc_gguf_add_tensor(w, &t0, &d);
    if (!e)
        e = mc_gguf_add_tensor(w, &t1, &d);
    void *mem = NULL;
    size_t n = 0;
    if (!e)
        e = mc_gguf_writer_write_mem(w, &mem, &n, &d);
    CHECK_EQ_INT(e, MC_OK);
    CHECK_EQ_INT(n, 320);
    if (!e && n == 320)
        memcpy(buf, mem, n);
    mc_free(mem);
    mc_gguf_writer_free(w);
    return n;
}

typedef struct corruption {
    const char *what;
    size_t at; /* patch position */
    int width; /* 1, 4 or 8 bytes; 0 = truncate the file to `at` */
    uint64_t value;
    mc_err err;
    const char *msg; /* the whole message */
    int set_counts;  /* 1: also set the key and tensor counts to n_kv, n_t */
    uint64_t n_kv, n_t;
} corruption;

static const corruption corruptions[] = {
    {"magic", 0, 1, 'X', MC_ERR_FORMAT, "bad magic 58 47 55 46 (not a GGUF file)", 0, 0, 0},
    {"v1", 4, 4, 1, MC_ERR_UNSUPPORTED, "unsupported GGUF version 1 (only 2 and 3 are supported)",
     0, 0, 0},
    {"v4", 4, 4, 4, MC_ERR_UNSUPPORTED, "unsupported GGUF version 4 (only 2 and 3 are supported)",
     0, 0, 0},
    {"big-endian", 4, 4, 0x03000000, MC_ERR_UNSUPPORTED,
     "big-endian GGUF (version field 0x03000000) is not supported", 0, 0, 0},
    {"short header", 20, 0, 0, MC_ERR_FORMAT, "truncated header (20 bytes, need 24)", 0, 0, 0},
    {"empty", 0, 0, 0, MC_ERR_FORMAT, "truncated header (0 bytes)", 0, 0, 0},
    {"tensor count", 8, 8, 1ull << 60, MC_ERR_FORMAT,
     "tensor count 1152921504606846976 impossible for a file of 320 bytes", 0, 0, 0},
    {"kv count", 16, 8, 1ull << 60, MC_ERR_FORMAT,
     "metadata count 1152921504606846976 impossible for a file of 320 bytes", 0, 0, 0},
    {"key length", 24, 8, 1000, MC_ERR_FORMAT,
     "key #0: name length 1000 runs past end of file (320)", 0, 0, 0},
    {"empty key", 24, 8, 0, MC_ERR_FORMAT, "key #0: empty name", 0, 0, 0},
    {"string length", 54, 8, 10000, MC_ERR_FORMAT,
     "key 's': string length 10000 runs past end of file (320)", 0, 0, 0},
    {"value type", 33, 4, 13, MC_ERR_FORMAT, "key 'a': unknown value type 13", 0, 0, 0},
    {"bool", 80, 1, 2, MC_ERR_FORMAT, "key 'b': bool value 2 (must be 0 or 1)", 0, 0, 0},
    {"array type", 96, 4, 99, MC_ERR_FORMAT, "key 'arr': unknown array element type 99", 0, 0, 0},
    {"array count", 100, 8, 1ull << 40, MC_ERR_FORMAT,
     "key 'arr': array of 1099511627776 uint32 runs past end of file (320)", 0, 0, 0},
    {"duplicate key", 75, 1, 'a', MC_ERR_FORMAT, "duplicate key 'a'", 0, 0, 0},
    {"duplicate tensor", 171, 1, '0', MC_ERR_FORMAT, "duplicate tensor name 'w0'", 0, 0, 0},
    {"nul in name", 171, 1, 0, MC_ERR_FORMAT, "tensor #1: name contains a NUL byte", 0, 0, 0},
    {"tensor name length", 162, 8, 1ull << 50, MC_ERR_FORMAT,
     "tensor #1: name length 1125899906842624 runs past end of file (320)", 0, 0, 0},
    {"long tensor name", 162, 8, 64, MC_ERR_FORMAT,
     "tensor #1: name "
     "'w1\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?@"
     "\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?\?' "
     "is 64 bytes (max 63)",
     0, 0, 0},
    {"n_dims", 130, 4, 5, MC_ERR_FORMAT, "tensor 'w0': n_dims 5 out of range 1..4", 0, 0, 0},
    {"n_dims 0", 130, 4, 0, MC_ERR_FORMAT, "tensor 'w0': n_dims 0 out of range 1..4", 0, 0, 0},
    {"zero dim", 142, 8, 0, MC_ERR_FORMAT, "tensor 'w0': dimension 1 is 0", 0, 0, 0},
    {"huge dim", 134, 8, 1ull << 63, MC_ERR_RANGE,
     "tensor 'w0': element count overflows (dimension 0 is 9223372036854775808)", 0, 0, 0},
    {"dims product", 134, 8, 1ull << 62, MC_ERR_RANGE,
     "tensor 'w0': element count overflows (dimension 1 is 2)", 0, 0, 0},
    {"ggml type", 150, 4, 31, MC_ERR_UNSUPPORTED, "tensor 'w0': unknown ggml type 31", 0, 0, 0},
    {"block multiple", 150, 4, MC_GGML_Q4_0, MC_ERR_FORMAT,
     "tensor 'w0': row of 8 elements is not a multiple of the q4_0 block size 32", 0, 0, 0},
    {"unaligned", 188, 8, 65, MC_ERR_FORMAT, "tensor 'w1': offset 65 not aligned to 32", 0, 0, 0},
    {"past end", 188, 8, 96, MC_ERR_FORMAT, "tensor 'w1': data [320, 336) past end of file (320)",
     0, 0, 0},
    {"offset overflow", 188, 8, UINT64_MAX - 31, MC_ERR_FORMAT,
     "tensor 'w1': data offset 18446744073709551584 + 16 bytes overflows", 0, 0, 0},
    {"overlap", 188, 8, 32, MC_ERR_FORMAT, "tensors 'w0' [224, 288) and 'w1' [256, 272) overlap", 0,
     0, 0},
    {"cut in infos", 140, 0, 0, MC_ERR_FORMAT,
     "4 keys and 2 tensors do not fit in a file of 140 bytes (truncated?)", 0, 0, 0},
    {"cut in key length", 60, 0, 0, MC_ERR_FORMAT,
     "key 's': truncated (needs 8 bytes at offset 54, file is 60)", 1, 2, 0},
    {"cut in string", 64, 0, 0, MC_ERR_FORMAT,
     "key 's': string length 5 runs past end of file (64)", 1, 2, 0},
    {"cut in value", 80, 0, 0, MC_ERR_FORMAT,
     "key 'b': truncated (needs 1 bytes at offset 80, file is 80)", 1, 3, 0},
    {"cut in key name", 70, 0, 0, MC_ERR_FORMAT, "key #2: truncated at offset 67 (file is 70)", 1,
     3, 0},
    {"cut in array", 110, 0, 0, MC_ERR_FORMAT,
     "key 'arr': array of 3 uint32 runs past end of file (110)", 1, 4, 0},
    {"cut in tensor", 160, 0, 0, MC_ERR_FORMAT,
     "tensor 'w0': truncated (needs 12 bytes at offset 150, file is 160)", 1, 4, 1},
    {"cut in data", 300, 0, 0, MC_ERR_FORMAT, "tensor 'w1': data [288, 304) past end of file (300)",
     0, 0, 0},
};

TEST(corruption_table)
{
    uint8_t base[320], buf[320];
    if (base_file(base) != 320)
        return;
    mc_diag d;
    CHECK_EQ_INT(parse_err(base, 320, &d), MC_OK);
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
        const corruption *c = &corruptions[i];
        size_t n = 320;
        memcpy(buf, base, n);
        if (c->width == 0)
            n = c->at;
        else if (c->width == 1)
            buf[c->at] = (uint8_t)c->value;
        else if (c->width == 4)
            put32(buf + c->at, (uint32_t)c->value);
        else
            put64(buf + c->at, c->value);
        if (c->set_counts) {
            put64(buf + 8, c->n_t);
            put64(buf + 16, c->n_kv);
        }
        char want[600];
        snprintf(want, sizeof want, "gguf: m.gguf: %s", c->msg);
        memset(d.msg, 0, sizeof d.msg);
        mc_err e = parse_err(buf, n, &d);
        if (e != c->err || strcmp(d.msg, want) != 0)
            fprintf(stderr, "corruption '%s':\n", c->what);
        CHECK_EQ_INT(e, c->err);
        CHECK_STR(d.msg, want);
    }
}

/* Every prefix that cuts into the header or the tensor data fails cleanly; the final padding is
 * optional. */
TEST(every_truncation)
{
    uint8_t base[320];
    if (base_file(base) != 320)
        return;
    int wrong = 0;
    mc_diag d;
    for (size_t n = 0; n <= 320; n++) {
        mc_err e = parse_err(base, n, &d);
        if ((e == MC_OK) != (n >= 304))
            wrong++;
        if (e != MC_OK && strncmp(d.msg, "gguf: m.gguf: ", 14) != 0)
            wrong++;
    }
    CHECK_EQ_INT(wrong, 0);
}

static size_t with_alignment(uint8_t *buf, size_t cap, uint32_t type, uint32_t value)
{
    mc_diag d;
    mc_gguf_writer *w = mc_gguf_writer_new();
    mc_gguf_tensor_src t = {.name = "w", .type = 0, .n_dims = 1, .dims = {4}};
    CHECK_EQ_INT(mc_gguf_writer_set_alignment(w, 64, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_add_tensor(w, &t, &d), MC_OK);
    void *mem = NULL;
    size_t n = 0;
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &mem, &n, &d), MC_OK);
    mc_gguf_writer_free(w);
    if (!mem || n > cap)
        return 0;
    memcpy(buf, mem, n);
    mc_free(mem);
    /* the key starts at 24: length 8, "general.alignment" 17, type at 49, value at 53 */
    CHECK(memcmp(buf + 32, "general.alignment", 17) == 0);
    put32(buf + 49, type);
    put32(buf + 53, value);
    return n;
}

TEST(alignment_checks)
{
    uint8_t buf[512];
    mc_diag d;
    size_t n = with_alignment(buf, sizeof buf, MC_GGUF_UINT32, 64);
    CHECK_EQ_INT(parse_err(buf, n, &d), MC_OK);
    n = with_alignment(buf, sizeof buf, MC_GGUF_UINT32, 48);
    CHECK_EQ_INT(parse_err(buf, n, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'general.alignment': 48 is not a power of two");
    n = with_alignment(buf, sizeof buf, MC_GGUF_UINT32, 0);
    CHECK_EQ_INT(parse_err(buf, n, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'general.alignment': 0 is not a power of two");
    n = with_alignment(buf, sizeof buf, MC_GGUF_INT32, 64);
    CHECK_EQ_INT(parse_err(buf, n, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'general.alignment': type int32, must be uint32");
    /* alignment 32 instead of 64 moves the data section: data offset 96 -> the tensor at 0 of
     * the data section is still inside the file, so this parses */
    n = with_alignment(buf, sizeof buf, MC_GGUF_UINT32, 32);
    CHECK_EQ_INT(parse_err(buf, n, &d), MC_OK);
}

TEST(nesting_and_names)
{
    mc_diag d;
    uint8_t raw[9 * 12 + 16], buf[1024];
    size_t n = 0;
    for (int i = 0; i < 9; i++) { /* 9 nested arrays (headers) of one element each */
        put32(raw + n, MC_GGUF_ARRAY), n += 4;
        put64(raw + n, 1), n += 8;
    }
    put32(raw + n, MC_GGUF_UINT8), n += 4;
    put64(raw + n, 0), n += 8;
    mc_gguf_writer *w = mc_gguf_writer_new();
    CHECK_EQ_INT(mc_gguf_add_raw(w, "deep", MC_GGUF_ARRAY, raw, n, &d), MC_OK); /* 10 levels */
    void *mem = NULL;
    size_t len = 0;
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &mem, &len, &d), MC_OK);
    CHECK_EQ_INT(parse_err(mem, len, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'deep': arrays nested deeper than 8");
    mc_free(mem);
    mc_gguf_writer_free(w);

    /* 9 levels are too many, 8 are fine */
    for (int skip = 1; skip <= 2; skip++) {
        w = mc_gguf_writer_new();
        CHECK_EQ_INT(mc_gguf_add_raw(w, "deep", MC_GGUF_ARRAY, raw + 12 * skip, n - 12 * skip, &d),
                     MC_OK);
        CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &mem, &len, &d), MC_OK);
        CHECK_EQ_INT(parse_err(mem, len, &d), skip == 1 ? MC_ERR_FORMAT : MC_OK);
        mc_free(mem);
        mc_gguf_writer_free(w);
    }

    /* a string inside an array running past the end; a bool array element that is not 0/1 */
    uint8_t sa[8 + 4 + 8 + 1 + 8] = {0};
    put32(sa, MC_GGUF_STRING);
    put64(sa + 4, 2);
    put64(sa + 12, 1);
    sa[20] = 'x';
    put64(sa + 21, 1000);
    w = mc_gguf_writer_new();
    CHECK_EQ_INT(mc_gguf_add_raw(w, "sa", MC_GGUF_ARRAY, sa, sizeof sa, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &mem, &len, &d), MC_OK);
    char want[200];
    snprintf(want, sizeof want,
             "gguf: m.gguf: key 'sa': string #1 length 1000 runs past end of file (%zu)", len);
    CHECK_EQ_INT(parse_err(mem, len, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, want);
    mc_free(mem);
    mc_gguf_writer_free(w);
    uint8_t ba[4 + 8 + 2] = {0};
    put32(ba, MC_GGUF_BOOL);
    put64(ba + 4, 2);
    ba[12] = 1;
    ba[13] = 7;
    w = mc_gguf_writer_new();
    CHECK_EQ_INT(mc_gguf_add_raw(w, "ba", MC_GGUF_ARRAY, ba, sizeof ba, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &mem, &len, &d), MC_OK);
    CHECK_EQ_INT(parse_err(mem, len, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'ba': bool element 1 is 7 (must be 0 or 1)");
    mc_free(mem);
    mc_gguf_writer_free(w);

    /* control bytes in a key name are shown as '?' so the message stays on one line */
    w = mc_gguf_writer_new();
    CHECK_EQ_INT(mc_gguf_add_raw(w, "bad\nkey", 7, "\x02", 1, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_writer_write_mem(w, &mem, &len, &d), MC_OK);
    CHECK(len <= sizeof buf);
    CHECK_EQ_INT(parse_err(mem, len, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: m.gguf: key 'bad?key': bool value 2 (must be 0 or 1)");
    mc_free(mem);
    mc_gguf_writer_free(w);
}

TEST(open_errors)
{
    mc_diag d;
    mc_gguf *g = (mc_gguf *)1;
    CHECK_EQ_INT(mc_gguf_open("/nonexistent/x.gguf", &g, &d), MC_ERR_IO);
    CHECK(g == NULL);
    CHECK_STR(d.msg, "gguf: /nonexistent/x.gguf: cannot open: No such file or directory");
    CHECK_EQ_INT(mc_gguf_open(harness_tmpdir(), &g, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "not a regular file");
    char path[4200];
    snprintf(path, sizeof path, "%s/empty.gguf", harness_tmpdir());
    CHECK_EQ_INT(mc_write_file_atomic(path, "", 0, &d), MC_OK);
    CHECK_EQ_INT(mc_gguf_open(path, &g, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "truncated header (0 bytes)");
    CHECK_EQ_INT(mc_gguf_parse(NULL, 0, NULL, &g, &d), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "gguf: <memory>: truncated header (0 bytes)");
}

/* Every allocation the reader and the mapping make can fail: a clean error, nothing leaked
 * (the ASan build checks the leaks). */
TEST(allocation_failures)
{
    fx_model s = fx_preset("deepseek2");
    void *buf = NULL;
    size_t n = 0;
    mc_diag d;
    CHECK_EQ_INT(fx_model_bytes(&s, &buf, &n, &d), MC_OK);
    int bad = 0, succeeded = 0;
    for (uint64_t k = 1; k < 200 && !succeeded; k++) {
        mc_gguf *g = NULL;
        mc_model *m = NULL;
        mc_alloc_fail_at(k);
        mc_err e = mc_gguf_parse(buf, n, "m.gguf", &g, &d);
        if (!e)
            e = mc_model_from_gguf(g, &m, &d);
        mc_alloc_fail_at(0);
        if (e == MC_OK)
            succeeded = 1;
        else if (e != MC_ERR_NOMEM || !strstr(d.msg, "out of memory"))
            bad++;
        mc_model_free(m);
        mc_gguf_free(g);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(succeeded);
    mc_free(buf);
}

/* ---- the vocab-only GGUFs of llama.cpp ------------------------------------------------------- */

static void check_vocab(const char *rel, const char *model, uint64_t tokens, int64_t merges,
                        const char *name)
{
    const char *path = harness_data_path(rel);
    if (!path) {
        fprintf(stderr, "SKIPPED: %s absent\n", rel);
        harness_skipped = 1;
        return;
    }
    mc_diag d;
    mc_gguf *g = NULL;
    CHECK_EQ_INT(mc_gguf_open(path, &g, &d), MC_OK);
    if (!g) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    CHECK_EQ_INT(mc_gguf_version(g), 3);
    CHECK_EQ_INT(mc_gguf_tensor_count(g), 0);
    char *s = NULL;
    CHECK_EQ_INT(mc_gguf_get_str_copy(g, "tokenizer.ggml.model", &s, &d), MC_OK);
    CHECK_STR(s, model);
    mc_free(s);
    CHECK_EQ_INT(mc_gguf_get_str_copy(g, "general.name", &s, &d), MC_OK);
    CHECK_STR(s, name);
    mc_free(s);
    mc_gguf_str *tab = NULL;
    uint64_t n = 0;
    CHECK_EQ_INT(mc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &tab, &n, &d), MC_OK);
    CHECK_EQ_INT(n, tokens);
    mc_free(tab);
    mc_gguf_value a;
    CHECK_EQ_INT(mc_gguf_get_arr(g, "tokenizer.ggml.token_type", &a, &d), MC_OK);
    CHECK(a.elem == MC_GGUF_INT32 && a.len == tokens);
    mc_err e = mc_gguf_get_arr(g, "tokenizer.ggml.merges", &a, &d);
    if (merges < 0) {
        CHECK_EQ_INT(e, MC_ERR_NOT_FOUND);
    } else {
        CHECK_EQ_INT(e, MC_OK);
        CHECK(a.elem == MC_GGUF_STRING && a.len == (uint64_t)merges);
    }
    mc_model *m = NULL;
    CHECK_EQ_INT(mc_model_from_gguf(g, &m, &d), MC_ERR_FORMAT);
    CHECK(m == NULL);
    char want[4400];
    snprintf(want, sizeof want, "gguf: %s: no tensors (a vocab-only file?)", path);
    CHECK_STR(d.msg, want);
    mc_gguf_free(g);
}

TEST(vocab_files)
{
    check_vocab("vocab/ggml-vocab-llama-spm.gguf", "llama", 32000, -1, "llama-spm");
    check_vocab("vocab/ggml-vocab-gpt-2.gguf", "gpt2", 50257, 50000, "gpt-2");
    check_vocab("vocab/ggml-vocab-deepseek-llm.gguf", "gpt2", 102400, 99757, "deepseek-llm");
    const char *p = harness_data_path("vocab/ggml-vocab-llama-spm.gguf");
    mc_diag d;
    mc_gguf *g = NULL;
    if (p && mc_gguf_open(p, &g, &d) == MC_OK) {
        int b = 0;
        uint32_t bos = 0;
        mc_gguf_value sc;
        double f = 1;
        CHECK_EQ_INT(mc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &d), MC_OK);
        CHECK_EQ_INT(b, 1);
        CHECK_EQ_INT(mc_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos, &d), MC_OK);
        CHECK_EQ_INT(bos, 1);
        CHECK_EQ_INT(mc_gguf_get_arr(g, "tokenizer.ggml.scores", &sc, &d), MC_OK);
        CHECK(sc.elem == MC_GGUF_FLOAT32 && sc.len == 32000);
        CHECK_EQ_INT(mc_gguf_arr_f64(&sc, 0, &f), MC_OK);
        mc_gguf_str *tab = NULL;
        uint64_t n = 0;
        CHECK_EQ_INT(mc_gguf_get_str_array(g, "tokenizer.ggml.tokens", &tab, &n, &d), MC_OK);
        CHECK(n == 32000 && tab[1].len == 3 && memcmp(tab[1].p, "<s>", 3) == 0);
        mc_free(tab);
        mc_gguf_free(g);
    }
}

/* ---- fuzz seeds ------------------------------------------------------------------------------ */

/* The seed corpus tests/fuzz/corpus/gguf/seed-* is generated here. MOECAP_WRITE_SEEDS=1
 * rewrites it; otherwise the committed files must equal what this code generates. Files named
 * crash-* (inputs found by the fuzzer) are left alone. */
typedef struct seed {
    const char *name;
    const char *preset;
    void (*edit)(fx_model *s);
    size_t cut; /* truncate to this many bytes (0 = whole) */
} seed;

static void tiny(fx_model *s)
{
    s->n_layers = 1;
    s->hidden = 4;
    s->n_heads = 2;
    s->n_kv = 1;
    s->head_dim = 2;
    s->vocab = 8;
    s->wtype = s->etype = MC_GGML_F16;
    if (s->n_exp) {
        s->n_exp = 2;
        s->top_k = 1;
    }
    if (s->exp_ff)
        s->exp_ff = 4;
    if (s->ff)
        s->ff = s->write_exp_ff ? 8 : 4;
    s->dense_ff = s->ff ? s->ff : 8;
    s->shexp_ff = s->shexp_ff ? 4 : 0;
}

static void tiny_ds(fx_model *s)
{
    tiny(s);
    s->n_layers = 2;
    s->n_heads = s->n_kv = 2;
    s->q_lora = 0; /* the V2-Lite layout keeps the seed under 4 KiB */
    s->tokens = 0;
    s->kv_lora = 2;
    s->rope_dim = 2;
    s->head_dim = 4;
    s->v_dim = 2;
    s->n_shared = 1;
    s->ff = s->dense_ff = 8;
    s->exp_probs = 1;
    s->alignment = 8;
}

static void tiny_split(fx_model *s)
{
    tiny(s);
    s->split_experts = 1;
}

static const seed seeds[] = {
    {"seed-mixtral", "llama", tiny, 0},       {"seed-mixtral-split", "llama", tiny_split, 0},
    {"seed-qwen2moe", "qwen2moe", tiny, 0},   {"seed-qwen3", "qwen3", tiny, 0},
    {"seed-olmoe", "olmoe", tiny, 0},         {"seed-deepseek2", "deepseek2", tiny_ds, 0},
    {"seed-dbrx", "dbrx", tiny, 0},           {"seed-gpt-oss", "gpt-oss", tiny, 0},
    {"seed-mixtral-cut", "llama", tiny, 700},
};

static mc_err seed_bytes(const seed *sd, void **out, size_t *len, mc_diag *d)
{
    fx_model s = fx_preset(sd->preset);
    sd->edit(&s);
    mc_err e = fx_model_bytes(&s, out, len, d);
    if (!e && sd->cut && sd->cut < *len)
        *len = sd->cut;
    return e;
}

/* The corruption table's base file, and the all-types file, are seeds too. */
static mc_err other_seed(int which, void **out, size_t *len, mc_diag *d)
{
    if (which == 0) {
        *out = mc_malloc(320);
        *len = *out ? base_file(*out) : 0;
        return *len == 320 ? MC_OK : MC_ERR_INTERNAL;
    }
    mc_gguf_writer *w = all_types_writer(which == 1 ? 3 : 2);
    mc_err e = mc_gguf_writer_write_mem(w, out, len, d);
    mc_gguf_writer_free(w);
    return e;
}

static void check_seed(const char *name, const void *buf, size_t n, int write)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/gguf/%s", MC_SOURCE_DIR, name);
    mc_diag d;
    CHECK(n > 0 && n < 4096);
    if (write) {
        CHECK_EQ_INT(mc_write_file_atomic(path, buf, n, &d), MC_OK);
        return;
    }
    char *got = NULL;
    size_t len = 0;
    mc_err e = mc_read_file(path, 1 << 20, &got, &len, &d);
    if (e || len != n || memcmp(got, buf, n) != 0)
        fprintf(stderr, "%s is stale: run test_gguf with MOECAP_WRITE_SEEDS=1\n", path);
    CHECK_EQ_INT(e, MC_OK);
    CHECK(len == n && got && memcmp(got, buf, n) == 0);
    mc_free(got);
}

TEST(fuzz_seeds_current)
{
    const char *wr = getenv("MOECAP_WRITE_SEEDS");
    int write = wr && *wr == '1';
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/gguf", MC_SOURCE_DIR);
    mc_diag d;
    if (write)
        CHECK_EQ_INT(mc_mkdirs(dir, &d), MC_OK);
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        void *buf = NULL;
        size_t n = 0;
        CHECK_EQ_INT(seed_bytes(&seeds[i], &buf, &n, &d), MC_OK);
        /* the whole seeds are valid models */
        mc_model *m = NULL;
        mc_gguf *g = NULL;
        if (!seeds[i].cut) {
            mc_err e = mc_gguf_parse(buf, n, seeds[i].name, &g, &d);
            if (!e)
                e = mc_model_from_gguf(g, &m, &d);
            if (e)
                fprintf(stderr, "%s: %s\n", seeds[i].name, d.msg);
            CHECK_EQ_INT(e, MC_OK);
        }
        mc_model_free(m);
        mc_gguf_free(g);
        check_seed(seeds[i].name, buf, n, write);
        mc_free(buf);
    }
    static const char *others[] = {"seed-base", "seed-all-types-v3", "seed-all-types-v2"};
    for (int i = 0; i < 3; i++) {
        void *buf = NULL;
        size_t n = 0;
        CHECK_EQ_INT(other_seed(i, &buf, &n, &d), MC_OK);
        check_seed(others[i], buf, n, write);
        mc_free(buf);
    }
}

int main(void)
{
    RUN(ggml_type_table);
    RUN(metadata_round_trip);
    RUN(tensor_round_trip);
    RUN(writer_errors_and_atomic_file);
    RUN(writer_streams_large_tensor);
    RUN(corruption_table);
    RUN(every_truncation);
    RUN(alignment_checks);
    RUN(nesting_and_names);
    RUN(open_errors);
    RUN(allocation_failures);
    RUN(vocab_files);
    RUN(fuzz_seeds_current);
    return harness_done();
}
