/* probe_slow.c: `moecap probe --slow-tier DIR`: sequential read bandwidth of the slow memory tier
 * (the disk that holds offloaded experts). A temporary file is written in DIR, made durable and
 * evicted from the page cache, then read with O_DIRECT in large aligned blocks by `depth`
 * threads pulling block numbers from one counter (so the reads stay sequential with `depth` in
 * flight), best of `repeats` runs. The file is created unlinked (O_TMPFILE, else mkstemp +
 * unlink at once), so nothing is left behind on an error, a signal or a crash.
 * Method and caveats: docs/HARDWARE.md "Slow tier". Depends on base only; never prints. */
#include "hw.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SLOW_ALIGN 4096u
#define SLOW_DEFAULT_SIZE (1ull << 30)
#define SLOW_DEFAULT_BLOCK (1u << 20)
#define SLOW_DEFAULT_DEPTH 4
#define SLOW_DEFAULT_REPEATS 3
#define SLOW_MAX_DEPTH 64
#define SLOW_TMPFS_MAGIC 0x01021994 /* linux/magic.h */
#define SLOW_RAMFS_MAGIC 0x858458f6

typedef struct slow_job {
    int fd;
    size_t block;
    int64_t nblocks;
    atomic_llong next;
    atomic_int err; /* first errno seen (0 = none); -1 = short read */
} slow_job;

typedef struct slow_worker {
    pthread_t th;
    slow_job *job;
    char *raw; /* mc_malloc'd; buf is its SLOW_ALIGN-aligned part */
    char *buf;
} slow_worker;

static char *aligned(char *raw)
{
    return raw + (SLOW_ALIGN - (uintptr_t)raw % SLOW_ALIGN) % SLOW_ALIGN;
}

/* ---- options ---- */

static mc_err resolve(const mc_probe_slow_opts *o, mc_probe_slow_opts *r, mc_diag *d)
{
    struct stat st;
    *r = *o;
    if (!o->dir || !o->dir[0])
        return mc_fail(d, MC_ERR_ARG, "slow tier: no directory given");
    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mc_fail(d, MC_ERR_ARG, "slow tier: '%s' is not a directory", o->dir);
    r->size_bytes = o->size_bytes ? o->size_bytes : SLOW_DEFAULT_SIZE;
    r->block_bytes = o->block_bytes ? o->block_bytes : SLOW_DEFAULT_BLOCK;
    r->depth = o->depth ? o->depth : SLOW_DEFAULT_DEPTH;
    r->repeats = o->repeats ? o->repeats : SLOW_DEFAULT_REPEATS;
    if (r->block_bytes % SLOW_ALIGN || r->block_bytes > (256u << 20))
        return mc_fail(d, MC_ERR_RANGE, "slow tier: block %zu bytes must be a multiple of 4096 "
                       "up to 256 MiB", r->block_bytes);
    if (r->size_bytes < r->block_bytes)
        return mc_fail(d, MC_ERR_RANGE, "slow tier: size %llu bytes is below one %zu-byte block",
                       (unsigned long long)r->size_bytes, r->block_bytes);
    if (r->depth < 1 || r->depth > SLOW_MAX_DEPTH || r->repeats < 1 || r->repeats > 100)
        return mc_fail(d, MC_ERR_RANGE, "slow tier: depth %d (1..%d) or repeats %d (1..100) out "
                       "of range", r->depth, SLOW_MAX_DEPTH, r->repeats);
    r->size_bytes -= r->size_bytes % r->block_bytes;
    struct statvfs vfs;
    if (statvfs(o->dir, &vfs) == 0 &&
        (double)vfs.f_bavail * (double)vfs.f_frsize < (double)r->size_bytes + (64 << 20))
        return mc_fail(d, MC_ERR_RANGE, "slow tier: %s has %.0f MiB free; the test file needs "
                       "%.0f MiB (+64 MiB spare): give a smaller --slow-tier-size", o->dir,
                       (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0,
                       (double)r->size_bytes / 1048576.0);
    return MC_OK;
}

/* ---- the file ---- */

/* An unlinked file in dir: it vanishes when fd is closed or the process dies. */
static mc_err open_tmp(const char *dir, int *fd, mc_diag *d)
{
#ifdef O_TMPFILE
    *fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (*fd >= 0)
        return MC_OK;
#endif
    char path[4096];
    if (snprintf(path, sizeof path, "%s/moecap-slowtier-XXXXXX", dir) >= (int)sizeof path)
        return mc_fail(d, MC_ERR_ARG, "slow tier: directory path too long");
    *fd = mkstemp(path);
    if (*fd < 0)
        return mc_fail(d, MC_ERR_IO, "slow tier: cannot create a file in %s: %s", dir,
                       strerror(errno));
    unlink(path);
    return MC_OK;
}

static void fill(char *buf, size_t n, uint64_t seed)
{
    mc_rng r;
    mc_rng_seed(&r, seed);
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = mc_rng_u64(&r);
        memcpy(buf + i, &v, 8);
    }
}

/* Writes size bytes of incompressible data, fsyncs and drops the pages from the page cache. */
static mc_err write_file(int fd, const mc_probe_slow_opts *o, char *buf, mc_diag *d)
{
    int64_t nb = (int64_t)(o->size_bytes / o->block_bytes);
    fill(buf, o->block_bytes, 0x5eed);
    for (int64_t b = 0; b < nb; b++) {
        memcpy(buf, &b, sizeof b); /* every block differs: no deduplication */
        for (size_t done = 0; done < o->block_bytes;) {
            ssize_t w = pwrite(fd, buf + done, o->block_bytes - done,
                               (off_t)b * (off_t)o->block_bytes + (off_t)done);
            if (w <= 0)
                return mc_fail(d, MC_ERR_IO, "slow tier: writing the test file in %s: %s", o->dir,
                               w < 0 ? strerror(errno) : "no progress");
            done += (size_t)w;
        }
    }
    if (fsync(fd) != 0)
        return mc_fail(d, MC_ERR_IO, "slow tier: fsync in %s: %s", o->dir, strerror(errno));
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    return MC_OK;
}

