/* xtoken doctor: Prosody (/etc/prosody/prosody.cfg.lua and what it
 * Includes, conf.d/ on Debian). The config is a Lua program: it is run the
 * way Prosody's config loader runs it (doctor_prosody.lua) in a Lua 5.4
 * state inside the sandbox (doctor_sandbox.c: a child process, chrooted,
 * as the prosody user, time and memory capped): only string/table/math/
 * utf8 and plain base functions, no io, os, require, load or debug, files
 * read below the root by C, memory and instruction count capped. The
 * child sends the VirtualHosts' settings back; then, per VirtualHost:
 * authentication "xtoken" with its provider and the Lua binding (package
 * lua-xtoken) installed, or "cyrus" through saslauthd to a PAM service
 * naming pam_xtoken.so. */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "doctor.h"
#include "xtoken.h"

#define PROSODY_CFG      "/etc/prosody/prosody.cfg.lua"
#define PROSODY_MODULES  "/usr/lib/prosody/modules"
#define LUA_CMOD_DIR     "/usr/lib/x86_64-linux-gnu/lua/5.4"
#define LUA_FILE_MAX     (1024 * 1024)
#define LUA_MEMORY_MAX   (64u * 1024 * 1024)
#define LUA_STEPS_MAX    20000 /* times 1000 instructions */
#define PLUGIN_PATHS_MAX 16
#define PRO_HOSTS_MAX    256
#define HOST_FIELDS      9

static const char loader_source[] =
#include "doctor_prosody_lua.h"
    ;

/* ---- in the sandbox: the Lua state ----------------------------------------- */

struct sandbox {
    struct doctor *d;
    struct doc_out *out;
    size_t used;
    unsigned steps;
    int stopped, out_of_memory;
};

/* The allocator of the state: refuses past LUA_MEMORY_MAX. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct sandbox *sb = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        free(ptr);
        sb->used -= old;
        return NULL;
    }
    if (nsize > old && sb->used + (nsize - old) > LUA_MEMORY_MAX) {
        sb->out_of_memory = 1;
        return NULL;
    }
    /* Lua keeps ptr when this returns NULL */
    void *grown = realloc(ptr, nsize);

    if (grown != NULL)
        sb->used = sb->used - old + nsize;
    return grown;
}

static struct sandbox *sandbox_of(lua_State *L)
{
    void *ud;

    lua_getallocf(L, &ud);
    return ud;
}

/* Stops a config that loops: past the limit, every 1000 instructions
 * raise an error again (pcall and xpcall below pass it on). */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct sandbox *sb = sandbox_of(L);

    (void)ar;
    if (++sb->steps > LUA_STEPS_MAX) {
        sb->stopped = 1;
        luaL_error(L, "the config runs too long (a loop?)");
    }
}

/* pcall for the config: once the run-time limit is reached, the error goes
 * on up instead of being caught (`while true do pcall(f) end`). */
static int l_pcall(lua_State *L)
{
    int status;

    luaL_checkany(L, 1);
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (sandbox_of(L)->stopped)
        return lua_error(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, 1);
    return lua_gettop(L);
}

/* xpcall's message handler, around the config's: once the limit is
 * reached the config's handler is not run. (Lua runs a message handler for
 * an error raised in a hook with hooks off: a handler that loops would
 * never be stopped by the count.) */
static int xpcall_handler(lua_State *L)
{
    if (sandbox_of(L)->stopped)
        return 1; /* the error as it is */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int l_xpcall(lua_State *L)
{
    int status, n = lua_gettop(L);

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushvalue(L, 1); /* f, msgh, args... -> msgh, f, args... */
    lua_pushvalue(L, 2);
    lua_replace(L, 1);
    lua_replace(L, 2);
    status = lua_pcall(L, n - 2, LUA_MULTRET, 1);
    if (sandbox_of(L)->stopped)
        return lua_error(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 1); /* the handler's slot */
    return lua_gettop(L);
}

/* setmetatable for the config: an object never gets a finalizer (Lua runs
 * __gc with hooks off, so a finalizer that loops would never be stopped by
 * the count). Lua marks an object for finalization when its new metatable
 * has __gc: the field is hidden for that moment and then put back. */
static int l_setmetatable(lua_State *L)
{
    int gc;

    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, lua_isnoneornil(L, 2) || lua_istable(L, 2), 2, "nil or table");
    lua_settop(L, 2);
    gc = lua_istable(L, 2) && lua_getfield(L, 2, "__gc") != LUA_TNIL; /* index 3 */
    if (gc) {
        lua_pushnil(L);
        lua_setfield(L, 2, "__gc");
    }
    lua_pushvalue(L, 2);
    lua_setmetatable(L, 1);
    if (gc) {
        lua_pushvalue(L, 3);
        lua_setfield(L, 2, "__gc");
    }
    lua_settop(L, 1);
    return 1;
}

