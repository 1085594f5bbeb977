/* hw: the hardware catalogue (accelerators and CPUs), name normalisation, and the probe that
 * measures this machine.
 *
 * The catalogue is a data file (mc_catalogue_dir()/hardware.csv, format in docs/HARDWARE.md).
 * FLOP/s figures are DENSE peaks (tables that quote "with 2:4 sparsity" are halved on entry).
 * A `local` entry written by `moecap probe` (mc_cache_dir()/local-hw.json) is accepted by every
 * lookup. Names are case-insensitive; aliases cover what nvidia-smi / rocm-smi print and the
 * MoE-CAP reference's gpu_raw_type keys (e.g. "NVIDIA-H100-HBM3-80GB").
 *
 * Ownership: mc_hw values are plain structs copied out to the caller. Thread safety: reentrant. */
#ifndef MC_HW_H
#define MC_HW_H

#include "base.h"
#include "model.h" /* mc_prec */

typedef enum mc_hw_kind { MC_HW_GPU = 0, MC_HW_CPU, MC_HW_SOC } mc_hw_kind;

typedef struct mc_hw {
    char name[64];              /* normalised, e.g. "h100-sxm-80gb" */
    char vendor[32];
    mc_hw_kind kind;
    double mem_bytes;           /* device memory (CPU: typical DRAM configuration, see source) */
    double mem_bw_Bps;          /* peak memory bandwidth, bytes/s */
    double flops[MC_PREC_COUNT];/* dense peak FLOP/s (int8: OP/s) per compute precision; 0 = n/a */
    double tdp_w;               /* board / package power, watts */
    double price_usd;           /* purchase price of one device */
    double host_link_Bps;       /* host link (PCIe / C2C), bytes/s per direction */
    double scaleup_link_Bps;    /* NVLink / Infinity Fabric per device, bytes/s; 0 = none */
    double slow_tier_Bps;       /* probe only: measured slow-tier (disk) read bandwidth; 0 = unknown */
    char source[256];           /* where the figures come from */
} mc_hw;

/* A deployment: n identical devices. */
typedef struct mc_hw_deploy {
    mc_hw hw;
    int count;
} mc_hw_deploy;

/* Finds a device by name or alias, or "local". Matching is case-insensitive and tolerant:
 * spaces and underscores count as '-', runs of '-' collapse, ends are trimmed (so
 * "H100 SXM 80GB", "h100_sxm_80gb" and "NVIDIA H100 80GB HBM3" all work). Unknown names give
 * MC_ERR_NOT_FOUND with up to three close names in the message; a malformed catalogue gives
 * MC_ERR_FORMAT naming file:line:column. */
mc_err mc_hw_lookup(const char *name, mc_hw *out, mc_diag *d);
/* Parses "NAME" or "NAMExN" / "NAMEXN" (e.g. "h100-sxm-80gbx8", "mi300x x4"), N in 1..4096.
 * An exact name/alias match wins; only a trailing x<digits> (optionally preceded by ' ', '-' or
 * '_') is read as a count, so names containing 'x' ("mi300x", "rtx-a6000") are safe. */
mc_err mc_hw_parse_deploy(const char *spec, mc_hw_deploy *out, mc_diag *d);
/* Every catalogue entry (not "local"), in file order. Free *list with mc_free. */
mc_err mc_hw_list(mc_hw **list, int *count, mc_diag *d);
/* The normalised form used for matching: lower case, ' ' and '_' -> '-', repeated '-' collapsed,
 * leading/trailing '-' dropped. Truncates to cap-1 bytes; returns the full normalised length. */
size_t mc_hw_normalise(const char *in, char *out, size_t cap);
const char *mc_hw_kind_name(mc_hw_kind k); /* "gpu", "cpu", "soc" */

/* ---- probe ---- */
typedef struct mc_probe_opts {
    int max_threads;      /* 0 = nproc (CPUs in this process's affinity mask) */
    size_t array_bytes;   /* per-run working set; 0 = max(1 GiB, 4 x LLC) */
    int repeats;          /* best of; 0 = default 5 */
    const char *kernel;   /* NULL/"" = best for this CPU; "avx512", "avx2" or "scalar" */
} mc_probe_opts;

