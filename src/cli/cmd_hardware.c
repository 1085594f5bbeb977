/* cmd_hardware.c: `moecap hardware list|show`: the hardware catalogue as a table or JSON, and one
 * device (or NAMExN deployment) with every field and the totals for N devices.
 * Parses options and prints; lookups are the hw module's. */
#include "cli.h"
#include "hw.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

void usage_hardware(FILE *f)
{
    fprintf(f, "usage: moecap hardware list [--json]\n"
               "       moecap hardware show NAME[xN] [--json]\n\n"
               "list  every catalogue device: memory, bandwidth, dense bf16 peak, TDP, price\n"
               "show  one device with all fields; NAMExN (e.g. h100-sxm-80gbx8) adds totals for\n"
               "      N devices. NAME is a catalogue name, an alias (what nvidia-smi / rocm-smi\n"
               "      print, MoE-CAP gpu_raw_type keys) or 'local' (written by 'moecap probe').\n"
               "      Matching ignores case; spaces and '_' count as '-'.\n\n"
               "FLOP/s are dense peaks (no 2:4 sparsity); bandwidths are bytes/s per direction.\n"
               "Catalogue: $MOECAP_CATALOGUE_DIR/hardware.csv (see docs/HARDWARE.md).\n");
}

/* ---- JSON ---- */

static void add_or_null(cJSON *o, const char *key, double v)
{
    if (v > 0)
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

/* The scalable quantities of n devices (n = 1: one device). */
static cJSON *amounts_json(const mc_hw *h, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mem_bytes", h->mem_bytes * n);
    cJSON_AddNumberToObject(o, "mem_bw_Bps", h->mem_bw_Bps * n);
    cJSON *fl = cJSON_AddObjectToObject(o, "flops");
    for (int p = 0; p < MC_PREC_COUNT; p++)
        add_or_null(fl, mc_prec_name((mc_prec)p), h->flops[p] * n);
    add_or_null(o, "tdp_w", h->tdp_w * n);
    add_or_null(o, "price_usd", h->price_usd * n);
    return o;
}

static cJSON *hw_json(const mc_hw *h, int count)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", h->name);
    cJSON_AddStringToObject(o, "vendor", h->vendor);
    cJSON_AddStringToObject(o, "kind", mc_hw_kind_name(h->kind));
    cJSON *dev = amounts_json(h, 1);
    cJSON_AddNumberToObject(dev, "host_link_Bps", h->host_link_Bps);
    cJSON_AddNumberToObject(dev, "scaleup_link_Bps", h->scaleup_link_Bps);
    cJSON_AddNumberToObject(dev, "slow_tier_Bps", h->slow_tier_Bps);
    cJSON_AddItemToObject(o, "device", dev);
    if (count > 0) {
        cJSON_AddNumberToObject(o, "count", count);
        cJSON_AddItemToObject(o, "total", amounts_json(h, count));
    }
    cJSON_AddStringToObject(o, "source", h->source);
    return o;
}

static int print_json(cJSON *o)
{
    return mc_cli_print_json("hardware", o);
}

/* ---- text ---- */

static void fmt_price(char *buf, size_t cap, double usd)
{
    if (!(usd > 0)) {
        snprintf(buf, cap, "-");
        return;
    }
    long long v = (long long)(usd + 0.5);
    if (v >= 1000000)
        snprintf(buf, cap, "%lld,%03lld,%03lld", v / 1000000, v / 1000 % 1000, v % 1000);
    else if (v >= 1000)
        snprintf(buf, cap, "%lld,%03lld", v / 1000, v % 1000);
    else
        snprintf(buf, cap, "%lld", v);
}

static void list_text(const mc_hw *list, int n)
{
    printf("%-22s %-4s %7s %9s %12s %6s %10s\n", "NAME", "KIND", "MEM GB", "BW GB/s",
           "BF16 TFLOP/s", "TDP W", "PRICE $");
    for (int i = 0; i < n; i++) {
        const mc_hw *h = &list[i];
        char price[32];
        fmt_price(price, sizeof price, h->price_usd);
        printf("%-22s %-4s %7.0f %9.1f %12.1f %6.0f %10s\n", h->name, mc_hw_kind_name(h->kind),
               h->mem_bytes / 1e9, h->mem_bw_Bps / 1e9, h->flops[MC_PREC_BF16] / 1e12, h->tdp_w,
               price);
    }
    printf("\n%d devices. FLOP/s are dense peaks; 'moecap hardware show NAME' shows all fields.\n",
           n);
}

