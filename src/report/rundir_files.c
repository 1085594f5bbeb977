/* rundir_files.c: a system's side files in a run directory: the headline perf point's
 * requests.jsonl (TTFT and TPOT of successful, non-warm-up requests, docs/LOADGEN.md section 6)
 * and every perf point's records.jsonl (per-pass records parsed by src/cap: tokens per expert
 * summed over decode passes, distinct experts per layer by batch size). A missing or bad file is
 * a note, never an error. Depends on base, cap (records), cJSON. */
#include "cap.h"
#include "rundir_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SIDE_MAX_BYTES ((size_t)512 << 20)
#define SAMPLES_MAX ((size_t)10000000)
#define HEAT_MAX_CELLS ((int64_t)1 << 16) /* 256 layers x 256 experts: a readable heat map */

static int inside_run(const char *rel)
{
    if (!*rel || rel[0] == '/')
        return 0;
    for (const char *p = rel; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == rel || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
            return 0;
    return 1;
}

void mc_rsys_perf_path(const mc_report *r, const mc_rsys *s, const cJSON *perf, const char *file,
                       char *out, size_t cap, char note[MC_NOTE])
{
    char fallback[256];
    const char *dir = mc_jstr(perf, "dir");
    double c = mc_perf_point(perf);
    int batch = !isfinite(mc_jnum(perf, "concurrency"));
    out[0] = 0;
    if (!dir) { /* RUNDIR.md's layout when cap.json does not say */
        snprintf(fallback, sizeof fallback, "systems/%s/perf-%c%lld", mc_jstr(s->j, "name"),
                 batch ? 'b' : 'c', isfinite(c) ? (long long)c : 0LL);
        dir = fallback;
    }
    if (!inside_run(dir)) {
        snprintf(note, MC_NOTE, "perf dir '%.200s' is not inside the run directory", dir);
        return;
    }
    snprintf(out, cap, "%s/%s/%s", r->dirs[s->run], dir, file);
}

static mc_err push(double **v, size_t *n, double x, mc_diag *d)
{
    if (*n >= SAMPLES_MAX)
        return MC_OK; /* more samples than any chart needs: the rest are left out */
    if (*n == 0 || (*n >= 64 && (*n & (*n - 1)) == 0)) { /* capacity 64, then doubling */
        double *nv = mc_reallocarray(*v, *n ? *n * 2 : 64, sizeof *nv);
        if (!nv)
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
        *v = nv;
    }
    (*v)[(*n)++] = x;
    return MC_OK;
}

/* One requests.jsonl line: the latencies of a successful measured request. */
static mc_err request_line(mc_rsys *s, const char *line, size_t len, size_t *bad, mc_diag *d)
{
    cJSON *j = cJSON_ParseWithLength(line, len);
    mc_err e = MC_OK;
    if (!cJSON_IsObject(j)) {
        (*bad)++;
        goto out;
    }
    const char *st = mc_jstr(j, "status");
    if (cJSON_IsTrue(mc_jget(j, "warmup")) || !st || strcmp(st, "ok") != 0)
        goto out;
    double ttft = mc_jnum(j, "ttft_s"), tpot = mc_jnum(j, "tpot_s");
    if (isfinite(ttft))
        e = push(&s->ttft, &s->n_ttft, ttft, d);
    if (!e && isfinite(tpot))
        e = push(&s->tpot, &s->n_tpot, tpot, d);
out:
    cJSON_Delete(j);
    return e;
}

static mc_err load_requests(const mc_report *r, mc_rsys *s, mc_diag *d)
{
    char path[4096], *text = NULL;
    size_t len = 0, bad = 0;
    mc_diag fd = {{0}};
    if (!s->head_perf) {
        snprintf(s->lat_note, MC_NOTE, "no perf point at the headline concurrency");
        return MC_OK;
    }
    mc_rsys_perf_path(r, s, s->head_perf, "requests.jsonl", path, sizeof path, s->lat_note);
    if (!path[0])
        return MC_OK;
    if (mc_read_file(path, SIDE_MAX_BYTES, &text, &len, &fd) != MC_OK) {
        snprintf(s->lat_note, MC_NOTE, "%s", fd.msg);
        return MC_OK;
    }
    mc_err e = MC_OK;
    for (const char *p = text, *end = text + len; p < end && !e;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0)
            e = request_line(s, p, n, &bad, d);
        p += n + 1;
    }
    mc_free(text);
    if (bad)
        snprintf(s->lat_note, MC_NOTE, "%.600s: %zu bad lines skipped", path, bad);
    else if (!e && s->n_ttft == 0 && s->n_tpot == 0)
        snprintf(s->lat_note, MC_NOTE, "%.600s: no successful measured request", path);
    return e;
}

/* ---- records ---- */

/* Distinct experts per layer of one pass: experts_per_layer, else experts with tokens in
 * tokens_per_expert, else expert_activation (docs/METRICS.md "pass.record"). */
static double pass_distinct(const mc_pass *p)
{
    double sum = 0;
    if (p->n_layer_experts > 0) {
        for (int64_t i = 0; i < p->n_layer_experts; i++)
            sum += p->experts_per_layer[i];
        return sum / (double)p->n_layer_experts;
    }
    if (p->tpe_rows > 0 && p->tpe_cols > 0) {
        for (int64_t i = 0; i < p->tpe_rows * p->tpe_cols; i++)
            sum += p->tokens_per_expert[i] > 0;
        return sum / (double)p->tpe_rows;
    }
    return p->expert_activation >= 0 ? p->expert_activation : NAN;
}

