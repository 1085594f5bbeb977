/* cmd_predict_fit.c: the two hardware-fit listings of `moecap predict` (the MoE-CAP paper's
 * bandwidth-requirement analysis, docs/METRICS.md predict.bw_required):
 *   --fit --model M --tpot-slo S        every catalogue device (x1, and the smallest count up to
 *                                       8 that holds the weights) against the SLO;
 *   --fit --hardware H[xN] --tpot-slo S every catalogue model at its native storage and at bf16,
 *                                       fp8 and int4 on that deployment.
 * Wires the catalogues to src/cap predict.* and prints; computes nothing itself. */
#include "cli.h"
#include "cmd_predict.h"

#include <math.h>
#include <string.h>

#define FIT_MAX_DEVICES 8

/* ---- --fit --model: which hardware? ---- */

typedef struct dev_row {
    mc_hw_deploy dep;
    int holds;       /* devices x memory >= weight bytes */
    mc_predict b1;   /* batch 1, expected (= minimal) activation */
    mc_predict full; /* batch 1, every expert */
    int64_t max_b;   /* predict.max_batch (0 = none) */
    mc_predict at;   /* at max_b */
} dev_row;

static mc_err eval_device(const predict_args *a, const mc_model *m, dev_row *r, mc_diag *d)
{
    mc_predict_opts o;
    predict_make_opts(a, &r->dep, &o);
    o.batch = 1;
    r->holds = r->dep.count * r->dep.hw.mem_bytes >= m->total_bytes;
    mc_err e = mc_predict_run(m, &r->dep, &o, &r->b1, d);
    o.act = MC_PREDICT_ACT_FULL;
    if (!e)
        e = mc_predict_run(m, &r->dep, &o, &r->full, d);
    o.act = MC_PREDICT_ACT_EXPECTED;
    if (!e)
        e = mc_predict_max_batch(m, &r->dep, &o, a->tpot_slo_s, &r->max_b, &r->at, d);
    if (e)
        mc_diag_prefix(d, "%s x%d", r->dep.hw.name, r->dep.count);
    return e;
}

/* Rows for every catalogue device: x1, plus the smallest count in 2..8 that holds the weights
 * when one device does not. *rows is heap (mc_free). */