/* read_file(path) -> text | nil, reason; path below the sandbox's root. */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *text = NULL;
    size_t len;

    if (doc_read(sandbox_of(L)->d, path, LUA_FILE_MAX, &text, &len) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
        return 2;
    }
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

/* list_dir(dir) -> { names } | nil */
static int l_list_dir(lua_State *L)
{
    char **names = NULL;
    int n = doc_list_dir(sandbox_of(L)->d, luaL_checkstring(L, 1), &names);

    if (n < 0)
        return 0;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
        free(names[i]);
    }
    free((void *)names);
    return 1;
}

/* warn(text): a config construct doctor does not evaluate. */
static int l_warn(lua_State *L)
{
    doc_out_finding(sandbox_of(L)->out, DOC_WARN, "%s", luaL_checkstring(L, 1));
    return 0;
}

/* Why the run failed, as a finding. */
static void send_failure(lua_State *L, const struct sandbox *sb, const char *what)
{
    const char *err = lua_tostring(L, -1);

    if (sb->stopped)
        doc_out_finding(sb->out, DOC_FAIL,
                        "evaluating " PROSODY_CFG " did not finish within %d million Lua "
                        "instructions (stopped): its hosts are not checked; fix: find the loop",
                        LUA_STEPS_MAX / 1000);
    else if (sb->out_of_memory)
        doc_out_finding(sb->out, DOC_FAIL,
                        "evaluating " PROSODY_CFG " needs more than %u MiB (stopped): its hosts "
                        "are not checked",
                        LUA_MEMORY_MAX >> 20);
    else
        doc_out_finding(sb->out, DOC_FAIL, "%s%s", err ? err : "cannot evaluate " PROSODY_CFG,
                        what);
}

/* Run the loader on PROSODY_CFG: on success the stack holds the hosts and
 * plugin paths tables. 0; -1 after sending why not. */
static int run_loader(lua_State *L, struct sandbox *sb)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}};
    static const char *const unsafe[] = {"dofile", "loadfile", "collectgarbage", "print", "require"};

    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, unsafe[i]);
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
    if (luaL_loadbufferx(L, loader_source, sizeof loader_source - 1, "=doctor", "t") != LUA_OK)
        goto fail;
    lua_pushcfunction(L, l_read_file);
    lua_pushcfunction(L, l_list_dir);
    lua_pushcfunction(L, l_warn);
    lua_pushcfunction(L, l_pcall);
    lua_pushcfunction(L, l_xpcall);
    lua_pushcfunction(L, l_setmetatable);
    if (lua_pcall(L, 6, 1, 0) != LUA_OK)
        goto fail;
    /* the loader captured `load`; the config never sees it */
    lua_pushnil(L);
    lua_setglobal(L, "load");
    lua_pushstring(L, PROSODY_CFG);
    if (lua_pcall(L, 1, 3, 0) != LUA_OK)
        goto fail;
    if (lua_isstring(L, -1)) { /* the file itself cannot be read */
        doc_out_finding(sb->out, DOC_FAIL,
                        "cannot read " PROSODY_CFG " as the prosody user (%s): Prosody cannot "
                        "either; fix: chgrp prosody " PROSODY_CFG "; chmod 0640 " PROSODY_CFG,
                        lua_tostring(L, -2));
        return -1;
    }
    lua_pop(L, 1);
    if (lua_isnil(L, -2)) {
        send_failure(L, sb, ": Prosody does not start with this config either; fix: correct it "
                            "there");
        return -1;
    }
    return 0;
fail:
    send_failure(L, sb, ": cannot evaluate " PROSODY_CFG "; fix: correct it");
    return -1;
}

/* The hosts (a list of lists of strings) and the plugin paths, on the
 * stack, as "host" and "path" records. */
