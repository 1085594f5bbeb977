/* test_hw.c: hardware catalogue (lookups, aliases, the MoE-CAP reference keys, tolerant names,
 * NAMExN), dense-figure sanity of data/hardware.csv, the strict CSV reader's errors, the `local`
 * entry round trip, and the probe (kernels against the scalar oracle; a small run's structure;
 * no timing assertions). */
#include "harness.h"
#include "hw.h"
#include "hw_internal.h"

#include <sys/stat.h>

static char orig_catalogue[4096];

static void use_catalogue(const char *dir)
{
    setenv("MOECAP_CATALOGUE_DIR", dir && *dir ? dir : orig_catalogue, 1);
}

/* ---- lookups ---- */

TEST(lookup_by_name)
{
    mc_hw h;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_lookup("h100-sxm-80gb", &h, &d), MC_OK);
    CHECK_STR(h.name, "h100-sxm-80gb");
    CHECK_STR(h.vendor, "nvidia");
    CHECK_EQ_INT(h.kind, MC_HW_GPU);
    CHECK_NEAR(h.mem_bytes, 80e9, 0);
    CHECK_NEAR(h.mem_bw_Bps, 3350e9, 0);
    CHECK_NEAR(h.flops[MC_PREC_FP32], 67e12, 1);
    CHECK_NEAR(h.flops[MC_PREC_BF16], 989.4e12, 1);
    CHECK_NEAR(h.flops[MC_PREC_FP8], 1978.9e12, 1);
    CHECK_NEAR(h.flops[MC_PREC_FP4], 0, 0); /* Hopper has no fp4 */
    CHECK_NEAR(h.tdp_w, 700, 0);
    CHECK_NEAR(h.price_usd, 38000, 0);
    CHECK_NEAR(h.host_link_Bps, 64e9, 0);
    CHECK_NEAR(h.scaleup_link_Bps, 450e9, 0);
    CHECK_CONTAINS(h.source, "H100 datasheet");
    CHECK_EQ_INT(mc_hw_lookup("b200-180gb", &h, &d), MC_OK);
    CHECK_NEAR(h.flops[MC_PREC_FP4], 9000e12, 1);
    CHECK_NEAR(h.scaleup_link_Bps, 900e9, 0);
}

