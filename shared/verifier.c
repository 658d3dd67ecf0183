/* The verifier handle of long-lived processes (xtoken extauth, the Lua
 * binding): config loaded once and reloaded when its file changes, one
 * replay handle, one scratch digest context, the OTPs of each scope's
 * window computed once per step. Every answer is xt_verify_with()'s. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "internal.h"
#include "xtoken.h"

/* Identity of the config file when it was last (re)loaded: a change of
 * any of these (an edit, a replacement by rename, a chmod/chown) reloads. */
struct file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct xt_verifier {
    char *config_path; /* NULL: a config handed in, never reloaded */
    unsigned flags;
    xt_config *cfg;    /* NULL while the config is missing or bad: refuse */
    xt_replay *replay; /* NULL: no replay checks */
    struct xt_verify_state state;
    int status;              /* of the last load */
    char error[XT_ERR_MAX];  /* why the last load failed, "" if it did not */
    struct file_id loaded_id;
    time_t last_check; /* when the file was last looked at */
};

static void file_id_of(const char *path, struct file_id *id)
{
    struct stat st;

    memset(id, 0, sizeof *id);
    if (stat(path, &st) != 0)
        return;
    id->exists = 1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = st.st_size;
    id->mtime = st.st_mtim;
    id->ctime = st.st_ctim; /* changes on chmod/chown too */
}

static int file_id_equal(const struct file_id *a, const struct file_id *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Drop the config, its store and its OTPs (the OTPs derive from the seeds:
 * wiped like them). */
static void drop_config(xt_verifier *v)
{
    if (v->state.otps != NULL && v->cfg != NULL)
        OPENSSL_cleanse(v->state.otps, (v->cfg->n_sections + 1) * sizeof(*v->state.otps));
    free(v->state.otps);
    v->state.otps = NULL;
    xt_replay_free(v->replay);
    v->replay = NULL;
    xt_config_free(v->cfg);
    v->cfg = NULL;
}

/* Take cfg (also on failure): its store and OTP caches. XT_OK; XT_NOMEM. */
static int adopt_config(xt_verifier *v, xt_config *cfg)
{
    int rc = XT_OK;

    v->cfg = cfg;
    v->state.otps = calloc(cfg->n_sections + 1, sizeof(*v->state.otps));
    if (v->state.otps == NULL)
        rc = XT_NOMEM;
    for (size_t i = 0; rc == XT_OK && i <= cfg->n_sections; i++)
        v->state.otps[i].step = -1;
    if (rc == XT_OK && !(v->flags & XT_VERIFIER_NO_REPLAY))
        rc = xt_replay_open(cfg, &v->replay);
    if (rc != XT_OK) {
        drop_config(v);
        xt_seterr(v->error, sizeof v->error, "%s", xt_strerror(rc));
    }
    return rc;
}

/* Load the file now; on failure keep nothing (fail closed). */
static int load(xt_verifier *v)
{
    xt_config *cfg = NULL;

    /* stat before reading: a change racing with the read is seen next time */
    file_id_of(v->config_path, &v->loaded_id);
    drop_config(v);
    v->error[0] = '\0';
    v->status = xt_config_load(v->config_path, &cfg, v->error, sizeof v->error);
    if (v->status == XT_OK)
        v->status = adopt_config(v, cfg);
    else if (v->error[0] == '\0')
        xt_seterr(v->error, sizeof v->error, "%s", xt_strerror(v->status));
    return v->status;
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
    load(*out); /* a failure is the handle's state, not the call's */
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
    struct file_id id;

    if (v->config_path == NULL)
        return 0;
    if (!force) {
        if (now == v->last_check)
            return 0; /* at most one stat() a second */
        v->last_check = now;
        file_id_of(v->config_path, &id);
        if (file_id_equal(&id, &v->loaded_id))
            return 0;
    }
    v->last_check = now;
    load(v);
    return 1;
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
