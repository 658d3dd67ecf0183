/* xtoken doctor: ejabberd (/etc/ejabberd/ejabberd.yml, read with libyaml).
 * For each host: auth_method external with an extauth_program running
 * `xtoken extauth`, or pam with a pam_service naming pam_xtoken.so; and the
 * auth cache off, since ejabberd answers from it without asking us.
 * Options resolve as ejabberd resolves them: host_config for the host, then
 * the top level; auth_use_cache defaults to use_cache, which defaults to
 * true; a scalar naming a define_macro entry stands for its value.
 * The file is read and parsed in the sandbox (doctor_sandbox.c), bounded
 * in size, nesting and anchors before libyaml builds the document; the
 * child sends one "host" record per host and the checks run here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "doctor.h"
#include "xtoken.h"

#define EJABBERD_YML "/etc/ejabberd/ejabberd.yml"
#define EJABBERD_YML_MAX (1024 * 1024) /* Debian's is 7 KiB */
#define YAML_DEPTH_MAX   64
#define YAML_ANCHORS_MAX 256
#define YAML_ALIASES_MAX 4096
#define EJ_HOSTS_MAX     256
#define EPAM "/usr/lib/erlang/p1_pam/bin/epam"
#define EXTAUTH_WORDS_MAX 32

struct yml {
    yaml_document_t doc;
    yaml_node_t *top, *macros, *host_config;
};

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(struct yml *y, const yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(&y->doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(&y->doc, p->value);
    }
    return NULL;
}

/* A scalar naming a macro stands for the macro's value. */
static yaml_node_t *unmacro(struct yml *y, yaml_node_t *n)
{
    yaml_node_t *m = scalar(n) ? map_get(y, y->macros, scalar(n)) : NULL;

    return m ? m : n;
}

/* An option for host: host_config first, then the top level. *in_host
 * says where it was found. NULL if neither sets it. */
static yaml_node_t *host_opt(struct yml *y, const char *host, const char *key, int *in_host)
{
    yaml_node_t *n = map_get(y, map_get(y, y->host_config, host), key);

    if (in_host)
        *in_host = n != NULL;
    if (n == NULL)
        n = map_get(y, y->top, key);
    return unmacro(y, n);
}

/* Does an auth_method value (a scalar or a list of scalars) name method? */
static int has_method(struct yml *y, const yaml_node_t *n, const char *method)
{
    if (scalar(n))
        return strcmp(scalar(n), method) == 0;
    if (n == NULL || n->type != YAML_SEQUENCE_NODE)
        return 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        const char *item = scalar(unmacro(y, yaml_document_get_node(&y->doc, *i)));
        if (item && strcmp(item, method) == 0)
            return 1;
    }
    return 0;
}

/* ---- in the sandbox: the file, bounded, then libyaml -------------------- */

/* A cheap pass over the events before the document is built: libyaml's
 * scanner does work proportional to the flow nesting for every token, and
 * its loader looks anchors up one by one for every alias, so deep nesting
 * and many anchors cost quadratic time. The events stop at the first limit
 * passed, long before the cost grows. 0; -1 with why set. */
static int yml_prescan(const char *text, size_t len, char *why, size_t whylen)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    unsigned depth = 0, anchors = 0, aliases = 0;
    int rc = 0, done = 0;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done && rc == 0 && yaml_parser_parse(&parser, &ev)) {
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        anchors += (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
                   (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor) ||
                   (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor);
        aliases += ev.type == YAML_ALIAS_EVENT;
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (depth > YAML_DEPTH_MAX)
            rc = snprintf(why, whylen, "nested more than %d levels deep", YAML_DEPTH_MAX);
        else if (anchors > YAML_ANCHORS_MAX)
            rc = snprintf(why, whylen, "more than %d anchors (&name)", YAML_ANCHORS_MAX);
        else if (aliases > YAML_ALIASES_MAX)
            rc = snprintf(why, whylen, "more than %d aliases (*name)", YAML_ALIASES_MAX);
    }
    yaml_parser_delete(&parser);
    return rc > 0 ? -1 : 0; /* a syntax error is reported by the load */
}

