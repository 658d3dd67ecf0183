/* xtoken: the Lua 5.4 binding of libxtoken's verifier handle (issue 12).
 *
 *   local xtoken = require "xtoken"
 *   local v = xtoken.new("/etc/security/pam_xtoken.conf", { users = "any" })
 *   local ok, reason = v:verify(jid, token)    -- true | false, reason
 *   local ok, reason = v:user_exists(jid)      -- true | false, reason
 *   local ok, message = v:status()             -- true | false, message
 *   v:close()
 *
 * Prosody runs every session on one thread: a verifier checks a token in
 * process, with the config loaded once (reloaded when its file changes) and
 * the replay store the config names, which is the file PAM and the xtoken
 * tool use for the same service user.
 *
 * No function here raises a Lua error on any argument: wrong types, NUL
 * bytes, huge strings, a wrong or closed self all give false plus a reason
 * (xtoken.new gives nil plus a reason). Table options are read with raw
 * accesses, so no metamethod of the caller runs either. Only Lua's own
 * out-of-memory error can still be raised by the Lua API. No reason ever
 * contains a token or a secret.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tool.h" /* XTOKEN_VERSION: one version for the tool and the binding */
#include "xtoken.h"

/* luaopen_xtoken is the module's only exported symbol (lua/binding.map). */
int luaopen_xtoken(lua_State *L);

#define VERIFIER_META "xtoken.verifier"
#define DEFAULT_USERS "any"
/* "replay store: " or "config: " plus a library message. */
#define REASON_MAX (XT_ERR_MAX + 32)

/* The userdata. Its one user value is the users policy (a Lua string). */
struct lua_verifier {
    xt_verifier *handle; /* NULL once closed */
};

/* ---- arguments ---------------------------------------------------------- */

/* The string at idx if it is a Lua string (not a number: lua_tolstring
 * would convert one) without NUL bytes; NULL otherwise. */
static const char *plain_string(lua_State *L, int idx, size_t *len)
{
    size_t n;
    const char *s;

    if (lua_type(L, idx) != LUA_TSTRING)
        return NULL;
    s = lua_tolstring(L, idx, &n);
    if (s == NULL || memchr(s, '\0', n) != NULL)
        return NULL;
    if (len != NULL)
        *len = n;
    return s;
}

/* The verifier at index 1, NULL if it is not one (no error raised). */
static struct lua_verifier *self_of(lua_State *L)
{
    return luaL_testudata(L, 1, VERIFIER_META);
}

static int refuse(lua_State *L, const char *reason)
{
    lua_pushboolean(L, 0);
    lua_pushstring(L, reason);
    return 2;
}

/* self checked: the open handle, or NULL with false + reason pushed. */
static xt_verifier *open_handle(lua_State *L, int *nret)
{
    const struct lua_verifier *lv = self_of(L);

    if (lv == NULL) {
        *nret = refuse(L, "not a verifier (call it as v:method(...))");
        return NULL;
    }
    if (lv->handle == NULL) {
        *nret = refuse(L, "closed");
        return NULL;
    }
    return lv->handle;
}

/* ---- reasons ------------------------------------------------------------ */

/* Why no config is loaded: "config: PATH:LINE: reason". */
static const char *config_reason(const xt_verifier *v, char *buf, size_t len)
{
    return xt_verifier_reason(v, XT_CONFIG, NULL, buf, len);
}

/* ---- methods ------------------------------------------------------------ */

/* v:status() -> true | false, message (after looking for a changed file). */
static int verifier_status(lua_State *L)
{
    char reason[REASON_MAX];
    int nret;
    xt_verifier *v = open_handle(L, &nret);

    if (v == NULL)
        return nret;
    xt_verifier_refresh(v, time(NULL), 0);
    if (xt_verifier_status(v) != XT_OK)
        return refuse(L, config_reason(v, reason, sizeof(reason)));
    lua_pushboolean(L, 1);
    return 1;
}

/* v:verify(jid, token) -> true | false, reason. A valid token is used up
 * in the replay store (unless the verifier was made with replay = false). */
