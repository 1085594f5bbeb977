/* metrics.c: the server's Prometheus metrics (GET /metrics, text exposition format 0.0.4):
 * request outcomes, token counters, latency histograms (TTFT, end-to-end, inter-token, forward
 * pass), queue and batch gauges, forward passes per mode and per-layer expert activations.
 * docs/SERVER.md "Metrics" names every series. The counters are plain fields under one mutex;
 * this file only formats and bins. Must not depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <string.h>

static const double ttft_le[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                                 0.75,  1,     2.5,  5,    7.5,  10,   20,   40,  80};
static const double e2e_le[] = {0.1, 0.3, 0.5, 0.8, 1,  1.5, 2,   2.5, 5,   10,
                                15,  20,  30,  40,  50, 60,  120, 240, 480, 960};
static const double itl_le[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                                0.4,   0.5,   0.75, 1,     2.5,  5,     7.5, 10,   20};

#define N_OF(a) ((int)(sizeof a / sizeof a[0]))

void mc_srv_hist_init(mc_srv_hist *h, const double *bounds, int n)
{
    memset(h, 0, sizeof *h);
    h->n_bounds = n < MC_SRV_HIST_MAX ? n : MC_SRV_HIST_MAX;
    memcpy(h->bounds, bounds, (size_t)h->n_bounds * sizeof *bounds);
}

void mc_srv_hist_add(mc_srv_hist *h, double v)
{
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

mc_err mc_srv_metrics_init(mc_srv_metrics *m, int64_t n_moe_layers)
{
    memset(m, 0, sizeof *m);
    if (n_moe_layers > 0 && !(m->expert_act = mc_calloc((size_t)n_moe_layers, sizeof(double))))
        return MC_ERR_NOMEM;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        mc_free(m->expert_act);
        return MC_ERR_INTERNAL;
    }
    m->n_layers = n_moe_layers > 0 ? n_moe_layers : 0;
    mc_srv_hist_init(&m->ttft, ttft_le, N_OF(ttft_le));
    mc_srv_hist_init(&m->e2e, e2e_le, N_OF(e2e_le));
    mc_srv_hist_init(&m->itl, itl_le, N_OF(itl_le));
    mc_srv_hist_init(&m->pass, itl_le, N_OF(itl_le));
    return MC_OK;
}

void mc_srv_metrics_deinit(mc_srv_metrics *m)
{
    pthread_mutex_destroy(&m->mu);
    mc_free(m->expert_act);
    m->expert_act = NULL;
}

void mc_srv_metrics_pass_locked(mc_srv_metrics *m, const mc_pass *p)
{
    if ((unsigned)p->mode < MC_PASS_MODE_COUNT)
        m->passes[p->mode]++;
    m->pass_tokens += (uint64_t)p->new_tokens;
    m->batch_size = p->batch_size;
    mc_srv_hist_add(&m->pass, p->latency_s);
    for (int64_t i = 0; i < m->n_layers && i < p->n_layer_experts; i++)
        m->expert_act[i] += p->experts_per_layer[i];
    for (int64_t i = 0; i < p->n_cache_layers; i++) {
        m->xc_hits += (uint64_t)p->cache_hits[i];
        m->xc_misses += (uint64_t)p->cache_misses[i];
    }
    if (p->slow_bytes > 0)
        m->xc_bytes += (uint64_t)p->slow_bytes;
    if (p->slow_stall_s > 0)
        m->xc_stall_s += p->slow_stall_s;
}

/* ---- formatting ---- */

static mc_err head(mc_buf *b, const char *name, const char *type, const char *help)
{
    return mc_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static mc_err hist(mc_buf *b, const char *name, const char *help, const mc_srv_hist *h)
{
    mc_err e = head(b, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i <= h->n_bounds && !e; i++) {
        cum += h->counts[i];
        if (i < h->n_bounds)
            e = mc_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
                              (unsigned long long)cum);
        else
            e = mc_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    if (!e)
        e = mc_buf_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
                          (unsigned long long)h->count);
    return e;
}

