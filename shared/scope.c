/* Looking up and describing the scopes of a loaded config. */
#include <string.h>

#include "internal.h"
#include "xtoken.h"

const struct xt_scope *xt_scope_find(const xt_config *cfg, const char *domain, size_t len)
{
    for (size_t i = 0; i < cfg->n_sections; i++) {
        const char *name = cfg->sections[i].name;

        if (strlen(name) == len && memcmp(name, domain, len) == 0)
            return &cfg->sections[i];
    }
    return cfg->global_serves ? &cfg->global : NULL;
}

int xt_scope_for_jid(const xt_config *cfg, const char *jid, const struct xt_scope **scope)
{
    const char *at;
    int rc = xt_jid_split(jid, &at);

    if (rc != XT_OK)
        return rc;
    *scope = xt_scope_find(cfg, at + 1, strlen(at + 1));
    return *scope ? XT_OK : XT_UNKNOWN_DOMAIN;
}

int xt_config_has_domain(const xt_config *cfg, const char *domain)
{
    return xt_scope_find(cfg, domain, strlen(domain)) ? XT_OK : XT_UNKNOWN_DOMAIN;
}

int xt_lifetime_check(unsigned interval, unsigned window, char *msg, size_t msglen)
{
    unsigned long life = (unsigned long)interval * (window + 1ul);

    if (life <= XT_LIFETIME_MAX)
        return XT_OK;
    xt_seterr(msg, msglen,
              "interval x (window + 1) = %lu s: a token would outlive the %d s for which every "
              "verifier's replay store keeps it used; lower window or interval",
              life, XT_LIFETIME_MAX);
    return XT_CONFIG;
}

int xt_config_set_window(xt_config *cfg, unsigned window, char *err, size_t errlen)
{
    char msg[XT_ERR_MAX];

    if (window > XT_WINDOW_MAX) {
        xt_seterr(err, errlen, "window=%u: at most %d", window, XT_WINDOW_MAX);
        return XT_CONFIG;
    }
    /* check every scope first: a refused override changes nothing */
    for (size_t i = 0; i < cfg->n_sections; i++)
        if (xt_lifetime_check(cfg->sections[i].interval, window, msg, sizeof(msg)) != XT_OK) {
            xt_seterr(err, errlen, "window=%u for [%s]: %s", window, cfg->sections[i].name, msg);
            return XT_CONFIG;
        }
    if (cfg->global_serves &&
        xt_lifetime_check(cfg->global.interval, window, msg, sizeof(msg)) != XT_OK) {
        xt_seterr(err, errlen, "window=%u: %s", window, msg);
        return XT_CONFIG;
    }
    for (size_t i = 0; i < cfg->n_sections; i++)
        cfg->sections[i].window = window;
    cfg->global.window = window;
    return XT_OK;
}

const char *xt_config_replay_dir(const xt_config *cfg)
{
    return cfg->replay_dir;
}

size_t xt_config_domain_count(const xt_config *cfg)
{
    return cfg->n_sections + (cfg->global_serves ? 1 : 0);
}

int xt_config_domain_info(const xt_config *cfg, size_t i, struct xt_domain_info *info)
{
    const struct xt_scope *s;

    if (i < cfg->n_sections)
        s = &cfg->sections[i];
    else if (i == cfg->n_sections && cfg->global_serves)
        s = &cfg->global;
    else
        return XT_CONFIG;
    info->name = s->name;
    info->n_seeds = s->n_seeds;
    info->n_secrets = s->n_secrets;
    info->window = s->window;
    info->digits = s->digits;
    info->interval = s->interval;
    info->nonce_digits = s->nonce_digits;
    return XT_OK;
}