static int verifier_verify(lua_State *L)
{
    char reason[REASON_MAX];
    struct xt_detail detail;
    const char *jid, *token;
    size_t token_len;
    time_t now;
    int nret, status;
    xt_verifier *v = open_handle(L, &nret);

    if (v == NULL)
        return nret;
    jid = plain_string(L, 2, NULL);
    if (jid == NULL || *jid == '\0')
        return refuse(L, xt_strerror(XT_BAD_USER));
    token = plain_string(L, 3, &token_len);
    if (token == NULL)
        return refuse(L, xt_strerror(XT_MALFORMED));
    now = time(NULL);
    xt_verifier_refresh(v, now, 0);
    status = xt_verifier_verify(v, jid, token, token_len, now, &detail);
    if (status == XT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return refuse(L, xt_verifier_reason(v, status, &detail, reason, sizeof(reason)));
}

/* v:user_exists(jid [, policy]) -> true | false, reason. policy defaults
 * to the users option given to xtoken.new ("any" without one). */
static int verifier_user_exists(lua_State *L)
{
    char err[XT_ERR_MAX] = "", reason[REASON_MAX];
    const char *jid, *policy;
    int nret, status;
    xt_verifier *v = open_handle(L, &nret);

    if (v == NULL)
        return nret;
    lua_settop(L, 3);
    jid = plain_string(L, 2, NULL);
    if (jid == NULL || *jid == '\0')
        return refuse(L, xt_strerror(XT_BAD_USER));
    if (lua_isnil(L, 3)) {
        lua_getiuservalue(L, 1, 1);
        lua_replace(L, 3);
    }
    policy = plain_string(L, 3, NULL);
    if (policy == NULL || xt_users_policy_check(policy) != XT_OK)
        return refuse(L, "bad users policy (\"any\", \"nss\" or an absolute path)");
    xt_verifier_refresh(v, time(NULL), 0);
    status = xt_verifier_user_exists(v, policy, jid, err, sizeof(err));
    if (status == XT_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (status == XT_CONFIG && xt_verifier_status(v) != XT_OK)
        return refuse(L, config_reason(v, reason, sizeof(reason)));
    if (status == XT_CONFIG)
        snprintf(reason, sizeof(reason), "config: %s", *err ? err : xt_strerror(status));
    else if (*err)
        snprintf(reason, sizeof(reason), "%s: %s", xt_strerror(status), err);
    else
        snprintf(reason, sizeof(reason), "%s", xt_strerror(status));
    return refuse(L, reason);
}

/* v:close(): frees the handle (wipes the keys); later calls say "closed".
 * Also __gc and __close. */
static int verifier_close(lua_State *L)
{
    struct lua_verifier *lv = self_of(L);

    if (lv == NULL)
        return refuse(L, "not a verifier (call it as v:close())");
    xt_verifier_free(lv->handle);
    lv->handle = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

static int verifier_tostring(lua_State *L)
{
    const struct lua_verifier *lv = self_of(L);

    lua_pushfstring(L, "xtoken.verifier (%s)",
                    lv == NULL || lv->handle == NULL ? "closed"
                    : xt_verifier_status(lv->handle) == XT_OK ? "config loaded"
                                                              : "no config");
    return 1;
}

/* ---- xtoken.new --------------------------------------------------------- */

/* The options table at idx (nil: the defaults). *flags and the users policy
 * (pushed on the stack, a string) on success; NULL on success, the reason
 * otherwise (nothing pushed then). Raw accesses only. */
static const char *read_options(lua_State *L, int idx, unsigned *flags)
{
    const char *users = DEFAULT_USERS;

    *flags = 0;
    if (lua_isnoneornil(L, idx)) {
        lua_pushstring(L, users);
        return NULL;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        return "options must be a table";
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) { /* key at -2, value at -1 */
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;

        if (key != NULL && strcmp(key, "replay") == 0) {
            if (lua_type(L, -1) != LUA_TBOOLEAN) {
                lua_pop(L, 2);
                return "option replay must be a boolean";
            }
            if (!lua_toboolean(L, -1))
                *flags |= XT_VERIFIER_NO_REPLAY;
        } else if (key != NULL && strcmp(key, "users") == 0) {
            users = plain_string(L, -1, NULL);
            if (users == NULL || xt_users_policy_check(users) != XT_OK) {
                lua_pop(L, 2);
                return "option users must be \"any\", \"nss\" or an absolute path";
            }
        } else {
            lua_pop(L, 2);
            return "unknown option (known: replay, users)";
        }
        lua_pop(L, 1);
    }
    /* users points into a string held by the options table, still alive */
    lua_pushstring(L, users);
    return NULL;
}

/* xtoken.new(config_path [, opts]) -> verifier | nil, reason.
 * config_path nil: XT_DEFAULT_CONFIG. A config that cannot be loaded still
 * gives a verifier, which refuses everything (fail closed) with the reason
 * and loads the file again once it changes. */
static int xtoken_new(lua_State *L)
{
    struct lua_verifier *lv;
    const char *path = XT_DEFAULT_CONFIG, *bad;
    unsigned flags;
    int users_idx;

    lua_settop(L, 2);
    if (!lua_isnil(L, 1)) {
        path = plain_string(L, 1, NULL);
        if (path == NULL || *path == '\0') {
            lua_pushnil(L);
            lua_pushstring(L, "config path must be a non-empty string without NUL bytes");
            return 2;
        }
    }
    bad = read_options(L, 2, &flags);
    if (bad != NULL) {
        lua_pushnil(L);
        lua_pushstring(L, bad);
        return 2;
    }
    users_idx = lua_gettop(L);
    /* The userdata first, then the handle: if Lua runs out of memory
     * before the handle is stored, nothing leaks; after, __gc frees it. */
    lv = lua_newuserdatauv(L, sizeof(*lv), 1);
    lv->handle = NULL;
    luaL_setmetatable(L, VERIFIER_META);
    lua_pushvalue(L, users_idx);
    lua_setiuservalue(L, -2, 1);
    if (xt_verifier_new(path, flags, &lv->handle) != XT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, xt_strerror(XT_NOMEM));
        return 2;
    }
    return 1;
}

static const luaL_Reg verifier_methods[] = {
    {"status", verifier_status},
    {"verify", verifier_verify},
    {"user_exists", verifier_user_exists},
    {"close", verifier_close},
    {NULL, NULL},
};

static const luaL_Reg verifier_meta[] = {
    {"__gc", verifier_close},
    {"__close", verifier_close},
    {"__tostring", verifier_tostring},
    {NULL, NULL},
};

static const luaL_Reg module_functions[] = {
    {"new", xtoken_new},
    {NULL, NULL},
};

int luaopen_xtoken(lua_State *L)
{
    luaL_newmetatable(L, VERIFIER_META);
    luaL_setfuncs(L, verifier_meta, 0);
    luaL_newlib(L, verifier_methods);
    lua_setfield(L, -2, "__index");
    /* getmetatable(v) gives this name, and setmetatable(v, ...) is refused. */
    lua_pushliteral(L, VERIFIER_META);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    luaL_newlib(L, module_functions);
    lua_pushliteral(L, XTOKEN_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
