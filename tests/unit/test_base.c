/* test_base.c: errors, allocation hook, capped buffers, parsing, RNG, atomic files. */
#include "base.h"
#include "harness.h"

#include <dirent.h>
#include <sys/stat.h>

TEST(diag_and_fail)
{
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_fail(&d, MC_ERR_FORMAT, "x: %d", 42), MC_ERR_FORMAT);
    CHECK_STR(d.msg, "x: 42");
    mc_diag_prefix(&d, "file %s", "a.json");
    CHECK_STR(d.msg, "file a.json: x: 42");
    CHECK_EQ_INT(mc_fail(NULL, MC_ERR_IO, "ignored"), MC_ERR_IO);
}

TEST(alloc_fail_at)
{
    mc_alloc_fail_at(2);
    void *a = mc_malloc(8), *b = mc_malloc(8), *c = mc_malloc(8);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    mc_free(a);
    mc_free(c);
    mc_alloc_fail_at(0);
    CHECK(mc_mallocarray(SIZE_MAX / 2, 4) == NULL); /* overflow refused */
}

TEST(buf_cap)
{
    mc_buf b;
    mc_buf_init(&b, 10);
    CHECK_EQ_INT(mc_buf_append(&b, "hello", 5), MC_OK);
    CHECK_EQ_INT(mc_buf_printf(&b, "%d", 1234), MC_OK);
    CHECK_STR(b.data, "hello1234");
    CHECK_EQ_INT(mc_buf_append(&b, "xy", 2), MC_ERR_RANGE); /* would exceed 10 */
    CHECK_EQ_INT(b.len, 9);
    mc_buf_deinit(&b);
}

TEST(parse_numbers)
{
    int64_t i;
    double f;
    uint64_t u;
    CHECK_EQ_INT(mc_parse_i64("42", 0, 100, &i), MC_OK);
    CHECK_EQ_INT(i, 42);
    CHECK_EQ_INT(mc_parse_i64("42x", 0, 100, &i), MC_ERR_FORMAT);
    CHECK_EQ_INT(mc_parse_i64("", 0, 100, &i), MC_ERR_FORMAT);
    CHECK_EQ_INT(mc_parse_i64(" 4", 0, 100, &i), MC_ERR_FORMAT);
    CHECK_EQ_INT(mc_parse_i64("101", 0, 100, &i), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_parse_i64("99999999999999999999", 0, INT64_MAX, &i), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_parse_f64("0.25", &f), MC_OK);
    CHECK_NEAR(f, 0.25, 0);
    CHECK_EQ_INT(mc_parse_f64("nan", &f), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_parse_f64("1e999", &f), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_parse_u64("-1", &u), MC_ERR_FORMAT);
    CHECK_EQ_INT(mc_parse_size("16M", &u), MC_OK);
    CHECK_EQ_INT(u, 16 << 20);
    CHECK_EQ_INT(mc_parse_size("2GiB", &u), MC_OK);
    CHECK_EQ_INT(u, 2ull << 30);
    CHECK_EQ_INT(mc_parse_size("5q", &u), MC_ERR_FORMAT);
}

TEST(meminfo_available)
{
    uint64_t b = 7;
    /* MemAvailable is what counts, not MemFree: 1,048,576 kB = 1 GiB */
    CHECK_EQ_INT(mc_meminfo_available("MemTotal:       24000000 kB\n"
                                      "MemFree:          500000 kB\n"
                                      "MemAvailable:    1048576 kB\n"
                                      "Buffers:           12 kB\n",
                                      &b),
                 0);
    CHECK(b == 1ull << 30);
    b = 7;
    CHECK_EQ_INT(mc_meminfo_available("MemTotal: 10 kB\nMemFree: 5 kB\n", &b),
                 -1); /* old kernels */
    CHECK_EQ_INT(mc_meminfo_available("MemAvailable: lots\n", &b), -1);
    CHECK_EQ_INT(mc_meminfo_available("MemAvailable: -0 kB\n", &b), -1); /* strtoull takes "-0" */
    CHECK_EQ_INT(mc_meminfo_available("MemAvailable: 5 MB\n", &b), -1);
    CHECK_EQ_INT(mc_meminfo_available("MemAvailable: 99999999999999999999 kB\n", &b), -1);
    CHECK_EQ_INT(mc_meminfo_available("", &b), -1);
    CHECK(b == 7);
    CHECK(mc_mem_available() > 0); /* this machine has /proc/meminfo or sysconf */
}

TEST(rng_reproducible)
{
    mc_rng a, b;
    mc_rng_seed(&a, 7);
    mc_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        CHECK(mc_rng_u64(&a) == mc_rng_u64(&b));
    /* uniform mean ~ 0.5 over many draws (sd of mean = 0.289/sqrt(n)) */
    double s = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        double u = mc_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        s += u;
    }
    CHECK_NEAR(s / n, 0.5, 0.005);
    for (int i = 0; i < 1000; i++)
        CHECK(mc_rng_below(&a, 7) < 7);
}

TEST(atomic_write_and_read)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/sub/dir", harness_tmpdir());
    CHECK_EQ_INT(mc_mkdirs(path, NULL), MC_OK);
    snprintf(path, sizeof path, "%s/sub/dir/f.txt", harness_tmpdir());
    CHECK_EQ_INT(mc_write_file_atomic(path, "abc", 3, NULL), MC_OK);
    char *data = NULL;
    size_t len = 0;
    CHECK_EQ_INT(mc_read_file(path, 100, &data, &len, NULL), MC_OK);
    CHECK_EQ_INT(len, 3);
    CHECK_STR(data, "abc");
    mc_free(data);
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_read_file(path, 2, &data, &len, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "f.txt");
    CHECK_EQ_INT(mc_read_file("/nonexistent/x", 2, &data, &len, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "/nonexistent/x");
    /* a failed rename (the target is a directory) leaves no temporary behind, and a good write
     * leaves only its file: the directory holds exactly f.txt and adir */
    snprintf(path, sizeof path, "%s/sub/dir/adir", harness_tmpdir());
    CHECK_EQ_INT(mc_mkdirs(path, NULL), MC_OK);
    CHECK_EQ_INT(mc_write_file_atomic(path, "abc", 3, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "rename failed");
    snprintf(path, sizeof path, "%s/sub/dir", harness_tmpdir());
    DIR *dh = opendir(path);
    int entries = 0, others = 0;
    for (struct dirent *e; dh && (e = readdir(dh)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        entries++;
        others += strcmp(e->d_name, "f.txt") != 0 && strcmp(e->d_name, "adir") != 0;
    }
    if (dh)
        closedir(dh);
    CHECK_EQ_INT(entries, 2);
    CHECK_EQ_INT(others, 0);
}

int main(void)
{
    RUN(diag_and_fail);
    RUN(alloc_fail_at);
    RUN(buf_cap);
    RUN(parse_numbers);
    RUN(meminfo_available);
    RUN(rng_reproducible);
    RUN(atomic_write_and_read);
    return harness_done();
}