TEST(lookup_aliases_and_reference_keys)
{
    /* every gpu_raw_type key of the MoE-CAP reference tables (reference sections 3.2 and 3.3) */
    static const struct {
        const char *key, *name;
    } keys[] = {
        {"NVIDIA-A100-PCIe-80GB", "a100-pcie-80gb"},
        {"NVIDIA-A100-PCIe-40GB", "a100-pcie-40gb"},
        {"NVIDIA-A100-SXM4-80GB", "a100-sxm-80gb"},
        {"NVIDIA-A100-SXM4-40GB", "a100-sxm-40gb"},
        {"NVIDIA-H100-PCIe-80GB", "h100-pcie-80gb"},
        {"NVIDIA-RTX-A5000-24GB", "rtx-a5000-24gb"},
        {"NVIDIA-RTX-A6000-48GB", "rtx-a6000-48gb"},
        {"NVIDIA-H100-HBM3-80GB", "h100-sxm-80gb"},
        {"NVIDIA-H100-80GB-HBM3", "h100-sxm-80gb"},
        {"NVIDIA-H200-141GB", "h200-sxm-141gb"},
        {"NVIDIA-H200-140GB", "h200-sxm-141gb"},
        {"NVIDIA-B200-183GB", "b200-180gb"},
        {"NVIDIA-GH200-96GB", "gh200-96gb"},
        {"NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition-96GB", "rtx-pro-6000-bse-96gb"},
        {"NVIDIA-GB10-UnknownGB", "gb10-128gb"},
        {"NVIDIA-GB10-128GB", "gb10-128gb"},
        {"AMD-Instinct-MI355X-288GB", "mi355x-288gb"},
        {"AMD-Instinct-MI300X-192GB", "mi300x-192gb"},
        {"AMD-Instinct-MI325X-256GB", "mi325x-256gb"},
        {"AMD-Instinct-MI250X-128GB", "mi250x-128gb"},
        /* what nvidia-smi / rocm-smi print */
        {"NVIDIA H100 80GB HBM3", "h100-sxm-80gb"},
        {"NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"},
        {"NVIDIA A100 80GB PCIe", "a100-pcie-80gb"},
        {"NVIDIA H200", "h200-sxm-141gb"},
        {"NVIDIA GeForce RTX 4090", "rtx-4090-24gb"},
        {"AMD Instinct MI300X", "mi300x-192gb"},
        {"dgx-spark", "gb10-128gb"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        mc_hw h;
        mc_diag d = {{0}};
        mc_err e = mc_hw_lookup(keys[i].key, &h, &d);
        CHECK_EQ_INT(e, MC_OK);
        if (e == MC_OK)
            CHECK_STR(h.name, keys[i].name);
        else
            fprintf(stderr, "  key %s: %s\n", keys[i].key, d.msg);
    }
}

TEST(lookup_tolerant_forms)
{
    static const char *forms[] = {"H100-SXM-80GB", "h100 sxm 80gb", "h100_sxm_80gb",
                                  "  H100  SXM--80GB ", "nvidia_h100_80gb_hbm3"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        mc_hw h;
        CHECK_EQ_INT(mc_hw_lookup(forms[i], &h, NULL), MC_OK);
        CHECK_STR(h.name, "h100-sxm-80gb");
    }
    char buf[64];
    CHECK_EQ_INT(mc_hw_normalise("  NVIDIA H100__80GB  HBM3 ", buf, sizeof buf), 21);
    CHECK_STR(buf, "nvidia-h100-80gb-hbm3");
    CHECK_EQ_INT(mc_hw_normalise("NVIDIA H100", buf, 5), 11); /* full length, truncated copy */
    CHECK_STR(buf, "nvid");
    CHECK_EQ_INT(mc_hw_normalise("", buf, sizeof buf), 0);
    CHECK_STR(buf, "");
}

TEST(lookup_not_found_suggests)
{
    mc_hw h;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_lookup("h100", &h, &d), MC_ERR_NOT_FOUND);
    CHECK_CONTAINS(d.msg, "hardware 'h100': not found; did you mean h100-pcie-80gb, "
                          "h100-sxm-80gb, h100-nvl-94gb?");
    CHECK_EQ_INT(mc_hw_lookup("rtx4090", &h, &d), MC_ERR_NOT_FOUND); /* edit distance 1 */
    CHECK_CONTAINS(d.msg, "did you mean rtx-4090-24gb");
    CHECK_EQ_INT(mc_hw_lookup("qqqqqqqqqqqq", &h, &d), MC_ERR_NOT_FOUND);
    CHECK(strstr(d.msg, "did you mean") == NULL);
    CHECK_CONTAINS(d.msg, "moecap hardware list");
    CHECK_EQ_INT(mc_hw_lookup("", &h, &d), MC_ERR_ARG);
}

/* ---- NAMExN ---- */

