/* The verifier handle of long-lived processes (xtoken extauth, the Lua
 * binding): config loaded once and reloaded when its file changes, one
 * replay handle, one scratch digest context, the OTPs of each scope's
 * window computed once per step. Every answer is xt_verify_with()'s. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "xtoken.h"

struct xt_verifier {
    char *config_path; /* NULL: a config handed in, never reloaded */
    unsigned flags;
    xt_config *cfg;    /* NULL while the config is missing or bad: refuse */
    xt_replay *replay; /* NULL: no replay checks */
    struct xt_verify_state state;
    int status;              /* of the last load */
    char error[XT_ERR_MAX];  /* why the last load failed, "" if it did not */
    /* SHA-256 of the bytes the loaded config was parsed from: a change is
     * what changes them, whatever the file's times say (a same-size
     * rewrite within one timestamp tick keeps size, mtime and ctime) */
    unsigned char loaded_digest[XT_MAC_LEN];
    time_t last_check; /* when the file was last looked at */
};

/* Drop the config, its store and its OTPs (the OTPs derive from the seeds:
 * wiped like them). */
static void drop_config(xt_verifier *v)
{
    xt_verify_state_clear(&v->state, v->cfg);
    xt_replay_free(v->replay);
    v->replay = NULL;
    xt_config_free(v->cfg);
    v->cfg = NULL;
}

/* Take cfg (also on failure): its store and OTP caches. XT_OK; XT_NOMEM. */
static int adopt_config(xt_verifier *v, xt_config *cfg)
{
    int rc;

    v->cfg = cfg;
    rc = xt_verify_state_init(&v->state, cfg);
    if (rc == XT_OK && !(v->flags & XT_VERIFIER_NO_REPLAY))
        rc = xt_replay_open(cfg, &v->replay);
    if (rc != XT_OK) {
        drop_config(v);
        xt_seterr(v->error, sizeof v->error, "%s", xt_strerror(rc));
    }
    return rc;
}

/* Parse text (the file's bytes, whose digest is `digest`) into the
 * handle, or record why read_status says it could not be read; on any
 * failure keep nothing (fail closed). */
static void take(xt_verifier *v, int read_status, const char *text, size_t len,
                 const unsigned char digest[XT_MAC_LEN])
{
    xt_config *cfg = NULL;

    drop_config(v);
    OPENSSL_cleanse(v->loaded_digest, sizeof v->loaded_digest);
    v->status = read_status;
    if (v->status == XT_OK)
        v->status = xt_config_parse(text, len, v->config_path, &cfg, v->error, sizeof v->error);
    if (v->status == XT_OK)
        v->status = adopt_config(v, cfg);
    if (v->status == XT_OK)
        memcpy(v->loaded_digest, digest, XT_MAC_LEN);
    else if (v->error[0] == '\0')
        xt_seterr(v->error, sizeof v->error, "%s", xt_strerror(v->status));
}

/* Read the file and load it, unless `only_if_changed` and the last load
 * worked and the bytes are those it loaded. A last load that failed is
 * always tried again: its reason may have passed (EMFILE, ENOMEM, a file
 * briefly unreadable) while the file stayed the same. 1 if it loaded (or
 * failed to), 0 if nothing changed. */
static int load(xt_verifier *v, int only_if_changed)
{
    unsigned char digest[XT_MAC_LEN];
    char *text = NULL;
    size_t len = 0;
    int rc, changed = 1;

    v->error[0] = '\0';
    rc = xt_config_read(v->config_path, &text, &len, v->error, sizeof v->error);
    if (rc == XT_OK && EVP_Digest(text, len, digest, NULL, EVP_sha256(), NULL) != 1)
        rc = XT_INTERNAL;
    if (only_if_changed && rc == XT_OK && v->status == XT_OK &&
        CRYPTO_memcmp(digest, v->loaded_digest, XT_MAC_LEN) == 0)
        changed = 0;
    else
        take(v, rc, text, len, digest);
    xt_free_wipe(text, len + 1);
    OPENSSL_cleanse(digest, sizeof digest);
    return changed;
}