/* Read and load the file; 0 with y filled, -1 after sending why not. */
static int yml_load(struct doctor *d, struct doc_out *out, struct yml *y)
{
    char *text = NULL, why[128];
    size_t len;
    yaml_parser_t parser;
    int rc = -1, loaded;

    if (doc_read(d, EJABBERD_YML, EJABBERD_YML_MAX, &text, &len) != 0) {
        if (errno == EFBIG)
            doc_out_finding(out, DOC_FAIL,
                            EJABBERD_YML " is larger than 1 MiB: not checked (the doctor reads "
                            "no more; Debian's is 7 KiB); fix: move what is not ejabberd's "
                            "configuration out of it");
        else
            doc_out_finding(out, DOC_FAIL,
                            "cannot read " EJABBERD_YML " as the ejabberd user (%s): ejabberd "
                            "cannot either; fix: chgrp ejabberd " EJABBERD_YML "; chmod 0640 "
                            EJABBERD_YML,
                            strerror(errno));
        return -1;
    }
    if (yml_prescan(text, len, why, sizeof why) != 0) {
        doc_out_finding(out, DOC_FAIL,
                        EJABBERD_YML " is %s: not checked (it would take libyaml too long); "
                        "fix: write the options out plainly",
                        why);
        free(text);
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    loaded = yaml_parser_load(&parser, &y->doc);
    y->top = loaded ? yaml_document_get_root_node(&y->doc) : NULL;
    if (!loaded) {
        doc_out_finding(out, DOC_FAIL,
                        EJABBERD_YML " line %zu: %s: ejabberd does not start with it either; "
                        "fix: correct the YAML there",
                        parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "invalid YAML");
    } else if (y->top == NULL || y->top->type != YAML_MAPPING_NODE) {
        doc_out_finding(out, DOC_FAIL, EJABBERD_YML " is empty or not a mapping of options; "
                                       "fix: start from Debian's ejabberd.yml");
        yaml_document_delete(&y->doc);
    } else {
        y->macros = map_get(y, y->top, "define_macro");
        y->host_config = map_get(y, y->top, "host_config");
        rc = 0;
    }
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}

/* A boolean option for host: 1 true, 0 false, -1 unset, -2 not a boolean.
 * *in_host says whether host_config set it. */
static int host_bool(struct yml *y, const char *host, const char *key, int *in_host)
{
    const yaml_node_t *n = host_opt(y, host, key, in_host);
    const char *v = scalar(n);

    if (n == NULL)
        return -1;
    if (v && strcmp(v, "true") == 0)
        return 1;
    if (v && strcmp(v, "false") == 0)
        return 0;
    return -2;
}

/* Send what the checks need of one host: a "host" record. */
static void send_host(struct doc_out *out, struct yml *y, const char *host)
{
    const yaml_node_t *methods = host_opt(y, host, "auth_method", NULL);
    const char *prog = scalar(host_opt(y, host, "extauth_program", NULL));
    const char *service = scalar(host_opt(y, host, "pam_service", NULL));
    const char *infotype = scalar(host_opt(y, host, "pam_userinfotype", NULL));
    int in_host, cache = host_bool(y, host, "auth_use_cache", &in_host);
    char cache_s[4], in_host_s[2];
    const char *fields[9];

    if (cache == -1) /* auth_use_cache defaults to use_cache, true by default */
        cache = host_bool(y, host, "use_cache", &in_host) == 0 ? 0 : -1;
    snprintf(cache_s, sizeof cache_s, "%d", cache);
    snprintf(in_host_s, sizeof in_host_s, "%d", in_host);
    fields[0] = "host";
    fields[1] = host;
    fields[2] = has_method(y, methods, "external") ? "1" : "0";
    fields[3] = has_method(y, methods, "pam") ? "1" : "0";
    fields[4] = prog ? prog : "";
    fields[5] = service ? service : "ejabberd";
    fields[6] = infotype ? infotype : "username";
    fields[7] = cache_s;
    fields[8] = in_host_s;
    doc_out_record(out, 9, fields, NULL);
}

static void ejabberd_child(struct doctor *d, struct doc_out *out, void *arg)
{
    struct yml y;
    const yaml_node_t *hosts;

    (void)arg;
    memset(&y, 0, sizeof y);
    if (yml_load(d, out, &y) != 0)
        return;
    if (map_get(&y, y.top, "include_config_file"))
        doc_out_finding(out, DOC_WARN,
                        "include_config_file is not followed: options set in included files are "
                        "not checked; fix: none needed if they set no auth options");
    hosts = unmacro(&y, map_get(&y, y.top, "hosts"));
    if (hosts && hosts->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = hosts->data.sequence.items.start;
             i < hosts->data.sequence.items.top; i++) {
            const char *host = scalar(unmacro(&y, yaml_document_get_node(&y.doc, *i)));
            if (host)
                send_host(out, &y, host);
        }
    } else {
        send_host(out, &y, "localhost"); /* ejabberd's default hosts */
    }
    yaml_document_delete(&y.doc);
}

