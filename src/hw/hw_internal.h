/* hw_internal.h: declarations shared by the hw module's files (not part of the public API; tests
 * and bench/probe_vs_stream.c include it to reach the probe kernels directly).
 *
 * The probe kernels live in per-ISA files compiled with their own flags (src/CMakeLists.txt):
 * probe_avx2.c (-mavx2 -mfma), probe_avx512.c (-mavx512f), and the scalar fallback plus the
 * one-time dispatch in probe_kernels.c. */
#ifndef MC_HW_INTERNAL_H
#define MC_HW_INTERNAL_H

#include "hw.h"

#include <stddef.h>
#include <stdint.h>

/* ---- probe kernels ---- */

/* Sums p[0..n) (any n, any 4-byte alignment) with enough independent accumulators that the loop
 * is limited by memory, not by add latency. The sum is the value the caller keeps so the reads
 * cannot be optimised away; it is exact for small integer-valued inputs (tests rely on that). */
typedef double (*mc_probe_read_fn)(const float *p, size_t n);
/* Runs iters iterations of independent f32 FMA chains; returns a checksum (finite). Each
 * iteration performs mc_probe_kernels.fma_flops_per_iter floating-point operations. */
typedef double (*mc_probe_fma_fn)(uint64_t iters);

typedef struct mc_probe_kernels {
    const char *isa; /* "avx512", "avx2" or "scalar" */
    mc_probe_read_fn read;
    mc_probe_fma_fn fma;
    double fma_flops_per_iter;
} mc_probe_kernels;

/* Fills *k with the kernels for isa ("avx512", "avx2", "scalar"), or the best this CPU supports
 * when isa is NULL or "". MC_ERR_UNSUPPORTED if the CPU (or build) lacks the requested ISA,
 * MC_ERR_ARG for an unknown name. The CPU is queried once. */
mc_err mc_probe_kernels_get(const char *isa, mc_probe_kernels *k, mc_diag *d);

double mc_probe_read_scalar(const float *p, size_t n);
double mc_probe_fma_scalar(uint64_t iters);
#if defined(__x86_64__) || defined(__i386__)
double mc_probe_read_avx2(const float *p, size_t n);
double mc_probe_fma_avx2(uint64_t iters);
double mc_probe_read_avx512(const float *p, size_t n);
double mc_probe_fma_avx512(uint64_t iters);
#endif
#define MC_PROBE_FMA_ACC 12 /* independent accumulators in every FMA kernel */

/* ---- the `local` entry (local.c; its path is mc_probe_local_path() in hw.h) ---- */

/* Reads the local entry; MC_ERR_NOT_FOUND (with a hint to run `moecap probe`) when absent. */
mc_err mc_hw_local_load(mc_hw *out, mc_diag *d);

/* ---- CSV (catalogue.c; memprice.c reads data/memory.csv with it) ---- */

#define MC_CSV_MAX_FIELDS 32
typedef struct mc_csv_fields {
    char *f[MC_CSV_MAX_FIELDS];
    int n;
} mc_csv_fields;

/* Splits one line in place into fields (RFC 4180 quoting: "a,b" and "" for a quote; a quoted
 * field may not span lines). Errors name path:lineno and the field. */
mc_err mc_hw_csv_split(char *line, mc_csv_fields *out, const char *path, int lineno, mc_diag *d);

/* ---- small helpers shared by probe.c and local.c ---- */

/* "model name" of the first CPU in /proc/cpuinfo (or "unknown"); vendor is "intel", "amd",
 * "arm" or "unknown". */
void mc_hw_cpu_identity(char *model, size_t model_cap, char *vendor, size_t vendor_cap);

#endif
