/* test_report.c: src/report: the SVG writer, ticks, the chart functions (exact snippets,
 * determinism), the CAP radar (the MoE-CAP worked example through the YAML and JSON inputs, the
 * SVG polygon vertices at the radii, edge cases, PNG), YAML errors, and the HTML report of the
 * hand-made run directory tests/fixtures/rundir-mini (well-formed markup, element counts, the
 * figures read from its files) and bad run directories. */
#include "harness.h"
#include "report.h"
#include "rundir_int.h"

#include <cairo.h>
#include <cjson/cJSON.h>
#include <sys/stat.h>

#define FIXTURE MC_SOURCE_DIR "/tests/fixtures/rundir-mini"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* XML well-formedness, enough for our output: balanced tags, quoted attributes, entities. */
static int well_formed(const char *s, char *why, size_t cap)
{
    char stack[64][32];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz#0123456789");
            if (n == 0 || p[1 + n] != ';')
                return snprintf(why, cap, "bare & at %zu", (size_t)(p - s)), 0;
            continue;
        }
        if (*p != '<')
            continue;
        if (strncmp(p, "<!", 2) == 0) {
            p = strchr(p, '>');
            if (!p)
                return snprintf(why, cap, "unterminated <!"), 0;
            continue;
        }
        const char *end = strchr(p, '>');
        if (!end)
            return snprintf(why, cap, "unterminated tag"), 0;
        int closing = p[1] == '/', selfc = end[-1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = strcspn(name, " />\n");
        if (nl == 0 || nl >= 32)
            return snprintf(why, cap, "bad tag name at %zu", (size_t)(p - s)), 0;
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, nl) != 0 ||
                stack[depth - 1][nl] != 0)
                return snprintf(why, cap, "</%.*s> at %zu closes <%s>", (int)nl, name,
                                (size_t)(p - s), depth ? stack[depth - 1] : "nothing"), 0;
            depth--;
        } else if (!selfc) {
            if (depth == 64)
                return snprintf(why, cap, "too deep"), 0;
            memcpy(stack[depth], name, nl);
            stack[depth++][nl] = 0;
        }
        p = end;
    }
    if (depth)
        return snprintf(why, cap, "<%s> not closed", stack[depth - 1]), 0;
    return 1;
}

/* ---- SVG writer and ticks ---- */

TEST(svg_numbers)
{
    char b[32];
    mc_svg_fmt(b, 12.5);
    CHECK_STR(b, "12.5");
    mc_svg_fmt(b, 3);
    CHECK_STR(b, "3");
    mc_svg_fmt(b, 0.07);
    CHECK_STR(b, "0.07");
    mc_svg_fmt(b, -0.001);
    CHECK_STR(b, "0");
    mc_svg_fmt(b, -3.456);
    CHECK_STR(b, "-3.46");
    mc_svg_fmt(b, 100.0);
    CHECK_STR(b, "100");
    mc_svg_fmt(b, 159.3333333);
    CHECK_STR(b, "159.33");
}

TEST(svg_escape)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_svg s;
    mc_svg_init(&s, &b);
    mc_svg_text(&s, 1, 2.5, "middle", "t", "a<b & \"c\" 'd'>");
    CHECK(mc_svg_finish(&s, NULL) == MC_OK);
    CHECK_STR(b.data, "<text x=\"1\" y=\"2.5\" text-anchor=\"middle\" class=\"t\">"
                      "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;</text>\n");
    mc_buf_deinit(&b);
}

TEST(ticks)
{
    mc_ticks t;
    mc_ticks_linear(0, 150, 5, &t);
    CHECK_EQ_INT(t.n, 4);
    CHECK_NEAR(t.v[1], 50, 0);
    CHECK_NEAR(t.hi, 150, 0);
    mc_ticks_linear(0.013, 0.087, 5, &t);
    CHECK_EQ_INT(t.n, 6);
    CHECK_NEAR(t.v[0], 0, 0);
    CHECK_NEAR(t.v[5], 0.1, 1e-12);
    CHECK_EQ_INT(t.decimals, 2);
    char lab[32];
    mc_ticks_label(&t, t.v[3], lab);
    CHECK_STR(lab, "0.06");
    mc_ticks_linear(5, 5, 5, &t); /* one value: a range around it */
    CHECK(t.lo <= 5 && t.hi > 5);
    mc_ticks_log2(1, 64, &t);
    CHECK_EQ_INT(t.n, 7);
    CHECK_NEAR(t.v[6], 64, 0);
    mc_ticks_log2(3, 5, &t);
    CHECK_EQ_INT(t.n, 3);
    CHECK_NEAR(t.v[0], 2, 0);
    CHECK_NEAR(t.v[2], 8, 0);
    mc_ticks_linear(0, 20000, 4, &t);
    mc_ticks_label(&t, 15000, lab);
    CHECK_STR(lab, "15,000");
    mc_scale sc = {1, 4, 64, 350, 1};
    CHECK_NEAR(mc_scale_map(&sc, 2), 207, 1e-9);
}

