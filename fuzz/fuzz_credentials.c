/* libFuzzer target: xtoken-credentials (credentials/) on arbitrary input.
 * The first byte picks the case: odd, the whole rest is a config for
 * cred_conf_parse (with the credentials_* keys); even, the rest is a user
 * name (REMOTE_USER) mapped under each realm and case rule. Whatever maps
 * must be a JID the library accepts, JSON-escape into a valid string and
 * get a token that verifies for exactly that JID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"
#include "xtoken.h"

#define KEYS "otp_seed = K5UOYGC3OJ2WG4LX\ntoken_secret = T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const rules[] = {
    "credentials_domain = a.org\n" KEYS "[b.org]\n",
    "credentials_domain = a.org\ncredentials_realm = drop\ncredentials_lowercase = no\n" KEYS,
    "credentials_domain = a.org\ncredentials_realm = drop X.ORG y\n" KEYS,
    "credentials_domain = a.org\ncredentials_realm = keep\n" KEYS "[b.org]\n",
};

/* A mapped JID: well-formed for the library, escaped as JSON, and its token
 * verifies for it. */
static void check_jid(const struct cred_conf *conf, const char *jid)
{
    char json[6 * XT_JID_MAX + 1], token[XT_TOKEN_MAX + 1], again[XT_JID_MAX + 1];

    if (xt_jid_make(jid, NULL, again, sizeof again) != XT_OK || strcmp(again, jid) != 0 ||
        !cred_utf8_valid(jid, strlen(jid)) || cred_json_escape(jid, json, sizeof json) == 0)
        abort();
    for (const char *c = json; *c; c++)
        if ((unsigned char)*c < 0x20 || (*c == '"' && (c == json || c[-1] != '\\')))
            abort();
    if (xt_issue(conf->keys, jid, 1700000000, token, sizeof token) != XT_OK ||
        xt_verify(conf->keys, NULL, jid, token, strlen(token), 1700000000) != XT_OK)
        abort();
}

static void map_name(const char *name)
{
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        struct cred_conf *conf = NULL;
        char jid[XT_JID_MAX + 1], why[XT_ERR_MAX * 2];
        int rc;

        if (cred_conf_parse(rules[r], strlen(rules[r]), "rules", &conf, NULL, 0) != XT_OK)
            abort();
        rc = cred_map_user(conf, name, jid, sizeof jid, why, sizeof why);
        if (rc == XT_OK)
            check_jid(conf, jid);
        else if (why[0] == '\0' || rc == XT_CONFIG)
            abort(); /* every refusal says why; allow = any never fails */
        cred_conf_free(conf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cred_conf *conf = NULL;
    char err[XT_ERR_MAX * 2] = "";
    char *text;

    if (size == 0)
        return 0;
    /* an exact copy (and for names a NUL-terminated one) */
    text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] & 1) {
        int rc = cred_conf_parse(text, size - 1, "fuzz.conf", &conf, err, sizeof err);

        if ((rc == XT_OK) != (conf != NULL) || (rc != XT_OK && err[0] == '\0'))
            abort();
        if (rc == XT_OK && (conf->domain == NULL || conf->allow == NULL ||
                            xt_config_has_domain(conf->keys, conf->domain) != XT_OK))
            abort();
        cred_conf_free(conf);
    } else if (strlen(text) == size - 1) {
        map_name(text);
    }
    free(text);
    return 0;
}