static void send_hosts(lua_State *L, struct doc_out *out)
{
    for (lua_Integer i = 1; i <= PLUGIN_PATHS_MAX && lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
        const char *fields[2] = {"path", lua_tostring(L, -1)};
        doc_out_record(out, 2, fields, NULL);
        lua_pop(L, 1);
    }
    lua_pop(L, 2); /* the last rawgeti, the paths */
    for (lua_Integer i = 1; i <= PRO_HOSTS_MAX && lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
        const char *fields[HOST_FIELDS + 1] = {"host"};
        size_t lens[HOST_FIELDS + 1] = {4};
        for (int f = 1; f <= HOST_FIELDS; f++) {
            lua_rawgeti(L, -1, f);
            fields[f] = lua_tolstring(L, -1, &lens[f]);
            if (fields[f] == NULL) {
                fields[f] = "";
                lens[f] = 0;
            }
            lua_pop(L, 1); /* the strings stay alive in the host's table */
        }
        doc_out_record(out, HOST_FIELDS + 1, fields, lens);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    doc_out_record(out, 1, (const char *const[]){"done"}, NULL);
}

static void prosody_child(struct doctor *d, struct doc_out *out, void *arg)
{
    struct sandbox sb = {.d = d, .out = out};
    lua_State *L = lua_newstate(sandbox_alloc, &sb);

    (void)arg;
    if (L == NULL) {
        doc_out_finding(out, DOC_WARN, "out of memory: " PROSODY_CFG " not checked");
        return;
    }
    if (run_loader(L, &sb) == 0)
        send_hosts(L, out);
    lua_close(L);
}

/* ---- in the doctor: the checks, from the hosts the child sent ---------- */

/* One VirtualHost's settings, as the child sent them. */
struct pro_host {
    char host[DOC_NAME_MAX], authentication[DOC_NAME_MAX];
    char xtoken_config[DOC_PATH_MAX], xtoken_path[DOC_PATH_MAX], xtoken_users[DOC_PATH_MAX];
    char cyrus_service_name[DOC_NAME_MAX], cyrus_application_name[DOC_NAME_MAX];
    char external_auth_command[DOC_PATH_MAX];
    char file[DOC_PATH_MAX]; /* the files that open it with VirtualHost, "a, b" */
};

struct pro_config {
    struct pro_host h[PRO_HOSTS_MAX];
    size_t n;
    char paths[PLUGIN_PATHS_MAX][DOC_PATH_MAX];
    int n_paths;
};

static void take_host(struct pro_config *c, const char *const *f, size_t n)
{
    struct pro_host *h;

    if (n != HOST_FIELDS + 1 || c->n == PRO_HOSTS_MAX)
        return;
    h = &c->h[c->n++];
    snprintf(h->host, sizeof h->host, "%s", f[1]);
    snprintf(h->authentication, sizeof h->authentication, "%s", f[2]);
    snprintf(h->xtoken_config, sizeof h->xtoken_config, "%s", f[3]);
    snprintf(h->xtoken_path, sizeof h->xtoken_path, "%s", f[4]);
    snprintf(h->xtoken_users, sizeof h->xtoken_users, "%s", f[5]);
    snprintf(h->cyrus_service_name, sizeof h->cyrus_service_name, "%s", f[6]);
    snprintf(h->cyrus_application_name, sizeof h->cyrus_application_name, "%s", f[7]);
    snprintf(h->external_auth_command, sizeof h->external_auth_command, "%s", f[8]);
    snprintf(h->file, sizeof h->file, "%s", f[9]);
}

/* Where Prosody finds mod_NAME: out set and 1, or 0. */
static int find_module(const struct doctor *d, const char paths[][DOC_PATH_MAX], int n_paths,
                       const char *name, char *out, size_t outlen)
{
    for (int i = 0; i <= n_paths; i++) {
        const char *dir = i < n_paths ? paths[i] : PROSODY_MODULES;
        int n = snprintf(out, outlen, "%s/mod_%s.lua", dir, name);
        if (n > 0 && (size_t)n < outlen && doc_exists(d, out))
            return 1;
        n = snprintf(out, outlen, "%s/mod_%s/mod_%s.lua", dir, name, name);
        if (n > 0 && (size_t)n < outlen && doc_exists(d, out))
            return 1;
    }
    return 0;
}

/* The provider checks tokens in Prosody's process through the Lua binding:
 * without it every login is refused. An older provider (a copy that still
 * runs xtoken_path per login) also needs that program. */
static void check_binding(struct doctor *d, const char *area, const char *provider,
                          const struct pro_host *h)
{
    char *text = NULL, full[DOC_PATH_MAX];
    size_t len;
    int runs_tool = 0;

    if (!doc_exists(d, LUA_CMOD_DIR "/xtoken.so")) {
        doc_report(d, DOC_FAIL, area,
                   "authentication = \"xtoken\" needs the Lua binding " LUA_CMOD_DIR
                   "/xtoken.so, which is missing: Prosody refuses every login; fix: apt install "
                   "lua-xtoken, then systemctl restart prosody");
        return;
    }
    if (doc_read(d, provider, LUA_FILE_MAX, &text, &len) == 0) {
        runs_tool = strstr(text, "xtoken_path") != NULL;
        free(text);
    }
    if (runs_tool && (doc_path(d, h->xtoken_path, full, sizeof full) != 0 ||
                      access(full, X_OK) != 0)) {
        doc_report(d, DOC_FAIL, area,
                   "xtoken_path %s is not executable: every login fails; fix: apt-get install "
                   "libpam-xtoken, or xtoken_path = \"/usr/bin/xtoken\"",
                   h->xtoken_path);
        return;
    }
    doc_report(d, DOC_OK, area,
               "authentication = \"xtoken\", provider %s, Lua binding " LUA_CMOD_DIR
               "/xtoken.so found",
               provider);
}

static void check_native(struct doctor *d, const char *area, const struct pro_host *h,
                         const char paths[][DOC_PATH_MAX], int n_paths)
{
    char provider[DOC_PATH_MAX], who[DOC_NAME_MAX + 32];

    if (!find_module(d, paths, n_paths, "auth_xtoken", provider, sizeof provider)) {
        doc_report(d, DOC_FAIL, area,
                   "authentication = \"xtoken\" but no mod_auth_xtoken.lua in " PROSODY_MODULES
                   " or plugin_paths: Prosody cannot load it and every login fails; fix: "
                   "apt install lua-xtoken");
        return;
    }
    if (xt_users_policy_check(h->xtoken_users) != XT_OK) {
        doc_report(d, DOC_FAIL, area,
                   "xtoken_users = \"%s\" is not any, nss or an absolute path: every login "
                   "fails; fix: xtoken_users = \"any\"",
                   h->xtoken_users);
        return;
    }
    check_binding(d, area, provider, h);
    snprintf(who, sizeof who, "prosody host %s (mod_auth_xtoken)", h->host);
    doc_add_use(d, "prosody", h->xtoken_config[0] ? h->xtoken_config : NULL, h->host, who, 0);
}

/* libsasl2's config for the application: pwcheck_method saslauthd? */
static void check_sasl_app(struct doctor *d, const char *area, const char *app)
{
    static const char *const dirs[] = {"/etc/sasl2", "/usr/lib/x86_64-linux-gnu/sasl2",
                                       "/usr/lib/sasl2"};
    char path[DOC_PATH_MAX], *text = NULL;
    size_t len;

    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.conf", dirs[i], app);
        if (doc_read(d, path, LUA_FILE_MAX, &text, &len) != 0)
            continue;
        int saslauthd = strstr(text, "pwcheck_method: saslauthd") != NULL;
        free(text);
        if (!saslauthd)
            doc_report(d, DOC_FAIL, area,
                       "%s has no 'pwcheck_method: saslauthd': libsasl2 never asks saslauthd, "
                       "so pam_xtoken never sees a token; fix: put the line 'pwcheck_method: "
                       "saslauthd' in %s",
                       path, path);
        return;
    }
    doc_report(d, DOC_FAIL, area,
               "no /etc/sasl2/%s.conf (cyrus_application_name \"%s\"): libsasl2 does not use "
               "saslauthd; fix: /etc/sasl2/%s.conf with the lines 'pwcheck_method: saslauthd' "
               "and 'mech_list: PLAIN'",
               app, app, app);
}

