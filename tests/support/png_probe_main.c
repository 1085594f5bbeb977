/* png_probe_main.c: mc_png_probe FILE.png X0 Y0 X1 Y1: decodes a PNG with cairo and prints, for
 * the pixel rectangle [X0, X1) x [Y0, Y1), how many pixels are not white and how many are
 * coloured (a chart colour: channels spread by more than 60, so grey text and grid lines do not
 * count): "size W H nonwhite N coloured M". Used by tests/integration/test_report_browser.sh to
 * check that a browser drew the report's charts where they should be. Exit 1 on a bad file. */
#include "base.h"

#include <cairo.h>
#include <stdio.h>
#include <string.h>

static int arg(const char *s, int64_t *v)
{
    return mc_parse_i64(s, 0, 1 << 20, v) == MC_OK;
}

int main(int argc, char **argv)
{
    int64_t r[4];
    if (argc != 6 || !arg(argv[2], &r[0]) || !arg(argv[3], &r[1]) || !arg(argv[4], &r[2]) ||
        !arg(argv[5], &r[3])) {
        fprintf(stderr, "usage: mc_png_probe FILE.png X0 Y0 X1 Y1\n");
        return 2;
    }
    cairo_surface_t *sf = cairo_image_surface_create_from_png(argv[1]);
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "mc_png_probe: %s: %s\n", argv[1],
                cairo_status_to_string(cairo_surface_status(sf)));
        cairo_surface_destroy(sf);
        return 1;
    }
    cairo_surface_flush(sf);
    int w = cairo_image_surface_get_width(sf), h = cairo_image_surface_get_height(sf);
    int stride = cairo_image_surface_get_stride(sf);
    const unsigned char *px = cairo_image_surface_get_data(sf);
    long nonwhite = 0, coloured = 0;
    for (int64_t y = r[1]; y < r[3] && y < h; y++)
        for (int64_t x = r[0]; x < r[2] && x < w; x++) {
            uint32_t argb;
            memcpy(&argb, px + y * stride + x * 4, 4); /* premultiplied; screenshots are opaque */
            int c[3] = {(int)(argb >> 16) & 0xff, (int)(argb >> 8) & 0xff, (int)argb & 0xff};
            int lo = c[0], hi = c[0];
            for (int k = 1; k < 3; k++) {
                lo = c[k] < lo ? c[k] : lo;
                hi = c[k] > hi ? c[k] : hi;
            }
            nonwhite += lo < 245;
            coloured += hi - lo > 60;
        }
    printf("size %d %d nonwhite %ld coloured %ld\n", w, h, nonwhite, coloured);
    cairo_surface_destroy(sf);
    return 0;
}