/* ---- in the doctor: the checks, from the hosts the child sent ---------- */

struct ej_host {
    char name[DOC_NAME_MAX];
    int external, pam;
    char extauth[DOC_PATH_MAX];
    char service[DOC_NAME_MAX], infotype[DOC_NAME_MAX];
    int cache, cache_in_host;
};

struct ej_hosts {
    struct ej_host h[EJ_HOSTS_MAX];
    size_t n;
};

/* ---- extauth ------------------------------------------------------------ */

/* Split a command line ejabberd hands to /bin/sh: words, with '...' and
 * "..." quoting (no expansions: they are not checked). Modifies cmd. */
static int split_command(char *cmd, char **words, int max)
{
    int n = 0;
    char *p = cmd, *out;

    while (n < max) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        words[n++] = out = p;
        while (*p && *p != ' ' && *p != '\t') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q)
                    *out++ = *p++;
                if (*p)
                    p++;
            } else {
                *out++ = *p++;
            }
        }
        if (*p)
            p++;
        *out = '\0';
    }
    return n;
}

struct extauth_cmd {
    const char *program, *config, *protocol, *users;
    int is_xtoken, no_replay;
};

/* The value of --name VALUE or --name=VALUE at words[*i], or NULL. */
static const char *option_value(char **words, int n, int *i, const char *name)
{
    size_t len = strlen(name);

    if (words[*i] == NULL || strncmp(words[*i], name, len) != 0)
        return NULL;
    if (words[*i][len] == '=')
        return words[*i] + len + 1;
    if (words[*i][len] == '\0' && *i + 1 < n)
        return words[++*i];
    return NULL;
}

static void parse_extauth(char **words, int n, struct extauth_cmd *c)
{
    const char *base = strrchr(words[0], '/');
    int sub = 0;

    memset(c, 0, sizeof *c);
    c->program = words[0];
    for (int i = 1; i < n && words[i] != NULL; i++) {
        const char *v = option_value(words, n, &i, "--config");

        if (v != NULL) {
            c->config = v;
            continue;
        }
        v = option_value(words, n, &i, "--protocol");
        if (v != NULL) {
            c->protocol = v;
            continue;
        }
        v = option_value(words, n, &i, "--users");
        if (v != NULL)
            c->users = v;
        else if (words[i] != NULL && strcmp(words[i], "--no-replay") == 0)
            c->no_replay = 1;
        else if (words[i] != NULL && strcmp(words[i], "extauth") == 0)
            sub = 1;
    }
    c->is_xtoken = strcmp(base ? base + 1 : words[0], "xtoken") == 0 && sub;
}