static mc_err counter(mc_buf *b, const char *name, const char *help, uint64_t v)
{
    mc_err e = head(b, name, "counter", help);
    return e ? e : mc_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static mc_err gauge(mc_buf *b, const char *name, const char *help, int64_t v)
{
    mc_err e = head(b, name, "gauge", help);
    return e ? e : mc_buf_printf(b, "%s %lld\n", name, (long long)v);
}

static mc_err requests(mc_buf *b, const mc_srv_metrics *m)
{
    static const char *names[MC_OUT_COUNT] = {"finished", "cancelled", "aborted",
                                              "failed",   "rejected",  "invalid"};
    mc_err e = head(b, "moecap_requests_total", "counter",
                    "Generation requests by outcome (finished = stop or length).");
    for (int i = 0; i < MC_OUT_COUNT && !e; i++)
        e = mc_buf_printf(b, "moecap_requests_total{outcome=\"%s\"} %llu\n", names[i],
                          (unsigned long long)m->requests[i]);
    return e;
}

static mc_err passes(mc_buf *b, const mc_srv_metrics *m)
{
    mc_err e = head(b, "moecap_forward_passes_total", "counter", "Forward passes by mode.");
    for (int i = 0; i < MC_PASS_MODE_COUNT && !e; i++)
        e = mc_buf_printf(b, "moecap_forward_passes_total{mode=\"%s\"} %llu\n",
                          mc_pass_mode_name((mc_pass_mode)i), (unsigned long long)m->passes[i]);
    if (!e)
        e = counter(b, "moecap_forward_pass_tokens_total", "Tokens computed by forward passes.",
                    m->pass_tokens);
    if (!e && m->n_layers > 0)
        e = head(b, "moecap_expert_activations_total", "counter",
                 "Sum over forward passes of the distinct routed experts a MoE layer used.");
    for (int64_t i = 0; i < m->n_layers && !e; i++)
        e = mc_buf_printf(b, "moecap_expert_activations_total{moe_layer=\"%lld\"} %.17g\n",
                          (long long)i, m->expert_act[i]);
    return e;
}

/* Expert offloading (docs/ENGINE.md "Expert offloading"; zero without an expert cache). */
static mc_err xcache(mc_buf *b, const mc_srv_metrics *m)
{
    mc_err e = counter(b, "moecap_expert_cache_hits_total",
                       "Activated routed experts found in the expert cache (per pass and MoE "
                       "layer).",
                       m->xc_hits);
    if (!e)
        e = counter(b, "moecap_expert_cache_misses_total",
                    "Activated routed experts read from the slow tier (per pass and MoE layer).",
                    m->xc_misses);
    if (!e)
        e = counter(b, "moecap_slow_tier_bytes_total",
                    "Bytes read from the slow tier (prefetches and alignment included).",
                    m->xc_bytes);
    if (!e)
        e = head(b, "moecap_slow_tier_stall_seconds_total", "counter",
                 "Time forward passes waited for slow-tier reads.");
    return e ? e : mc_buf_printf(b, "moecap_slow_tier_stall_seconds_total %.9g\n", m->xc_stall_s);
}

static mc_err format_locked(const mc_srv_metrics *m, mc_buf *b)
{
    mc_err e = requests(b, m);
    if (!e)
        e = counter(b, "moecap_prompt_tokens_total", "Prompt tokens of admitted requests.",
                    m->prompt_tokens);
    if (!e)
        e = counter(b, "moecap_generation_tokens_total", "Generated tokens.", m->generation_tokens);
    if (!e)
        e = hist(b, "moecap_time_to_first_token_seconds",
                 "Request arrival to first generated token.", &m->ttft);
    if (!e)
        e = hist(b, "moecap_e2e_request_latency_seconds", "Request arrival to its last token.",
                 &m->e2e);
    if (!e)
        e = hist(b, "moecap_inter_token_latency_seconds",
                 "Time between consecutive tokens of a request.", &m->itl);
    if (!e)
        e = hist(b, "moecap_forward_pass_seconds", "Latency of one forward pass.", &m->pass);
    if (!e)
        e = gauge(b, "moecap_queue_depth", "Requests waiting for a slot.", m->queue_depth);
    if (!e)
        e = gauge(b, "moecap_running_requests", "Requests holding a slot.", m->running);
    if (!e)
        e = gauge(b, "moecap_batch_size", "Sequences in the last forward pass.", m->batch_size);
    if (!e)
        e = passes(b, m);
    if (!e)
        e = xcache(b, m);
    return e;
}

mc_err mc_srv_metrics_format(mc_srv_metrics *m, mc_buf *out)
{
    pthread_mutex_lock(&m->mu);
    mc_err e = format_locked(m, out);
    pthread_mutex_unlock(&m->mu);
    return e;
}
