/* html.c: the self-contained HTML report of run directories: inline CSS and inline SVG, no
 * scripts, no external assets. Sections: CAP radar, TTFT/TPOT CDFs, throughput and S-MBU against
 * concurrency (measured and predicted), expert activation (distinct experts against batch size
 * beside the uniform-routing expectation, layer x expert heat maps), the summary table, and the
 * missing pieces. Deterministic: same run directories -> same bytes. Depends on base, cap
 * (experts.expected_uniform), cJSON. */
#include "cap.h"
#include "rundir_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHART_W 540
#define CHART_H 320

/* Fixed block heights keep the charts where tests/integration/test_report_browser.sh looks. */
static const char css[] =
    "body{margin:0;padding:16px;width:1100px;font:14px/1.4 sans-serif;color:#222;"
    "background:#fff}\n"
    "header{height:72px;overflow:hidden}h1{font-size:22px;margin:0;height:34px;"
    "line-height:34px}\n.meta{margin:0;height:38px;overflow:hidden;color:#555;font-size:12px;"
    "line-height:19px}\n"
    "section{margin:0 0 16px 0}h2{font-size:17px;margin:0;height:30px;line-height:30px;"
    "overflow:hidden}\n.cap{margin:0;height:20px;line-height:20px;overflow:hidden;"
    "font-size:12px;color:#555}\n"
    ".row{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}svg{display:block}\n"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
    "padding:3px 6px;text-align:right;vertical-align:top}\n.l{text-align:left}"
    ".na{color:#999}.bad{color:#a33}code{font-size:11px}\n"
    ".missing{border:1px dashed #bbb;padding:8px;width:300px;color:#777;font-size:12px}\n";

static void head(mc_svg *h)
{
    mc_svg_raw(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                  "<title>moecap CAP report</title>\n<style>\n");
    if (!h->err)
        h->err = mc_buf_append(h->b, css, sizeof css - 1);
    mc_svg_raw(h, "</style>\n</head>\n<body>\n");
}

static void meta_run(mc_svg *h, const mc_report *r, size_t k)
{
    const cJSON *root = r->roots[k], *w = mc_jget(root, "workload");
    const char *created = mc_jstr(root, "created");
    const char *hw = mc_jstr(mc_jget(root, "machine"), "hardware");
    mc_svg_raw(h, "run <code>");
    mc_svg_esc(h, r->dirs[k]);
    mc_svg_raw(h, "</code>: created ");
    mc_svg_esc(h, created ? created : "?");
    mc_svg_raw(h, ", priced as ");
    mc_svg_esc(h, hw ? hw : "?");
    double in = mc_jnum(w, "input_len"), outl = mc_jnum(w, "output_len");
    if (isfinite(in) && isfinite(outl))
        mc_svg_raw(h, ", %g input / %g output tokens", in, outl);
    if (cJSON_IsTrue(mc_jget(root, "partial")))
        mc_svg_raw(h, " <span class=\"bad\">(partial: a step failed or the run was "
                      "interrupted)</span>");
    mc_svg_raw(h, "<br/>\n");
}

static void header(mc_svg *h, const mc_report *r)
{
    mc_svg_raw(h, "<header>\n<h1>moecap CAP report: %zu system%s</h1>\n<p class=\"meta\">", r->n_sys,
               r->n_sys == 1 ? "" : "s");
    for (size_t k = 0; k < r->n_runs; k++)
        meta_run(h, r, k);
    mc_svg_raw(h, "</p>\n</header>\n");
}

static void section_open(mc_svg *h, const char *id, const char *title, const char *caption)
{
    mc_svg_raw(h, "<section id=\"%s\">\n<h2>", id);
    mc_svg_esc(h, title);
    mc_svg_raw(h, "</h2>\n<p class=\"cap\">");
    mc_svg_esc(h, caption);
    mc_svg_raw(h, "</p>\n");
}

/* Appends a chart's SVG (the chart function writes to the same buffer). */
static mc_err sticky(mc_svg *h, mc_err e)
{
    if (e && !h->err)
        h->err = e;
    return h->err;
}

static mc_err sec_radar(mc_svg *h, const mc_report *r, mc_diag *d)
{
    char cap[256];
    snprintf(cap, sizeof cap, "Headline figures, MoE-CAP normalisation (radar.performance, "
             "radar.cost, radar.accuracy), baseline %g, cost ceiling %g.", r->radar.baseline,
             r->radar.cost_ceiling);
    section_open(h, "radar", "CAP radar", cap);
    if (!h->err)
        sticky(h, mc_chart_radar(&r->radar, h->b, d));
    mc_svg_raw(h, "</section>\n");
    return h->err;
}

