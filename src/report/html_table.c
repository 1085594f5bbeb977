/* html_table.c: the report's summary table: every figure of every system's cap.json (headline,
 * the headline perf point, its prediction and gap, cost, memory, accuracy per task, fidelity)
 * as rows with the figure's unit and its definition name in docs/METRICS.md, one column per
 * system. Figures cap.json leaves null show "n/a" with the note why. Depends on base, cJSON. */
#include "rundir_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_ROWS 256

typedef struct row {
    char group[64], key[64], def[64], unit[32];
} row;

typedef struct table {
    row rows[MAX_ROWS];
    const cJSON *cell[MAX_ROWS][MC_REPORT_MAX_SYSTEMS];
    size_t n;
} table;

static size_t find_row(table *t, const char *group, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].group, group) == 0 && strcmp(t->rows[i].key, key) == 0)
            return i;
    return MAX_ROWS;
}

/* A row for a figure (or, with a default unit, a plain number) of a group. */
static void add_cell(table *t, size_t sys, const char *group, const cJSON *c, const char *unit)
{
    int fig = mc_is_fig(c);
    if (!c->string || (!fig && !(cJSON_IsNumber(c) && unit)))
        return;
    size_t i = find_row(t, group, c->string);
    if (i == MAX_ROWS) {
        if (t->n == MAX_ROWS)
            return;
        i = t->n++;
        row *r = &t->rows[i];
        const char *def = fig ? mc_jstr(c, "definition") : NULL;
        const char *u = fig ? mc_jstr(c, "unit") : unit;
        snprintf(r->group, sizeof r->group, "%s", group);
        snprintf(r->key, sizeof r->key, "%s", c->string);
        snprintf(r->def, sizeof r->def, "%s", def ? def : "");
        snprintf(r->unit, sizeof r->unit, "%s", u ? u : "");
    }
    t->cell[i][sys] = c;
}

static void add_group(table *t, size_t sys, const char *group, const cJSON *obj, const char *unit)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, (cJSON_IsObject(obj) ? obj : NULL))
        add_cell(t, sys, group, c, unit);
}

static void collect(table *t, const mc_rsys *s, size_t sys)
{
    const cJSON *j = s->j, *a;
    add_group(t, sys, "headline", mc_jget(j, "headline"), "");
    add_group(t, sys, "headline perf point", s->head_perf, NULL);
    add_group(t, sys, "predicted", mc_jget(s->head_perf, "predicted"), NULL);
    add_group(t, sys, "prediction gap", mc_jget(s->head_perf, "gap_pct"), "%");
    add_group(t, sys, "predicted, calibrated here",
              mc_jget(s->head_perf, "predicted_calibrated"), NULL);
    add_group(t, sys, "cost", mc_jget(j, "cost"), NULL);
    add_group(t, sys, "memory", mc_jget(j, "memory"), "bytes");
    cJSON_ArrayForEach(a, mc_jget(j, "accuracy"))
    {
        char g[64];
        const char *task = mc_jstr(a, "task");
        snprintf(g, sizeof g, "accuracy: %s", task ? task : "?");
        add_group(t, sys, g, a, NULL);
    }
    add_group(t, sys, "fidelity", mc_jget(j, "fidelity"), NULL);
}

static void cell_html(mc_svg *h, const cJSON *c)
{
    char v[40], se[40];
    double x = c ? mc_fig_value(c) : NAN;
    if (!c) {
        mc_svg_raw(h, "<td class=\"na\">&#8212;</td>");
        return;
    }
    if (isnan(x)) {
        const char *note = mc_jstr(c, "note");
        mc_svg_raw(h, "<td class=\"na\" title=\"");
        mc_svg_esc(h, note ? note : "not obtained");
        mc_svg_raw(h, "\">n/a%s", note ? ": " : "");
        mc_svg_esc(h, note ? note : "");
        mc_svg_raw(h, "</td>");
        return;
    }
    mc_report_fmt_value(x, v);
    double err = mc_jnum(c, "stderr");
    mc_report_fmt_value(err, se);
    mc_svg_raw(h, "<td>%s%s%s</td>", v, isfinite(err) ? " &#177; " : "", isfinite(err) ? se : "");
}

static void text_row(mc_svg *h, const mc_report *r, const char *label, int status)
{
    mc_svg_raw(h, "<tr><td class=\"l\">system</td><td class=\"l\">%s</td><td></td><td></td>",
               label);
    for (size_t i = 0; i < r->n_sys; i++) {
        const mc_rsys *s = &r->sys[i];
        const char *txt = status ? (s->failed ? s->status_note : "ok") : mc_jstr(s->j, "label");
        mc_svg_raw(h, "<td class=\"l%s\">", status && s->failed ? " bad" : "");
        mc_svg_esc(h, txt ? txt : "");
        mc_svg_raw(h, "</td>");
    }
    mc_svg_raw(h, "</tr>\n");
}

static void table_html(mc_svg *h, const mc_report *r, const table *t)
{
    mc_svg_raw(h, "<table>\n<tr><th class=\"l\">group</th><th class=\"l\">figure</th>"
                  "<th class=\"l\">definition (docs/METRICS.md)</th><th class=\"l\">unit</th>");
    for (size_t i = 0; i < r->n_sys; i++) {
        mc_svg_raw(h, "<th>");
        mc_svg_esc(h, r->sys[i].name);
        mc_svg_raw(h, "</th>");
    }
    mc_svg_raw(h, "</tr>\n");
    text_row(h, r, "description", 0);
    text_row(h, r, "status", 1);
    for (size_t k = 0; k < t->n; k++) {
        const row *w = &t->rows[k];
        mc_svg_raw(h, "<tr><td class=\"l\">");
        mc_svg_esc(h, w->group);
        mc_svg_raw(h, "</td><td class=\"l\">");
        mc_svg_esc(h, w->key);
        mc_svg_raw(h, "</td><td class=\"l\"><code>");
        mc_svg_esc(h, w->def);
        mc_svg_raw(h, "</code></td><td class=\"l\">");
        mc_svg_esc(h, w->unit);
        mc_svg_raw(h, "</td>");
        for (size_t i = 0; i < r->n_sys; i++)
            cell_html(h, t->cell[k][i]);
        mc_svg_raw(h, "</tr>\n");
    }
    mc_svg_raw(h, "</table>\n");
}

mc_err mc_html_summary(const mc_report *r, mc_svg *h, mc_diag *d)
{
    table *t = mc_calloc(1, sizeof *t);
    if (!t)
        return h->err = mc_fail(d, MC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_sys; i++)
        collect(t, &r->sys[i], i);
    mc_svg_raw(h, "<section id=\"summary\">\n<h2>Summary</h2>\n<p class=\"cap\">Every figure "
                  "of cap.json with its unit and its definition's name in docs/METRICS.md; "
                  "n/a: not obtained (the note says why).</p>\n");
    table_html(h, r, t);
    mc_svg_raw(h, "</section>\n");
    mc_free(t);
    return h->err;
}