static mc_err device_rows(const predict_args *a, const mc_model *m, dev_row **rows, int *n,
                          mc_diag *d)
{
    mc_hw *list = NULL;
    int nl = 0;
    mc_err e = mc_hw_list(&list, &nl, d);
    if (e)
        return e;
    *n = 0;
    *rows = mc_calloc((size_t)nl * 2 + 1, sizeof **rows);
    if (!*rows) {
        mc_free(list);
        return mc_fail(d, MC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < nl && !e; i++) {
        int counts[2] = {1, 0};
        for (int c = 2; c <= FIT_MAX_DEVICES && list[i].mem_bytes < m->total_bytes; c++)
            if (c * list[i].mem_bytes >= m->total_bytes) {
                counts[1] = c;
                break;
            }
        for (int k = 0; k < 2 && counts[k] && !e; k++) {
            dev_row *r = &(*rows)[(*n)++];
            r->dep = (mc_hw_deploy){.hw = list[i], .count = counts[k]};
            e = eval_device(a, m, r, d);
        }
    }
    mc_free(list);
    return e;
}

static const char *yes_no(int v)
{
    return v ? "yes" : "no";
}

static void print_devices_head(const predict_args *a, const mc_model *m, const mc_predict_bw *bw)
{
    char st[160];
    predict_storage_label(m, st, sizeof st);
    printf("model      %s: weights %s, %.2f GB; KV %s, %.1f kB per token\n", m->name, st,
           m->total_bytes / 1e9, mc_dtype_name(m->st.kv), m->kv_bytes_per_token / 1e3);
    printf("SLO        TPOT <= %.4g ms; %lld prompt + %lld output tokens (decode context %.1f)\n",
           1e3 * a->tpot_slo_s, (long long)a->input_len, (long long)a->output_len,
           (double)a->input_len + (double)a->output_len / 2);
    printf("required   minimal activation (batch 1: top-k + shared per MoE layer): %9.3f GB per "
           "step -> %9.1f GB/s\n",
           bw->min_bytes / 1e9, bw->min_Bps / 1e9);
    printf("bandwidth  full activation (every routed expert):                      %9.3f GB per "
           "step -> %9.1f GB/s\n",
           bw->full_bytes / 1e9, bw->full_Bps / 1e9);
    printf("           (predict.bw_required = bytes of a decode step / TPOT SLO)\n\n");
    printf("%-22s %2s %7s %9s %6s %7s %10s %4s %10s %4s %7s %9s\n", "device", "N", "memory",
           "bandwidth", "TDP", "holds", "TPOT b=1", "SLO", "TPOT full", "SLO", "max", "$/1M tok");
    printf("%-22s %2s %7s %9s %6s %7s %10s %4s %10s %4s %7s %9s\n", "", "", "GB", "GB/s", "W",
           "weights", "ms", "b=1", "ms", "full", "batch", "at max");
}

static void print_device_row(const dev_row *r, double slo)
{
    char t1[24], tf[24], cost[24], mb[24];
    predict_cell(t1, sizeof t1, 1e3 * r->b1.tpot_s, 2);
    predict_cell(tf, sizeof tf, 1e3 * r->full.tpot_s, 2);
    predict_cell(cost, sizeof cost, r->max_b ? r->at.usd_per_mtok : NAN, 3);
    snprintf(mb, sizeof mb, "%lld", (long long)r->max_b);
    const mc_hw *h = &r->dep.hw;
    printf("%-22s %2d %7.0f %9.0f %6.0f %7s %10s %4s %10s %4s %7s %9s\n", h->name, r->dep.count,
           r->dep.count * h->mem_bytes / 1e9, r->dep.count * h->mem_bw_Bps / 1e9,
           r->dep.count * h->tdp_w, yes_no(r->holds), t1, yes_no(r->b1.tpot_s <= slo), tf,
           yes_no(r->full.tpot_s <= slo), r->max_b ? mb : "-", cost);
}

static int json_devices(const predict_args *a, const mc_model *m, const mc_predict_bw *bw,
                        const dev_row *rows, int n)
{
    cJSON *root = predict_json_head(a, m, NULL, NULL);
    cJSON_AddStringToObject(root, "mode", "fit-hardware-for-model");
    cJSON *req = cJSON_AddObjectToObject(root, "bw_required");
    predict_fig(req, "min_bytes", bw->min_bytes, "B", "predict.bw_required");
    predict_fig(req, "min_Bps", bw->min_Bps, "B/s", "predict.bw_required");
    predict_fig(req, "full_bytes", bw->full_bytes, "B", "predict.bw_required");
    predict_fig(req, "full_Bps", bw->full_Bps, "B/s", "predict.bw_required");
    cJSON *arr = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < n; i++) {
        const dev_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->dep.hw.name);
        cJSON_AddNumberToObject(o, "devices", r->dep.count);
        predict_fig(o, "mem_bytes", r->dep.count * r->dep.hw.mem_bytes, "B", "predict.memory");
        predict_fig(o, "bw_Bps", r->dep.count * r->dep.hw.mem_bw_Bps, "B/s", "smbu.pass");
        predict_fig(o, "tdp_w", r->dep.count * r->dep.hw.tdp_w, "W", "energy.per_token");
        cJSON_AddBoolToObject(o, "holds_weights", r->holds);
        predict_fig(o, "tpot_batch1_s", r->b1.tpot_s, "s", "predict.tpot");
        cJSON_AddBoolToObject(o, "meets_batch1", r->b1.tpot_s <= a->tpot_slo_s);
        predict_fig(o, "tpot_full_s", r->full.tpot_s, "s", "predict.tpot");
        cJSON_AddBoolToObject(o, "meets_full", r->full.tpot_s <= a->tpot_slo_s);
        cJSON_AddNumberToObject(o, "max_batch", (double)r->max_b);
        cJSON_AddItemToObject(o, "at_max_batch",
                              r->max_b ? predict_json_point(&r->at, a->tpot_slo_s)
                                       : cJSON_CreateNull());
        cJSON_AddItemToArray(arr, o);
    }
    return mc_cli_print_json(PREDICT_CMD, root);
}