/* The cyrus hosts that ask saslauthd for the PAM service `service`, as
 * "a, b" into out; their number. *has set if `host` is one of them. */
static size_t cyrus_hosts_on(const struct pro_config *c, const char *service, const char *host,
                             int *has, char *out, size_t outlen)
{
    size_t n = 0;

    out[0] = '\0';
    *has = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct pro_host *o = &c->h[i];
        if (strcmp(o->authentication, "cyrus") != 0 || strcmp(o->cyrus_service_name, service) != 0)
            continue;
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%s", n ? ", " : "", o->host);
        *has |= host && strcmp(o->host, host) == 0;
        n++;
    }
    return n;
}

/* saslauthd hands PAM the bare localpart: the module makes the JID with
 * its domain= argument, whichever VirtualHost the login was for. So one
 * PAM service can serve one host only, and only if domain= names it. */
static void report_cyrus_domain(struct doctor *d, const char *area, const struct pro_config *c,
                                const struct pro_host *h, const char *domain)
{
    const char *service = h->cyrus_service_name;
    char hosts[DOC_LINE_MAX / 4], own[DOC_LINE_MAX / 2];
    int domain_shares;
    size_t n = cyrus_hosts_on(c, service, domain, &domain_shares, hosts, sizeof hosts);

    snprintf(own, sizeof own,
             "cyrus_service_name = \"%s-%s\" in its VirtualHost section and /etc/pam.d/%s-%s "
             "with the lines 'auth required pam_xtoken.so domain=%s' and 'account required "
             "pam_xtoken.so domain=%s'",
             service, h->host, service, h->host, h->host, h->host);
    if (domain == NULL && n > 1)
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s has no domain=: saslauthd hands PAM the bare user name, so "
                   "every login to %s is refused (unknown domain), and domain= can name only "
                   "one of the hosts it serves (%s); fix: a PAM service per host: %s",
                   service, h->host, hosts, own);
    else if (domain == NULL)
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s has no domain=: saslauthd hands PAM the bare user name, so "
                   "every login to %s is refused (unknown domain); fix: domain=%s on its "
                   "pam_xtoken.so lines",
                   service, h->host, h->host);
    else if (domain_shares)
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s says domain=%s and serves the hosts %s: saslauthd hands PAM "
                   "the bare user name, so a token minted for alice@%s logs in alice@%s, and "
                   "%s's own tokens are refused; fix: if %s is not used, turn it off (remove "
                   "VirtualHost \"%s\" from %s, or set enabled = false in its section); else "
                   "give it a PAM service of its own: %s",
                   service, domain, hosts, domain, h->host, h->host, h->host, h->host, h->file,
                   own);
    else
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s says domain=%s: saslauthd hands PAM the bare user name, so a "
                   "token minted for alice@%s logs in alice@%s, and %s's own tokens are refused; "
                   "fix: domain=%s on its pam_xtoken.so lines",
                   service, domain, domain, h->host, h->host, h->host);
}