TEST(deploy_specs)
{
    static const struct {
        const char *spec, *name;
        int count;
    } ok[] = {
        {"h100-sxm-80gb", "h100-sxm-80gb", 1},   {"h100-sxm-80gbx8", "h100-sxm-80gb", 8},
        {"H100-SXM-80GBX8", "h100-sxm-80gb", 8}, {"h100-sxm-80gb-x3", "h100-sxm-80gb", 3},
        {"mi300x", "mi300x-192gb", 1},           {"mi300xx4", "mi300x-192gb", 4},
        {"mi300x x4", "mi300x-192gb", 4},        {"mi250x", "mi250x-128gb", 1},
        {"mi250xx4096", "mi250x-128gb", 4096},   {"rtx-a6000", "rtx-a6000-48gb", 1},
        {"rtx-a6000x2", "rtx-a6000-48gb", 2},    {"xeon-8480plusx2", "xeon-8480plus", 2},
        {"NVIDIA H100 80GB HBM3x2", "h100-sxm-80gb", 2},
        {"NVIDIA-GB10-UnknownGBx2", "gb10-128gb", 2},
        {"mi355x-288gbx08", "mi355x-288gb", 8},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        mc_hw_deploy dep;
        mc_diag d = {{0}};
        mc_err e = mc_hw_parse_deploy(ok[i].spec, &dep, &d);
        CHECK_EQ_INT(e, MC_OK);
        if (e != MC_OK) {
            fprintf(stderr, "  spec '%s': %s\n", ok[i].spec, d.msg);
            continue;
        }
        CHECK_STR(dep.hw.name, ok[i].name);
        CHECK_EQ_INT(dep.count, ok[i].count);
    }
    mc_hw_deploy dep;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_parse_deploy("h100-sxm-80gbx0", &dep, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "device count 0 is not in 1..4096");
    CHECK_EQ_INT(mc_hw_parse_deploy("mi250xx4097", &dep, &d), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_hw_parse_deploy("h100x99999999999999999999", &dep, &d), MC_ERR_RANGE);
    CHECK_EQ_INT(mc_hw_parse_deploy("foox3", &dep, &d), MC_ERR_NOT_FOUND);
    CHECK_CONTAINS(d.msg, "hardware 'foo': not found");
    CHECK_EQ_INT(mc_hw_parse_deploy("x8", &dep, &d), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(mc_hw_parse_deploy("h100-sxm-80gbx", &dep, &d), MC_ERR_NOT_FOUND);
    CHECK_EQ_INT(mc_hw_parse_deploy("", &dep, &d), MC_ERR_ARG);
}

/* ---- the shipped catalogue ---- */

TEST(catalogue_dense_sanity)
{
    mc_hw *list = NULL;
    int n = 0;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_list(&list, &n, &d), MC_OK);
    CHECK(n >= 28);
    int saw_h100 = 0;
    for (int i = 0; i < n; i++) {
        const mc_hw *h = &list[i];
        const double *f = h->flops;
        char norm[64];
        mc_hw_normalise(h->name, norm, sizeof norm);
        CHECK_STR(norm, h->name);
        CHECK(h->mem_bytes > 0 && h->mem_bw_Bps > 0 && h->tdp_w > 0);
        CHECK(f[MC_PREC_FP32] > 0 && f[MC_PREC_BF16] > 0);
        CHECK(h->source[0] != 0);
        if (f[MC_PREC_FP8] > 0 && !(f[MC_PREC_BF16] <= f[MC_PREC_FP8]))
            HARNESS_FAIL_("%s: bf16 > fp8", h->name);
        if (f[MC_PREC_TF32] > 0 && !(f[MC_PREC_TF32] <= f[MC_PREC_BF16]))
            HARNESS_FAIL_("%s: tf32 > bf16", h->name);
        if (f[MC_PREC_FP4] > 0 && !(f[MC_PREC_FP8] <= f[MC_PREC_FP4]))
            HARNESS_FAIL_("%s: fp8 > fp4", h->name);
        if (f[MC_PREC_INT8] > 0 && !(f[MC_PREC_BF16] <= f[MC_PREC_INT8]))
            HARNESS_FAIL_("%s: bf16 > int8", h->name);
        if (strcmp(h->name, "h100-sxm-80gb") == 0) {
            saw_h100 = 1;
            CHECK(f[MC_PREC_BF16] >= 900e12 && f[MC_PREC_BF16] <= 1000e12); /* dense, not 1979 */
        }
    }
    CHECK(saw_h100);
    mc_free(list);
    /* the sparse-quoting families were halved on entry */
    static const struct {
        const char *name;
        double bf16;
    } dense[] = {{"a100-sxm-80gb", 312e12},  {"h100-pcie-80gb", 756.5e12},
                 {"h200-sxm-141gb", 989.4e12}, {"gh200-96gb", 989.4e12},
                 {"rtx-a6000-48gb", 154.8e12}, {"l40s-48gb", 362.05e12}};
    for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++) {
        mc_hw h;
        CHECK_EQ_INT(mc_hw_lookup(dense[i].name, &h, NULL), MC_OK);
        CHECK_NEAR(h.flops[MC_PREC_BF16], dense[i].bf16, 1);
    }
}

/* ---- CSV errors ---- */