/* Switches fd to O_DIRECT and checks that an aligned read works; 0 when refused (tmpfs). */
static int try_direct(int fd, char *buf, size_t block)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
        return 0;
    if (pread(fd, buf, block, 0) == (ssize_t)block)
        return 1;
    fcntl(fd, F_SETFL, fl);
    return 0;
}

/* ---- reading ---- */

static void *reader(void *arg)
{
    slow_worker *w = arg;
    slow_job *j = w->job;
    for (;;) {
        long long b = atomic_fetch_add(&j->next, 1);
        if (b >= j->nblocks || atomic_load(&j->err))
            return NULL;
        ssize_t n = pread(j->fd, w->buf, j->block, (off_t)b * (off_t)j->block);
        if (n != (ssize_t)j->block) {
            int zero = 0;
            atomic_compare_exchange_strong(&j->err, &zero, n < 0 ? errno : -1);
            return NULL;
        }
    }
}

/* One run: every block read once by `depth` threads; returns seconds, or < 0 on error. */
static double read_run(slow_job *j, slow_worker *w, int depth, int direct)
{
    if (!direct)
        posix_fadvise(j->fd, 0, 0, POSIX_FADV_DONTNEED);
    atomic_store(&j->next, 0);
    atomic_store(&j->err, 0);
    int started = 0;
    mc_ns t0 = mc_now_ns();
    for (; started < depth; started++)
        if (pthread_create(&w[started].th, NULL, reader, &w[started]) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(w[i].th, NULL);
    double s = mc_ns_to_s(mc_now_ns() - t0);
    if (started == 0)
        atomic_store(&j->err, EAGAIN);
    return atomic_load(&j->err) ? -1 : (s > 1e-9 ? s : 1e-9);
}

static mc_err alloc_workers(slow_worker *w, int depth, size_t block, slow_job *j, mc_diag *d)
{
    for (int i = 0; i < depth; i++) {
        w[i].job = j;
        w[i].raw = mc_malloc(block + SLOW_ALIGN);
        if (!w[i].raw)
            return mc_fail(d, MC_ERR_NOMEM, "slow tier: out of memory");
        w[i].buf = aligned(w[i].raw);
    }
    return MC_OK;
}

static mc_err measure(slow_job *j, slow_worker *w, const mc_probe_slow_opts *o,
                      mc_probe_slow_result *r, mc_diag *d)
{
    r->direct = try_direct(j->fd, w[0].buf, o->block_bytes);
    for (int k = 0; k < o->repeats; k++) {
        double s = read_run(j, w, o->depth, r->direct);
        if (s < 0) {
            int err = atomic_load(&j->err);
            return mc_fail(d, MC_ERR_IO, "slow tier: reading the test file in %s: %s", o->dir,
                           err > 0 ? strerror(err) : "short read");
        }
        r->run_Bps[k] = (double)o->size_bytes / s;
        r->bw_Bps = r->run_Bps[k] > r->bw_Bps ? r->run_Bps[k] : r->bw_Bps;
    }
    return MC_OK;
}

void mc_probe_slow_method(const mc_probe_slow_result *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s, %.0f MiB file, %.0f KiB reads, %d in flight, best of %d%s",
             r->direct ? "O_DIRECT" : "buffered after posix_fadvise DONTNEED (O_DIRECT refused)",
             r->size_bytes / 1048576.0, r->block_bytes / 1024.0, r->depth, r->repeats,
             r->ram_backed ? "; on tmpfs/ramfs: memory, not a disk" : "");
}

static int ram_backed(const char *dir)
{
    struct statfs fs;
    return statfs(dir, &fs) == 0 &&
           ((unsigned long)fs.f_type == SLOW_TMPFS_MAGIC ||
            (unsigned long)fs.f_type == SLOW_RAMFS_MAGIC);
}

mc_err mc_probe_slow_tier(const mc_probe_slow_opts *o, mc_probe_slow_result *r, mc_diag *d)
{
    memset(r, 0, sizeof *r);
    mc_probe_slow_opts x;
    mc_err e = resolve(o, &x, d);
    if (e)
        return e;
    slow_job j = {.fd = -1, .block = x.block_bytes,
                  .nblocks = (int64_t)(x.size_bytes / x.block_bytes)};
    slow_worker w[SLOW_MAX_DEPTH];
    memset(w, 0, sizeof w);
    e = alloc_workers(w, x.depth, x.block_bytes, &j, d);
    if (!e)
        e = open_tmp(x.dir, &j.fd, d);
    if (!e)
        e = write_file(j.fd, &x, w[0].buf, d);
    if (!e)
        e = measure(&j, w, &x, r, d);
    if (j.fd >= 0)
        close(j.fd); /* the file was unlinked: closing removes it */
    for (int i = 0; i < x.depth; i++)
        mc_free(w[i].raw);
    r->repeats = x.repeats;
    r->size_bytes = (double)x.size_bytes;
    r->block_bytes = (double)x.block_bytes;
    r->depth = x.depth;
    r->ram_backed = ram_backed(x.dir);
    mc_probe_slow_method(r, r->method, sizeof r->method);
    return e;
}
