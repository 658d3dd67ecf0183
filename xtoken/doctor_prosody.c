/* xtoken doctor: Prosody (/etc/prosody/prosody.cfg.lua and what it
 * Includes, conf.d/ on Debian). The config is a Lua program: it is run the
 * way Prosody's config loader runs it (doctor_prosody.lua) in a sandboxed
 * Lua 5.4 state: only string/table/math/utf8 and plain base functions, no
 * io, os, require, load or debug, files read below --root by C, memory and
 * instruction count capped. Then, per VirtualHost: authentication "xtoken"
 * with its provider and the Lua binding (package lua-xtoken) installed, or
 * "cyrus" through saslauthd to a PAM service naming pam_xtoken.so. */
#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

#define PROSODY_CFG      "/etc/prosody/prosody.cfg.lua"
#define PROSODY_MODULES  "/usr/lib/prosody/modules"
#define LUA_CMOD_DIR     "/usr/lib/x86_64-linux-gnu/lua/5.4"
#define LUA_FILE_MAX     (1024 * 1024)
#define LUA_MEMORY_MAX   (64u * 1024 * 1024)
#define LUA_STEPS_MAX    20000 /* times 1000 instructions */
#define PLUGIN_PATHS_MAX 16

static const char loader_source[] =
#include "doctor_prosody_lua.h"
    ;

struct sandbox {
    struct doctor *d;
    size_t used;
    unsigned steps;
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
    if (nsize > old && sb->used + (nsize - old) > LUA_MEMORY_MAX)
        return NULL;
    ptr = realloc(ptr, nsize);
    if (ptr != NULL)
        sb->used = sb->used - old + nsize;
    return ptr;
}

/* Stops a config that loops. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct sandbox *sb;

    (void)ar;
    lua_getallocf(L, (void **)&sb);
    if (++sb->steps > LUA_STEPS_MAX)
        luaL_error(L, "the config runs too long (a loop?)");
}

static struct sandbox *sandbox_of(lua_State *L)
{
    void *ud;

    lua_getallocf(L, &ud);
    return ud;
}

/* read_file(path) -> text | nil, reason; path of the checked system. */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *text = NULL;
    size_t len;

    if (doc_read(sandbox_of(L)->d, path, LUA_FILE_MAX, &text, &len) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, "cannot read it");
        return 2;
    }
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

/* list_dir(dir) -> { names } | nil */
static int l_list_dir(lua_State *L)
{
    char full[DOC_PATH_MAX];
    struct dirent **names = NULL;
    int n;

    if (doc_path(sandbox_of(L)->d, luaL_checkstring(L, 1), full, sizeof full) != 0 ||
        (n = scandir(full, &names, NULL, alphasort)) < 0)
        return 0;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, names[i]->d_name);
        lua_rawseti(L, -2, i + 1);
        free(names[i]);
    }
    free(names);
    return 1;
}

/* warn(text): a config construct doctor does not evaluate. */
static int l_warn(lua_State *L)
{
    doc_report(sandbox_of(L)->d, DOC_WARN, "prosody", "%s", luaL_checkstring(L, 1));
    return 0;
}

/* Run the loader on PROSODY_CFG: on success the stack holds the hosts and
 * plugin paths tables. 0; -1 after reporting why not. */
