/* harness.h: the in-tree unit-test harness (header only), run under ctest.
 *
 *   TEST(name) { CHECK(x); CHECK_EQ_INT(a, b); CHECK_NEAR(a, b, tol); CHECK_STR(a, b); }
 *   int main(void) { RUN(name); ...; return harness_done(); }
 *
 * A failed check prints file:line and the values, marks the test failed and continues.
 * SKIP("why") inside a test marks the whole executable skipped (exit 77 = ctest SKIP_RETURN_CODE)
 * unless another test failed. Tests that need ../shared/data call harness_data_path(), which
 * returns NULL (and the caller SKIPs) when the data is absent. */
#ifndef MC_HARNESS_H
#define MC_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int harness_failed_checks, harness_failed_tests, harness_run, harness_skipped;
static int harness_cur_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        harness_cur_failed = 0;                                                                    \
        harness_run++;                                                                             \
        test_##name();                                                                             \
        if (harness_cur_failed) {                                                                  \
            harness_failed_tests++;                                                                \
            fprintf(stderr, "FAIL %s\n", #name);                                                   \
        } else {                                                                                   \
            fprintf(stderr, "ok   %s\n", #name);                                                   \
        }                                                                                          \
    } while (0)

#define HARNESS_FAIL_(...)                                                                         \
    do {                                                                                           \
        harness_failed_checks++;                                                                   \
        harness_cur_failed = 1;                                                                    \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
    } while (0)

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            HARNESS_FAIL_("check failed: %s", #c);                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            HARNESS_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                               \
    } while (0)

/* |a - b| <= tol (absolute) */
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                             \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            HARNESS_FAIL_("%s ~= %s: %.10g vs %.10g (tol %g)", #a, #b, a_, b_, t_);                \
    } while (0)

/* relative: |a - b| <= rel * |b| */
#define CHECK_REL(a, b, rel)                                                                       \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b), r_ = (double)(rel);                             \
        if (!(fabs(a_ - b_) <= r_ * fabs(b_)))                                                     \
            HARNESS_FAIL_("%s ~= %s: %.10g vs %.10g (rel %g)", #a, #b, a_, b_, r_);                \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            HARNESS_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",              \
                          b_ ? b_ : "(null)");                                                     \
    } while (0)

/* substring */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            HARNESS_FAIL_("%s contains \"%s\": got \"%s\"", #hay, n_, h_ ? h_ : "(null)");        \
    } while (0)

#define SKIP(why)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "SKIPPED: %s\n", why);                                                     \
        harness_skipped = 1;                                                                       \
        return;                                                                                    \
    } while (0)

static inline int harness_done(void)
{
    fprintf(stderr, "%d tests, %d failed, %d failed checks%s\n", harness_run,
            harness_failed_tests, harness_failed_checks, harness_skipped ? ", some SKIPPED" : "");
    if (harness_failed_tests)
        return 1;
    return harness_skipped ? 77 : 0;
}

/* Path of a file under the evaluation-data directory (MOECAP_DATA_DIR or ../shared/data), or
 * NULL if it does not exist. Returns a static buffer. */
static inline const char *harness_data_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("MOECAP_DATA_DIR");
    if (!dir || !*dir)
        dir = MC_SOURCE_DIR "/../shared/data";
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

/* A fresh temporary directory for this test executable (under the build tree). */
static inline const char *harness_tmpdir(void)
{
    static char buf[4096];
    if (!buf[0]) {
        const char *base = getenv("MOECAP_TEST_TMP");
        snprintf(buf, sizeof buf, "%s/mc-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(buf)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return buf;
}

#endif