/* ---- charts: exact snippets and determinism ---- */

static char *xy_svg(void)
{
    static const double x[] = {1, 2, 4}, y[] = {0, 5, 10}, py[] = {1, NAN, 9};
    mc_xy_series s[2] = {{"measured", x, y, 3, 0, 0}, {"predicted", x, py, 3, 0, 1}};
    mc_chart c = {"T", "batch", "tok/s", 0, 0, 1, 1};
    mc_buf b;
    mc_buf_init(&b, 0);
    if (mc_chart_xy(&c, s, 2, &b, NULL) != MC_OK) {
        mc_buf_deinit(&b);
        return NULL;
    }
    return b.data;
}

TEST(chart_xy_exact)
{
    char *a = xy_svg(), *b = xy_svg();
    CHECK(a && b && strcmp(a, b) == 0);
    /* plot area x 64..350, y 274..34; log2 x: 1 -> 64, 2 -> 207, 4 -> 350; y 0..10 */
    CHECK_CONTAINS(a, "<path class=\"line\" stroke=\"#0072b2\" d=\"M64 274L207 154L350 34\"/>");
    CHECK_CONTAINS(a, "<path class=\"line predicted\" stroke=\"#0072b2\" d=\"M64 250L350 58\"/>");
    CHECK_CONTAINS(a, "<circle cx=\"350\" cy=\"58\" r=\"3.5\" stroke=\"#0072b2\" fill=\"#fff\"/>");
    char why[200] = "";
    CHECK(well_formed(a, why, sizeof why));
    mc_free(a);
    mc_free(b);
}

TEST(chart_cdf_exact)
{
    static const double v[] = {3, 1, 2, 2}, none[] = {NAN};
    mc_xy_series s[2] = {{"a", v, v, 4, 1, 0}, {"empty", none, none, 1, 2, 0}};
    mc_chart c = {"CDF", "ms", "fraction", 0, 0, 0, 1};
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK(mc_chart_cdf(&c, s, 2, &b, NULL) == MC_OK);
    CHECK_CONTAINS(b.data, "<path class=\"cdf\" stroke=\"#d55e00\" "
                           "d=\"M159.33 274V214H254.67V94H350V34\"/>");
    CHECK_EQ_INT(count(b.data, "class=\"cdf\""), 1);
    CHECK_CONTAINS(b.data, ">empty: no data</text>");
    mc_buf_deinit(&b);
}

TEST(chart_heat_exact)
{
    static const double v[] = {4, 2, 2, 0, 1, 2, 3, 2};
    mc_heat h = {"H", "layer", "expert", "tokens", 2, 4, v};
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK(mc_chart_heat(&h, &b, NULL) == MC_OK);
    CHECK_EQ_INT(count(b.data, "<rect class=\"heat\""), 8);
    CHECK_CONTAINS(b.data, "<rect class=\"heat\" x=\"64\" y=\"36\" width=\"28\" height=\"22\" "
                           "fill=\"#fde725\"><title>layer 0, expert 0: 4</title></rect>");
    CHECK_CONTAINS(b.data, "x=\"148\" y=\"36\" width=\"28\" height=\"22\" fill=\"#440154\">"
                           "<title>layer 0, expert 3: 0</title>");
    CHECK_EQ_INT(count(b.data, "class=\"heat-legend\""), 10);
    static const double bad[] = {1, -1};
    mc_heat hb = {"H", "l", "e", "t", 1, 2, bad};
    mc_diag d = {{0}};
    CHECK(mc_chart_heat(&hb, &b, &d) == MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "cell 1");
    mc_buf_deinit(&b);
}

/* ---- the radar ---- */

static const char radar_json[] =
    "{\"model_name\": \"Qwen3-30B-A3B\", \"axis_keys\": [\"latency\", \"cost\", \"accuracy\"],"
    " \"baseline\": 20, \"cost_ceiling\": 8000, \"data\": {"
    " \"SGLang\": {\"latency\": 58, \"cost\": 8920, \"accuracy\": 0.911},"
    " \"K-Transformers\": {\"latency\": 73, \"cost\": 3800, \"accuracy\": 0.800},"
    " \"MoE-Infinity\": {\"latency\": 150, \"cost\": 3800, \"accuracy\": 0.911}}}";

