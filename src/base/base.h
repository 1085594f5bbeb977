/* base: the dependency-free floor of moecap.
 *
 * Errors with a human message (mc_err + mc_diag), the allocation wrapper every module uses
 * (a test build can make the n-th call fail), the monotonic clock, a seeded RNG, strict number
 * parsing, capped file reading, atomic file writing and the data-directory settings.
 * Nothing here prints; nothing here depends on another moecap module.
 * Thread safety: everything is reentrant except mc_alloc_fail_* (test-only, global). */
#ifndef MC_BASE_H
#define MC_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define MC_VERSION "0.1.0"

/* ---- errors -------------------------------------------------------------------------------- */

typedef enum mc_err {
    MC_OK = 0,
    MC_ERR_ARG,         /* bad option or argument from the user */
    MC_ERR_IO,          /* open/read/write failed */
    MC_ERR_FORMAT,      /* file or message content is malformed */
    MC_ERR_RANGE,       /* a value is out of its allowed range (incl. overflow) */
    MC_ERR_UNSUPPORTED, /* well-formed but not supported (model type, tensor type, ...) */
    MC_ERR_NOT_FOUND,   /* a named thing (model, hardware, key) does not exist */
    MC_ERR_NOMEM,       /* allocation failed */
    MC_ERR_NET,         /* network / HTTP failure */
    MC_ERR_INTERNAL     /* a bug; should not happen */
} mc_err;

/* Diagnostics buffer: the one-line human message that accompanies an error. Optional everywhere
 * (pass NULL when the caller does not care). */
typedef struct mc_diag {
    char msg[512];
} mc_diag;

const char *mc_err_name(mc_err e);

/* Writes the message (printf format) into d (if d != NULL) and returns e, so callers can write
 * `return mc_fail(d, MC_ERR_FORMAT, "gguf: %s: bad magic", path);`. */
mc_err mc_fail(mc_diag *d, mc_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
mc_err mc_vfail(mc_diag *d, mc_err e, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Prepends "prefix: " to the message already in d (for adding file/context names). */
void mc_diag_prefix(mc_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- allocation ------------------------------------------------------------------------------
 * All heap allocation in moecap goes through these, so the torture test can fail the n-th call.
 * mc_free(NULL) is a no-op. mc_strdup/mc_strndup return NULL on failure. Overflow-checked
 * array helpers return NULL when n*size overflows. */
void *mc_malloc(size_t size);
void *mc_calloc(size_t n, size_t size);
void *mc_realloc(void *p, size_t size);
void *mc_mallocarray(size_t n, size_t size);
void *mc_reallocarray(void *p, size_t n, size_t size);
char *mc_strdup(const char *s);
char *mc_strndup(const char *s, size_t n);
void mc_free(void *p);

/* Test hook: make allocation number n (1-based, counted from this call) fail; 0 disables. */
void mc_alloc_fail_at(uint64_t n);
uint64_t mc_alloc_count(void);
/* Allocations that returned NULL since the process started (injected or real). A parser that
 * cannot tell "out of memory" from "invalid input" (cJSON returns NULL for both) compares this
 * before and after, so that memory pressure is never taken for a bad record. */
uint64_t mc_alloc_failures(void);

/* ---- growable byte buffer with a hard cap ----------------------------------------------------*/
typedef struct mc_buf {
    char *data;     /* NUL-terminated after every append (data[len] == 0) */
    size_t len;
    size_t cap;     /* allocated bytes */
    size_t max;     /* hard cap on len; 0 = SIZE_MAX/2 */
} mc_buf;

void mc_buf_init(mc_buf *b, size_t max);
void mc_buf_deinit(mc_buf *b);
mc_err mc_buf_append(mc_buf *b, const void *p, size_t n);
mc_err mc_buf_printf(mc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mc_buf_reset(mc_buf *b);

/* ---- clock -------------------------------------------------------------------------------- */
typedef uint64_t mc_ns; /* monotonic nanoseconds (CLOCK_MONOTONIC) */

mc_ns mc_now_ns(void);
double mc_ns_to_s(mc_ns ns);

/* ---- RNG: xoshiro256** seeded with splitmix64; reproducible across platforms ---------------- */
typedef struct mc_rng {
    uint64_t s[4];
} mc_rng;

void mc_rng_seed(mc_rng *r, uint64_t seed);
uint64_t mc_rng_u64(mc_rng *r);
double mc_rng_uniform(mc_rng *r);            /* [0, 1) with 53 random bits */
uint64_t mc_rng_below(mc_rng *r, uint64_t n); /* uniform in [0, n), n > 0, unbiased */
double mc_rng_normal(mc_rng *r);             /* standard normal (Box-Muller) */

/* ---- strict number parsing: whole string consumed, range and errno checked ------------------ */
mc_err mc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
mc_err mc_parse_u64(const char *s, uint64_t *out);
mc_err mc_parse_f64(const char *s, double *out); /* finite values only */
/* Sizes like "512", "64k", "16M", "2G" (binary multiples) into bytes. */
mc_err mc_parse_size(const char *s, uint64_t *out);

/* ---- files ---------------------------------------------------------------------------------- */
/* Reads a whole file (at most max bytes, else MC_ERR_RANGE) into a NUL-terminated heap buffer. */
mc_err mc_read_file(const char *path, size_t max, char **out, size_t *len, mc_diag *d);
/* Writes data to path atomically: a hidden DIR/.NAME.tmp.<pid> + fsync + rename. Never leaves a
 * partial file at path; a process killed before the rename may leave the hidden temporary. */
mc_err mc_write_file_atomic(const char *path, const void *data, size_t len, mc_diag *d);
/* mkdir -p */
mc_err mc_mkdirs(const char *path, mc_diag *d);

/* ---- this machine ---------------------------------------------------------------------------
 * Memory the kernel could hand out now without swapping: /proc/meminfo's MemAvailable (free pages
 * plus the page cache it can drop), else free pages (sysconf), else 0 when neither is known.
 * mc_meminfo_available parses a /proc/meminfo text: 0 and *bytes set, or -1 when it has no
 * well-formed MemAvailable line. */
uint64_t mc_mem_available(void);
int mc_meminfo_available(const char *text, uint64_t *bytes);

/* ---- settings: where things live -------------------------------------------------------------
 * Catalogue directory (data/models/NAME.json, data/hardware.csv): env MOECAP_CATALOGUE_DIR, else the
 * source tree's data/ compiled in. Evaluation data: env MOECAP_DATA_DIR, else ../shared/data
 * relative to the source tree. Cache (probe results, generated models): env MOECAP_CACHE_DIR, else
 * $XDG_CACHE_HOME/moecap, else $HOME/.cache/moecap. Returned strings are static or from getenv. */
const char *mc_catalogue_dir(void);
const char *mc_data_dir(void);
const char *mc_cache_dir(void);

#endif
