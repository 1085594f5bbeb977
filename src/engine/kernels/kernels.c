/* kernels.c: the dispatch table (chosen once from the CPU features, or forced by name), type
 * sizes, and the public entry points that forward to the active table.
 *
 * Compiled without ISA flags: it only calls into the ISA files through the table, after checking
 * __builtin_cpu_supports. Must not include intrinsics. */
#include "kernels_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>

static mc_kernel_table g_tab;
static atomic_int g_ready;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

_Noreturn void mc_kernels_bug(const char *file, int line, const char *what)
{
    /* a broken argument contract is a bug in the caller: report and stop, like assert() */
    fprintf(stderr, "%s:%d: kernels: contract violated: %s\n", file, line, what);
    abort();
}

/* ---- ISA detection ---- */

#if defined(__x86_64__) || defined(__i386__)
#define MC_KERNELS_X86 1
#else
#define MC_KERNELS_X86 0 /* only the ref kernels are built (src/CMakeLists.txt) */
#endif

#if MC_KERNELS_X86
#include <cpuid.h>
/* F16C is CPUID leaf 1, ECX bit 29; asked directly because clang 14's __builtin_cpu_supports
 * does not know the "f16c" feature name. */
static int have_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}
#endif

static int have_avx2(void)
{
#if MC_KERNELS_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && have_f16c();
#else
    return 0;
#endif
}

/* AVX-VNNI (VEX vpdpbusd on xmm/ymm) is CPUID leaf 7 subleaf 1, EAX bit 4; asked directly, as
 * not every compiler's __builtin_cpu_supports knows it. The OS saves ymm state if AVX2 runs. */
static int have_avxvnni(void)
{
#if MC_KERNELS_X86
    unsigned a, b, c, d;
    return have_avx2() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
#else
    return 0;
#endif
}