int predict_fit_devices(const predict_args *a)
{
    mc_model *m = NULL;
    dev_row *rows = NULL;
    int n = 0, rc = 0;
    mc_predict_bw bw;
    mc_diag d = {{0}};
    mc_err e = predict_load_model(a->model, a, a->has_prec, a->prec, &m, &d);
    if (!e)
        e = mc_predict_bw_required(m, a->input_len, a->output_len, a->tpot_slo_s, &bw, &d);
    if (!e)
        e = device_rows(a, m, &rows, &n, &d);
    if (e) {
        rc = mc_cli_fail(PREDICT_CMD, e, &d);
        goto out;
    }
    if (a->json) {
        rc = json_devices(a, m, &bw, rows, n);
        goto out;
    }
    print_devices_head(a, m, &bw);
    for (int i = 0; i < n; i++)
        print_device_row(&rows[i], a->tpot_slo_s);
    printf("\nTPOT b=1: expected activation at batch 1 (top-k); TPOT full: every expert read per "
           "step. Both include\nthe host-link time when weights + KV do not fit (SLO then needs "
           "offloading). max batch: largest batch\nthat fits in memory and meets the SLO. "
           "Definitions: %s.\n",
           PREDICT_DEFS);
out:
    mc_free(rows);
    mc_model_free(m);
    return rc;
}

/* ---- --fit --hardware: which models, at which precision? ---- */

typedef struct model_row {
    char model[128];
    char prec[64];     /* "native (fp8)", "bf16", ... */
    char storage[160]; /* predict_storage_label */
    double weight_bytes;
    mc_predict b1;
    int64_t max_b;
    mc_predict at;
} model_row;

static const mc_dtype fit_precisions[] = {MC_DT_BF16, MC_DT_FP8, MC_DT_INT4};
#define N_FIT_PREC (sizeof fit_precisions / sizeof fit_precisions[0])

/* The model's weights are all stored as t already (the native row covers it). */
static int all_stored_as(const mc_model *m, mc_dtype t)
{
    const mc_storage *s = &m->st;
    return s->attn == t && s->router == t && s->expert == t && s->shared == t && s->dense == t &&
           s->embed == t && s->head == t;
}

static mc_err eval_model(const predict_args *a, const mc_hw_deploy *dep, const mc_model *m,
                         model_row *r, mc_diag *d)
{
    mc_predict_opts o;
    predict_make_opts(a, dep, &o);
    o.batch = 1;
    snprintf(r->model, sizeof r->model, "%s", m->name);
    predict_storage_label(m, r->storage, sizeof r->storage);
    r->weight_bytes = m->total_bytes;
    mc_err e = mc_predict_run(m, dep, &o, &r->b1, d);
    if (!e)
        e = mc_predict_max_batch(m, dep, &o, a->tpot_slo_s, &r->max_b, &r->at, d);
    if (e)
        mc_diag_prefix(d, "%s (%s)", m->name, r->prec);
    return e;
}

/* One catalogue model: its native row, then bf16 / fp8 / int4 where they differ. */
static mc_err model_variants(const predict_args *a, const mc_hw_deploy *dep, const char *name,
                             model_row *rows, int *n, mc_diag *d)
{
    mc_model *m = NULL;
    mc_err e = predict_load_model(name, a, 0, MC_DT_BF16, &m, d);
    if (e)
        return e;
    model_row *r = &rows[(*n)++];
    snprintf(r->prec, sizeof r->prec, "native (%s)",
             mc_dtype_name(m->n_moe_layers ? m->st.expert : m->st.dense));
    e = eval_model(a, dep, m, r, d);
    for (size_t i = 0; i < N_FIT_PREC && !e; i++) {
        if (all_stored_as(m, fit_precisions[i]))
            continue;
        mc_model *v = NULL;
        e = predict_load_model(name, a, 1, fit_precisions[i], &v, d);
        if (e)
            break;
        r = &rows[(*n)++];
        snprintf(r->prec, sizeof r->prec, "%s", mc_dtype_name(fit_precisions[i]));
        e = eval_model(a, dep, v, r, d);
        mc_model_free(v);
    }
    mc_model_free(m);
    return e;
}