#define HDR                                                                                        \
    "name,aliases,vendor,kind,mem_gb,mem_bw_gbps,fp32_tflops,tf32_tflops,bf16_tflops,fp8_tflops," \
    "int8_tops,fp4_tflops,tdp_w,price_usd,host_link_gbps,scaleup_link_gbps,source\n"
#define ROW_A "dev-a,Dev Alias;other,acme,gpu,10,100,1,,2,4,4,,50,1000,32,0,src\n"

/* Writes text as <tmp>/<tag>/hardware.csv and points the catalogue there. */
static void write_catalogue(const char *tag, const char *text)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/%s", harness_tmpdir(), tag);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/hardware.csv", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    use_catalogue(dir);
}

/* Loads the catalogue written under tag; checks the error code and a message substring. */
static void expect_csv_error(const char *tag, const char *text, mc_err want, const char *msg)
{
    write_catalogue(tag, text);
    mc_hw *list = NULL;
    int n = 0;
    mc_diag d = {{0}};
    mc_err e = mc_hw_list(&list, &n, &d);
    if (e != want)
        HARNESS_FAIL_("%s: error %d, want %d (%s)", tag, (int)e, (int)want, d.msg);
    if (!strstr(d.msg, msg))
        HARNESS_FAIL_("%s: message \"%s\" lacks \"%s\"", tag, d.msg, msg);
    if (e == MC_OK)
        mc_free(list);
}