static const double want_r[3][3] = {
    {100, 20, 64.4}, {20 + 77.0 / 92 * 80, 62, 20}, {20, 62, 64.4}};

static void check_example(const mc_radar_chart *c)
{
    CHECK_EQ_INT(c->n, 3);
    CHECK_NEAR(c->cost_ceiling, 8000, 0);
    for (size_t i = 0; i < 3 && i < c->n; i++)
        for (int a = 0; a < 3; a++)
            CHECK_NEAR(c->sys[i].radius[a], want_r[i][a], 1e-9);
    CHECK_NEAR(c->sys[1].radius[0], 86.96, 0.005);
}

/* Each polygon's points, relative to the centre, must lie at radius r x R_PX / 100. */
static void check_polygons(const char *svg)
{
    const char *p = svg;
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "<polygon class=\"radar-sys\"");
        CHECK(p != NULL);
        if (!p)
            return;
        p = strstr(p, "points=\"") + 8;
        for (int a = 0; a < 3; a++) {
            char *end;
            double x = strtod(p, &end), y = strtod(end + 1, &end);
            CHECK_NEAR(hypot(x, y) / MC_RADAR_R_PX * 100, want_r[i][a], 0.01);
            double ex, ey;
            mc_radar_xy(a, want_r[i][a], &ex, &ey);
            CHECK_NEAR(x, ex, 0.006);
            CHECK_NEAR(y, ey, 0.006);
            p = end;
        }
    }
}

TEST(radar_worked_example_json)
{
    mc_radar_input *in = NULL;
    mc_diag d = {{0}};
    CHECK(mc_radar_input_parse("r.json", radar_json, strlen(radar_json), 0, &in, &d) == MC_OK);
    if (!in)
        return;
    mc_radar_chart *c = mc_radar_input_chart(in);
    check_example(c);
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK(mc_chart_radar(c, &b, NULL) == MC_OK);
    CHECK_EQ_INT(count(b.data, "<polygon class=\"radar-sys\""), 3);
    check_polygons(b.data);
    CHECK_CONTAINS(b.data, "radii 86.96 / 62 / 20");
    CHECK_CONTAINS(b.data, "<g transform=\"translate(280 265)\">");
    char why[200] = "";
    CHECK(well_formed(b.data, why, sizeof why));
    mc_buf_deinit(&b);
    mc_radar_input_free(in);
}

TEST(radar_worked_example_yaml)
{
    mc_radar_input *in = NULL;
    mc_diag d = {{0}};
    CHECK(mc_radar_input_load(MC_SOURCE_DIR "/tests/fixtures/radar-example.yaml", &in, &d) ==
          MC_OK);
    if (!in) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    mc_radar_chart *c = mc_radar_input_chart(in);
    check_example(c); /* ceiling: the second-to-last tick, 8000 */
    CHECK_STR(c->title, "Qwen3-30B-A3B");
    CHECK_STR(c->axis_label[1], "Cost ($)");
    CHECK_STR(c->sys[1].name, "K-Transformers");
    mc_radar_input_free(in);
}

static mc_err radar_from(const char *yaml, mc_radar_input **in, mc_diag *d)
{
    return mc_radar_input_parse("t.yaml", yaml, strlen(yaml), 1, in, d);
}

TEST(radar_edge_cases)
{
    mc_radar_input *in = NULL;
    mc_diag d = {{0}};
    /* one system: best everywhere except cost (against the ceiling: its own value -> b) */
    CHECK(radar_from("data: {a: {performance: 5, cost: 10, accuracy: 0.5}}", &in, &d) == MC_OK);
    if (in) {
        mc_radar_chart *c = mc_radar_input_chart(in);
        CHECK_NEAR(c->sys[0].radius[0], 100, 0);
        CHECK_NEAR(c->cost_ceiling, 10, 0); /* no ceiling, no ticks: the largest cost */
        CHECK_NEAR(c->sys[0].radius[1], 20, 1e-12);
        CHECK_NEAR(c->sys[0].radius[2], 20, 1e-12); /* all equal below 1: b */
    }
    mc_radar_input_free(in);
    /* all perfect accuracy; a missing value stays missing; ticks with one entry */
    CHECK(radar_from("baseline: 10\nticks: [100]\ndata:\n  a: {performance: 1, cost: 50, "
                     "accuracy: 1.0}\n  b: {performance: 1, accuracy: 1}\n", &in, &d) == MC_OK);
    if (in) {
        mc_radar_chart *c = mc_radar_input_chart(in);
        CHECK_NEAR(c->sys[0].radius[2], 100, 0);
        CHECK_NEAR(c->sys[1].radius[2], 100, 0);
        CHECK_NEAR(c->sys[0].radius[1], 10 + 0.5 * 90, 1e-12);
        CHECK(isnan(c->sys[1].radius[1]));
        mc_buf b;
        mc_buf_init(&b, 0);
        CHECK(mc_chart_radar(c, &b, NULL) == MC_OK);
        CHECK_CONTAINS(b.data, "no cost");
        mc_buf_deinit(&b);
    }
    mc_radar_input_free(in);
}