/* One row of `show`: the per-device value and, for N > 1, the total. */
static void show_row(const char *label, double v, double scale, const char *unit, int n)
{
    if (!(v > 0)) {
        printf("  %-16s %16s\n", label, "-");
        return;
    }
    char one[48], all[48];
    snprintf(one, sizeof one, "%.6g %s", v / scale, unit);
    snprintf(all, sizeof all, "%.6g %s", v * n / scale, unit);
    if (n > 1)
        printf("  %-16s %16s   %18s\n", label, one, all);
    else
        printf("  %-16s %16s\n", label, one);
}

static void show_text(const mc_hw *h, int n)
{
    static const char *units[MC_PREC_COUNT] = {"TFLOP/s", "TFLOP/s", "TFLOP/s",
                                               "TFLOP/s", "TOP/s",   "TFLOP/s"};
    char price[32], total[32];
    printf("%s: %s %s", h->name, h->vendor, mc_hw_kind_name(h->kind));
    if (n > 1)
        printf(" x %d\n\n  %-16s %16s   %18s\n", n, "", "per device", "total");
    else
        printf("\n\n  %-16s %16s\n", "", "per device");
    show_row("memory", h->mem_bytes, 1e9, "GB", n);
    show_row("mem bandwidth", h->mem_bw_Bps, 1e9, "GB/s", n);
    for (int p = 0; p < MC_PREC_COUNT; p++) {
        char label[32];
        snprintf(label, sizeof label, "%s dense", mc_prec_name((mc_prec)p));
        show_row(label, h->flops[p], 1e12, units[p], n);
    }
    show_row("TDP", h->tdp_w, 1, "W", n);
    fmt_price(price, sizeof price, h->price_usd);
    fmt_price(total, sizeof total, h->price_usd * n);
    printf(n > 1 ? "  %-16s %16s   %18s\n" : "  %-16s %16s\n", "price USD", price, total);
    show_row("host link", h->host_link_Bps, 1e9, "GB/s", 1);
    show_row("scale-up link", h->scaleup_link_Bps, 1e9, "GB/s", 1);
    if (h->slow_tier_Bps > 0)
        show_row("slow tier", h->slow_tier_Bps, 1e9, "GB/s", 1);
    printf("\n  links are per device and per direction; '-' = not supported / unknown\n");
    printf("  source: %s\n", h->source);
}

/* ---- subcommands ---- */

static int do_list(int json)
{
    mc_hw *list = NULL;
    int n = 0;
    mc_diag d = {{0}};
    mc_err e = mc_hw_list(&list, &n, &d);
    if (e != MC_OK)
        return mc_cli_fail("hardware", e, &d);
    int rc = 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "hardware");
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, hw_json(&list[i], 0));
        rc = print_json(o);
    } else {
        list_text(list, n);
    }
    mc_free(list);
    return rc;
}

static int do_show(const char *spec, int json)
{
    mc_hw_deploy dep;
    mc_diag d = {{0}};
    mc_err e = mc_hw_parse_deploy(spec, &dep, &d);
    if (e != MC_OK)
        return mc_cli_fail("hardware", e, &d);
    if (json)
        return print_json(hw_json(&dep.hw, dep.count));
    show_text(&dep.hw, dep.count);
    return 0;
}

int cmd_hardware(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    if (argc < 2)
        return mc_cli_usage_error("hardware", "missing subcommand (list or show)");
    const char *sub = argv[1];
    int json = 0, c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (c != 'j')
            return mc_cli_usage_error("hardware", "unknown option '%s'", argv[optind]);
        json = 1;
    }
    int npos = argc - 1 - optind;
    char **pos = argv + 1 + optind;
    if (strcmp(sub, "list") == 0 && npos == 0)
        return do_list(json);
    if (strcmp(sub, "show") == 0 && npos == 1)
        return do_show(pos[0], json);
    if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0)
        return mc_cli_usage_error("hardware", "%s takes %s", sub,
                                  sub[0] == 'l' ? "no arguments" : "exactly one NAME[xN]");
    return mc_cli_usage_error("hardware", "unknown subcommand '%s' (list or show)", sub);
}
