/* Verifying and issuing tokens: OTP NONCE SP base64(HMAC-SHA256(secret,
 * OTP NONCE JID)). The one verify function every adapter calls. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "xtoken.h"

struct parsed_token {
    size_t signed_len; /* OTP and nonce: the token's bytes before the space */
    unsigned char mac[XT_MAC_LEN];
};

/* XT_OK and pt filled if token is exactly `head` digits (OTP and nonce),
 * SP, base64(32 bytes); XT_MALFORMED otherwise. Checks the length first:
 * nothing longer than XT_TOKEN_MAX is even scanned.
 * The fixed length is what makes the signed message OTP NONCE JID
 * unambiguous: with a nonce of any length, digits could move between the
 * nonce and a localpart that starts with digits, and a token of
 * "1alice@d" would also be one of "alice@d". */
static int parse_token(const char *token, size_t len, size_t head, struct parsed_token *pt)
{
    size_t n = 0;

    if (len > XT_TOKEN_MAX)
        return XT_MALFORMED;
    while (n < len && token[n] >= '0' && token[n] <= '9')
        n++;
    if (n != head || n == len || token[n] != ' ')
        return XT_MALFORMED;
    if (!xt_base64_decode_exact(token + n + 1, len - n - 1, pt->mac, sizeof(pt->mac)))
        return XT_MALFORMED;
    pt->signed_len = n;
    return XT_OK;
}

/* XT_OK if any configured secret signed the token for jid;
 * XT_BAD_SIGNATURE; XT_INTERNAL. */
static int check_signature(const struct xt_scope *s, EVP_MD_CTX *scratch, const char *token,
                           const struct parsed_token *pt, const char *jid)
{
    unsigned char mac[XT_MAC_LEN];
    int rc = XT_BAD_SIGNATURE;

    for (unsigned i = 0; i < s->n_secrets && rc == XT_BAD_SIGNATURE; i++) {
        if (xt_hmac_sha256(&s->secrets[i].hmac, scratch, token, pt->signed_len, jid, strlen(jid),
                           mac) != XT_OK)
            rc = XT_INTERNAL;
        else if (CRYPTO_memcmp(mac, pt->mac, XT_MAC_LEN) == 0)
            rc = XT_OK;
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

int xt_verify_with(const xt_config *cfg, xt_replay *replay, struct xt_verify_state *state,
                   const char *jid, const char *token, size_t token_len, time_t now,
                   struct xt_detail *detail)
{
    const struct xt_scope *s = NULL;
    struct parsed_token pt;
    long long step = -1;
    int rc;

    if (detail != NULL)
        memset(detail, 0, sizeof(*detail));
    if (now < 0)
        return XT_INTERNAL;
    rc = xt_scope_for_jid(cfg, jid, &s);
    if (rc == XT_OK)
        rc = parse_token(token, token_len, (size_t)s->digits + s->nonce_digits, &pt);
    if (rc != XT_OK)
        return rc;
    xt_replay_prefetch(replay, pt.mac);
    rc = check_signature(s, state->scratch, token, &pt, jid);
    if (rc == XT_OK) {
        long long now_step = (long long)now / s->interval;
        rc = xt_otp_step(cfg, s, state, token, now_step, &step);
    }
    /* only a token that passed everything else may touch the store; its
     * entry outlives every verifier that may share the store, whatever the
     * window of this one (the config keeps every window within it) */
    if (rc == XT_OK && replay != NULL)
        rc = xt_replay_use(replay, pt.mac, (time_t)(step * s->interval + XT_LIFETIME_MAX));
    if (detail != NULL && step >= 0) {
        detail->age = (long long)now - step * s->interval;
        detail->lifetime = s->interval * (s->window + 1);
    }
    OPENSSL_cleanse(&pt, sizeof(pt));
    return rc;
}

int xt_verify_detail(const xt_config *cfg, xt_replay *replay, const char *jid, const char *token,
                     size_t token_len, time_t now, struct xt_detail *detail)
{
    struct xt_verify_state state = {EVP_MD_CTX_new(), NULL};
    int rc = XT_NOMEM;

    if (detail != NULL)
        memset(detail, 0, sizeof(*detail));
    if (state.scratch != NULL)
        rc = xt_verify_with(cfg, replay, &state, jid, token, token_len, now, detail);
    EVP_MD_CTX_free(state.scratch);
    return rc;
}

int xt_verify(const xt_config *cfg, xt_replay *replay, const char *jid, const char *token,
              size_t token_len, time_t now)
{
    return xt_verify_detail(cfg, replay, jid, token, token_len, now, NULL);
}

/* The MAC of a new token: first secret of the scope. */
static int issue_mac(const struct xt_scope *s, const char *head, size_t len, const char *jid,
                     unsigned char mac[XT_MAC_LEN])
{
    EVP_MD_CTX *scratch = EVP_MD_CTX_new();
    int rc = XT_NOMEM;

    if (scratch != NULL)
        rc = xt_hmac_sha256(&s->secrets[0].hmac, scratch, head, len, jid, strlen(jid), mac);
    EVP_MD_CTX_free(scratch);
    return rc;
}

int xt_issue(const xt_config *cfg, const char *jid, time_t now, char *out, size_t outlen)
{
    const struct xt_scope *s = NULL;
    unsigned char mac[XT_MAC_LEN];
    size_t head;
    int rc;

    rc = xt_scope_for_jid(cfg, jid, &s);
    if (rc != XT_OK)
        return rc;
    head = (size_t)s->digits + s->nonce_digits;
    if (now < 0 || outlen < head + 1 + 4 * ((XT_MAC_LEN + 2) / 3) + 1)
        return XT_INTERNAL;
    rc = xt_totp(&s->seeds[0], s->digits, s->interval, (long long)now / s->interval, out);
    if (rc == XT_OK)
        rc = xt_random_digits(out + s->digits, s->nonce_digits);
    if (rc == XT_OK)
        rc = issue_mac(s, out, head, jid, mac);
    if (rc == XT_OK) {
        out[head] = ' ';
        EVP_EncodeBlock((unsigned char *)out + head + 1, mac, XT_MAC_LEN);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    if (rc != XT_OK)
        OPENSSL_cleanse(out, outlen);
    return rc;
}