typedef struct mc_probe_result {
    int n_threads;            /* entries in bw_Bps_by_threads */
    double bw_Bps_by_threads[256]; /* best read bandwidth using 1..n threads */
    double bw_Bps;            /* best over thread counts */
    double fma_flops;         /* peak f32 FMA FLOP/s with all threads */
    double fma_flops_1t;
    char cpu_model[128];
    char isa[64];             /* kernel used, e.g. "avx2" */
    double array_bytes;       /* working set actually read per run */
    double llc_bytes;         /* last-level cache size found (0 = unknown) */
    int repeats;              /* runs per thread count (best kept) */
    /* slow tier (mc_probe_slow_tier); 0 = not measured. mc_probe_save_local writes these. */
    double slow_tier_Bps;
    char slow_tier_method[160]; /* "" or how it was read, e.g. "O_DIRECT, 1 MiB reads, 4 in flight" */
} mc_probe_result;

/* Measures memory read bandwidth (1..max_threads pinned threads, each reading its own slice of
 * one array far larger than the LLC) and peak f32 FMA FLOP/s. Takes a few seconds at defaults.
 * o may be NULL (all defaults). */
mc_err mc_probe_run(const mc_probe_opts *o, mc_probe_result *r, mc_diag *d);
/* Saves the result as the `local` hardware entry (mc_cache_dir()/local-hw.json, written
 * atomically; the directory is created). */
mc_err mc_probe_save_local(const mc_probe_result *r, mc_diag *d);
/* mc_probe_save_local keeps the slow tier of an entry already saved when r has none (a memory
 * probe without --slow-tier does not forget the disk). mc_probe_save_slow_tier updates only the
 * slow tier of the saved entry (MC_ERR_NOT_FOUND when there is none: run the probe first). */
mc_err mc_probe_save_slow_tier(double bw_Bps, const char *method, mc_diag *d);
/* Where mc_probe_save_local writes (static buffer; follows MOECAP_CACHE_DIR at each call). */
const char *mc_probe_local_path(void);

/* ---- slow tier (`moecap probe --slow-tier DIR`, docs/HARDWARE.md "Slow tier") ----
 * Sequential read bandwidth of a temporary file written in dir: the file is created unlinked
 * (O_TMPFILE, else mkstemp + immediate unlink), so it disappears on any exit, SIGINT included;
 * written, fsync'd and evicted (posix_fadvise DONTNEED); then read with O_DIRECT in
 * block_bytes aligned reads, `depth` in flight (one thread each), best of `repeats`. When the
 * filesystem refuses O_DIRECT (tmpfs) the reads are buffered after DONTNEED and `direct` is 0:
 * on tmpfs that measures memory, not a disk. */
typedef struct mc_probe_slow_opts {
    const char *dir;     /* required */
    uint64_t size_bytes; /* file size; 0 = 1 GiB; rounded down to whole blocks, >= 1 block */
    size_t block_bytes;  /* read size; 0 = 1 MiB; a multiple of 4096 */
    int depth;           /* reads in flight; 0 = 4; 1..64 */
    int repeats;         /* 0 = 3; 1..100 */
} mc_probe_slow_opts;

typedef struct mc_probe_slow_result {
    double bw_Bps;          /* best of the runs */
    double run_Bps[100];    /* each run */
    int repeats;
    int direct;             /* 1: O_DIRECT reads; 0: buffered after DONTNEED */
    int ram_backed;         /* 1: dir is on tmpfs / ramfs, so this measured memory, not a disk */
    double size_bytes;      /* bytes read per run */
    double block_bytes;
    int depth;
    char method[160];       /* one line: how it was read */
} mc_probe_slow_result;

mc_err mc_probe_slow_tier(const mc_probe_slow_opts *o, mc_probe_slow_result *r, mc_diag *d);
/* "O_DIRECT, 1 MiB reads, 4 in flight" / "buffered after posix_fadvise DONTNEED (O_DIRECT refused
 * by the filesystem), ...": the one-line description of a result's method. */
void mc_probe_slow_method(const mc_probe_slow_result *r, char *buf, size_t cap);

/* ---- memory prices (mc_catalogue_dir()/memory.csv, format in docs/HARDWARE.md) ---- */
typedef struct mc_mem_price {
    char tier[32];       /* e.g. "ddr5-rdimm", "nvme-dc", "hbm3" */
    double usd_per_gb;   /* $ per 10^9 bytes, > 0 */
    int estimate;        /* 1: an estimate (no list or contract price) */
    char date[16];       /* when the source's price applies, YYYY-MM */
    char source[256];    /* citation */
    char notes[256];
} mc_mem_price;

/* Reads the table; *list is heap (mc_free). Errors name file:line:column. */
mc_err mc_hw_mem_prices_load(mc_mem_price **list, int *count, mc_diag *d);
/* Parses a table held in data (len bytes, modified in place); path names it in errors. */
mc_err mc_hw_mem_prices_parse(char *data, size_t len, const char *path, mc_mem_price **list,
                              int *count, mc_diag *d);

#endif
