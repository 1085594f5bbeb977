/* bench_server_out.c: how `moecap bench` reports server-side data: the "server" object of
 * summary.json (recording, records per mode, S-MBU / S-MFU / expert activation from src/cap, the
 * analytic estimate clearly marked as one, Prometheus counter deltas) and its lines in the
 * table. Formats: docs/LOADGEN.md; definitions: docs/METRICS.md. Computes nothing itself except
 * record counts and means of recorded fields. */
#include "bench_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DELTAS 10000

static const char *mode_names[MC_PASS_MODE_COUNT] = {"prefill", "decode", "mixed"};

static const char *protocol_name(const bench_state *s)
{
    if (!s->srv.http)
        return "off";
    switch (s->srv.rec) {
    case REC_MOECAP: return "moecap";
    case REC_VLLM: return "vllm";
    case REC_NONE: return "none";
    default: return "unknown";
    }
}

/* Per mode, what the records themselves say (no model needed). */
static cJSON *json_records_by_mode(const mc_pass_set *set)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < MC_PASS_MODE_COUNT; k++) {
        double n = 0, tokens = 0, busy = 0, batch = 0, act = 0, n_act = 0;
        for (size_t i = 0; i < set->n; i++) {
            const mc_pass *p = &set->v[i];
            if (p->mode != (mc_pass_mode)k)
                continue;
            n++;
            tokens += (double)p->new_tokens;
            busy += p->latency_s;
            batch += (double)p->batch_size;
            act += p->expert_activation >= 0 ? p->expert_activation : 0;
            n_act += p->expert_activation >= 0;
        }
        cJSON *g = cJSON_AddObjectToObject(o, mode_names[k]);
        bench_json_num(g, "passes", n);
        bench_json_num(g, "new_tokens", tokens);
        bench_json_num(g, "busy_s", busy);
        bench_json_num(g, "batch_size_mean", n ? batch / n : NAN);
        bench_json_num(g, "expert_activation_recorded_mean", n_act ? act / n_act : NAN);
    }
    return o;
}

static void json_recording(const bench_state *s, cJSON *srv)
{
    const bench_srv_run *r = &s->r.srv;
    cJSON *o = cJSON_AddObjectToObject(srv, "recording");
    cJSON_AddStringToObject(o, "protocol", protocol_name(s));
    cJSON_AddBoolToObject(o, "recorded", r->fetched);
    const char *note = r->note[0] ? r->note : s->srv.rec == REC_NONE ? s->srv.rec_note : NULL;
    if (!s->srv.http)
        note = "--server-data off";
    if (note)
        cJSON_AddStringToObject(o, "note", note);
    else
        cJSON_AddNullToObject(o, "note");
    if (!r->fetched)
        return;
    cJSON_AddStringToObject(o, "file", "records.jsonl");
    bench_json_num(o, "bytes", (double)r->rec_bytes);
    bench_json_num(o, "passes", (double)r->set.n);
    bench_json_num(o, "bad_lines", (double)r->set.n_errs);
    bench_json_num(o, "dropped", r->dropped >= 0 ? (double)r->dropped : NAN);
    cJSON_AddItemToObject(o, "by_mode", json_records_by_mode(&r->set));
}

static void json_inputs(const bench_state *s, cJSON *srv)
{
    const bench_srv *v = &s->srv;
    cJSON *m = cJSON_AddObjectToObject(srv, "model");
    if (v->m)
        cJSON_AddStringToObject(m, "name", v->m->name);
    else
        cJSON_AddNullToObject(m, "name");
    cJSON_AddStringToObject(m, "from", v->m_from);
    if (!v->have_hw) {
        cJSON_AddNullToObject(srv, "hardware");
        return;
    }
    cJSON *h = cJSON_AddObjectToObject(srv, "hardware");
    cJSON_AddStringToObject(h, "name", v->dep.hw.name);
    bench_json_num(h, "devices", v->dep.count);
    bench_json_num(h, "bw_Bps", v->pk.bw_Bps);
    bench_json_num(h, "peak_flops", v->pk.flops > 0 ? v->pk.flops : NAN);
    cJSON_AddStringToObject(h, "precision", mc_prec_name(v->pk.prec));
}

/* The keys of cmd_metrics' groups (docs/METRICS.md section 3). */
static cJSON *json_group(const mc_cap_group *g)
{
    cJSON *o = cJSON_CreateObject();
    int any = g->passes > 0;
    bench_json_num(o, "passes", (double)g->passes);
    bench_json_num(o, "new_tokens", (double)g->new_tokens);
    bench_json_num(o, "sequences", (double)g->sequences);
    bench_json_num(o, "time_s", g->time_s);
    bench_json_num(o, "bytes", g->bytes);
    bench_json_num(o, "flops", g->flops);
    bench_json_num(o, "smbu.time_weighted", any ? g->smbu_tw : NAN);
    bench_json_num(o, "smbu.pass_mean", any ? g->smbu_mean : NAN);
    bench_json_num(o, "smfu.time_weighted", any ? g->smfu_tw : NAN);
    bench_json_num(o, "smfu.pass_mean", any ? g->smfu_mean : NAN);
    bench_json_num(o, "throughput.tokens", any ? g->tok_per_s : NAN);
    bench_json_num(o, "experts.activation_mean", any ? g->act_mean : NAN);
    bench_json_num(o, "experts.estimated_passes", (double)g->act_estimated);
    return o;
}

