/* sha256.c: SHA-256 of a data file for the run's metadata, streamed through OpenSSL's libcrypto
 * (EVP interface). Depends on base and libcrypto. */
#include "eval.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

mc_err mc_ev_sha256_file(const char *path, char hex[65], mc_diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mc_fail(d, MC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    mc_err e = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
                   ? MC_OK
                   : mc_fail(d, MC_ERR_INTERNAL, "sha256: cannot initialise libcrypto");
    unsigned char buf[1 << 16];
    size_t n;
    while (!e && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (EVP_DigestUpdate(ctx, buf, n) != 1)
            e = mc_fail(d, MC_ERR_INTERNAL, "sha256: digest update failed");
    if (!e && ferror(f))
        e = mc_fail(d, MC_ERR_IO, "%s: read failed", path);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!e && (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32))
        e = mc_fail(d, MC_ERR_INTERNAL, "sha256: digest final failed");
    for (unsigned i = 0; !e && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return e;
}
