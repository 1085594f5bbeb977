/* cmd_probe.c: `moecap probe`: measure this machine's memory read bandwidth (per thread count)
 * and peak f32 FMA FLOP/s, and with --slow-tier DIR the sequential read bandwidth of the disk
 * holding DIR; print them, and save them as the `local` hardware entry.
 * Parses options and prints; the measuring is mc_probe_run / mc_probe_slow_tier (hw). */
#include "cli.h"
#include "hw.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

typedef struct probe_args {
    mc_probe_opts o;
    mc_probe_slow_opts slow; /* slow.dir NULL = no slow-tier measurement */
    int slow_only;
    int save;
    int json;
} probe_args;

void usage_probe(FILE *f)
{
    fprintf(f, "usage: moecap probe [--threads N] [--size BYTES] [--repeats R] [--kernel ISA]\n"
               "                    [--slow-tier DIR [--slow-tier-size BYTES] [--slow-tier-only]]\n"
               "                    [--no-save] [--json]\n\n"
               "Measures memory READ bandwidth with 1..N threads (each reading its own slice of\n"
               "a working set far larger than the last-level cache; best of R runs) and the peak\n"
               "f32 FMA rate, then saves them as the hardware entry 'local' (usable wherever a\n"
               "hardware name is accepted).\n\n"
               "  --threads N    use 1..N threads (default: every CPU this process may use)\n"
               "  --size BYTES   working set, e.g. 2G (default: max(1 GiB, 4 x LLC))\n"
               "  --repeats R    runs per thread count, best kept (default 5)\n"
               "  --kernel ISA   avx512, avx2 or scalar (default: best this CPU supports)\n"
               "  --slow-tier DIR       also measure the slow tier (the disk holding offloaded\n"
               "                        experts): sequential O_DIRECT reads of a temporary file\n"
               "                        written in DIR (removed afterwards, whatever happens)\n"
               "  --slow-tier-size B    its size (default 1G; larger than the disk's cache)\n"
               "  --slow-tier-only      measure only the slow tier and update the saved entry\n"
               "  --no-save      do not write the local entry\n"
               "  --json         print one JSON document\n");
}

static int parse_probe_args(int argc, char **argv, probe_args *a)
{
    static const struct option opts[] = {
        {"threads", required_argument, NULL, 't'}, {"size", required_argument, NULL, 's'},
        {"repeats", required_argument, NULL, 'r'}, {"kernel", required_argument, NULL, 'k'},
        {"no-save", no_argument, NULL, 'n'},       {"json", no_argument, NULL, 'j'},
        {"slow-tier", required_argument, NULL, 'D'},
        {"slow-tier-size", required_argument, NULL, 'Z'},
        {"slow-tier-only", no_argument, NULL, 'O'},
        {NULL, 0, NULL, 0}};
    int c;
    int64_t v;
    uint64_t u;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't' && mc_parse_i64(optarg, 1, 256, &v) == MC_OK)
            a->o.max_threads = (int)v;
        else if (c == 'r' && mc_parse_i64(optarg, 1, 1000, &v) == MC_OK)
            a->o.repeats = (int)v;
        else if (c == 's' && mc_parse_size(optarg, &u) == MC_OK && u > 0 && u <= SIZE_MAX / 2)
            a->o.array_bytes = (size_t)u;
        else if (c == 'k')
            a->o.kernel = optarg;
        else if (c == 'D')
            a->slow.dir = optarg;
        else if (c == 'Z' && mc_parse_size(optarg, &u) == MC_OK && u >= 4096)
            a->slow.size_bytes = u;
        else if (c == 'O')
            a->slow_only = 1;
        else if (c == 'n')
            a->save = 0;
        else if (c == 'j')
            a->json = 1;
        else if (c == '?')
            return mc_cli_usage_error("probe", "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        else
            return mc_cli_usage_error("probe", "bad value '%s' for --%s", optarg,
                                      c == 't'   ? "threads (1..256)"
                                      : c == 'r' ? "repeats (1..1000)"
                                      : c == 'Z' ? "slow-tier-size (at least 4k)"
                                                 : "size");
    }
    if (optind < argc)
        return mc_cli_usage_error("probe", "unexpected argument '%s'", argv[optind]);
    if ((a->slow_only || a->slow.size_bytes) && !a->slow.dir)
        return mc_cli_usage_error("probe", "--slow-tier-size and --slow-tier-only need "
                                           "--slow-tier DIR");
    return 0;
}

static void print_memory(const mc_probe_result *r)
{
    printf("cpu: %s (%s kernel)\n", r->cpu_model, r->isa);
    printf("working set: %.0f MiB per run (last-level cache: %.0f MiB), best of %d runs\n\n",
           r->array_bytes / 1048576.0, r->llc_bytes / 1048576.0, r->repeats);
    printf("threads  read GB/s\n");
    for (int t = 0; t < r->n_threads; t++)
        printf("%7d  %9.2f\n", t + 1, r->bw_Bps_by_threads[t] / 1e9);
    printf("\npeak read bandwidth: %.2f GB/s\n", r->bw_Bps / 1e9);
    printf("peak f32 FMA:        %.1f GFLOP/s (%d threads; 1 thread: %.1f GFLOP/s)\n",
           r->fma_flops / 1e9, r->n_threads, r->fma_flops_1t / 1e9);
}