/* The extauth_program's problems: 1 if it is usable, 0 after a FAIL. */
static int check_extauth_cmd(struct doctor *d, const char *area, const struct extauth_cmd *c)
{
    char full[DOC_PATH_MAX];

    if (c->protocol && strcmp(c->protocol, "line") == 0) {
        doc_report(d, DOC_FAIL, area,
                   DOC_LINE_PROTOCOL_GONE "extauth_program: \"/usr/bin/xtoken extauth\" "
                   "(ejabberd's own framing, the default)");
        return 0;
    }
    if (c->program[0] != '/' || doc_path(d, c->program, full, sizeof full) != 0 ||
        access(full, X_OK) != 0) {
        doc_report(d, DOC_FAIL, area,
                   "extauth_program %s is not an executable absolute path: ejabberd cannot start "
                   "it and refuses every login; fix: extauth_program: \"/usr/bin/xtoken extauth\"",
                   c->program);
        return 0;
    }
    if (c->protocol && strcmp(c->protocol, "ejabberd") != 0) {
        doc_report(d, DOC_FAIL, area,
                   "xtoken extauth --protocol %s: ejabberd speaks its own framing and every "
                   "login fails; fix: remove --protocol from extauth_program",
                   c->protocol);
        return 0;
    }
    if (c->no_replay) {
        doc_report(d, DOC_FAIL, area,
                   "xtoken extauth --no-replay: a used token logs in again as long as it is "
                   "fresh; fix: remove --no-replay from extauth_program");
        return 0;
    }
    if (c->users && xt_users_policy_check(c->users) != XT_OK) {
        doc_report(d, DOC_FAIL, area,
                   "xtoken extauth --users %s: not any, nss or an absolute path, xtoken refuses "
                   "to start; fix: --users any",
                   c->users);
        return 0;
    }
    return 1;
}

int doc_extauth_command(const char *command, char *config, size_t len)
{
    char cmd[DOC_PATH_MAX], *words[EXTAUTH_WORDS_MAX];
    struct extauth_cmd c;
    int n;

    config[0] = '\0';
    snprintf(cmd, sizeof cmd, "%s", command);
    n = split_command(cmd, words, EXTAUTH_WORDS_MAX);
    if (n == 0)
        return 0;
    parse_extauth(words, n, &c);
    if (!c.is_xtoken)
        return 0;
    snprintf(config, len, "%s", c.config ? c.config : "");
    return c.protocol && strcmp(c.protocol, "line") == 0 ? 2 : 1;
}

static void check_extauth(struct doctor *d, const struct ej_host *h, const char *area)
{
    char cmd[DOC_PATH_MAX], who[DOC_NAME_MAX + 32], *words[EXTAUTH_WORDS_MAX];
    struct extauth_cmd c;
    int n;

    if (h->extauth[0] == '\0') {
        doc_report(d, DOC_FAIL, area,
                   "auth_method external without extauth_program: every login is refused; fix: "
                   "add the line extauth_program: \"/usr/bin/xtoken extauth\" to " EJABBERD_YML);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s", h->extauth);
    n = split_command(cmd, words, EXTAUTH_WORDS_MAX);
    if (n == 0)
        return;
    parse_extauth(words, n, &c);
    if (!c.is_xtoken) {
        doc_report(d, DOC_WARN, area,
                   "extauth_program \"%s\" does not run xtoken extauth: tokens are checked by "
                   "something else; fix (for tokens): extauth_program: \"/usr/bin/xtoken extauth\"",
                   h->extauth);
        return;
    }
    if (!check_extauth_cmd(d, area, &c))
        return;
    snprintf(who, sizeof who, "ejabberd host %s (extauth)", h->name);
    doc_add_use(d, "ejabberd", c.config, h->name, who, 0);
    doc_report(d, DOC_OK, area, "auth_method external, extauth_program runs %s extauth (config %s)",
               c.program, c.config ? c.config : d->config);
}

/* ---- PAM ------------------------------------------------------------------ */

static int bare_user(const struct ej_host *h)
{
    return strcmp(h->infotype, "jid") != 0;
}

/* The hosts that log in through PAM service `service` with bare user
 * names, as "a, b" into out; their number. */
static size_t bare_hosts_on(const struct ej_hosts *all, const char *service, char *out,
                            size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < all->n; i++) {
        const struct ej_host *o = &all->h[i];
        if (o->pam && bare_user(o) && strcmp(o->service, service) == 0) {
            size_t used = strlen(out);
            snprintf(out + used, outlen - used, "%s%s", n ? ", " : "", o->name);
            n++;
        }
    }
    return n;
}

/* With pam_userinfotype username, PAM gets "alice" and the module makes
 * the JID alice@<domain=>: the host ejabberd meant plays no part. */
