/* local.c: the `local` hardware entry: the probe's result saved as mc_cache_dir()/local-hw.json
 * (written atomically) and read back by mc_hw_lookup("local"). Also this machine's CPU identity
 * from /proc/cpuinfo. The JSON layout is documented in docs/HARDWARE.md ("The local entry").
 *
 * Depends on base and cJSON only; never on the catalogue file or the probe kernels. */
#include "hw.h"
#include "hw_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCAL_FORMAT "moecap-local-hw/1"
#define LOCAL_MAX_BYTES (64u << 10)

const char *mc_probe_local_path(void)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/local-hw.json", mc_cache_dir());
    return buf;
}

/* ---- CPU identity ---- */

static void copy_value(const char *line, char *dst, size_t cap)
{
    const char *v = strchr(line, ':');
    v = v ? v + 1 : line;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

void mc_hw_cpu_identity(char *model, size_t model_cap, char *vendor, size_t vendor_cap)
{
    char vid[64] = "";
    snprintf(model, model_cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 && strcmp(model, "unknown") == 0)
            copy_value(line, model, model_cap);
        else if (strncmp(line, "vendor_id", 9) == 0 && !vid[0])
            copy_value(line, vid, sizeof vid);
        else if (strncmp(line, "CPU implementer", 15) == 0 && !vid[0])
            snprintf(vid, sizeof vid, "arm");
    }
    if (f)
        fclose(f);
    const char *v = strcmp(vid, "GenuineIntel") == 0   ? "intel"
                    : strcmp(vid, "AuthenticAMD") == 0 ? "amd"
                    : strcmp(vid, "arm") == 0          ? "arm"
                                                       : "unknown";
    snprintf(vendor, vendor_cap, "%s", v);
}

/* ---- save ---- */

static double phys_mem_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0;
}

static cJSON *local_json(const mc_probe_result *r)
{
    char vendor[32], model[128], date[32], source[256];
    mc_hw_cpu_identity(model, sizeof model, vendor, sizeof vendor);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(source, sizeof source, "moecap probe %.24s (%.16s kernel, %d threads): %.120s", date,
             r->isa, r->n_threads, r->cpu_model);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", LOCAL_FORMAT);
    cJSON_AddStringToObject(o, "name", "local");
    cJSON_AddStringToObject(o, "vendor", vendor);
    cJSON_AddStringToObject(o, "kind", "cpu");
    cJSON_AddStringToObject(o, "cpu_model", r->cpu_model);
    cJSON_AddStringToObject(o, "date", date);
    cJSON_AddStringToObject(o, "isa", r->isa);
    cJSON_AddNumberToObject(o, "threads", r->n_threads);
    cJSON_AddNumberToObject(o, "mem_bytes", phys_mem_bytes());
    cJSON_AddNumberToObject(o, "mem_bw_Bps", r->bw_Bps);
    cJSON_AddItemToObject(o, "bw_Bps_by_threads",
                          cJSON_CreateDoubleArray(r->bw_Bps_by_threads, r->n_threads));
    cJSON *fl = cJSON_AddObjectToObject(o, "flops");
    for (int p = 0; p < MC_PREC_COUNT; p++)
        cJSON_AddNumberToObject(fl, mc_prec_name((mc_prec)p), p == MC_PREC_FP32 ? r->fma_flops : 0);
    cJSON_AddNumberToObject(o, "fma_flops_1t", r->fma_flops_1t);
    cJSON_AddNumberToObject(o, "tdp_w", 0);
    cJSON_AddNumberToObject(o, "price_usd", 0);
    cJSON_AddNumberToObject(o, "host_link_Bps", 0);
    cJSON_AddNumberToObject(o, "scaleup_link_Bps", 0);
    cJSON_AddNumberToObject(o, "slow_tier_Bps", r->slow_tier_Bps);
    if (r->slow_tier_Bps > 0)
        cJSON_AddStringToObject(o, "slow_tier_method", r->slow_tier_method);
    cJSON_AddStringToObject(o, "source", source);
    return o;
}

/* The slow tier of the entry already saved, if any (a memory-only probe keeps it). */
static void previous_slow_tier(double *bps, char *method, size_t cap)
{
    char *text = NULL;
    *bps = 0;
    method[0] = 0;
    if (access(mc_probe_local_path(), F_OK) != 0 ||
        mc_read_file(mc_probe_local_path(), LOCAL_MAX_BYTES, &text, NULL, NULL) != MC_OK)
        return;
    cJSON *o = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "slow_tier_Bps");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "slow_tier_method");
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble > 0) {
        *bps = v->valuedouble;
        snprintf(method, cap, "%s", cJSON_IsString(m) ? m->valuestring : "");
    }
    cJSON_Delete(o);
    mc_free(text);
}

mc_err mc_probe_save_local(const mc_probe_result *r, mc_diag *d)
{
    if (!r || r->n_threads < 1 || r->n_threads > 256 || !(r->bw_Bps > 0))
        return mc_fail(d, MC_ERR_ARG, "probe: refusing to save an empty result");
    mc_err e = mc_mkdirs(mc_cache_dir(), d);
    if (e != MC_OK)
        return e;
    mc_probe_result keep = *r;
    if (!(keep.slow_tier_Bps > 0))
        previous_slow_tier(&keep.slow_tier_Bps, keep.slow_tier_method,
                           sizeof keep.slow_tier_method);
    cJSON *o = local_json(&keep);
    char *text = o ? cJSON_Print(o) : NULL;
    if (!text) {
        cJSON_Delete(o);
        return mc_fail(d, MC_ERR_NOMEM, "probe: out of memory writing the local entry");
    }
    e = mc_write_file_atomic(mc_probe_local_path(), text, strlen(text), d);
    cJSON_free(text);
    cJSON_Delete(o);
    return e;
}