static int have_avx512(void)
{
#if MC_KERNELS_X86
    return have_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int mc_kernels_isa_available(const char *isa)
{
    if (!isa)
        return 0;
    if (strcasecmp(isa, "ref") == 0)
        return 1;
    if (strcasecmp(isa, "avx2") == 0)
        return have_avx2();
    if (strcasecmp(isa, "avxvnni") == 0)
        return have_avxvnni();
    if (strcasecmp(isa, "avx512") == 0)
        return have_avx512();
    return 0;
}

const char *mc_kernels_isa_best(void)
{
    return have_avx512() ? "avx512" : have_avxvnni() ? "avxvnni" : have_avx2() ? "avx2" : "ref";
}

mc_err mc_kernels_table_for(const char *isa, mc_kernel_table *out, mc_diag *d)
{
    if (!isa || strcasecmp(isa, "auto") == 0)
        isa = mc_kernels_isa_best();
    int level, vnni = 0; /* avxvnni: the avx2 set with the AVX-VNNI int8 tiles */
    if (strcasecmp(isa, "ref") == 0)
        level = 0;
    else if (strcasecmp(isa, "avx2") == 0)
        level = 1;
    else if (strcasecmp(isa, "avxvnni") == 0)
        level = 1, vnni = 1;
    else if (strcasecmp(isa, "avx512") == 0)
        level = 2;
    else
        return mc_fail(d, MC_ERR_ARG,
                       "kernels: unknown kernel set '%s' (ref, avx2, avxvnni, avx512, auto)", isa);
    if (!mc_kernels_isa_available(isa))
        return mc_fail(d, MC_ERR_UNSUPPORTED,
                       "kernels: this CPU cannot run the '%s' kernels (best here: %s)", isa,
                       mc_kernels_isa_best());
    mc_kernels_fill_ref(out);
#if MC_KERNELS_X86
    if (level >= 1)
        mc_kernels_fill_avx2(out);
    if (vnni)
        mc_kernels_fill_avxvnni(out);
    if (level >= 2)
        mc_kernels_fill_avx512(out);
#endif
    return MC_OK;
}

mc_err mc_kernels_init(const char *isa, mc_diag *d)
{
    mc_kernel_table t;
    mc_err e = mc_kernels_table_for(isa, &t, d);
    if (e != MC_OK)
        return e;
    g_tab = t;
    atomic_store_explicit(&g_ready, 1, memory_order_release);
    return MC_OK;
}

static void auto_init(void)
{
    if (!atomic_load_explicit(&g_ready, memory_order_acquire) &&
        mc_kernels_table_for(NULL, &g_tab, NULL) == MC_OK)
        atomic_store_explicit(&g_ready, 1, memory_order_release);
}

static const mc_kernel_table *K(void)
{
    if (__builtin_expect(!atomic_load_explicit(&g_ready, memory_order_acquire), 0))
        pthread_once(&g_once, auto_init);
    return &g_tab;
}

const char *mc_kernels_isa(void)
{
    return K()->isa;
}

/* ---- types ---- */

int mc_kernels_type_supported(mc_dtype t)
{
    return mc_kernels_block_elems(t) != 0;
}

int64_t mc_kernels_block_elems(mc_dtype t)
{
    switch (t) {
    case MC_DT_F32:
    case MC_DT_F16:
    case MC_DT_BF16: return 1;
    case MC_DT_Q8_0:
    case MC_DT_Q4_0: return MC_QK;
    case MC_DT_Q4_K:
    case MC_DT_Q6_K: return MC_QK_K;
    default: return 0;
    }
}

size_t mc_kernels_block_bytes(mc_dtype t)
{
    int64_t be = mc_kernels_block_elems(t);
    return be ? mc_type_bytes(t, be) : 0;
}

mc_err mc_kernels_row_bytes(mc_dtype t, int64_t n, size_t *out, mc_diag *d)
{
    int64_t be = mc_kernels_block_elems(t);
    if (be == 0)
        return mc_fail(d, MC_ERR_UNSUPPORTED, "kernels: type %s is not supported by the engine",
                       mc_dtype_name(t));
    if (n < 0 || n % be != 0)
        return mc_fail(d, MC_ERR_ARG,
                       "kernels: a %s row of %lld elements is not a whole number of %lld-element "
                       "blocks",
                       mc_dtype_name(t), (long long)n, (long long)be);
    if ((uint64_t)(n / be) > SIZE_MAX / 4 / mc_kernels_block_bytes(t))
        return mc_fail(d, MC_ERR_RANGE, "kernels: a %s row of %lld elements is too large",
                       mc_dtype_name(t), (long long)n);
    *out = mc_type_bytes(t, n);
    return MC_OK;
}

static void check_row(mc_dtype t, int64_t n)
{
    int64_t be = mc_kernels_block_elems(t);
    MC_KASSERT(be != 0 && n >= 0 && n % be == 0);
}

/* ---- forwarding ---- */

void mc_kernels_dequant_row(mc_dtype t, const void *src, float *dst, int64_t n)
{
    check_row(t, n);
    K()->dequant[t](src, dst, n);
}

void mc_kernels_quant_row(mc_dtype t, const float *src, void *dst, int64_t n)
{
    check_row(t, n);
    K()->quant[t](src, dst, n);
}

size_t mc_kernels_act_row_bytes(mc_dtype wt, int64_t n)
{
    check_row(wt, n);
    return mc_act_bytes(wt, n);
}

void mc_kernels_quant_act(mc_dtype wt, const float *x, void *xq, int64_t n)
{
    check_row(wt, n);
    K()->quant_act[wt](x, xq, n);
}

void mc_kernels_matmul(const mc_matmul *mm)
{
    check_row(mm->wtype, mm->cols);
    MC_KASSERT(mm->r0 >= 0 && mm->r0 <= mm->r1 && mm->n_tok >= 0);
    MC_KASSERT(mm->n_tok <= 1 ||
               (mm->x_stride % 4 == 0 && mm->x_stride >= mc_act_bytes(mm->wtype, mm->cols)));
    if (mm->r0 == mm->r1 || mm->n_tok == 0 || mm->cols == 0) {
        for (int64_t t = 0; t < mm->n_tok; t++)
            for (int64_t r = mm->r0; r < mm->r1; r++)
                mm->y[t * mm->y_stride + r] = 0.0f;
        return;
    }
    if (mm->layout == MC_WLAYOUT_GGML) {
        K()->matmul[mm->wtype](mm);
        return;
    }
    MC_KASSERT(mm->layout == MC_WLAYOUT_R16 && mm->rows >= mm->r1);
    MC_KASSERT(K()->matmul_r16[mm->wtype] && "R16 layout for this weight type");
    K()->matmul_r16[mm->wtype](mm);
}

mc_wlayout mc_kernels_best_layout(mc_dtype t, int64_t rows)
{
    if (!mc_kernels_type_supported(t) || rows < MC_R16 || !K()->r16_native[t])
        return MC_WLAYOUT_GGML;
    return MC_WLAYOUT_R16;
}

void mc_kernels_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    MC_KASSERT(n > 0);
    K()->rmsnorm(out, x, w, n, eps);
}