static void add_batch(mc_rsys *s, double bs, double distinct)
{
    size_t i = 0;
    while (i < s->n_bs && s->bs[i] != bs)
        i++;
    if (i == s->n_bs) {
        if (s->n_bs == MC_REPORT_MAX_BS)
            return;
        s->bs[i] = bs;
        s->n_bs++;
    }
    s->bs_sum[i] += distinct;
    s->bs_cnt[i]++;
}

static mc_err add_heat(mc_rsys *s, const mc_pass *p, size_t *mismatch, mc_diag *d)
{
    if (p->tpe_rows <= 0 || p->tpe_cols <= 0)
        return MC_OK;
    if (!s->heat) {
        if (p->tpe_rows > HEAT_MAX_CELLS / p->tpe_cols) {
            (*mismatch)++; /* too many cells to draw */
            return MC_OK;
        }
        s->heat = mc_calloc((size_t)(p->tpe_rows * p->tpe_cols), sizeof *s->heat);
        if (!s->heat)
            return mc_fail(d, MC_ERR_NOMEM, "out of memory");
        s->heat_rows = p->tpe_rows;
        s->heat_cols = p->tpe_cols;
    }
    if (p->tpe_rows != s->heat_rows || p->tpe_cols != s->heat_cols) {
        (*mismatch)++;
        return MC_OK;
    }
    for (int64_t i = 0; i < p->tpe_rows * p->tpe_cols; i++)
        s->heat[i] += (double)p->tokens_per_expert[i];
    s->heat_passes++;
    return MC_OK;
}

static mc_err records_file(const char *path, mc_rsys *s, size_t *mismatch, size_t *bad,
                           size_t *read, mc_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    mc_pass_set set;
    mc_pass_set_init(&set);
    mc_err e = mc_read_file(path, SIDE_MAX_BYTES, &text, &len, NULL);
    if (e) /* a perf point without records (e.g. a URL target): nothing to add */
        return MC_OK;
    (*read)++;
    mc_diag pd = {{0}};
    e = mc_pass_parse_jsonl(text, len, 0, 0, &set, &pd);
    mc_free(text);
    *bad += (size_t)set.n_errs;
    for (size_t i = 0; i < set.n && e == MC_OK; i++) {
        const mc_pass *p = &set.v[i];
        if (p->mode != MC_PASS_DECODE)
            continue;
        double dist = pass_distinct(p);
        if (isfinite(dist) && p->batch_size > 0)
            add_batch(s, (double)p->batch_size, dist);
        e = add_heat(s, p, mismatch, d);
    }
    mc_pass_set_deinit(&set);
    return e == MC_ERR_NOMEM ? mc_fail(d, e, "out of memory") : MC_OK;
}

static void sort_batches(mc_rsys *s)
{
    for (size_t i = 1; i < s->n_bs; i++)
        for (size_t j = i; j > 0 && s->bs[j - 1] > s->bs[j]; j--) {
            double b = s->bs[j], m = s->bs_sum[j];
            size_t c = s->bs_cnt[j];
            s->bs[j] = s->bs[j - 1], s->bs_sum[j] = s->bs_sum[j - 1], s->bs_cnt[j] = s->bs_cnt[j - 1];
            s->bs[j - 1] = b, s->bs_sum[j - 1] = m, s->bs_cnt[j - 1] = c;
        }
}

static mc_err load_records(const mc_report *r, mc_rsys *s, mc_diag *d)
{
    const cJSON *p;
    size_t mismatch = 0, bad = 0, files = 0, read = 0;
    char path[4096], note[MC_NOTE] = "";
    cJSON_ArrayForEach(p, mc_jget(s->j, "perf"))
    {
        mc_rsys_perf_path(r, s, p, "records.jsonl", path, sizeof path, note);
        if (!path[0])
            continue;
        files++;
        mc_err e = records_file(path, s, &mismatch, &bad, &read, d);
        if (e)
            return e;
    }
    sort_batches(s);
    if (!files)
        snprintf(s->heat_note, MC_NOTE, "no perf points%s%.600s", note[0] ? ": " : "", note);
    else if (!read)
        snprintf(s->heat_note, MC_NOTE, "no records.jsonl in its %zu perf point%s", files,
                 files == 1 ? "" : "s");
    else if (!s->heat)
        snprintf(s->heat_note, MC_NOTE, "no decode pass with tokens_per_expert in records.jsonl"
                 "%s", mismatch ? " (or more than 65,536 layer x expert cells)" : "");
    else if (mismatch || bad)
        snprintf(s->heat_note, MC_NOTE, "%zu passes of another shape and %zu bad record lines "
                 "left out", mismatch, bad);
    if (s->n_bs == 0)
        snprintf(s->bs_note, MC_NOTE, "%s", read ? "no decode pass with expert activation in "
                 "records.jsonl" : "no records.jsonl");
    return MC_OK;
}

mc_err mc_rsys_load_files(const mc_report *r, mc_rsys *s, mc_diag *d)
{
    mc_err e = load_requests(r, s, d);
    if (!e)
        e = load_records(r, s, d);
    return e;
}