/* The PAM service saslauthd is asked for: pam_xtoken with domain=host.
 * 1 if it is set up. */
static int check_cyrus_pam(struct doctor *d, const char *area, const struct pro_config *c,
                           const struct pro_host *h)
{
    const char *service = h->cyrus_service_name;
    struct doc_pam_service svc;
    char who[DOC_PATH_MAX];

    if (doc_pam_service(d, service, &svc) != 0 || !svc.exists || !svc.auth) {
        doc_report(d, DOC_FAIL, area,
                   "cyrus_service_name \"%s\": /etc/pam.d/%s %s: tokens are not checked by "
                   "pam_xtoken; fix: /etc/pam.d/%s with the lines 'auth required pam_xtoken.so "
                   "domain=%s' and 'account required pam_xtoken.so domain=%s'",
                   service, service, svc.exists ? "names no pam_xtoken.so auth line" : "is missing",
                   service, h->host, h->host);
        return 0;
    }
    if (svc.args.domain == NULL || strcmp(svc.args.domain, h->host) != 0) {
        report_cyrus_domain(d, area, c, h, svc.args.domain);
        return 0;
    }
    snprintf(who, sizeof who, "prosody host %s (cyrus, saslauthd, pam service %s)", h->host,
             service);
    doc_claim_pam_service(d, service); /* saslauthd runs it as root: this use says so */
    doc_add_use(d, "root", svc.args.conf, h->host, who, svc.args.noreplay);
    return 1;
}

static void check_cyrus(struct doctor *d, const char *area, const struct pro_config *c,
                        const struct pro_host *h)
{
    char module[DOC_PATH_MAX];
    struct doc_user u;
    gid_t sasl;
    unsigned fails = d->n_fail;

    d->prosody_uses_cyrus = 1;
    if (!find_module(d, c->paths, c->n_paths, "auth_cyrus", module, sizeof module))
        doc_report(d, DOC_FAIL, area,
                   "authentication = \"cyrus\" but mod_auth_cyrus is not installed: every "
                   "login fails; fix: apt-get install prosody-modules");
    if (!doc_exists(d, LUA_CMOD_DIR "/cyrussasl.so"))
        doc_report(d, DOC_FAIL, area,
                   "mod_auth_cyrus needs " LUA_CMOD_DIR "/cyrussasl.so: every login fails; "
                   "fix: apt-get install lua-cyrussasl");
    check_sasl_app(d, area, h->cyrus_application_name);
    check_cyrus_pam(d, area, c, h);
    /* /run/saslauthd is root:sasl 0710 (dpkg-statoverride) */
    if (doc_group_gid(d, "sasl", &sasl) == 0 && doc_user_lookup(d, "prosody", &u) == 0 &&
        !doc_user_in_group(&u, sasl))
        doc_report(d, DOC_FAIL, area,
                   "user prosody is not in group sasl: it cannot reach saslauthd's socket in "
                   "/run/saslauthd (root:sasl 0710), every login fails; fix: adduser prosody "
                   "sasl, then systemctl restart prosody");
    if (d->n_fail == fails)
        doc_report(d, DOC_OK, area,
                   "authentication = \"cyrus\" -> saslauthd -> /etc/pam.d/%s (pam_xtoken.so "
                   "domain=%s)",
                   h->cyrus_service_name, h->host);
}

