/* rundir_int.h: the report's view of run directories (docs/RUNDIR.md), shared by rundir*.c and
 * html*.c inside src/report (not a public API). */
#ifndef MC_RUNDIR_INT_H
#define MC_RUNDIR_INT_H

#include "report_int.h"

#define MC_REPORT_MAX_RUNS 64
#define MC_REPORT_MAX_SYSTEMS 64
#define MC_REPORT_MAX_BS 1024 /* distinct decode batch sizes kept per system */
#define MC_NOTE 768

/* One system of one run, with what was derived from its side files. */
typedef struct mc_rsys {
    const struct cJSON *j;         /* the system object inside its run's cap.json */
    size_t run;                    /* index into mc_report.dirs */
    char name[160];                /* system name, "<run>/<name>" when several runs */
    int failed;
    char status_note[MC_NOTE];     /* "failed: <step>: <message>", or "" */
    double perf_s, cost, acc;      /* headline figures (NaN = missing) */
    int64_t head_conc;             /* headline concurrency, -1 unknown */
    const struct cJSON *head_perf; /* the perf[] entry at the headline concurrency, or NULL */
    /* latency samples (s) of the headline point: successful, non-warm-up requests */
    double *ttft, *tpot;
    size_t n_ttft, n_tpot;
    char lat_note[MC_NOTE];        /* why there are none, or skipped lines */
    /* expert routing from records.jsonl (decode passes of every perf point) */
    double *heat;                  /* [heat_rows][heat_cols] summed tokens_per_expert */
    int64_t heat_rows, heat_cols;
    size_t heat_passes;
    char heat_note[MC_NOTE];
    double bs[MC_REPORT_MAX_BS], bs_sum[MC_REPORT_MAX_BS]; /* per batch size: sum of means */
    size_t bs_cnt[MC_REPORT_MAX_BS], n_bs;
    char bs_note[MC_NOTE];
    double n_experts, top_k;       /* from cap.json's model (NaN = missing) */
} mc_rsys;

struct mc_report {
    char *dirs[MC_REPORT_MAX_RUNS];
    struct cJSON *roots[MC_REPORT_MAX_RUNS];
    size_t n_runs;
    mc_rsys *sys;
    size_t n_sys;
    mc_radar_chart radar;
    mc_radar_sys radar_sys[MC_REPORT_MAX_SYSTEMS];
    char radar_label[MC_RADAR_AXES][128];
    char radar_err[MC_NOTE];       /* the radar could not be normalised: why */
};

/* A perf[] entry's x: its concurrency, else its batch_size (NaN when neither). */
double mc_perf_point(const struct cJSON *perf);
/* Reads the side files of system s (requests.jsonl, records.jsonl); never fails on their
 * content, only on memory (the notes say what was missing). */
mc_err mc_rsys_load_files(const mc_report *r, mc_rsys *s, mc_diag *d);
/* The perf dir of a perf[] entry as a path under the run directory, or "" (note says why). */
void mc_rsys_perf_path(const mc_report *r, const mc_rsys *s, const struct cJSON *perf,
                       const char *file, char *out, size_t cap, char note[MC_NOTE]);

/* HTML pieces (html*.c). */
mc_err mc_html_summary(const mc_report *r, mc_svg *h, mc_diag *d);    /* html_table.c */
mc_err mc_html_perf_section(mc_svg *h, const mc_report *r, mc_diag *d);    /* html_charts.c */
mc_err mc_html_experts_section(mc_svg *h, const mc_report *r, mc_diag *d); /* html_charts.c */

#endif