static void print_slow(const probe_args *a, const mc_probe_slow_result *s)
{
    printf("slow tier (%s): %.2f GB/s sequential read, best of", a->slow.dir, s->bw_Bps / 1e9);
    for (int k = 0; k < s->repeats; k++)
        printf(" %.2f", s->run_Bps[k] / 1e9);
    printf("\n  %s\n", s->method);
    if (s->ram_backed)
        printf("  note: %s is on tmpfs/ramfs: this measured memory, not a disk\n", a->slow.dir);
    else if (!s->direct)
        printf("  note: the filesystem refused O_DIRECT; reads are buffered after dropping the "
               "file's pages\n  (on tmpfs or a RAM-backed filesystem this measures memory, not "
               "a disk)\n");
}

static void print_text(const probe_args *a, const mc_probe_result *r,
                       const mc_probe_slow_result *s, const char *saved)
{
    if (!a->slow_only)
        print_memory(r);
    if (a->slow.dir)
        print_slow(a, s);
    if (saved)
        printf("saved as hardware 'local': %s%s\n", saved,
               a->slow_only ? " (slow tier updated)" : "");
    else
        printf("not saved (--no-save)\n");
}

static void json_memory(cJSON *o, const mc_probe_result *r)
{
    cJSON_AddStringToObject(o, "cpu_model", r->cpu_model);
    cJSON_AddStringToObject(o, "isa", r->isa);
    cJSON_AddNumberToObject(o, "array_bytes", r->array_bytes);
    cJSON_AddNumberToObject(o, "llc_bytes", r->llc_bytes);
    cJSON_AddNumberToObject(o, "repeats", r->repeats);
    cJSON *arr = cJSON_AddArrayToObject(o, "read_by_threads");
    for (int t = 0; t < r->n_threads; t++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "threads", t + 1);
        cJSON_AddNumberToObject(e, "read_Bps", r->bw_Bps_by_threads[t]);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(o, "read_Bps", r->bw_Bps);
    cJSON_AddNumberToObject(o, "fma_flops", r->fma_flops);
    cJSON_AddNumberToObject(o, "fma_flops_1t", r->fma_flops_1t);
}

static void json_slow(cJSON *o, const probe_args *a, const mc_probe_slow_result *s)
{
    cJSON *t = cJSON_AddObjectToObject(o, "slow_tier");
    cJSON_AddStringToObject(t, "dir", a->slow.dir);
    cJSON_AddNumberToObject(t, "read_Bps", s->bw_Bps);
    cJSON_AddItemToObject(t, "runs_Bps", cJSON_CreateDoubleArray(s->run_Bps, s->repeats));
    cJSON_AddBoolToObject(t, "o_direct", s->direct);
    cJSON_AddBoolToObject(t, "ram_backed", s->ram_backed);
    cJSON_AddNumberToObject(t, "size_bytes", s->size_bytes);
    cJSON_AddNumberToObject(t, "block_bytes", s->block_bytes);
    cJSON_AddNumberToObject(t, "depth", s->depth);
    cJSON_AddStringToObject(t, "method", s->method);
}

static int print_json(const probe_args *a, const mc_probe_result *r,
                      const mc_probe_slow_result *sr, const char *saved)
{
    cJSON *o = cJSON_CreateObject();
    if (!a->slow_only)
        json_memory(o, r);
    if (a->slow.dir)
        json_slow(o, a, sr);
    cJSON_AddItemToObject(o, "saved_to", saved ? cJSON_CreateString(saved) : cJSON_CreateNull());
    return mc_cli_print_json("probe", o);
}

static mc_err run(const probe_args *a, mc_probe_result *r, mc_probe_slow_result *s, mc_diag *d)
{
    mc_err e = MC_OK;
    memset(r, 0, sizeof *r);
    memset(s, 0, sizeof *s);
    if (!a->slow_only)
        e = mc_probe_run(&a->o, r, d);
    if (!e && a->slow.dir) {
        e = mc_probe_slow_tier(&a->slow, s, d);
        r->slow_tier_Bps = s->bw_Bps;
        snprintf(r->slow_tier_method, sizeof r->slow_tier_method, "%s", s->method);
    }
    if (e == MC_ERR_RANGE)
        e = MC_ERR_ARG; /* thread count / size out of range for this machine: a usage error */
    if (!e && a->save)
        e = a->slow_only ? mc_probe_save_slow_tier(s->bw_Bps, s->method, d)
                         : mc_probe_save_local(r, d);
    return e;
}

int cmd_probe(int argc, char **argv)
{
    probe_args a;
    memset(&a, 0, sizeof a);
    a.save = 1;
    int rc = parse_probe_args(argc, argv, &a);
    if (rc)
        return rc;
    mc_probe_result r;
    mc_probe_slow_result sr;
    mc_diag d = {{0}};
    mc_err e = run(&a, &r, &sr, &d);
    if (e != MC_OK) {
        if (strncmp(d.msg, "probe: ", 7) == 0) /* the CLI already says "moecap probe: " */
            memmove(d.msg, d.msg + 7, strlen(d.msg + 7) + 1);
        return mc_cli_fail("probe", e, &d);
    }
    const char *saved = a.save ? mc_probe_local_path() : NULL;
    if (a.json)
        return print_json(&a, &r, &sr, saved);
    print_text(&a, &r, &sr, saved);
    return 0;
}