/* mod_auth_external (prosody-modules) running xtoken extauth. 1 if it
 * checks tokens. */
static int check_external(struct doctor *d, const char *area, const struct pro_host *h)
{
    char config[DOC_PATH_MAX], who[DOC_NAME_MAX + 48];
    int kind = doc_extauth_command(h->external_auth_command, config, sizeof config);

    if (kind == 2) {
        doc_report(d, DOC_FAIL, area,
                   DOC_LINE_PROTOCOL_GONE "authentication = \"xtoken\" in place of \"external\" "
                   "(the provider checks tokens inside Prosody: apt install lua-xtoken)");
        return 1;
    }
    if (kind == 0) {
        doc_report(d, DOC_OK, area, "authentication = \"external\" without xtoken: no token "
                                    "logins");
        return 0;
    }
    doc_report(d, DOC_WARN, area,
               "authentication = \"external\" runs xtoken extauth: a process per login; fix: "
               "authentication = \"xtoken\" (the provider checks tokens inside Prosody: apt "
               "install lua-xtoken)");
    snprintf(who, sizeof who, "prosody host %s (mod_auth_external)", h->host);
    doc_add_use(d, "prosody", config[0] ? config : NULL, h->host, who, 0);
    return 1;
}

/* Check every VirtualHost the child sent. */
static void check_hosts(struct doctor *d, const struct pro_config *c)
{
    char area[DOC_NAME_MAX + 16];
    int tokens = 0;

    for (size_t i = 0; i < c->n; i++) {
        const struct pro_host *h = &c->h[i];
        snprintf(area, sizeof area, "prosody host %s", h->host);
        if (strcmp(h->authentication, "xtoken") == 0) {
            check_native(d, area, h, c->paths, c->n_paths);
            tokens++;
        } else if (strcmp(h->authentication, "cyrus") == 0) {
            check_cyrus(d, area, c, h);
            tokens++;
        } else if (strncmp(h->authentication, "external", 8) == 0) {
            tokens += check_external(d, area, h);
        } else {
            doc_report(d, DOC_OK, area, "authentication = \"%s\": no token logins",
                       h->authentication);
        }
    }
    if (!tokens)
        doc_report(d, DOC_WARN, "prosody",
                   "no VirtualHost logs in with tokens; fix (for tokens): authentication = "
                   "\"xtoken\" in " PROSODY_CFG);
}

void doc_check_prosody(struct doctor *d)
{
    static struct pro_config c; /* large: not on the stack */
    struct doc_result res;
    const char *f[DOC_FIELDS_MAX];
    size_t n;
    int hosts_sent = 0;

    if (!doc_exists(d, PROSODY_CFG)) {
        doc_report(d, DOC_OK, "prosody", "not installed (no " PROSODY_CFG "), not checked");
        return;
    }
    if (doc_sandbox(d, "prosody", PROSODY_CFG, "prosody", prosody_child, NULL, &res) != 0)
        return;
    memset(&c, 0, sizeof c);
    while ((n = doc_result_next(&res, f)) > 0) {
        if (doc_result_finding(d, "prosody", f, n))
            continue;
        if (strcmp(f[0], "path") == 0 && n == 2 && c.n_paths < PLUGIN_PATHS_MAX)
            snprintf(c.paths[c.n_paths++], DOC_PATH_MAX, "%s", f[1]);
        else if (strcmp(f[0], "host") == 0)
            take_host(&c, f, n);
        else if (strcmp(f[0], "done") == 0)
            hosts_sent = 1;
    }
    doc_result_free(&res);
    if (hosts_sent)
        check_hosts(d, &c);
}