/* An empty handle with its scratch context. XT_OK; XT_NOMEM. */
static int verifier_alloc(unsigned flags, xt_verifier **out)
{
    xt_verifier *v = calloc(1, sizeof *v);

    *out = NULL;
    if (v == NULL)
        return XT_NOMEM;
    v->flags = flags;
    v->last_check = -1;
    v->status = XT_CONFIG;
    v->state.scratch = EVP_MD_CTX_new();
    if (v->state.scratch == NULL) {
        free(v);
        return XT_NOMEM;
    }
    *out = v;
    return XT_OK;
}

int xt_verifier_new(const char *config_path, unsigned flags, xt_verifier **out)
{
    int rc = verifier_alloc(flags, out);

    if (rc != XT_OK)
        return rc;
    (*out)->config_path = strdup(config_path);
    if ((*out)->config_path == NULL) {
        xt_verifier_free(*out);
        *out = NULL;
        return XT_NOMEM;
    }
    load(*out, 0); /* a failure is the handle's state, not the call's */
    return XT_OK;
}

int xt_verifier_new_from(xt_config *cfg, unsigned flags, xt_verifier **out)
{
    int rc = verifier_alloc(flags, out);

    if (rc != XT_OK) {
        xt_config_free(cfg);
        return rc;
    }
    (*out)->status = adopt_config(*out, cfg);
    return XT_OK;
}

void xt_verifier_free(xt_verifier *v)
{
    if (v == NULL)
        return;
    drop_config(v);
    EVP_MD_CTX_free(v->state.scratch);
    free(v->config_path);
    free(v);
}

int xt_verifier_refresh(xt_verifier *v, time_t now, int force)
{
    if (v->config_path == NULL || (!force && now == v->last_check))
        return 0; /* at most one look a second */
    v->last_check = now;
    return load(v, !force);
}

int xt_verifier_status(const xt_verifier *v)
{
    return v->status;
}

const char *xt_verifier_error(const xt_verifier *v)
{
    return v->error;
}

const xt_config *xt_verifier_config(const xt_verifier *v)
{
    return v->cfg;
}

xt_replay *xt_verifier_replay(const xt_verifier *v)
{
    return v->replay;
}

int xt_verifier_verify(xt_verifier *v, const char *jid, const char *token, size_t token_len,
                       time_t now, struct xt_detail *detail)
{
    if (detail != NULL)
        memset(detail, 0, sizeof(*detail));
    if (v->cfg == NULL)
        return v->status == XT_OK ? XT_CONFIG : v->status;
    return xt_verify_with(v->cfg, v->replay, &v->state, jid, token, token_len, now, detail);
}

int xt_verifier_user_exists(xt_verifier *v, const char *policy, const char *jid, char *err,
                            size_t errlen)
{
    if (v->cfg == NULL) {
        xt_seterr(err, errlen, "config not loaded: %s", v->error);
        return XT_CONFIG;
    }
    return xt_user_exists(v->cfg, policy, jid, err, errlen);
}

const char *xt_verifier_reason(const xt_verifier *v, int status, const struct xt_detail *detail,
                               char *buf, size_t len)
{
    const char *store_detail;

    switch (status) {
    case XT_CONFIG:
        snprintf(buf, len, "config: %s", *v->error ? v->error : xt_strerror(status));
        return buf;
    case XT_STORE:
    case XT_STORE_FULL:
        store_detail = v->replay != NULL ? xt_replay_error(v->replay) : "";
        if (*store_detail == '\0')
            store_detail = xt_strerror(status);
        /* the file store's messages already begin "replay store PATH: " */
        if (strncmp(store_detail, "replay store", strlen("replay store")) == 0)
            snprintf(buf, len, "%s", store_detail);
        else
            snprintf(buf, len, "replay store: %s", store_detail);
        return buf;
    default:
        return xt_reason(status, detail, buf, len);
    }
}