TEST(radar_bad_input)
{
    static const struct {
        const char *yaml, *msg;
    } cases[] = {
        {"data: {a: {performance: 1, cost: 1, accuracy: 1.5}}", "system 'a': accuracy 1.5"},
        {"data: {a: {performance: -1, cost: 1, accuracy: 1}}", "system 'a': performance -1"},
        {"data: {a: {performance: fast, cost: 1, accuracy: 1}}", "data.a.performance: must be"},
        {"baseline: 100\ndata: {a: {performance: 1}}", "baseline 100"},
        {"data: {}", "data: must be a mapping"},
        {"axis_keys: [a, b]\ndata: {a: {}}", "axis_keys: must be a list of 3"},
        {"data:\n  a: {cost: 1}\n  a: {cost: 2}\n", "line 3: duplicate key 'a'"},
        {"x: &anchor 1\ny: *anchor\n", "line 2: aliases are not supported"},
        {"data: [1, 2\n", "line 2:"},
        {"- 1\n- 2\n", "must be a mapping"},
        {"", "empty YAML document"},
        {"a: 1\n---\nb: 2\n", "more than one YAML document"},
        {"ticks: [0, -5, 10]\ndata: {a: {cost: 1}}", "ticks[1]"},
        /* a line break in a system name stays out of the one-line message (fuzz_radar_input) */
        {"data: {\"a\\nb\": 5}", "data.a?b: must be a mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mc_radar_input *in = NULL;
        mc_diag d = {{0}};
        mc_err e = radar_from(cases[i].yaml, &in, &d);
        CHECK(e != MC_OK && in == NULL);
        CHECK_CONTAINS(d.msg, cases[i].msg);
        CHECK(strncmp(d.msg, "t.yaml", 6) == 0);
    }
    mc_radar_input *in = NULL;
    mc_diag d = {{0}};
    CHECK(mc_radar_input_parse("r.json", "{\"data\": {\"a\": ", 15, 0, &in, &d) == MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "r.json: not valid JSON");
}

static cairo_status_t read_png(void *closure, unsigned char *data, unsigned int len)
{
    mc_buf *b = closure;
    if (b->cap < len) /* cap holds the read offset here */
        return CAIRO_STATUS_READ_ERROR;
    memcpy(data, b->data + (b->len - b->cap), len);
    b->cap -= len;
    return CAIRO_STATUS_SUCCESS;
}

TEST(radar_png)
{
    mc_radar_input *in = NULL;
    CHECK(mc_radar_input_parse("r.json", radar_json, strlen(radar_json), 0, &in, NULL) == MC_OK);
    if (!in)
        return;
    mc_buf b;
    mc_buf_init(&b, 0);
    CHECK(mc_radar_png(mc_radar_input_chart(in), 1, &b, NULL) == MC_OK);
    CHECK(b.len > 8 && memcmp(b.data, "\x89PNG\r\n\x1a\n", 8) == 0);
    mc_buf rd = b;
    rd.cap = b.len;
    cairo_surface_t *sf = cairo_image_surface_create_from_png_stream(read_png, &rd);
    CHECK(cairo_surface_status(sf) == CAIRO_STATUS_SUCCESS);
    CHECK_EQ_INT(cairo_image_surface_get_width(sf), MC_RADAR_W);
    /* the first system's colour (#0072b2) is drawn: its polygon outline and legend swatch */
    cairo_surface_flush(sf);
    const unsigned char *px = cairo_image_surface_get_data(sf);
    int stride = cairo_image_surface_get_stride(sf), blue = 0;
    for (int y = 0; px && y < cairo_image_surface_get_height(sf); y++)
        for (int x = 0; x < MC_RADAR_W; x++) {
            uint32_t argb;
            memcpy(&argb, px + y * stride + x * 4, 4);
            unsigned r = (argb >> 16) & 0xff, g = (argb >> 8) & 0xff, bl = argb & 0xff;
            blue += r < 0x20 && g >= 0x60 && g <= 0x80 && bl >= 0xa0 && bl <= 0xc0;
        }
    CHECK(blue > 300);
    cairo_surface_destroy(sf);
    mc_buf_deinit(&b);
    mc_radar_input_free(in);
}

/* ---- the HTML report of the fixture run directory ---- */

TEST(report_fixture)
{
    const char *dirs[] = {FIXTURE};
    mc_report *r = NULL;
    mc_diag d = {{0}};
    CHECK(mc_report_load(dirs, 1, &r, &d) == MC_OK);
    if (!r) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    CHECK_EQ_INT(r->n_sys, 3);
    const mc_rsys *f16 = &r->sys[0], *q4 = &r->sys[1], *c25 = &r->sys[2];
    /* requests.jsonl: the warm-up and the timed-out request are left out */
    CHECK_EQ_INT(f16->n_ttft, 3);
    CHECK_EQ_INT(f16->n_tpot, 3);
    CHECK_NEAR(f16->ttft[2], 0.01, 0);
    CHECK_EQ_INT(q4->n_ttft, 2);
    CHECK_CONTAINS(q4->lat_note, "1 bad lines skipped");
    CHECK_EQ_INT(c25->n_ttft, 1);
    /* records.jsonl: tokens per expert summed over the decode passes of both perf points */
    static const double heat[8] = {4, 2, 2, 0, 1, 2, 3, 2};
    CHECK_EQ_INT(f16->heat_rows, 2);
    CHECK_EQ_INT(f16->heat_cols, 4);
    CHECK_EQ_INT(f16->heat_passes, 3);
    for (int i = 0; f16->heat && i < 8; i++)
        CHECK_NEAR(f16->heat[i], heat[i], 0);
    CHECK_EQ_INT(f16->n_bs, 2);
    CHECK_NEAR(f16->bs_sum[0] / f16->bs_cnt[0], 2, 0);
    CHECK_NEAR(f16->bs_sum[1] / f16->bs_cnt[1], 3.5, 0);
    CHECK_NEAR(q4->bs_sum[0] / q4->bs_cnt[0], 2, 0); /* from tokens_per_expert */
    CHECK(c25->heat == NULL && c25->failed);
    CHECK_STR(c25->heat_note, "no records.jsonl in its 1 perf point");
    CHECK_CONTAINS(c25->status_note, "failed: perf-c2: serve exited with status 1");
    /* radar: 50 / 40 / 150 ms, $8,920 / $3,800 / $3,800 (ceiling 8000), 0.911 / - / 0.8 */
    const mc_radar_chart *c = mc_report_radar(r);
    CHECK_NEAR(c->sys[0].radius[0], 20 + 100.0 / 110 * 80, 1e-9);
    CHECK_NEAR(c->sys[1].radius[0], 100, 1e-9);
    CHECK_NEAR(c->sys[2].radius[0], 20, 1e-9);
    CHECK_NEAR(c->sys[0].radius[1], 20, 1e-9);
    CHECK_NEAR(c->sys[1].radius[1], 62, 1e-9);
    CHECK_NEAR(c->sys[0].radius[2], 20 + 0.111 / 0.2 * 80, 1e-9);
    CHECK(isnan(c->sys[1].radius[2]));
    CHECK_NEAR(c->sys[2].radius[2], 20, 1e-9);

    mc_buf a, b;
    mc_buf_init(&a, 0);
    mc_buf_init(&b, 0);
    CHECK(mc_report_html(r, &a, &d) == MC_OK);
    CHECK(mc_report_html(r, &b, &d) == MC_OK);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0); /* deterministic */
    char why[200] = "";
    CHECK(well_formed(a.data, why, sizeof why));
    if (why[0])
        fprintf(stderr, "not well formed: %s\n", why);
    CHECK(strncmp(a.data, "<!DOCTYPE html>", 15) == 0);
    CHECK_EQ_INT(count(a.data, "<polygon class=\"radar-sys\""), 3);
    CHECK_EQ_INT(count(a.data, "<path class=\"cdf\""), 6); /* TTFT and TPOT, 3 systems */
    CHECK_EQ_INT(count(a.data, "<rect class=\"heat\""), 2 * 2 * 4);
    CHECK_EQ_INT(count(a.data, "<div class=\"missing\">"), 1);
    CHECK_EQ_INT(count(a.data, "<script"), 0);
    CHECK_EQ_INT(count(a.data, "http://") + count(a.data, "https://"),
                 count(a.data, "xmlns=\"http://www.w3.org/2000/svg\""));
    CHECK_CONTAINS(a.data, "<code>cost.memory_capital</code>");
    CHECK_CONTAINS(a.data, "n/a: no evaluation configured");
    CHECK_CONTAINS(a.data, "Q4_0 &lt;quantised&gt; &amp; small");
    CHECK_CONTAINS(a.data, "0.911 &#177; 0.01");
    CHECK_CONTAINS(a.data, "uniform E=4 k=2");
    /* f16's raw and calibrated predictions: one dashed path each in the throughput and the S-MBU
     * chart, each with its legend entry; the other systems have none */
    CHECK_EQ_INT(count(a.data, "<path class=\"line predicted\" "), 3); /* + uniform E=4 */
    CHECK_EQ_INT(count(a.data, "<path class=\"line predicted calibrated\" "), 2);
    CHECK_EQ_INT(count(a.data, "class=\"line predicted calibrated\" stroke"), 4);
    CHECK_EQ_INT(count(a.data, ">f16 predicted, calibrated</text>"), 2);
    CHECK_EQ_INT(count(a.data, ">f16 predicted</text>"), 2);
    CHECK_CONTAINS(a.data, ".predicted.calibrated{stroke-dasharray:2 3}");
    mc_buf_deinit(&a);
    mc_buf_deinit(&b);
    mc_report_free(r);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(report_bad_dirs)
{
    char dir[4096], path[4200];
    const char *dirs[1] = {dir};
    mc_report *r = NULL;
    mc_diag d = {{0}};
    snprintf(dir, sizeof dir, "%s/empty", harness_tmpdir());
    mkdir(dir, 0755);
    CHECK(mc_report_load(dirs, 1, &r, &d) == MC_ERR_IO && !r);
    CHECK_CONTAINS(d.msg, "empty/cap.json: cannot open");
    CHECK_CONTAINS(d.msg, "not a `moecap run` results directory");

    snprintf(dir, sizeof dir, "%s/bench", harness_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/cap.json", dir);
    write_text(path, "{\"command\": \"bench\", \"systems\": []}");
    CHECK(mc_report_load(dirs, 1, &r, &d) == MC_ERR_FORMAT && !r);
    CHECK_CONTAINS(d.msg, "cap.json: not a run's cap.json (command is \"bench\"");

    write_text(path, "{\"command\": \"run\"}");
    CHECK(mc_report_load(dirs, 1, &r, &d) == MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "cap.json: no systems array");

    write_text(path, "{\"command\": \"run\",\n \"systems\": [{\"name\": \"a\", ");
    CHECK(mc_report_load(dirs, 1, &r, &d) == MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "bench/cap.json: not valid JSON");

    /* a run with no figures at all still renders (missing pieces said as such) */
    write_text(path, "{\"command\": \"run\", \"systems\": [{\"name\": \"a\", \"status\": "
                     "\"failed\", \"error\": \"probe failed\"}, {\"name\": \"b\", "
                     "\"perf\": [{\"concurrency\": 1, \"dir\": \"../../etc\"}]}]}");
    CHECK(mc_report_load(dirs, 1, &r, &d) == MC_OK);
    if (r) {
        mc_buf b;
        mc_buf_init(&b, 0);
        CHECK(mc_report_html(r, &b, &d) == MC_OK);
        CHECK_EQ_INT(count(b.data, "<polygon class=\"radar-sys\""), 0);
        CHECK_CONTAINS(b.data, "failed: probe failed");
        CHECK_CONTAINS(b.data, "is not inside the run directory");
        char why[200] = "";
        CHECK(well_formed(b.data, why, sizeof why));
        mc_buf_deinit(&b);
        mc_report_free(r);
    }
}

int main(void)
{
    RUN(svg_numbers);
    RUN(svg_escape);
    RUN(ticks);
    RUN(chart_xy_exact);
    RUN(chart_cdf_exact);
    RUN(chart_heat_exact);
    RUN(radar_worked_example_json);
    RUN(radar_worked_example_yaml);
    RUN(radar_edge_cases);
    RUN(radar_bad_input);
    RUN(radar_png);
    RUN(report_fixture);
    RUN(report_bad_dirs);
    return harness_done();
}