/* TTFT and TPOT CDFs of every system, in ms. */
static mc_err cdf_chart(mc_svg *h, const mc_report *r, int tpot, mc_diag *d)
{
    mc_xy_series *s = mc_calloc(r->n_sys ? r->n_sys : 1, sizeof *s);
    double **ms = mc_calloc(r->n_sys ? r->n_sys : 1, sizeof *ms);
    mc_err e = s && ms ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_sys && !e; i++) {
        const double *v = tpot ? r->sys[i].tpot : r->sys[i].ttft;
        size_t n = tpot ? r->sys[i].n_tpot : r->sys[i].n_ttft;
        if (n && !(ms[i] = mc_mallocarray(n, sizeof **ms))) {
            e = mc_fail(d, MC_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < n; k++)
            ms[i][k] = v[k] * 1000;
        s[i] = (mc_xy_series){r->sys[i].name, ms[i], ms[i], n, i, 0};
    }
    mc_chart c = {tpot ? "TPOT CDF (latency.tpot)" : "TTFT CDF (latency.ttft)",
                  tpot ? "TPOT (ms)" : "TTFT (ms)", "fraction of requests", CHART_W, CHART_H,
                  0, 1};
    if (!e)
        e = mc_chart_cdf(&c, s, r->n_sys, h->b, d);
    for (size_t i = 0; ms && i < r->n_sys; i++)
        mc_free(ms[i]);
    mc_free(ms);
    mc_free(s);
    return sticky(h, e);
}

static mc_err sec_latency(mc_svg *h, const mc_report *r, mc_diag *d)
{
    section_open(h, "latency", "Latency at the headline concurrency",
                 "Empirical CDFs over successful, non-warm-up requests of each system's "
                 "headline perf point (requests.jsonl ttft_s, tpot_s).");
    mc_svg_raw(h, "<div class=\"row\">\n");
    if (!h->err && !cdf_chart(h, r, 0, d))
        cdf_chart(h, r, 1, d);
    mc_svg_raw(h, "</div>\n</section>\n");
    return h->err;
}

static void notes(mc_svg *h, const mc_report *r)
{
    section_open(h, "missing", "Missing pieces", "What could not be shown, and why.");
    mc_svg_raw(h, "<ul>\n");
    size_t n = 0;
    if (r->radar_err[0]) {
        mc_svg_raw(h, "<li>radar: ");
        mc_svg_esc(h, r->radar_err);
        mc_svg_raw(h, "</li>\n");
        n++;
    }
    for (size_t i = 0; i < r->n_sys; i++) {
        const mc_rsys *s = &r->sys[i];
        const char *what[] = {s->status_note, s->lat_note, s->heat_note, s->bs_note};
        const char *label[] = {"status", "latency", "heat map", "distinct experts"};
        for (int k = 0; k < 4; k++) {
            if (!what[k][0])
                continue;
            mc_svg_raw(h, "<li><b>");
            mc_svg_esc(h, s->name);
            mc_svg_raw(h, "</b> %s: ", label[k]);
            mc_svg_esc(h, what[k]);
            mc_svg_raw(h, "</li>\n");
            n++;
        }
    }
    if (!n)
        mc_svg_raw(h, "<li>nothing: every system has every chart</li>\n");
    mc_svg_raw(h, "</ul>\n</section>\n");
}

mc_err mc_report_html(const mc_report *r, mc_buf *out, mc_diag *d)
{
    mc_svg h;
    mc_svg_init(&h, out);
    head(&h);
    header(&h, r);
    if (!h.err)
        sec_radar(&h, r, d);
    if (!h.err)
        sec_latency(&h, r, d);
    if (!h.err)
        mc_html_perf_section(&h, r, d);
    if (!h.err)
        mc_html_experts_section(&h, r, d);
    if (!h.err)
        mc_html_summary(r, &h, d);
    notes(&h, r);
    mc_svg_raw(&h, "<footer class=\"cap\">Figures and their definitions: docs/METRICS.md of "
                   "moecap %s; this report: docs/REPORT.md.</footer>\n</body>\n</html>\n",
               MC_VERSION);
    if (h.err && d && d->msg[0])
        return h.err; /* a chart already said what went wrong */
    return mc_svg_finish(&h, d);
}