TEST(csv_errors)
{
    expect_csv_error("missing", "name,aliases,vendor,kind,mem_gb,mem_bw_gbps,fp32_tflops,"
                     "tf32_tflops,bf16_tflops,fp8_tflops,int8_tops,fp4_tflops,price_usd,"
                     "host_link_gbps,scaleup_link_gbps,source\n",
                     MC_ERR_FORMAT, "hardware.csv:1: missing column 'tdp_w'");
    expect_csv_error("unknown2", "foo," HDR, MC_ERR_FORMAT, "hardware.csv:1: unknown column 'foo'");
    expect_csv_error("dupcol", "name," HDR, MC_ERR_FORMAT, "hardware.csv:1: duplicate column 'name'");
    expect_csv_error("nonnum", HDR "dev-a,,acme,gpu,10,fast,1,,2,,,,50,,0,0,src\n", MC_ERR_FORMAT,
                     "hardware.csv:2:mem_bw_gbps: not a number: 'fast'");
    expect_csv_error("nan", HDR "dev-a,,acme,gpu,10,nan,1,,2,,,,50,,0,0,src\n", MC_ERR_FORMAT,
                     "hardware.csv:2:mem_bw_gbps: not a finite number: 'nan'");
    expect_csv_error("negative", HDR "dev-a,,acme,gpu,10,100,1,,2,,,,-5,,0,0,src\n", MC_ERR_RANGE,
                     "hardware.csv:2:tdp_w: negative value -5");
    expect_csv_error("negopt", HDR "dev-a,,acme,gpu,10,100,1,,2,-1,,,5,,0,0,src\n", MC_ERR_RANGE,
                     "hardware.csv:2:fp8_tflops: negative value -1");
    expect_csv_error("zero", HDR "dev-a,,acme,gpu,0,100,1,,2,,,,5,,0,0,src\n", MC_ERR_RANGE,
                     "hardware.csv:2:mem_gb: must be greater than 0");
    expect_csv_error("empty", HDR "dev-a,,acme,gpu,10,100,1,,,,,,5,,0,0,src\n", MC_ERR_FORMAT,
                     "hardware.csv:2:bf16_tflops: empty (a value is required)");
    expect_csv_error("nosrc", HDR "dev-a,,acme,gpu,10,100,1,,2,,,,5,,0,0,\n", MC_ERR_FORMAT,
                     "hardware.csv:2:source: empty (a value is required)");
    expect_csv_error("dupname", HDR ROW_A "dev-a,,acme,gpu,10,100,1,,2,,,,5,,0,0,src\n",
                     MC_ERR_FORMAT, "hardware.csv:3:name: duplicate name/alias 'dev-a' (already "
                     "used by 'dev-a' on line 2)");
    expect_csv_error("dupalias", HDR ROW_A "\n# gap\ndev-b,OTHER,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n",
                     MC_ERR_FORMAT, "hardware.csv:5:aliases: duplicate name/alias 'OTHER' "
                     "(already used by 'dev-a' on line 2)");
    expect_csv_error("aliasname", HDR ROW_A "dev-b,dev_a,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n",
                     MC_ERR_FORMAT, "hardware.csv:3:aliases: duplicate name/alias 'dev_a'");
    expect_csv_error("emptyalias", HDR "dev-a,x;;y,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n",
                     MC_ERR_FORMAT, "hardware.csv:2:aliases: empty alias");
    expect_csv_error("fields", HDR "dev-a,,acme,gpu,10,100,1,,2,,,,5,,0,0\n", MC_ERR_FORMAT,
                     "hardware.csv:2: 16 fields, the header has 17");
    expect_csv_error("kind", HDR "dev-a,,acme,tpu,10,100,1,,2,,,,5,,0,0,s\n", MC_ERR_FORMAT,
                     "hardware.csv:2:kind: 'tpu' is not one of gpu, cpu, soc");
    expect_csv_error("name", HDR "Dev-A,,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n", MC_ERR_FORMAT,
                     "hardware.csv:2:name: 'Dev-A' is not normalised");
    expect_csv_error("name2", HDR "dev--a,,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n", MC_ERR_FORMAT,
                     "hardware.csv:2:name: 'dev--a' is not normalised (expected 'dev-a')");
    expect_csv_error("local", HDR "local,,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n", MC_ERR_FORMAT,
                     "hardware.csv:2:name: 'local' is reserved");
    expect_csv_error("quote", HDR "dev-a,,acme,gpu,10,100,1,,2,,,,5,,0,0,\"open\n", MC_ERR_FORMAT,
                     "hardware.csv:2: field 17: unterminated quoted field");
    expect_csv_error("after", HDR "dev-a,\"x\"y,acme,gpu,10,100,1,,2,,,,5,,0,0,s\n",
                     MC_ERR_FORMAT, "hardware.csv:2: field 2: text after closing '\"'");
    expect_csv_error("stray", HDR "dev-a,,ac\"me,gpu,10,100,1,,2,,,,5,,0,0,s\n", MC_ERR_FORMAT,
                     "hardware.csv:2: field 3: stray '\"' in an unquoted field");
    expect_csv_error("headeronly", HDR, MC_ERR_FORMAT, "hardware.csv: no hardware rows");
    expect_csv_error("blank", "\n# only comments\n", MC_ERR_FORMAT, "hardware.csv: no header row");
    use_catalogue(NULL);
}

TEST(csv_accepts_quotes_crlf_and_comments)
{
    write_catalogue("good", "# c1\r\n\r\n"
                    "name,aliases,vendor,kind,mem_gb,mem_bw_gbps,fp32_tflops,tf32_tflops,"
                    "bf16_tflops,fp8_tflops,int8_tops,fp4_tflops,tdp_w,price_usd,host_link_gbps,"
                    "scaleup_link_gbps,source\r\n"
                    "dev-a,\"Dev, Alias;other\",acme,soc,0.5,100,1.5,,2,4,4,,50,,32,0,"
                    "\"a, \"\"b\"\"\"\r\n");
    mc_hw h;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_lookup("dev, alias", &h, &d), MC_OK);
    CHECK_STR(h.name, "dev-a");
    CHECK_STR(h.source, "a, \"b\"");
    CHECK_EQ_INT(h.kind, MC_HW_SOC);
    CHECK_NEAR(h.mem_bytes, 0.5e9, 0);
    CHECK_NEAR(h.flops[MC_PREC_FP32], 1.5e12, 0);
    CHECK_NEAR(h.flops[MC_PREC_TF32], 0, 0);
    CHECK_NEAR(h.price_usd, 0, 0);
    CHECK_NEAR(h.host_link_Bps, 32e9, 0);
    CHECK_EQ_INT(mc_hw_lookup("OTHER", &h, &d), MC_OK);
    use_catalogue("/nonexistent-moecap-dir");
    CHECK_EQ_INT(mc_hw_lookup("dev-a", &h, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "/nonexistent-moecap-dir/hardware.csv: cannot open");
    use_catalogue(NULL);
}

