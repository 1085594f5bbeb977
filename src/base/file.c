/* file.c: capped whole-file reads, atomic writes, mkdir -p and the directory settings.
 * Depends on nothing but libc/POSIX. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MC_SOURCE_DIR
#define MC_SOURCE_DIR "."
#endif

mc_err mc_read_file(const char *path, size_t max, char **out, size_t *len, mc_diag *d)
{
    mc_err e = MC_OK;
    char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mc_fail(d, MC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        e = mc_fail(d, MC_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        e = mc_fail(d, MC_ERR_RANGE, "%s: file is %lld bytes, limit is %zu", path,
                    (long long)st.st_size, max);
        goto out;
    }
    size_t n = (size_t)st.st_size, got = 0;
    data = mc_malloc(n + 1);
    if (!data) {
        e = mc_fail(d, MC_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
        goto out;
    }
    while (got < n) {
        ssize_t r = read(fd, data + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = mc_fail(d, MC_ERR_IO, "%s: read failed: %s", path,
                        r < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)r;
    }
    data[n] = 0;
    *out = data;
    data = NULL;
    if (len)
        *len = n;
out:
    mc_free(data);
    close(fd);
    return e;
}

mc_err mc_write_file_atomic(const char *path, const void *data, size_t len, mc_diag *d)
{
    /* The temporary file is hidden (".NAME.tmp.PID" beside NAME): a process killed before the
     * rename leaves it, and a reader listing the directory or globbing NAME* must not take it
     * for the result. */
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    int n =
        snprintf(tmp, sizeof tmp, "%.*s.%s.tmp.%ld", dir_len, path, path + dir_len, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return mc_fail(d, MC_ERR_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return mc_fail(d, MC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            mc_fail(d, MC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return MC_ERR_IO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return mc_fail(d, MC_ERR_IO, "%s: sync/close failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return mc_fail(d, MC_ERR_IO, "%s: rename failed: %s", path, strerror(err));
    }
    return MC_OK;
}

mc_err mc_mkdirs(const char *path, mc_diag *d)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return mc_fail(d, MC_ERR_ARG, "mkdir: bad path '%s'", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return mc_fail(d, MC_ERR_IO, "%s: cannot create directory: %s", buf,
                               strerror(errno));
            *p = c;
            if (c == 0)
                break;
        }
    }
    return MC_OK;
}

int mc_meminfo_available(const char *text, uint64_t *bytes)
{
    static const char key[] = "MemAvailable:";
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, key, sizeof key - 1) != 0)
            continue;
        const char *v = l + sizeof key - 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v < '0' || *v > '9') /* strtoull would take a sign */
            return -1;
        char *end;
        errno = 0;
        unsigned long long kib = strtoull(v, &end, 10);
        while (*end == ' ')
            end++;
        if (errno || strncmp(end, "kB", 2) != 0 || kib > UINT64_MAX / 1024)
            return -1;
        *bytes = (uint64_t)kib * 1024;
        return 0;
    }
    return -1;
}

uint64_t mc_mem_available(void)
{
    char text[16384]; /* /proc files report no size: read what fits, MemAvailable is line 3 */
    uint64_t bytes = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
        if (mc_meminfo_available(text, &bytes) == 0)
            return bytes;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
}

const char *mc_catalogue_dir(void)
{
    const char *e = getenv("MOECAP_CATALOGUE_DIR");
    return (e && *e) ? e : MC_SOURCE_DIR "/data";
}

const char *mc_data_dir(void)
{
    const char *e = getenv("MOECAP_DATA_DIR");
    return (e && *e) ? e : MC_SOURCE_DIR "/../shared/data";
}

const char *mc_cache_dir(void)
{
    static char buf[4096];
    const char *e = getenv("MOECAP_CACHE_DIR");
    if (e && *e)
        return e;
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && *x) {
        snprintf(buf, sizeof buf, "%s/moecap", x);
        return buf;
    }
    const char *h = getenv("HOME");
    snprintf(buf, sizeof buf, "%s/.cache/moecap", (h && *h) ? h : "/tmp");
    return buf;
}
