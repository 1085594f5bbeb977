/* util.c: monotonic clock, seeded RNG, strict number parsing. Depends on nothing but libc. */
#include "base.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

mc_ns mc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (mc_ns)ts.tv_sec * 1000000000ull + (mc_ns)ts.tv_nsec;
}

double mc_ns_to_s(mc_ns ns) { return (double)ns * 1e-9; }

/* ---- RNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void mc_rng_seed(mc_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mc_rng_u64(mc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mc_rng_uniform(mc_rng *r) { return (double)(mc_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t mc_rng_below(mc_rng *r, uint64_t n)
{
    /* rejection sampling: drop the top partial range so every residue is equally likely */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = mc_rng_u64(r);
    while (x >= lim);
    return x % n;
}

double mc_rng_normal(mc_rng *r)
{
    double u1 = mc_rng_uniform(r), u2 = mc_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- parsing ---- */

mc_err mc_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return MC_ERR_FORMAT;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return MC_ERR_FORMAT;
    if (errno == ERANGE || v < lo || v > hi)
        return MC_ERR_RANGE;
    *out = v;
    return MC_OK;
}

mc_err mc_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return MC_ERR_FORMAT;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return MC_ERR_FORMAT;
    if (errno == ERANGE)
        return MC_ERR_RANGE;
    *out = v;
    return MC_OK;
}

mc_err mc_parse_f64(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return MC_ERR_FORMAT;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end)
        return MC_ERR_FORMAT;
    if (errno == ERANGE || !isfinite(v))
        return MC_ERR_RANGE;
    *out = v;
    return MC_OK;
}

mc_err mc_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return MC_ERR_FORMAT;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return MC_ERR_RANGE;
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return MC_ERR_FORMAT;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end)
        return MC_ERR_FORMAT;
    if (shift && v > (UINT64_MAX >> shift))
        return MC_ERR_RANGE;
    *out = (uint64_t)v << shift;
    return MC_OK;
}
