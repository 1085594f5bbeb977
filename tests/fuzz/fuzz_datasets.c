/* fuzz_datasets.c: the evaluation data set loaders (src/data: GSM8K, MMLU-Pro, HellaSwag text and
 * JSONL, MMLU, ARC, LongBench, MT-bench, ShareGPT, custom JSONL, CSV, bzip2) on arbitrary bytes.
 * The first byte picks the format (low 4 bits, modulo the format count; 0 = auto-detect), the
 * file name's extension (bits 4-5: .jsonl .json .csv .txt), strict mode (bit 6) and a seeded
 * sample instead of a limit (bit 7); the rest is the file. The loaders read files, so the input
 * is written to one scratch file per process. Any input must give an error with a one-line
 * message or a data set whose items are consistent (a gold index inside the choices, a
 * selection of valid indices in ascending order); never a crash, a hang or a leak. */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const exts[] = {".jsonl", ".json", ".csv", ".txt"};

static const char *scratch(int ext)
{
    static char dir[256];
    static char path[320];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/mc-fuzz-ds-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof path, "%s/data%s", dir, exts[ext]);
    return path;
}

static void check(const mc_ds *ds)
{
    size_t n = mc_ds_count(ds), n_sel = 0;
    if (n == 0)
        abort(); /* a data set with no valid item is an error */
    for (size_t i = 0; i < n; i++) {
        const mc_ds_item *it = mc_ds_at(ds, i);
        if (!it || !it->file || (it->gold >= 0 && (size_t)it->gold >= it->n_choices))
            abort();
        for (size_t k = 0; k < it->n_choices; k++)
            if (!it->choices[k])
                abort();
    }
    const size_t *sel = mc_ds_selected(ds, &n_sel);
    for (size_t i = 0; i < n_sel; i++)
        if (sel[i] >= n || (i > 0 && sel[i] <= sel[i - 1]) || !mc_ds_is_selected(ds, sel[i]))
            abort();
    for (size_t i = 0; i < mc_ds_n_warnings(ds); i++)
        if (!mc_ds_warning(ds, i) || strchr(mc_ds_warning(ds, i), '\n'))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t ctl = data[0];
    const char *path = scratch((ctl >> 4) & 3);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f) != 0)
        abort();
    mc_ds_opts o;
    memset(&o, 0, sizeof o);
    o.fmt = (mc_ds_fmt)((ctl & 15) % MC_DS_FMT_COUNT_);
    o.strict = (ctl >> 6) & 1;
    if (ctl & 128) {
        o.sample = 3;
        o.seed = 7;
    } else {
        o.limit = 5;
    }
    o.fields = (mc_ds_fields){"q", "a", "id", "choices", "gold", "cat", "ctx.text"};
    o.max_file_bytes = (size_t)1 << 20;
    const char *paths[] = {path};
    mc_ds *ds = NULL;
    mc_diag d = {{0}};
    mc_err e = mc_ds_load(paths, 1, &o, &ds, &d);
    if (e != MC_OK) {
        if (ds || d.msg[0] == 0 || strchr(d.msg, '\n'))
            abort(); /* an error leaves no data set and carries one line */
        return 0;
    }
    check(ds);
    mc_ds_free(ds);
    return 0;
}