static void check_pam_domain(struct doctor *d, const char *area, const struct ej_hosts *all,
                             const struct ej_host *h, const struct doc_pam_service *svc)
{
    const char *domain = svc->args.domain, *service = h->service;
    char shared[DOC_LINE_MAX / 4], also[DOC_LINE_MAX / 4 + 32] = "";
    size_t n = bare_hosts_on(all, service, shared, sizeof shared);

    if (n > 1)
        snprintf(also, sizeof also, " (/etc/pam.d/%s serves the hosts %s)", service, shared);
    if (bare_user(h) && domain == NULL && n > 1)
        doc_report(d, DOC_FAIL, area,
                   "pam_userinfotype username (the default) hands PAM \"alice\" without a "
                   "domain and /etc/pam.d/%s has no domain=: every login is refused (unknown "
                   "domain)%s; fix: set pam_userinfotype: jid (PAM then gets alice@host), or "
                   "give each host a pam_service of its own whose /etc/pam.d file says its "
                   "domain=",
                   service, also);
    else if (bare_user(h) && domain == NULL)
        doc_report(d, DOC_FAIL, area,
                   "pam_userinfotype username (the default) hands PAM \"alice\" without a "
                   "domain and /etc/pam.d/%s has no domain=: every login is refused (unknown "
                   "domain); fix: add domain=%s to its pam_xtoken.so lines, or set "
                   "pam_userinfotype: jid",
                   service, h->name);
    else if (bare_user(h) && domain != NULL && strcmp(domain, h->name) != 0)
        doc_report(d, DOC_FAIL, area,
                   "pam_userinfotype %s hands PAM the bare \"alice\" and /etc/pam.d/%s says "
                   "domain=%s: a token minted for alice@%s logs in alice@%s, and %s's own "
                   "tokens are refused%s; fix: pam_userinfotype: jid and no domain= in "
                   "/etc/pam.d/%s (each host's JIDs are then checked as they are), or a "
                   "pam_service of its own for %s: 'pam_service: %s-%s' in its "
                   "host_config and /etc/pam.d/%s-%s with domain=%s",
                   h->infotype, service, domain, domain, h->name, h->name, also, service, h->name,
                   service, h->name, service, h->name, h->name);
    else if (!bare_user(h) && domain != NULL && strcmp(domain, h->name) != 0)
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s says domain=%s but serves host %s with pam_userinfotype jid: "
                   "the module refuses alice@%s as not of %s, every login is refused (unknown "
                   "domain); fix: remove domain= from /etc/pam.d/%s (PAM gets the whole JID)",
                   service, domain, h->name, h->name, domain, service);
}

static void check_pam(struct doctor *d, const struct ej_hosts *all, const struct ej_host *h,
                      const char *area)
{
    const char *service = h->service;
    char who[DOC_NAME_MAX * 2 + 32], args[DOC_NAME_MAX + 8] = "";
    struct doc_pam_service svc;

    if (bare_user(h))
        snprintf(args, sizeof args, " domain=%s", h->name);
    if (doc_pam_service(d, service, &svc) != 0 || !svc.exists || !svc.auth) {
        doc_report(d, DOC_FAIL, area,
                   "pam_service %s: /etc/pam.d/%s %s: tokens are not checked by pam_xtoken; "
                   "fix: /etc/pam.d/%s with the lines 'auth required pam_xtoken.so%s' and "
                   "'account required pam_xtoken.so%s'",
                   service, service,
                   svc.exists ? "has no auth line naming pam_xtoken.so" : "is missing", service,
                   args, args);
        return;
    }
    if (!svc.account)
        doc_report(d, DOC_WARN, area,
                   "/etc/pam.d/%s has no account line naming pam_xtoken.so: ejabberd asks PAM "
                   "account alone whether a user exists (offline messages bounce); fix: add "
                   "'account required pam_xtoken.so' with the same arguments",
                   service);
    check_pam_domain(d, area, all, h, &svc);
    if (!doc_exists(d, EPAM))
        doc_report(d, DOC_FAIL, area, EPAM " is missing: ejabberd cannot ask PAM; fix: apt-get "
                                       "install erlang-p1-pam");
    snprintf(who, sizeof who, "ejabberd host %s (pam service %s)", h->name, service);
    doc_claim_pam_service(d, service); /* epam runs as ejabberd, not root */
    doc_add_use(d, "ejabberd", svc.args.conf, h->name, who, svc.args.noreplay);
    doc_report(d, DOC_OK, area, "auth_method pam, pam_service %s names pam_xtoken.so", service);
}

