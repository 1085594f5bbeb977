/* catalogue.c: mc_model_load (config.json path, model directory given with a '/', .gguf path or
 * catalogue name) and the listing of the model catalogue, mc_catalogue_dir()/models/<name>.json.
 * Depends on base and model.h (the HF loader); reads directories, prints nothing. */
#include "gguf.h"
#include "model.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define NAME_MAX_LEN 100   /* longest catalogue name accepted */
#define CATALOGUE_MAX 4096 /* entries listed at most */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

/* Catalogue names: letters, digits, '.', '_', '-'; not starting with '.'. */
static int valid_name(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void mc_model_catalogue_free(char **names, int count)
{
    for (int i = 0; names && i < count; i++)
        mc_free(names[i]);
    mc_free(names);
}

/* Appends the stem of a "<name>.json" entry to *names (grown as needed). */
static mc_err add_entry(const char *file, char ***names, int *count, int *cap)
{
    size_t n = strlen(file);
    if (n <= 5 || !ends_with(file, ".json") || !valid_name(file, n - 5))
        return MC_OK;
    if (*count == CATALOGUE_MAX)
        return MC_ERR_RANGE;
    if (*count == *cap) {
        int ncap = *cap ? *cap * 2 : 32;
        char **p = mc_reallocarray(*names, (size_t)ncap, sizeof *p);
        if (!p)
            return MC_ERR_NOMEM;
        *names = p;
        *cap = ncap;
    }
    char *s = mc_strndup(file, n - 5);
    if (!s)
        return MC_ERR_NOMEM;
    for (char *c = s; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    (*names)[(*count)++] = s;
    return MC_OK;
}

mc_err mc_model_catalogue(char ***names, int *count, mc_diag *d)
{
    char dir[4096];
    char **list = NULL;
    int n = 0, cap = 0;
    mc_err e = MC_OK;
    *names = NULL;
    *count = 0;
    snprintf(dir, sizeof dir, "%s/models", mc_catalogue_dir());
    DIR *dh = opendir(dir);
    if (!dh)
        return mc_fail(d, MC_ERR_IO, "%s: cannot open the model catalogue: %s", dir,
                       strerror(errno));
    for (struct dirent *ent; !e && (ent = readdir(dh)) != NULL;)
        e = add_entry(ent->d_name, &list, &n, &cap);
    closedir(dh);
    if (e) {
        mc_model_catalogue_free(list, n);
        return mc_fail(d, e, "%s: %s while listing the model catalogue", dir,
                       e == MC_ERR_NOMEM ? "out of memory" : "too many entries");
    }
    if (n > 0)
        qsort(list, (size_t)n, sizeof *list, cmp_names);
    *names = list;
    *count = n;
    return MC_OK;
}

/* Edit distance of two short lower-case strings (both <= NAME_MAX_LEN). */
static size_t distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), row[NAME_MAX_LEN + 1];
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

/* Writes up to three catalogue names close to `want` (substring or small edit distance). */
static void close_names(const char *want, char *out, size_t size)
{
    char **names = NULL;
    int n = 0, shown = 0;
    out[0] = 0;
    if (mc_model_catalogue(&names, &n, NULL) != MC_OK)
        return;
    size_t limit = strlen(want) / 3 + 2;
    for (size_t dist = 0; dist <= limit && shown < 3; dist++) {
        for (int i = 0; i < n && shown < 3; i++) {
            int near = strstr(names[i], want) || strstr(want, names[i]);
            size_t dd = near ? 0 : distance(want, names[i]);
            if (dd != dist)
                continue;
            size_t used = strlen(out);
            snprintf(out + used, size - used, "%s%s", shown ? ", " : "", names[i]);
            shown++;
        }
    }
    mc_model_catalogue_free(names, n);
}

static mc_err load_catalogue_name(const char *what, mc_model **out, mc_diag *d)
{
    char name[NAME_MAX_LEN + 1], path[4096], near[256];
    size_t n = strlen(what);
    if (!valid_name(what, n))
        return mc_fail(d, MC_ERR_NOT_FOUND,
                       "'%s' is neither a .json/.gguf file nor a catalogue name (see --list)",
                       what);
    for (size_t i = 0; i <= n; i++)
        name[i] = (char)tolower((unsigned char)what[i]);
    snprintf(path, sizeof path, "%s/models/%s.json", mc_catalogue_dir(), name);
    struct stat st;
    if (stat(path, &st) != 0) {
        close_names(name, near, sizeof near);
        if (near[0])
            return mc_fail(d, MC_ERR_NOT_FOUND, "unknown model '%s' (close: %s; see --list)", what,
                           near);
        return mc_fail(d, MC_ERR_NOT_FOUND, "unknown model '%s' (see --list)", what);
    }
    mc_err e = mc_model_load_hf_config(path, out, d);
    if (!e)
        snprintf((*out)->name, sizeof(*out)->name, "%s", name);
    return e;
}

/* Messages echo the user's argument: keep them on one printable line. */
static mc_err one_line(mc_err e, mc_diag *d)
{
    for (char *c = d ? d->msg : NULL; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return e;
}

static mc_err load_any(const char *what, mc_model **out, mc_diag *d)
{
    struct stat st;
    if (!what || !*what)
        return mc_fail(d, MC_ERR_ARG, "no model given");
    if (ends_with(what, ".gguf"))
        return mc_model_load_gguf(what, out, d);
    if (ends_with(what, ".json"))
        return mc_model_load_hf_config(what, out, d);
    if (strchr(what, '/') && stat(what, &st) == 0 && S_ISDIR(st.st_mode)) {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/config.json", what);
        if (n < 0 || (size_t)n >= sizeof path)
            return mc_fail(d, MC_ERR_ARG, "%s: path too long", what);
        return mc_model_load_hf_config(path, out, d);
    }
    return load_catalogue_name(what, out, d);
}

mc_err mc_model_load(const char *what, mc_model **out, mc_diag *d)
{
    *out = NULL;
    return one_line(load_any(what, out, d), d);
}
