/* cli_results.c: what the commands that measure a server share before they start: the results
 * directory (given, or named after the local time; never one that already holds results) and the
 * model id to send (given, or the server's /v1/models). Used by bench and eval. */
#include "cli.h"
#include "loadgen.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

int mc_cli_results_dir(const char *cmd, const char *given, const char *prefix,
                       const char *const *files, char *buf, size_t cap)
{
    if (given) {
        snprintf(buf, cap, "%s", given);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];
        localtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(buf, cap, "%s-%s", prefix, stamp);
    }
    struct stat st;
    if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode))
        return mc_cli_usage_error(cmd, "--out %s exists and is not a directory", buf);
    for (size_t i = 0; files && files[i]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", buf, files[i]);
        if (stat(p, &st) == 0)
            return mc_cli_usage_error(cmd, "%s already holds results; give another --out", buf);
    }
    return 0;
}

mc_err mc_cli_model_id(const char *given, const char *url, const char *api_key, char **out,
                       mc_diag *d)
{
    if (given)
        return (*out = mc_strdup(given)) ? MC_OK : mc_fail(d, MC_ERR_NOMEM, "out of memory");
    mc_err e = mc_lg_probe_model(url, api_key, 30, out, d);
    if (e)
        mc_diag_prefix(d, "cannot learn the model id (give --model)");
    return e;
}