static void print_models(const predict_args *a, const mc_hw_deploy *dep, const model_row *rows,
                         int n)
{
    const mc_hw *h = &dep->hw;
    printf("hardware   %d x %s: %.0f GB, %.2f TB/s, host link %.0f GB/s\n", dep->count, h->name,
           dep->count * h->mem_bytes / 1e9, dep->count * h->mem_bw_Bps / 1e12,
           dep->count * h->host_link_Bps / 1e9);
    printf("SLO        TPOT <= %.4g ms; %lld prompt + %lld output tokens per sequence\n\n",
           1e3 * a->tpot_slo_s, (long long)a->input_len, (long long)a->output_len);
    printf("%-20s %-14s %9s %5s %9s %7s %9s %9s\n", "model", "precision", "weights", "fits",
           "TPOT b=1", "max", "output", "$/1M tok");
    printf("%-20s %-14s %9s %5s %9s %7s %9s %9s\n", "", "", "GB", "b=1", "ms", "batch", "tok/s",
           "at max");
    for (int i = 0; i < n; i++) {
        const model_row *r = &rows[i];
        char t1[24], tps[24], cost[24], mb[24];
        predict_cell(t1, sizeof t1, 1e3 * r->b1.tpot_s, 2);
        predict_cell(tps, sizeof tps, r->max_b ? r->at.out_tok_per_s : NAN, 1);
        predict_cell(cost, sizeof cost, r->max_b ? r->at.usd_per_mtok : NAN, 3);
        snprintf(mb, sizeof mb, "%lld", (long long)r->max_b);
        printf("%-20s %-14s %9.2f %5s %9s %7s %9s %9s\n", r->model, r->prec, r->weight_bytes / 1e9,
               yes_no(r->b1.fits), t1, r->max_b ? mb : "-", tps, cost);
    }
    printf("\nmax batch: largest batch whose weights + KV fit and whose TPOT meets the SLO; "
           "output tok/s and $/1M\noutput tokens at that batch. TPOT b=1 includes host-link "
           "time when the model does not fit.\nDefinitions: %s.\n",
           PREDICT_DEFS);
}

static int json_models(const predict_args *a, const mc_hw_deploy *dep, const model_row *rows, int n)
{
    cJSON *root = predict_json_head(a, NULL, dep, NULL);
    cJSON_AddStringToObject(root, "mode", "fit-models-for-hardware");
    cJSON *arr = cJSON_AddArrayToObject(root, "models");
    for (int i = 0; i < n; i++) {
        const model_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->model);
        cJSON_AddStringToObject(o, "precision", r->prec);
        cJSON_AddStringToObject(o, "weights", r->storage);
        predict_fig(o, "weight_bytes", r->weight_bytes, "B", "predict.memory");
        cJSON_AddBoolToObject(o, "fits_batch1", r->b1.fits);
        predict_fig(o, "tpot_batch1_s", r->b1.tpot_s, "s", "predict.tpot");
        cJSON_AddNumberToObject(o, "max_batch", (double)r->max_b);
        cJSON_AddItemToObject(o, "at_max_batch",
                              r->max_b ? predict_json_point(&r->at, a->tpot_slo_s)
                                       : cJSON_CreateNull());
        cJSON_AddItemToArray(arr, o);
    }
    return mc_cli_print_json(PREDICT_CMD, root);
}

int predict_fit_models(const predict_args *a)
{
    char **names = NULL;
    int nn = 0, n = 0, rc = 0;
    model_row *rows = NULL;
    mc_hw_deploy dep;
    mc_diag d = {{0}};
    mc_err e = mc_hw_parse_deploy(a->hardware, &dep, &d);
    if (!e)
        e = mc_model_catalogue(&names, &nn, &d);
    if (!e && !(rows = mc_calloc((size_t)nn * (N_FIT_PREC + 1) + 1, sizeof *rows)))
        e = mc_fail(&d, MC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < nn && !e; i++)
        e = model_variants(a, &dep, names[i], rows, &n, &d);
    if (e) {
        rc = mc_cli_fail(PREDICT_CMD, e, &d);
        goto out;
    }
    if (a->json)
        rc = json_models(a, &dep, rows, n);
    else
        print_models(a, &dep, rows, n);
out:
    mc_free(rows);
    mc_model_catalogue_free(names, nn);
    return rc;
}
