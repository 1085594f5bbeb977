/* stop.c: stop strings over streamed text. Generated text arrives a token at a time; output may
 * only be sent once it is certain not to be the start of a stop string, and stops at the
 * earliest stop string found (the stop string itself is not output, as in the OpenAI API).
 * Pure. Must not depend on libmicrohttpd or the scheduler. */
#include "server_impl.h"

#include <string.h>

int mc_srv_stop_scan(char *const *stop, size_t n_stop, const char *text, size_t len, size_t *emit)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n_stop; i++) {
        const char *at = memmem(text, len, stop[i], strlen(stop[i]));
        if (at && (size_t)(at - text) < best)
            best = (size_t)(at - text);
    }
    if (best != SIZE_MAX) {
        *emit = best;
        return 1;
    }
    /* hold back the longest suffix that is a proper prefix of a stop string */
    size_t hold = 0;
    for (size_t i = 0; i < n_stop; i++) {
        size_t l = strlen(stop[i]);
        for (size_t k = (l - 1 < len ? l - 1 : len); k > hold; k--)
            if (memcmp(text + len - k, stop[i], k) == 0) {
                hold = k;
                break;
            }
    }
    *emit = len - hold;
    return 0;
}
