/* fuzz_radar_input.c: the radar input loader of `moecap radar` (src/report/radar_input.c: the
 * MoE-CAP reference's radar YAML, or JSON) on arbitrary bytes, and the SVG drawn from what it
 * accepts. The first byte chooses the syntax (even: YAML, odd: JSON), the rest is the text. Any
 * input must give either an error with a one-line message and no input, or a chart with at most
 * 64 systems whose radii are NaN or within [0, 100], drawn without error; never a crash, a hang
 * or a leak. Seeds: tests/fuzz/corpus/radar_input/ (tests/fixtures/radar-example.yaml and
 * variants; each file starts with its syntax byte). */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_chart(const mc_radar_chart *c)
{
    if (c->n == 0 || c->n > 64 || !c->sys)
        abort();
    for (size_t i = 0; i < c->n; i++)
        for (int a = 0; a < MC_RADAR_AXES; a++) {
            double r = c->sys[i].radius[a];
            if (!isnan(r) && !(r >= 0 && r <= 100))
                abort();
        }
    mc_buf b;
    mc_diag d = {{0}};
    mc_buf_init(&b, 0);
    if (mc_chart_radar(c, &b, &d) != MC_OK && (d.msg[0] == 0 || strchr(d.msg, '\n')))
        abort();
    mc_buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int yaml = (data[0] & 1) == 0;
    mc_radar_input *in = NULL;
    mc_diag d = {{0}};
    mc_err e = mc_radar_input_parse("fuzz", (const char *)data + 1, size - 1, yaml, &in, &d);
    if (e != MC_OK) {
        if (in != NULL || d.msg[0] == 0 || strchr(d.msg, '\n') != NULL)
            abort();
        return 0;
    }
    if (!in)
        abort();
    check_chart(mc_radar_input_chart(in));
    mc_radar_input_free(in);
    return 0;
}