void mc_kernels_rope_table(float *cs, int64_t n_rot, int64_t pos, double theta, double freq_scale)
{
    for (int64_t i = 0; i < n_rot / 2; i++) {
        double a = (double)pos * freq_scale * pow(theta, -2.0 * (double)i / (double)n_rot);
        cs[2 * i] = (float)cos(a);
        cs[2 * i + 1] = (float)sin(a);
    }
}

void mc_kernels_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float *cs,
                     int neox)
{
    MC_KASSERT(n_rot >= 0 && n_rot % 2 == 0 && n_rot <= head_dim);
    K()->rope(x, n_heads, head_dim, n_rot, cs, neox);
}

void mc_kernels_softmax(float *x, int64_t n)
{
    MC_KASSERT(n > 0);
    K()->softmax(x, n);
}

void mc_kernels_swiglu(float *out, const float *a, const float *b, int64_t n)
{
    K()->swiglu(out, a, b, n);
}

void mc_kernels_add(float *out, const float *a, const float *b, int64_t n)
{
    K()->add(out, a, b, n);
}

void mc_kernels_scale(float *x, float s, int64_t n)
{
    K()->scale(x, s, n);
}

void mc_kernels_axpy(float *y, float a, const float *x, int64_t n)
{
    K()->axpy(y, a, x, n);
}

static int kv_index(mc_dtype t)
{
    MC_KASSERT(t == MC_DT_F32 || t == MC_DT_F16);
    return t == MC_DT_F16;
}

void mc_kernels_attn_scores(float *s, const float *q, const void *k, mc_dtype kt, size_t k_stride,
                            int64_t n, int64_t head_dim, float scale)
{
    K()->attn_scores[kv_index(kt)](s, q, k, k_stride, n, head_dim, scale);
}

void mc_kernels_attn_accum(float *out, const float *p, const void *v, mc_dtype vt, size_t v_stride,
                           int64_t n, int64_t head_dim)
{
    K()->attn_accum[kv_index(vt)](out, p, v, v_stride, n, head_dim);
}

uint64_t mc_kernels_read_sum(const void *p, size_t bytes, int streams)
{
    MC_KASSERT(bytes % 64 == 0 && (uintptr_t)p % 64 == 0 && (streams == 1 || streams == 4));
    return K()->read_sum(p, bytes, streams);
}

double mc_kernels_fma_loop(int64_t iters)
{
    return K()->fma_loop(iters);
}

float mc_kernels_f16_to_f32(uint16_t h)
{
    return mc_h2f(h);
}
uint16_t mc_kernels_f32_to_f16(float f)
{
    return mc_f2h(f);
}
float mc_kernels_bf16_to_f32(uint16_t h)
{
    return mc_bf2f(h);
}
uint16_t mc_kernels_f32_to_bf16(float f)
{
    return mc_f2bf(f);
}
