/* eval_int.h: private to src/eval's run (run.c: plan, generation, scoring, tallies; run_ll.c:
 * log-likelihood scoring). */
#ifndef MC_EVAL_INT_H
#define MC_EVAL_INT_H

#include "cap.h"
#include "eval.h"

struct mc_ev {
    mc_ev_opts o;
    const mc_ds *ds, *shots_ds;
    size_t *items; /* ds indices of the items to score, ascending */
    size_t n;
    size_t *excluded; /* exemplars drawn from the selection (not scored) */
    size_t n_excl;
    size_t *pool; /* exemplar candidates, in the order they are taken */
    size_t n_pool;
    int pool_from_shots; /* pool indexes shots_ds, else ds */
    char note[320];
    mc_ev_metric metric;
    char *gen_url, *ll_url;
    uint32_t max_tokens; /* resolved; 0 = per item (LongBench) */
    mc_ev_tally total;
    mc_ev_category *cats;
    size_t n_cats;
    mc_req_timing *t; /* per request, seconds from origin */
    size_t nt, cap_t;
    mc_ns origin;
    int stopped;
    int probed;
    mc_err cb_err; /* an error inside a callback (out of memory), reported after the run */
    mc_diag cb_diag;
};

/* run.c */
const mc_ds_item *ev_item(const mc_ev *ev, size_t k); /* the k-th item to score */
mc_err ev_prompt(const mc_ev *ev, size_t k, mc_ev_prompt *p, size_t *n_shots, mc_diag *d);
void ev_emit(mc_ev *ev, mc_ev_result *r);
void ev_timing(mc_ev *ev, const mc_req_timing *t);
void ev_cb_fail(mc_ev *ev, mc_err e, const char *msg);

/* run_ll.c */
mc_err ev_probe_loglik(mc_ev *ev, mc_diag *d);
mc_err ev_run_loglik(mc_ev *ev, mc_diag *d);

#endif