/* ---- local entry ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

TEST(local_round_trip)
{
    char cache[4200];
    snprintf(cache, sizeof cache, "%s/cache/sub", harness_tmpdir());
    setenv("MOECAP_CACHE_DIR", cache, 1);
    mc_hw h;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_hw_lookup("local", &h, &d), MC_ERR_NOT_FOUND);
    CHECK_CONTAINS(d.msg, "run 'moecap probe' first");

    mc_probe_result r;
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(mc_probe_save_local(&r, &d), MC_ERR_ARG); /* empty result refused */
    r.n_threads = 2;
    r.bw_Bps_by_threads[0] = 10e9;
    r.bw_Bps_by_threads[1] = 19.5e9;
    r.bw_Bps = 19.5e9;
    r.fma_flops = 300e9;
    r.fma_flops_1t = 150e9;
    snprintf(r.cpu_model, sizeof r.cpu_model, "Test CPU 9000");
    snprintf(r.isa, sizeof r.isa, "avx2");
    CHECK_EQ_INT(mc_probe_save_local(&r, &d), MC_OK);
    CHECK_CONTAINS(mc_probe_local_path(), "/cache/sub/local-hw.json");

    CHECK_EQ_INT(mc_hw_lookup("Local", &h, &d), MC_OK);
    CHECK_STR(h.name, "local");
    CHECK_EQ_INT(h.kind, MC_HW_CPU);
    CHECK_NEAR(h.mem_bw_Bps, 19.5e9, 0);
    CHECK_NEAR(h.flops[MC_PREC_FP32], 300e9, 0);
    CHECK_NEAR(h.flops[MC_PREC_BF16], 0, 0);
    CHECK(h.mem_bytes > 0);
    CHECK_NEAR(h.tdp_w, 0, 0);
    CHECK_CONTAINS(h.source, "Test CPU 9000");
    CHECK_CONTAINS(h.source, "avx2 kernel, 2 threads");
    mc_hw_deploy dep;
    CHECK_EQ_INT(mc_hw_parse_deploy("localx3", &dep, &d), MC_OK);
    CHECK_EQ_INT(dep.count, 3);
    CHECK_STR(dep.hw.name, "local");

    /* corrupt files are reported, not trusted */
    write_text(mc_probe_local_path(), "{");
    CHECK_EQ_INT(mc_hw_lookup("local", &h, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "local-hw.json: not a JSON object");
    write_text(mc_probe_local_path(), "{\"format\":\"other/9\"}");
    CHECK_EQ_INT(mc_hw_lookup("local", &h, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "'format' is not \"moecap-local-hw/1\"");
    write_text(mc_probe_local_path(), "{\"format\":\"moecap-local-hw/1\",\"vendor\":\"x\","
                                      "\"source\":\"s\",\"mem_bytes\":1,\"mem_bw_Bps\":-1}");
    CHECK_EQ_INT(mc_hw_lookup("local", &h, &d), MC_ERR_FORMAT);
    CHECK_CONTAINS(d.msg, "key 'mem_bw_Bps' missing or not a positive number");
}

/* ---- probe ---- */

static void check_kernels(const char *isa)
{
    mc_probe_kernels k;
    mc_diag d = {{0}};
    mc_err e = mc_probe_kernels_get(isa, &k, &d);
    if (e == MC_ERR_UNSUPPORTED)
        return; /* this CPU lacks the ISA: nothing to compare */
    CHECK_EQ_INT(e, MC_OK);
    if (e != MC_OK)
        return;
    float buf[5000];
    for (int i = 0; i < 5000; i++)
        buf[i] = (float)(i % 7);
    static const size_t sizes[] = {0, 1, 15, 16, 17, 127, 128, 129, 1000, 4099};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t off = 0; off < 4; off++) { /* misaligned starts */
            double want = 0;
            for (size_t i = 0; i < sizes[s]; i++)
                want += buf[off + i];
            double got = k.read(buf + off, sizes[s]);
            if (got != want)
                HARNESS_FAIL_("%s read n=%zu off=%zu: %g != %g", k.isa, sizes[s], off, got, want);
        }
    /* the FMA chains start at k*0.1 per lane and converge to 1 per lane */
    double lanes = k.fma_flops_per_iter / (2.0 * MC_PROBE_FMA_ACC), start = 0;
    for (int i = 0; i < MC_PROBE_FMA_ACC; i++)
        start += (double)((float)i * 0.1f);
    CHECK_NEAR(k.fma(0), lanes * start, 1e-6);
    CHECK_NEAR(k.fma(3000), lanes * MC_PROBE_FMA_ACC, 1e-3);
}