static int run_loader(lua_State *L, struct doctor *d)
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
    if (lua_pcall(L, 3, 1, 0) != LUA_OK)
        goto fail;
    /* the loader captured `load`; the config never sees it */
    lua_pushnil(L);
    lua_setglobal(L, "load");
    lua_pushstring(L, PROSODY_CFG);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK)
        goto fail;
    if (lua_isnil(L, -2)) {
        doc_report(d, DOC_FAIL, "prosody",
                   "%s: Prosody does not start with this config either; fix: correct it there",
                   lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot evaluate " PROSODY_CFG);
        return -1;
    }
    return 0;
fail:
    doc_report(d, DOC_FAIL, "prosody", "cannot evaluate " PROSODY_CFG ": %s; fix: correct it",
               lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    return -1;
}

/* One VirtualHost's settings, copied out of the state. */
struct pro_host {
    char host[DOC_NAME_MAX], authentication[DOC_NAME_MAX];
    char xtoken_config[DOC_PATH_MAX], xtoken_path[DOC_PATH_MAX], xtoken_users[DOC_PATH_MAX];
    char cyrus_service_name[DOC_NAME_MAX], cyrus_application_name[DOC_NAME_MAX];
};

static void field(lua_State *L, const char *key, char *out, size_t outlen, const char *dflt)
{
    lua_getfield(L, -1, key);
    snprintf(out, outlen, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : dflt);
    lua_pop(L, 1);
}

static void read_host(lua_State *L, struct pro_host *h)
{
    field(L, "host", h->host, sizeof h->host, "");
    field(L, "authentication", h->authentication, sizeof h->authentication, "internal_hashed");
    field(L, "xtoken_config", h->xtoken_config, sizeof h->xtoken_config, "");
    field(L, "xtoken_path", h->xtoken_path, sizeof h->xtoken_path, "/usr/bin/xtoken");
    field(L, "xtoken_users", h->xtoken_users, sizeof h->xtoken_users, "any");
    field(L, "cyrus_service_name", h->cyrus_service_name, sizeof h->cyrus_service_name, "xmpp");
    field(L, "cyrus_application_name", h->cyrus_application_name,
          sizeof h->cyrus_application_name, "prosody");
}

/* Where Prosody finds mod_NAME: out set and 1, or 0. */
static int find_module(const struct doctor *d, char paths[][DOC_PATH_MAX], int n_paths,
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
                         char paths[][DOC_PATH_MAX], int n_paths)
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

/* The PAM service saslauthd is asked for: pam_xtoken with domain=host
 * (saslauthd hands PAM the bare localpart). 1 if it is set up. */
static int check_cyrus_pam(struct doctor *d, const char *area, const struct pro_host *h)
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
        doc_report(d, DOC_FAIL, area,
                   "/etc/pam.d/%s %s%s: saslauthd hands PAM the bare user name, so every login "
                   "to %s is refused (unknown domain); fix: domain=%s on its pam_xtoken.so lines",
                   service, svc.args.domain ? "says domain=" : "has no domain=",
                   svc.args.domain ? svc.args.domain : "", h->host, h->host);
        return 0;
    }
    snprintf(who, sizeof who, "prosody host %s (cyrus, saslauthd, pam service %s)", h->host,
             service);
    doc_add_use(d, "root", svc.args.conf, h->host, who, svc.args.noreplay);
    return 1;
}

static void check_cyrus(struct doctor *d, const char *area, const struct pro_host *h,
                        char paths[][DOC_PATH_MAX], int n_paths)
{
    char module[DOC_PATH_MAX];
    struct doc_user u;
    gid_t sasl;
    unsigned fails = d->n_fail;

    d->prosody_uses_cyrus = 1;
    if (!find_module(d, paths, n_paths, "auth_cyrus", module, sizeof module))
        doc_report(d, DOC_FAIL, area,
                   "authentication = \"cyrus\" but mod_auth_cyrus is not installed: every "
                   "login fails; fix: apt-get install prosody-modules");
    if (!doc_exists(d, LUA_CMOD_DIR "/cyrussasl.so"))
        doc_report(d, DOC_FAIL, area,
                   "mod_auth_cyrus needs " LUA_CMOD_DIR "/cyrussasl.so: every login fails; "
                   "fix: apt-get install lua-cyrussasl");
    check_sasl_app(d, area, h->cyrus_application_name);
    check_cyrus_pam(d, area, h);
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

/* Check every VirtualHost of the evaluated config (hosts, paths on the
 * stack). */
static void check_hosts(lua_State *L, struct doctor *d)
{
    static char paths[PLUGIN_PATHS_MAX][DOC_PATH_MAX];
    static struct pro_host h;
    char area[DOC_NAME_MAX + 16];
    int n_paths = 0, tokens = 0;

    for (lua_Integer i = 1; n_paths < PLUGIN_PATHS_MAX && lua_rawgeti(L, -1, i) == LUA_TSTRING;
         i++) {
        snprintf(paths[n_paths++], DOC_PATH_MAX, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 2); /* the last rawgeti, the paths */
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
        read_host(L, &h);
        lua_pop(L, 1);
        snprintf(area, sizeof area, "prosody host %s", h.host);
        if (strcmp(h.authentication, "xtoken") == 0) {
            check_native(d, area, &h, paths, n_paths);
            tokens++;
        } else if (strcmp(h.authentication, "cyrus") == 0) {
            check_cyrus(d, area, &h, paths, n_paths);
            tokens++;
        } else {
            doc_report(d, DOC_OK, area, "authentication = \"%s\": no token logins",
                       h.authentication);
        }
    }
    lua_pop(L, 1);
    if (!tokens)
        doc_report(d, DOC_WARN, "prosody",
                   "no VirtualHost logs in with tokens; fix (for tokens): authentication = "
                   "\"xtoken\" in " PROSODY_CFG);
}

void doc_check_prosody(struct doctor *d)
{
    struct sandbox sb = {.d = d};
    lua_State *L;

    if (!doc_exists(d, PROSODY_CFG)) {
        doc_report(d, DOC_OK, "prosody", "not installed (no " PROSODY_CFG "), not checked");
        return;
    }
    L = lua_newstate(sandbox_alloc, &sb);
    if (L == NULL) {
        doc_report(d, DOC_WARN, "prosody", "out of memory: " PROSODY_CFG " not checked");
        return;
    }
    if (run_loader(L, d) == 0)
        check_hosts(L, d);
    lua_close(L);
}