/* ---- the auth cache -------------------------------------------------------- */

static void check_cache(struct doctor *d, const struct ej_host *h, const char *area)
{
    static const char why[] =
        "ejabberd keeps the last password that worked for up to an hour and answers from it "
        "without asking xtoken: a used or expired token logs in again, a fresh one is refused";

    if (h->cache == 0) {
        doc_report(d, DOC_OK, area, "auth cache off (%s)",
                   h->cache_in_host ? "host_config" : "top level");
    } else if (h->cache == -1) {
        doc_report(d, DOC_FAIL, area,
                   "auth_use_cache is not set, so the auth cache is on: %s; fix: add the line "
                   "'auth_use_cache: false' at the top level of " EJABBERD_YML
                   ", then restart ejabberd",
                   why);
    } else {
        doc_report(d, DOC_FAIL, area,
                   "auth_use_cache is %s%s: %s; fix: 'auth_use_cache: false' %s of " EJABBERD_YML
                   ", then restart ejabberd",
                   h->cache == 1 ? "true" : "not a boolean",
                   h->cache_in_host ? " in its host_config" : "", why,
                   h->cache_in_host ? "in host_config for this host" : "at the top level");
    }
}

/* ---- per host -------------------------------------------------------------- */

/* 1 if the host logs in with tokens. */
static int check_host(struct doctor *d, const struct ej_hosts *all, const struct ej_host *h)
{
    char area[DOC_NAME_MAX + 16];

    snprintf(area, sizeof area, "ejabberd host %s", h->name);
    if (!h->external && !h->pam) {
        doc_report(d, DOC_OK, area, "auth_method is neither external nor pam: no token logins");
        return 0;
    }
    if (h->external)
        check_extauth(d, h, area);
    if (h->pam)
        check_pam(d, all, h, area);
    check_cache(d, h, area);
    return 1;
}

/* A "host" record into the next slot of all. */
static void take_host(struct doctor *d, struct ej_hosts *all, const char *const *f, size_t n)
{
    struct ej_host *h;

    if (n != 9)
        return;
    if (all->n == EJ_HOSTS_MAX) {
        doc_report(d, DOC_WARN, "ejabberd", "more than %d hosts: %s and the rest not checked",
                   EJ_HOSTS_MAX, f[1]);
        return;
    }
    h = &all->h[all->n++];
    snprintf(h->name, sizeof h->name, "%s", f[1]);
    h->external = strcmp(f[2], "1") == 0;
    h->pam = strcmp(f[3], "1") == 0;
    snprintf(h->extauth, sizeof h->extauth, "%s", f[4]);
    snprintf(h->service, sizeof h->service, "%s", f[5]);
    snprintf(h->infotype, sizeof h->infotype, "%s", f[6]);
    h->cache = (int)strtol(f[7], NULL, 10);
    h->cache_in_host = strcmp(f[8], "1") == 0;
}

void doc_check_ejabberd(struct doctor *d)
{
    static struct ej_hosts all; /* large: not on the stack */
    struct doc_result res;
    const char *f[DOC_FIELDS_MAX];
    size_t n;
    int tokens = 0;

    if (!doc_exists(d, EJABBERD_YML)) {
        doc_report(d, DOC_OK, "ejabberd", "not installed (no " EJABBERD_YML "), not checked");
        return;
    }
    if (doc_sandbox(d, "ejabberd", EJABBERD_YML, "ejabberd", ejabberd_child, NULL, &res) != 0)
        return;
    all.n = 0;
    while ((n = doc_result_next(&res, f)) > 0)
        if (!doc_result_finding(d, "ejabberd", f, n) && strcmp(f[0], "host") == 0)
            take_host(d, &all, f, n);
    doc_result_free(&res);
    if (all.n == 0)
        return; /* the file could not be read or parsed: reported */
    for (size_t i = 0; i < all.n; i++)
        tokens += check_host(d, &all, &all.h[i]);
    if (!tokens)
        doc_report(d, DOC_WARN, "ejabberd",
                   "no host logs in with tokens; fix (for tokens): auth_method: [external] and "
                   "extauth_program: \"/usr/bin/xtoken extauth\" and auth_use_cache: false in "
                   EJABBERD_YML);
}
