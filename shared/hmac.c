/* HMAC-SHA256 (RFC 2104) from precomputed inner and outer digest states.
 *
 * Keying hashes the padded key blocks once per config load; each MAC then
 * costs two digest-context copies and the message's own blocks. That is
 * about half of duplicating a keyed EVP_MAC_CTX per call (which copies
 * three digest contexts and allocates the MAC context), and the hot path
 * of every verification. Checked against pyotp/hmac-minted tokens, with
 * short and long (> one block) keys, in tests/unit. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "internal.h"
#include "xtoken.h"

#define SHA256_BLOCK XT_HMAC_BLOCK

int xt_hmac_block_key(const char *digest, const unsigned char *key, size_t len,
                      unsigned char block[XT_HMAC_BLOCK])
{
    int rc = XT_OK;

    memset(block, 0, XT_HMAC_BLOCK);
    if (len <= XT_HMAC_BLOCK) {
        memcpy(block, key, len);
    } else { /* replaced by its digest (RFC 2104) */
        EVP_MD *md = EVP_MD_fetch(NULL, digest, NULL);
        unsigned int hashed = 0;

        if (md == NULL || EVP_MD_get_block_size(md) != XT_HMAC_BLOCK ||
            EVP_Digest(key, len, block, &hashed, md, NULL) != 1)
            rc = XT_INTERNAL;
        EVP_MD_free(md);
    }
    return rc;
}

int xt_hmac_same_key(const char *digest, const unsigned char *a, size_t alen,
                     const unsigned char *b, size_t blen)
{
    unsigned char ka[XT_HMAC_BLOCK], kb[XT_HMAC_BLOCK];
    int same = -1;

    if (xt_hmac_block_key(digest, a, alen, ka) == XT_OK &&
        xt_hmac_block_key(digest, b, blen, kb) == XT_OK)
        same = CRYPTO_memcmp(ka, kb, XT_HMAC_BLOCK) == 0;
    OPENSSL_cleanse(ka, sizeof(ka));
    OPENSSL_cleanse(kb, sizeof(kb));
    return same;
}

int xt_hmac_key(struct xt_hmac *h, const unsigned char *key, size_t len)
{
    unsigned char block[SHA256_BLOCK], pad[SHA256_BLOCK];
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    int rc = XT_INTERNAL;

    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();
    /* before any exit: block is wiped at done */
    if (xt_hmac_block_key("SHA256", key, len, block) != XT_OK || sha256 == NULL ||
        h->inner == NULL || h->outer == NULL)
        goto done;
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    if (EVP_DigestInit_ex2(h->inner, sha256, NULL) != 1 ||
        EVP_DigestUpdate(h->inner, pad, SHA256_BLOCK) != 1)
        goto done;
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    if (EVP_DigestInit_ex2(h->outer, sha256, NULL) != 1 ||
        EVP_DigestUpdate(h->outer, pad, SHA256_BLOCK) != 1)
        goto done;
    rc = XT_OK;
done:
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
    EVP_MD_free(sha256);
    return rc;
}

void xt_hmac_free(struct xt_hmac *h)
{
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    h->inner = h->outer = NULL;
}

int xt_hmac_sha256(const struct xt_hmac *h, EVP_MD_CTX *scratch, const void *part1, size_t len1,
                   const void *part2, size_t len2, unsigned char out[XT_MAC_LEN])
{
    unsigned char inner[XT_MAC_LEN];
    unsigned int n = 0, m = 0;
    int rc = XT_INTERNAL;

    if (EVP_MD_CTX_copy_ex(scratch, h->inner) == 1 && EVP_DigestUpdate(scratch, part1, len1) == 1 &&
        EVP_DigestUpdate(scratch, part2, len2) == 1 &&
        EVP_DigestFinal_ex(scratch, inner, &n) == 1 && n == XT_MAC_LEN &&
        EVP_MD_CTX_copy_ex(scratch, h->outer) == 1 &&
        EVP_DigestUpdate(scratch, inner, sizeof(inner)) == 1 &&
        EVP_DigestFinal_ex(scratch, out, &m) == 1 && m == XT_MAC_LEN)
        rc = XT_OK;
    OPENSSL_cleanse(inner, sizeof(inner));
    return rc;
}