TEST(probe_kernels_match_scalar_sums)
{
    check_kernels("scalar");
    check_kernels("avx2");
    check_kernels("avx512");
    check_kernels(NULL);
    mc_probe_kernels k;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_probe_kernels_get("sse9", &k, &d), MC_ERR_ARG);
    CHECK_CONTAINS(d.msg, "unknown kernel 'sse9'");
}

static void check_result(const mc_probe_result *r, double bytes)
{
    CHECK(r->n_threads >= 1 && r->n_threads <= 256);
    double best = 0;
    for (int t = 0; t < r->n_threads; t++) {
        CHECK(isfinite(r->bw_Bps_by_threads[t]) && r->bw_Bps_by_threads[t] > 0);
        best = r->bw_Bps_by_threads[t] > best ? r->bw_Bps_by_threads[t] : best;
    }
    CHECK_NEAR(r->bw_Bps, best, 0);
    CHECK(isfinite(r->fma_flops) && r->fma_flops > 0);
    CHECK(isfinite(r->fma_flops_1t) && r->fma_flops_1t > 0);
    CHECK_NEAR(r->array_bytes, bytes, 0);
    CHECK_EQ_INT(r->repeats, 1);
    CHECK(r->cpu_model[0] != 0);
}

TEST(probe_small_run)
{
    mc_probe_opts o = {0, 64u << 20, 1, NULL};
    mc_probe_result r;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_probe_run(&o, &r, &d), MC_OK);
    check_result(&r, 64u << 20);
    CHECK(r.isa[0] != 0);
    mc_probe_opts s = {1, 4u << 20, 1, "scalar"};
    CHECK_EQ_INT(mc_probe_run(&s, &r, &d), MC_OK);
    check_result(&r, 4u << 20);
    CHECK_EQ_INT(r.n_threads, 1);
    CHECK_STR(r.isa, "scalar");

    mc_probe_opts bad = {100000, 4u << 20, 1, NULL};
    CHECK_EQ_INT(mc_probe_run(&bad, &r, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "100000 threads requested");
    mc_probe_opts tiny = {1, 1000, 1, NULL};
    CHECK_EQ_INT(mc_probe_run(&tiny, &r, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "below the 1 MiB minimum");
    mc_probe_opts huge = {1, (size_t)1 << 62, 1, NULL};
    CHECK_EQ_INT(mc_probe_run(&huge, &r, &d), MC_ERR_RANGE);
    mc_probe_opts kern = {1, 4u << 20, 1, "neon"};
    CHECK_EQ_INT(mc_probe_run(&kern, &r, &d), MC_ERR_ARG);
}

int main(void)
{
    const char *c = getenv("MOECAP_CATALOGUE_DIR");
    snprintf(orig_catalogue, sizeof orig_catalogue, "%s", c && *c ? c : MC_SOURCE_DIR "/data");
    use_catalogue(NULL);
    RUN(lookup_by_name);
    RUN(lookup_aliases_and_reference_keys);
    RUN(lookup_tolerant_forms);
    RUN(lookup_not_found_suggests);
    RUN(deploy_specs);
    RUN(catalogue_dense_sanity);
    RUN(csv_errors);
    RUN(csv_accepts_quotes_crlf_and_comments);
    RUN(local_round_trip);
    RUN(probe_kernels_match_scalar_sums);
    RUN(probe_small_run);
    return harness_done();
}