/* ---- load ---- */

/* Reads the required number o[key] (>= 0, or > 0 when positive) into *out. */
static mc_err get_num(const cJSON *o, const char *key, int positive, double *out, const char *path,
                      mc_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        (positive && v->valuedouble == 0))
        return mc_fail(d, MC_ERR_FORMAT, "%s: key '%s' missing or not a %s number", path, key,
                       positive ? "positive" : "non-negative");
    *out = v->valuedouble;
    return MC_OK;
}

static mc_err get_str(const cJSON *o, const char *key, char *dst, size_t cap, const char *path,
                      mc_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= cap)
        return mc_fail(d, MC_ERR_FORMAT, "%s: key '%s' missing, empty or too long", path, key);
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return MC_OK;
}

static mc_err local_from_json(const cJSON *o, const char *path, mc_hw *h, mc_diag *d)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, LOCAL_FORMAT) != 0)
        return mc_fail(d, MC_ERR_FORMAT, "%s: 'format' is not \"%s\"", path, LOCAL_FORMAT);
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "local");
    h->kind = MC_HW_CPU;
    mc_err e = get_str(o, "vendor", h->vendor, sizeof h->vendor, path, d);
    if (e == MC_OK)
        e = get_str(o, "source", h->source, sizeof h->source, path, d);
    if (e == MC_OK)
        e = get_num(o, "mem_bytes", 1, &h->mem_bytes, path, d);
    if (e == MC_OK)
        e = get_num(o, "mem_bw_Bps", 1, &h->mem_bw_Bps, path, d);
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(o, "flops");
    if (e == MC_OK && !cJSON_IsObject(fl))
        e = mc_fail(d, MC_ERR_FORMAT, "%s: key 'flops' missing or not an object", path);
    for (int p = 0; e == MC_OK && p < MC_PREC_COUNT; p++)
        e = get_num(fl, mc_prec_name((mc_prec)p), p == MC_PREC_FP32, &h->flops[p], path, d);
    if (e == MC_OK)
        e = get_num(o, "tdp_w", 0, &h->tdp_w, path, d);
    if (e == MC_OK)
        e = get_num(o, "price_usd", 0, &h->price_usd, path, d);
    if (e == MC_OK)
        e = get_num(o, "host_link_Bps", 0, &h->host_link_Bps, path, d);
    if (e == MC_OK)
        e = get_num(o, "scaleup_link_Bps", 0, &h->scaleup_link_Bps, path, d);
    if (e == MC_OK)
        e = get_num(o, "slow_tier_Bps", 0, &h->slow_tier_Bps, path, d);
    return e;
}

mc_err mc_hw_local_load(mc_hw *out, mc_diag *d)
{
    const char *path = mc_probe_local_path();
    if (access(path, F_OK) != 0)
        return mc_fail(d, MC_ERR_NOT_FOUND, "hardware 'local': no probe result at %s (run "
                       "'moecap probe' first)", path);
    char *text = NULL;
    mc_err e = mc_read_file(path, LOCAL_MAX_BYTES, &text, NULL, d);
    if (e != MC_OK)
        return e;
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o))
        e = mc_fail(d, MC_ERR_FORMAT, "%s: not a JSON object", path);
    else
        e = local_from_json(o, path, out, d);
    cJSON_Delete(o);
    mc_free(text);
    return e;
}

/* ---- slow tier only: update the saved entry ---- */

static mc_err write_json(const cJSON *o, mc_diag *d)
{
    char *text = cJSON_Print(o);
    if (!text)
        return mc_fail(d, MC_ERR_NOMEM, "probe: out of memory writing the local entry");
    mc_err e = mc_write_file_atomic(mc_probe_local_path(), text, strlen(text), d);
    cJSON_free(text);
    return e;
}

mc_err mc_probe_save_slow_tier(double bw_Bps, const char *method, mc_diag *d)
{
    mc_hw check;
    if (!(bw_Bps > 0) || !isfinite(bw_Bps))
        return mc_fail(d, MC_ERR_ARG, "probe: refusing to save an empty slow-tier result");
    mc_err e = mc_hw_local_load(&check, d); /* exists and is valid */
    char *text = NULL;
    if (!e)
        e = mc_read_file(mc_probe_local_path(), LOCAL_MAX_BYTES, &text, NULL, d);
    cJSON *o = e ? NULL : cJSON_Parse(text);
    if (!e && !cJSON_IsObject(o))
        e = mc_fail(d, MC_ERR_FORMAT, "%s: not a JSON object", mc_probe_local_path());
    if (!e) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "slow_tier_Bps");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "slow_tier_method");
        cJSON_AddNumberToObject(o, "slow_tier_Bps", bw_Bps);
        cJSON_AddStringToObject(o, "slow_tier_method", method ? method : "");
        e = write_json(o, d);
    }
    cJSON_Delete(o);
    mc_free(text);
    return e;
}
