/* test_hw_slow.c: the slow-tier probe (src/hw/probe_slow.c) on a small file in a temporary
 * directory: a result with every run recorded and the best kept, the method line, nothing left
 * in the directory, and the option errors (named). The bandwidth itself is machine-dependent and
 * only checked to be positive. */
#include "harness.h"
#include "hw.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static char dir[4096];

static int make_dir(void)
{
    const char *base = getenv("MOECAP_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/slowtier-unit-%ld", base ? base : "/tmp", (long)getpid());
    return mkdir(dir, 0700) == 0 || errno == EEXIST;
}

TEST(small_run)
{
    mc_probe_slow_opts o = {.dir = dir, .size_bytes = 1u << 20, .block_bytes = 256u << 10,
                            .depth = 2, .repeats = 2};
    mc_probe_slow_result r;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_OK);
    CHECK(r.bw_Bps > 0);
    CHECK_EQ_INT(r.repeats, 2);
    CHECK(r.run_Bps[0] > 0 && r.run_Bps[1] > 0);
    CHECK_NEAR(r.bw_Bps, fmax(r.run_Bps[0], r.run_Bps[1]), 0);
    CHECK_NEAR(r.size_bytes, 1 << 20, 0);
    CHECK_NEAR(r.block_bytes, 256 << 10, 0);
    CHECK_EQ_INT(r.depth, 2);
    CHECK(strstr(r.method, "1 MiB file, 256 KiB reads, 2 in flight, best of 2") != NULL);
    CHECK(strstr(r.method, r.direct ? "O_DIRECT" : "buffered") == r.method);
    CHECK_EQ_INT(dir_entries(dir), 0); /* the file was never linked into the directory */
    /* the size is rounded down to whole blocks */
    o.size_bytes = (1u << 20) + 1000;
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_OK);
    CHECK_NEAR(r.size_bytes, 1 << 20, 0);
}

TEST(option_errors)
{
    mc_probe_slow_result r;
    mc_diag d = {{0}};
    mc_probe_slow_opts o = {.dir = dir, .size_bytes = 1u << 20, .block_bytes = 1000};
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_ERR_RANGE);
    CHECK(strstr(d.msg, "multiple of 4096") != NULL);
    o.block_bytes = 0;
    o.size_bytes = 4096; /* below one default 1 MiB block */
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_ERR_RANGE);
    CHECK(strstr(d.msg, "below one") != NULL);
    o.size_bytes = 0;
    o.depth = 65;
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_ERR_RANGE);
    o.depth = 0;
    o.dir = "/nonexistent-moecap-dir";
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "slow tier: '/nonexistent-moecap-dir' is not a directory");
    o.dir = NULL;
    CHECK_EQ_INT(mc_probe_slow_tier(&o, &r, &d), MC_ERR_ARG);
    CHECK_EQ_INT(dir_entries(dir), 0);
}

int main(void)
{
    if (!make_dir()) {
        fprintf(stderr, "cannot create %s\n", dir);
        return 1;
    }
    RUN(small_run);
    RUN(option_errors);
    rmdir(dir);
    return harness_done();
}
