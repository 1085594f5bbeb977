/* hfjson.h: INTERNAL to the model module (not a public header): reading keys of a JSON object
 * with checked types and ranges, every failure a one-line message "<file>: key '<path>':
 * <problem>". Used by hfconfig.c. The object is not copied: an mc_hfj is valid while its cJSON
 * document is. */
#ifndef MC_HFJSON_H
#define MC_HFJSON_H

#include "base.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* A JSON object being read, and how to name its keys in messages. */
typedef struct mc_hfj {
    const char *where; /* file name (or caller's label) for messages */
    const char *type;  /* model_type, for "missing" messages; NULL before it is known */
    const cJSON *obj;  /* the object keys are looked up in */
    char prefix[128];  /* dotted path of obj ("" at the top level, "text_config." below it) */
    mc_diag *d;
} mc_hfj;

/* Writes "<where>: key '<prefix><key>': <message>" into h->d and returns e. */
mc_err mc_hfj_fail(const mc_hfj *h, mc_err e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *mc_hfj_type_name(const cJSON *v); /* "a string", "null", ... */
/* The value of key in h->obj; *out = NULL when absent or null. A key given twice is an error. */
mc_err mc_hfj_find(const mc_hfj *h, const char *key, const cJSON **out);
/* Integers in [lo, hi] (whole numbers up to 2^53); opt_* give def (unchecked) when absent/null. */
mc_err mc_hfj_req_int(const mc_hfj *h, const char *key, int64_t lo, int64_t hi, int64_t *out);
mc_err mc_hfj_opt_int(const mc_hfj *h, const char *key, int64_t def, int64_t lo, int64_t hi,
                      int64_t *out);
mc_err mc_hfj_opt_bool(const mc_hfj *h, const char *key, int def, int *out);
mc_err mc_hfj_opt_f64(const mc_hfj *h, const char *key, double def, double *out);
/* Strings point into the document; opt_str gives NULL when absent or null. */
mc_err mc_hfj_opt_str(const mc_hfj *h, const char *key, const char **out);
mc_err mc_hfj_req_str(const mc_hfj *h, const char *key, const char **out);
/* Object-valued keys: *sub reads inside the object, its prefix extended by "key.". */
mc_err mc_hfj_opt_child(const mc_hfj *h, const char *key, mc_hfj *sub, int *found);
mc_err mc_hfj_req_child(const mc_hfj *h, const char *key, mc_hfj *sub);

#endif
