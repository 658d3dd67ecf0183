/* xtoken doctor: ejabberd (/etc/ejabberd/ejabberd.yml, read with libyaml).
 * For each host: auth_method external with an extauth_program running
 * `xtoken extauth`, or pam with a pam_service naming pam_xtoken.so; and the
 * auth cache off, since ejabberd answers from it without asking us.
 * Options resolve as ejabberd resolves them: host_config for the host, then
 * the top level; auth_use_cache defaults to use_cache, which defaults to
 * true; a scalar naming a define_macro entry stands for its value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "doctor.h"

#define EJABBERD_YML "/etc/ejabberd/ejabberd.yml"
#define EJABBERD_YML_MAX (4 * 1024 * 1024)
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

static yaml_node_t *map_get(struct yml *y, yaml_node_t *map, const char *key)
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
static int has_method(struct yml *y, yaml_node_t *n, const char *method)
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

/* Load the file; 0 with y filled, -1 after reporting why not. */
static int yml_load(struct doctor *d, struct yml *y)
{
    char *text = NULL;
    size_t len;
    yaml_parser_t parser;
    int rc = -1;

    if (doc_read(d, EJABBERD_YML, EJABBERD_YML_MAX, &text, &len) != 0) {
        if (doc_exists(d, EJABBERD_YML))
            doc_report(d, DOC_FAIL, "ejabberd", "cannot read " EJABBERD_YML "; fix: run xtoken "
                                                "doctor as root");
        else
            doc_report(d, DOC_OK, "ejabberd", "not installed (no " EJABBERD_YML "), not checked");
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &y->doc)) {
        doc_report(d, DOC_FAIL, "ejabberd",
                   EJABBERD_YML " line %zu: %s: ejabberd does not start with it either; fix: "
                   "correct the YAML there",
                   parser.problem_mark.line + 1, parser.problem ? parser.problem : "invalid YAML");
    } else if ((y->top = yaml_document_get_root_node(&y->doc)) == NULL ||
               y->top->type != YAML_MAPPING_NODE) {
        doc_report(d, DOC_FAIL, "ejabberd", EJABBERD_YML " is empty or not a mapping of options; "
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
        const char *v;
        if ((v = option_value(words, n, &i, "--config")) != NULL)
            c->config = v;
        else if ((v = option_value(words, n, &i, "--protocol")) != NULL)
            c->protocol = v;
        else if ((v = option_value(words, n, &i, "--users")) != NULL)
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

static void check_extauth(struct doctor *d, struct yml *y, const char *host, const char *area)
{
    const char *prog = scalar(host_opt(y, host, "extauth_program", NULL));
    char cmd[DOC_PATH_MAX], who[DOC_NAME_MAX], *words[EXTAUTH_WORDS_MAX];
    struct extauth_cmd c;
    int n;

    if (prog == NULL || prog[0] == '\0') {
        doc_report(d, DOC_FAIL, area,
                   "auth_method external without extauth_program: every login is refused; fix: "
                   "add the line extauth_program: \"/usr/bin/xtoken extauth\" to " EJABBERD_YML);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s", prog);
    n = split_command(cmd, words, EXTAUTH_WORDS_MAX);
    if (n == 0)
        return;
    parse_extauth(words, n, &c);
    if (!c.is_xtoken) {
        doc_report(d, DOC_WARN, area,
                   "extauth_program \"%s\" does not run xtoken extauth: tokens are checked by "
                   "something else; fix (for tokens): extauth_program: \"/usr/bin/xtoken extauth\"",
                   prog);
        return;
    }
    if (!check_extauth_cmd(d, area, &c))
        return;
    snprintf(who, sizeof who, "ejabberd host %s (extauth)", host);
    doc_add_use(d, "ejabberd", c.config, host, who, 0);
    doc_report(d, DOC_OK, area, "auth_method external, extauth_program runs %s extauth (config %s)",
               c.program, c.config ? c.config : d->config);
}

/* ---- PAM ------------------------------------------------------------------ */

static void check_pam_domain(struct doctor *d, const char *area, const char *host,
                             const char *service, const struct doc_pam_service *svc,
                             const char *infotype)
{
    const char *domain = svc->args.domain;

    if (strcmp(infotype, "username") == 0 && domain == NULL)
        doc_report(d, DOC_FAIL, area,
                   "pam_userinfotype username (the default) hands PAM \"alice\" without a "
                   "domain and /etc/pam.d/%s has no domain=: every login is refused (unknown "
                   "domain); fix: add domain=%s to its pam_xtoken.so lines, or set "
                   "pam_userinfotype: jid",
                   service, host);
    else if (domain != NULL && strcmp(domain, host) != 0)
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s says domain=%s but serves host %s: every login is refused "
                   "(unknown domain); fix: a pam_service of its own for %s with domain=%s",
                   service, domain, host, host, host);
}

static void check_pam(struct doctor *d, struct yml *y, const char *host, const char *area)
{
    const char *service = scalar(host_opt(y, host, "pam_service", NULL));
    const char *infotype = scalar(host_opt(y, host, "pam_userinfotype", NULL));
    char who[DOC_NAME_MAX], args[DOC_NAME_MAX + 8] = "";
    struct doc_pam_service svc;

    service = service ? service : "ejabberd";
    infotype = infotype ? infotype : "username";
    if (strcmp(infotype, "jid") != 0)
        snprintf(args, sizeof args, " domain=%s", host);
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
    check_pam_domain(d, area, host, service, &svc, infotype);
    if (!doc_exists(d, EPAM))
        doc_report(d, DOC_FAIL, area, EPAM " is missing: ejabberd cannot ask PAM; fix: apt-get "
                                       "install erlang-p1-pam");
    snprintf(who, sizeof who, "ejabberd host %s (pam service %s)", host, service);
    doc_add_use(d, "ejabberd", svc.args.conf, host, who, svc.args.noreplay);
    doc_report(d, DOC_OK, area, "auth_method pam, pam_service %s names pam_xtoken.so", service);
}

/* ---- the auth cache -------------------------------------------------------- */

/* A boolean option for host: 1 true, 0 false, -1 unset, -2 not a boolean.
 * *in_host says whether host_config set it. */
static int host_bool(struct yml *y, const char *host, const char *key, int *in_host)
{
    yaml_node_t *n = host_opt(y, host, key, in_host);
    const char *v = scalar(n);

    if (n == NULL)
        return -1;
    if (v && strcmp(v, "true") == 0)
        return 1;
    if (v && strcmp(v, "false") == 0)
        return 0;
    return -2;
}

static void check_cache(struct doctor *d, struct yml *y, const char *host, const char *area)
{
    static const char why[] =
        "ejabberd keeps the last password that worked for up to an hour and answers from it "
        "without asking xtoken: a used or expired token logs in again, a fresh one is refused";
    int in_host, cache = host_bool(y, host, "auth_use_cache", &in_host);

    if (cache == -1) /* auth_use_cache defaults to use_cache, true by default */
        cache = host_bool(y, host, "use_cache", &in_host) == 0 ? 0 : -1;
    if (cache == 0) {
        doc_report(d, DOC_OK, area, "auth cache off (%s)",
                   in_host ? "host_config" : "top level");
    } else if (cache == -1) {
        doc_report(d, DOC_FAIL, area,
                   "auth_use_cache is not set, so the auth cache is on: %s; fix: add the line "
                   "'auth_use_cache: false' at the top level of " EJABBERD_YML
                   ", then restart ejabberd",
                   why);
    } else {
        doc_report(d, DOC_FAIL, area,
                   "auth_use_cache is %s%s: %s; fix: 'auth_use_cache: false' %s of " EJABBERD_YML
                   ", then restart ejabberd",
                   cache == 1 ? "true" : "not a boolean", in_host ? " in its host_config" : "",
                   why, in_host ? "in host_config for this host" : "at the top level");
    }
}

/* ---- per host -------------------------------------------------------------- */

/* 1 if the host logs in with tokens. */
static int check_host(struct doctor *d, struct yml *y, const char *host)
{
    yaml_node_t *methods = host_opt(y, host, "auth_method", NULL);
    int external = has_method(y, methods, "external"), pam = has_method(y, methods, "pam");
    char area[DOC_NAME_MAX + 16];

    snprintf(area, sizeof area, "ejabberd host %s", host);
    if (!external && !pam) {
        doc_report(d, DOC_OK, area, "auth_method is neither external nor pam: no token logins");
        return 0;
    }
    if (external)
        check_extauth(d, y, host, area);
    if (pam)
        check_pam(d, y, host, area);
    check_cache(d, y, host, area);
    return 1;
}

void doc_check_ejabberd(struct doctor *d)
{
    struct yml y;
    yaml_node_t *hosts;
    int tokens = 0;

    memset(&y, 0, sizeof y);
    if (yml_load(d, &y) != 0)
        return;
    if (map_get(&y, y.top, "include_config_file"))
        doc_report(d, DOC_WARN, "ejabberd",
                   "include_config_file is not followed: options set in included files are not "
                   "checked; fix: none needed if they set no auth options");
    hosts = unmacro(&y, map_get(&y, y.top, "hosts"));
    if (hosts && hosts->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = hosts->data.sequence.items.start;
             i < hosts->data.sequence.items.top; i++) {
            const char *host = scalar(unmacro(&y, yaml_document_get_node(&y.doc, *i)));
            if (host)
                tokens += check_host(d, &y, host);
        }
    } else {
        tokens = check_host(d, &y, "localhost"); /* ejabberd's default hosts */
    }
    if (!tokens)
        doc_report(d, DOC_WARN, "ejabberd",
                   "no host logs in with tokens; fix (for tokens): auth_method: [external] and "
                   "extauth_program: \"/usr/bin/xtoken extauth\" and auth_use_cache: false in "
                   EJABBERD_YML);
    yaml_document_delete(&y.doc);
}