static void json_cap(const bench_state *s, cJSON *srv)
{
    const bench_srv_run *r = &s->r.srv;
    if (r->cap_err[0])
        cJSON_AddStringToObject(srv, "cap_error", r->cap_err);
    if (r->warn[0])
        cJSON_AddStringToObject(srv, "warning", r->warn);
    if (!r->have_cap) {
        cJSON_AddNullToObject(srv, "cap");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(srv, "cap");
    cJSON_AddStringToObject(o, "formula", "moecap");
    cJSON_AddStringToObject(o, "definitions", "docs/METRICS.md sections 2-3");
    cJSON_AddItemToObject(o, "all", json_group(&r->cap.all));
    for (int k = 0; k < MC_PASS_MODE_COUNT; k++)
        cJSON_AddItemToObject(o, mode_names[k], json_group(&r->cap.mode[k]));
}

/* The headline expert activation: decode passes (where batching decides it), from the records
 * through src/cap, else as recorded, else the analytic estimate. */
typedef struct act_pick {
    double value;
    const char *source;
    int estimate;
} act_pick;

static act_pick pick_activation(const bench_state *s)
{
    const bench_srv_run *r = &s->r.srv;
    act_pick a = {NAN, NULL, 0};
    const mc_cap_group *dec = &r->cap.mode[MC_PASS_DECODE];
    if (r->have_cap) {
        a.value = dec->passes ? dec->act_mean : r->cap.all.act_mean;
        a.source = "records (src/cap experts.activation_mean)";
        a.estimate = (dec->passes ? dec->act_estimated : r->cap.all.act_estimated) > 0;
    } else if (r->fetched && r->set.n > 0) {
        double sum = 0, n = 0;
        for (size_t i = 0; i < r->set.n; i++)
            if (r->set.v[i].mode == MC_PASS_DECODE && r->set.v[i].expert_activation >= 0) {
                sum += r->set.v[i].expert_activation;
                n++;
            }
        a.value = n ? sum / n : NAN;
        a.source = "records (expert_activation as recorded)";
    } else if (r->have_est) {
        a.value = r->est.decode_act;
        a.source = "analytic estimate";
        a.estimate = 1;
    }
    return a;
}

static void json_activation(const bench_state *s, cJSON *srv)
{
    const bench_srv_run *r = &s->r.srv;
    act_pick a = pick_activation(s);
    cJSON *o = cJSON_AddObjectToObject(srv, "expert_activation");
    cJSON_AddStringToObject(o, "definition",
                            "mean distinct routed experts per MoE layer, "
                            "decode passes");
    bench_json_num(o, "value", a.value);
    if (a.source)
        cJSON_AddStringToObject(o, "source", a.source);
    else
        cJSON_AddNullToObject(o, "source");
    cJSON_AddBoolToObject(o, "estimate", a.estimate);
    if (!r->have_est) {
        cJSON_AddNullToObject(srv, "estimate");
        return;
    }
    cJSON *e = cJSON_AddObjectToObject(srv, "estimate");
    cJSON_AddStringToObject(e, "note",
                            "ESTIMATE, not a measurement: the server does not record "
                            "per-pass data");
    cJSON_AddStringToObject(e, "method",
                            "experts.expected_uniform (uniform routing) per MoE "
                            "layer; decode batch = requests streaming at the same "
                            "time as the client saw them, weighted by time; "
                            "prefill = one pass per request of its prompt tokens");
    bench_json_num(e, "decode_experts_per_layer", r->est.decode_act);
    bench_json_num(e, "decode_batch_mean", r->est.decode_batch);
    bench_json_num(e, "decode_time_s", r->est.decode_time_s);
    bench_json_num(e, "prefill_experts_per_layer", r->est.prefill_act);
    bench_json_num(e, "prefill_requests", (double)r->est.prefills);
}

static cJSON *json_deltas(const mc_lg_prom *b, const mc_lg_prom *a, int *resets, int *cut)
{
    mc_lg_prom_delta *v = NULL;
    size_t n = 0;
    cJSON *o = cJSON_CreateObject();
    *resets = *cut = 0;
    if (mc_lg_prom_deltas(b, a, &v, &n, NULL) != MC_OK)
        return o;
    for (size_t i = 0; i < n; i++) {
        *resets += v[i].reset;
        if (i >= MAX_DELTAS)
            *cut = 1;
        else
            bench_json_num(o, v[i].key, v[i].delta);
    }
    mc_free(v);
    return o;
}

static void json_prometheus(const bench_state *s, cJSON *srv)
{
    const bench_srv_run *r = &s->r.srv;
    if (!r->have_before) {
        cJSON_AddNullToObject(srv, "prometheus");
        return;
    }
    cJSON *o = cJSON_AddObjectToObject(srv, "prometheus");
    mc_lg_prom b, a;
    mc_lg_prom_init(&b);
    mc_lg_prom_init(&a);
    mc_lg_prom_parse(r->prom_before.data, r->prom_before.len, 0, &b, NULL);
    if (r->have_after)
        mc_lg_prom_parse(r->prom_after.data, r->prom_after.len, 0, &a, NULL);
    cJSON_AddStringToObject(o, "before", "metrics-before.prom");
    if (r->have_after)
        cJSON_AddStringToObject(o, "after", "metrics-after.prom");
    else
        cJSON_AddNullToObject(o, "after");
    cJSON_AddBoolToObject(o, "before_settled", r->settled_before);
    cJSON_AddBoolToObject(o, "after_settled", r->have_after && r->settled_after);
    bench_json_num(o, "samples_before", (double)b.n);
    bench_json_num(o, "samples_after", r->have_after ? (double)a.n : NAN);
    int resets = 0, cut = 0;
    if (r->have_after) {
        cJSON_AddItemToObject(o, "counter_deltas", json_deltas(&b, &a, &resets, &cut));
    } else {
        cJSON_AddNullToObject(o, "counter_deltas");
    }
    bench_json_num(o, "resets", resets);
    cJSON_AddBoolToObject(o, "deltas_truncated", cut);
    mc_lg_prom_deinit(&b);
    mc_lg_prom_deinit(&a);
}

void bench_srv_json(const bench_state *s, cJSON *root)
{
    cJSON *srv = cJSON_AddObjectToObject(root, "server");
    json_recording(s, srv);
    json_inputs(s, srv);
    json_cap(s, srv);
    json_activation(s, srv);
    json_prometheus(s, srv);
}

/* ---- the table ----------------------------------------------------------------------------- */

/* "12.34%", or "-" when undefined (no such passes, no peak) */
static const char *pct(char *buf, size_t n, int defined, double v)
{
    if (defined && isfinite(v))
        snprintf(buf, n, "%.2f%%", 100 * v);
    else
        snprintf(buf, n, "-");
    return buf;
}

static void print_cap(const bench_state *s)
{
    const mc_cap_summary *c = &s->r.srv.cap;
    const mc_cap_group *dec = &c->mode[MC_PASS_DECODE], *pre = &c->mode[MC_PASS_PREFILL];
    char a[32], b[32], p[32];
    if (!s->srv.have_hw) {
        printf("S-MBU         - (give --hardware to divide by its peaks)\n");
        return;
    }
    printf("S-MBU         %s time-weighted (decode %s, prefill %s) on %d x %s, model %s\n",
           pct(a, sizeof a, 1, c->all.smbu_tw), pct(b, sizeof b, dec->passes > 0, dec->smbu_tw),
           pct(p, sizeof p, pre->passes > 0, pre->smbu_tw), s->srv.dep.count, s->srv.dep.hw.name,
           s->srv.m->name);
    if (isfinite(c->all.smfu_tw))
        printf("S-MFU         %s time-weighted (decode %s, prefill %s)\n",
               pct(a, sizeof a, 1, c->all.smfu_tw), pct(b, sizeof b, dec->passes > 0, dec->smfu_tw),
               pct(p, sizeof p, pre->passes > 0, pre->smfu_tw));
}

static void print_recording(const bench_state *s)
{
    const bench_srv_run *r = &s->r.srv;
    if (r->fetched)
        printf("server        %s recording: %zu passes in records.jsonl (%lld bad lines%s)\n",
               protocol_name(s), r->set.n, (long long)r->set.n_errs,
               r->dropped > 0 ? ", SOME DROPPED by the server" : "");
    else if (r->note[0])
        printf("server        no records: %s\n", r->note);
    else if (s->srv.rec == REC_NONE)
        printf("server        no records: %s\n", s->srv.rec_note);
    if (r->have_cap)
        print_cap(s);
    else if (r->cap_err[0])
        printf("S-MBU         - (%s)\n", r->cap_err);
    if (r->warn[0])
        printf("WARNING       %s\n", r->warn);
}

void bench_srv_print(const bench_state *s)
{
    const bench_srv_run *r = &s->r.srv;
    if (!s->srv.http && !r->have_est)
        return;
    print_recording(s);
    act_pick a = pick_activation(s);
    if (a.estimate && r->have_est && !isfinite(r->est.decode_act))
        printf("experts       ESTIMATE prefill %.2f distinct per MoE layer (analytic, uniform "
               "routing); no decode estimate without streamed tokens\n",
               r->est.prefill_act);
    else if (a.estimate && r->have_est)
        printf("experts       ESTIMATE %.2f distinct per MoE layer in decode (analytic, uniform "
               "routing, mean decode batch %.2f as the client saw it; prefill %.2f); the server "
               "does not record\n",
               r->est.decode_act, r->est.decode_batch, r->est.prefill_act);
    else if (isfinite(a.value))
        printf("experts       %.2f distinct per MoE layer in decode passes (%s%s)\n", a.value,
               a.source, a.estimate ? "; some passes estimated" : "");
    if (r->have_before)
        printf("prometheus    metrics-before.prom%s\n",
               r->have_after ? ", metrics-after.prom (counter deltas in summary.json)" : "");
}
