-- Tests of the Lua binding (require "xtoken"), run by tests/lua/run.sh:
-- every answer of verify/user_exists/status with its exact reason, the
-- arguments that must never raise a Lua error, reloads, and the replay
-- store shared with `xtoken verify` and the PAM module (both directions).
-- Tokens are minted by the real tool (build/xtoken issue); every refusal
-- test first checks that its token was minted, so none passes on "".
local xtoken = require "xtoken"

local DIR = assert(os.getenv("XT_TEST_DIR"), "XT_TEST_DIR")
local XTOKEN = assert(os.getenv("XTOKEN"), "XTOKEN")
local PAMCHECK = assert(os.getenv("PAMCHECK"), "PAMCHECK")
local PAM_MODULE = assert(os.getenv("PAM_MODULE"), "PAM_MODULE")
local SEED = "K5UOYGC3OJ2WG4LX"
local SECRET = "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"
local OTHER_SEED = "MFRGGZDFMZTWQ2LK"
local OTHER_SECRET = "Zq4Lm8Xv2Rt6Yp0Wn3Ks7Hd1Fg5Jc9Bu"
local ALICE = "alice@example.org"

local passed, failed = 0, 0

local function fail(name, why)
    failed = failed + 1
    io.stderr:write("FAIL: ", name, ": ", why, "\n")
end

local function pass()
    passed = passed + 1
end

local function shell_quote(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Run a shell command; its stdout (trailing newlines cut) and exit code.
local function run(cmd)
    local p = assert(io.popen(cmd, "r"))
    local out = p:read("a")
    local _, _, code = p:close()
    return (out:gsub("\n+$", "")), code
end

local function write_file(path, text)
    local f = assert(io.open(path, "w"))
    assert(f:write(text))
    assert(f:close())
end

local function conf_text(seed, secret, replay)
    return ("otp_seed = %s\ntoken_secret = %s\nreplay = %s\n"):format(seed, secret, replay)
end

-- Files are created 0600 (run.sh sets umask 077).
local function write_conf(name, text)
    local path = DIR .. "/" .. name
    write_file(path, text)
    return path
end

local function sleep_past_second()
    -- the handle looks at its file at most once per second of time(NULL)
    os.execute("sleep 1.1")
end

-- A fresh token from the tool; nil (and a failure) if minting failed.
local function mint(conf, jid, at)
    local cmd = XTOKEN .. " issue --config " .. shell_quote(conf)
    if at then cmd = cmd .. " --at " .. math.floor(at) end
    local token, code = run(cmd .. " " .. shell_quote(jid) .. " 2>&1")
    if code ~= 0 or not token:match("^%d+ %S+$") then
        fail("mint " .. jid, "xtoken issue exit " .. tostring(code) .. ": " .. token)
        return nil
    end
    return token
end

-- `xtoken verify` of token: exit code and what it printed on stderr.
local tool_n = 0
local function tool_verify(conf, jid, token)
    tool_n = tool_n + 1
    local file = DIR .. "/tool-token." .. tool_n
    write_file(file, token .. "\n")
    local out, code = run(XTOKEN .. " verify --config " .. shell_quote(conf) .. " "
        .. shell_quote(jid) .. " < " .. file .. " 2>&1")
    os.remove(file)
    return code, out
end

-- One PAM authentication through build/pam_xtoken.so: "auth=PAM_..." line.
local pam_dir = DIR .. "/pam.d"
os.execute("mkdir -p " .. shell_quote(pam_dir))
local function pam_auth(conf, jid, token)
    write_file(pam_dir .. "/xtlua", ("auth required %s conf=%s\n"):format(PAM_MODULE, conf))
    local out = run(("%s -c %s -t %s xtlua %s auth"):format(PAMCHECK, shell_quote(pam_dir),
        shell_quote(token), shell_quote(jid)))
    return (out:match("^(auth=%S+)") or out)
end

-- Call f(...) protected: a raised Lua error is a failure of its own.
local function call(name, f, ...)
    local res = table.pack(pcall(f, ...))
    if not res[1] then
        fail(name, "raised a Lua error: " .. tostring(res[2]))
        return nil
    end
    return table.unpack(res, 2, res.n)
end

local function expect_ok(name, f, ...)
    local ok, reason = call(name, f, ...)
    if ok == true and reason == nil then pass() else
        fail(name, ("got %s, %s; want true"):format(tostring(ok), tostring(reason)))
    end
end

-- want: the exact reason, or a Lua pattern if it begins with "^".
-- secret: a string the reason must not contain (the token).
local function expect_refused(name, want, secret, f, ...)
    local ok, reason = call(name, f, ...)
    if ok ~= false or type(reason) ~= "string" then
        fail(name, ("got %s, %s; want false, %q"):format(tostring(ok), tostring(reason), want))
    elseif want:sub(1, 1) == "^" and not reason:match(want)
        or want:sub(1, 1) ~= "^" and reason ~= want then
        fail(name, ("reason %q, want %q"):format(reason, want))
    elseif secret and #secret > 0 and reason:find(secret, 1, true) then
        fail(name, "the reason contains the token")
    else
        pass()
    end
end

local function expect_equal(name, got, want)
    if got == want then pass() else
        fail(name, ("got %s, want %s"):format(tostring(got), tostring(want)))
    end
end

-- The signature part of a token with its first character changed.
local function tamper_signature(token)
    local otp_nonce, sig = token:match("^(%S+) (%S+)$")
    local first = sig:sub(1, 1) == "A" and "B" or "A"
    return otp_nonce .. " " .. first .. sig:sub(2)
end

-- ---- configs ---------------------------------------------------------------
local REPLAY = DIR .. "/replay"
local CONF = write_conf("xt.conf", conf_text(SEED, SECRET, REPLAY))
-- another otp_seed, the same secret: authentic tokens whose OTP is wrong here
local OTHER_SEED_CONF = write_conf("other-seed.conf", conf_text(OTHER_SEED, SECRET, "off"))
local OTHER_KEYS_CONF = write_conf("other-keys.conf", conf_text(OTHER_SEED, OTHER_SECRET, "off"))
local SECTIONS_CONF = write_conf("sections.conf", ("replay = %s\n[example.org]\n%s"):format(
    REPLAY, conf_text(SEED, SECRET, REPLAY):gsub("replay = [^\n]*\n", "")))
write_file(DIR .. "/not-a-dir", "")
local BAD_STORE_CONF = write_conf("bad-store.conf", conf_text(SEED, SECRET, DIR .. "/not-a-dir/sub"))
local USERS_FILE = DIR .. "/users"
write_file(USERS_FILE, "alice\nbob@example.org\n")

-- ---- the module ------------------------------------------------------------
local tool_version = run(XTOKEN .. " --version")
expect_equal("xtoken.version is the tool's version", "xtoken " .. tostring(xtoken.version),
    tool_version)
expect_equal("xtoken.new is a function", type(xtoken.new), "function")

local v = call("new", xtoken.new, CONF)
if getmetatable(v) ~= "xtoken.verifier" then
    io.stderr:write("FAIL: xtoken.new(", CONF, ") gave ", tostring(v), "\n")
    os.exit(1)
end
expect_ok("status of a loaded config", v.status, v)
expect_equal("tostring", tostring(v), "xtoken.verifier (config loaded)")

-- ---- valid tokens ------------------------------------------------------------
local good = mint(CONF, ALICE)
if good then
    expect_ok("fresh token", v.verify, v, ALICE, good)
    expect_refused("the same token again", "replayed", good, v.verify, v, ALICE, good)
end
local bob = mint(CONF, "bob@example.org")
if bob then
    expect_refused("bob's token for alice",
        "bad signature (a wrong token_secret, or a token minted for another JID or domain)",
        bob, v.verify, v, ALICE, bob)
    expect_ok("bob's token for bob (the refusal above used nothing up)",
        v.verify, v, "bob@example.org", bob)
end

-- ---- every refusal with its reason -------------------------------------------
local now = os.time()
expect_refused("malformed", "malformed token", nil, v.verify, v, ALICE, "hello world")
expect_refused("empty token", "malformed token", nil, v.verify, v, ALICE, "")
local t = mint(CONF, ALICE)
if t then
    local tampered = tamper_signature(t)
    expect_refused("bad signature",
        "bad signature (a wrong token_secret, or a token minted for another JID or domain)",
        tampered, v.verify, v, ALICE, tampered)
    expect_refused("trailing bytes", "malformed token", t, v.verify, v, ALICE, t .. " x")
    expect_ok("the untouched token after those refusals", v.verify, v, ALICE, t)
end
t = mint(CONF, ALICE, now - 200)
if t then
    expect_refused("expired", "^expired: minted about %d+ s ago, valid for 60 s ", t,
        v.verify, v, ALICE, t)
end
t = mint(CONF, ALICE, now + 200)
if t then
    expect_refused("not yet valid", "^not yet valid: minted about %d+ s ahead of this server's clock",
        t, v.verify, v, ALICE, t)
end
t = mint(OTHER_SEED_CONF, ALICE)
if t then
    expect_refused("authentic token, wrong OTP",
        "OTP matches no step near now (clock skew or wrong otp_seed)", t, v.verify, v, ALICE, t)
end
local s = call("new on a config with sections", xtoken.new, SECTIONS_CONF)
t = mint(CONF, "alice@example.net")
if t and s then
    expect_refused("unknown domain", "unknown domain", t, s.verify, s, "alice@example.net", t)
end
t = mint(CONF, ALICE)
if t then
    for _, jid in ipairs { "alice", "@example.org", "alice@", "a@b@example.org",
                           "al ice@example.org", ("a"):rep(1100) .. "@example.org" } do
        expect_refused("bad user " .. jid:sub(1, 20), "malformed user name", t,
            v.verify, v, jid, t)
    end
    expect_ok("the token after the bad user names", v.verify, v, ALICE, t)
end
local bs = call("new on a config with an unusable store", xtoken.new, BAD_STORE_CONF)
t = mint(CONF, ALICE)
if t and bs then
    expect_ok("status with an unusable store (the config is fine)", bs.status, bs)
    expect_refused("replay store unusable",
        "^replay store " .. DIR:gsub("%p", "%%%0") .. "/not%-a%-dir/sub/%d+%.store: cannot open directory",
        t, bs.verify, bs, ALICE, t)
end

-- ---- arguments that must never raise -------------------------------------------
t = mint(CONF, ALICE)
local nasty = { nil, 42, 4.5, true, {}, print, io.stdout, coroutine.create(print) }
for i = 1, #nasty + 1 do  -- index #nasty + 1 is nil / none
    local arg = nasty[i]
    local what = type(arg)
    expect_refused("jid of type " .. what, "malformed user name", nil, v.verify, v, arg, t)
    expect_refused("token of type " .. what, "malformed token", nil, v.verify, v, ALICE, arg)
    expect_refused("user_exists jid of type " .. what, "malformed user name", nil,
        v.user_exists, v, arg)
    if arg ~= nil then
        expect_refused("policy of type " .. what,
            "bad users policy (\"any\", \"nss\" or an absolute path)", nil,
            v.user_exists, v, ALICE, arg)
    end
end
expect_refused("verify with no arguments", "malformed user name", nil, v.verify, v)
expect_refused("number that looks like a token", "malformed token", nil,
    v.verify, v, ALICE, 1234567890)
if t then
    expect_refused("NUL byte inside the JID", "malformed user name", t,
        v.verify, v, "alice\0@example.org", t)
    expect_refused("NUL byte after the JID", "malformed user name", t, v.verify, v, ALICE .. "\0", t)
    expect_refused("NUL byte after the token", "malformed token", t, v.verify, v, ALICE, t .. "\0")
    expect_refused("token cut at a NUL byte", "malformed token", t,
        v.verify, v, ALICE, t:sub(1, 20) .. "\0" .. t:sub(22))
    expect_refused("64 KiB token", "malformed token", nil, v.verify, v, ALICE, ("1"):rep(65536))
    expect_refused("64 KiB JID", "malformed user name", t,
        v.verify, v, ("a"):rep(65536) .. "@example.org", t)
    expect_ok("the token after the bad arguments (none used it up)", v.verify, v, ALICE, t)
end
expect_refused("user_exists NUL byte", "malformed user name", nil,
    v.user_exists, v, "alice\0@example.org")
expect_refused("user_exists 64 KiB JID", "malformed user name", nil,
    v.user_exists, v, ("a"):rep(65536) .. "@example.org")
expect_refused("policy with a NUL byte", "bad users policy (\"any\", \"nss\" or an absolute path)",
    nil, v.user_exists, v, ALICE, USERS_FILE .. "\0")
expect_refused("relative policy", "bad users policy (\"any\", \"nss\" or an absolute path)",
    nil, v.user_exists, v, ALICE, "users.txt")
expect_refused("64 KiB policy path", "^config: ", nil,
    v.user_exists, v, ALICE, "/" .. ("a"):rep(65536))

-- wrong self
for _, self in ipairs { 42, "x", {}, io.stdout, xtoken } do
    for _, method in ipairs { "status", "verify", "user_exists", "close" } do
        expect_refused(method .. " on a " .. type(self),
            "^not a verifier %(call it as v:", nil, v[method], self, ALICE, "x")
    end
end
expect_refused("method with no self at all", "^not a verifier", nil, v.verify)
expect_equal("setmetatable is refused", pcall(setmetatable, v, {}), false)

-- xtoken.new's arguments: nil, reason for bad types, never an error
local function expect_new_refused(name, want, ...)
    local got, reason = call(name, xtoken.new, ...)
    if got == nil and reason == want then pass() else
        fail(name, ("got %s, %s; want nil, %q"):format(tostring(got), tostring(reason), want))
    end
end
local BAD_PATH = "config path must be a non-empty string without NUL bytes"
expect_new_refused("new(42)", BAD_PATH, 42)
expect_new_refused("new({})", BAD_PATH, {})
expect_new_refused("new(\"\")", BAD_PATH, "")
expect_new_refused("new with NUL", BAD_PATH, CONF .. "\0x")
expect_new_refused("options not a table", "options must be a table", CONF, "replay=false")
expect_new_refused("replay not a boolean", "option replay must be a boolean", CONF, { replay = 0 })
expect_new_refused("users not a string", "option users must be \"any\", \"nss\" or an absolute path",
    CONF, { users = 5 })
expect_new_refused("users relative", "option users must be \"any\", \"nss\" or an absolute path",
    CONF, { users = "users.txt" })
expect_new_refused("unknown option", "unknown option (known: replay, users)", CONF, { replays = false })
expect_new_refused("array option", "unknown option (known: replay, users)", CONF, { false })
-- options are read raw: a metatable of the caller's never runs
local trap = setmetatable({}, { __index = function() error("metamethod ran") end,
                                __pairs = function() error("metamethod ran") end })
local trapped = call("options with a raising metatable", xtoken.new, CONF, trap)
expect_equal("options with a raising metatable give a verifier", getmetatable(trapped),
    "xtoken.verifier")
local long = call("new with a 64 KiB path", xtoken.new, "/" .. ("a"):rep(65536))
if long then
    expect_refused("64 KiB config path: fail closed", "^config: ", nil, long.status, long)
end

-- ---- user_exists -------------------------------------------------------------
expect_ok("user_exists any", v.user_exists, v, ALICE)
expect_ok("user_exists any, explicit", v.user_exists, v, ALICE, "any")
expect_ok("user_exists file, localpart line", v.user_exists, v, ALICE, USERS_FILE)
expect_ok("user_exists file, JID line", v.user_exists, v, "bob@example.org", USERS_FILE)
expect_refused("user_exists file, absent", "unknown user", nil,
    v.user_exists, v, "carol@example.org", USERS_FILE)
expect_ok("user_exists nss, root", v.user_exists, v, "root@example.org", "nss")
expect_refused("user_exists nss, no such user", "unknown user", nil,
    v.user_exists, v, "no-such-user-xt@example.org", "nss")
expect_refused("user_exists, users file missing", "^config: " .. DIR:gsub("%p", "%%%0")
    .. "/missing%-users: ", nil, v.user_exists, v, ALICE, DIR .. "/missing-users")
if s then
    expect_refused("user_exists, unknown domain", "unknown domain", nil,
        s.user_exists, s, "alice@example.net")
    expect_ok("user_exists, section domain", s.user_exists, s, ALICE)
end
local vu = call("new with users", xtoken.new, CONF, { users = USERS_FILE, replay = false })
if vu then
    expect_ok("users option: listed", vu.user_exists, vu, ALICE)
    expect_refused("users option: not listed", "unknown user", nil,
        vu.user_exists, vu, "carol@example.org")
    expect_ok("users option, overridden per call", vu.user_exists, vu, "carol@example.org", "any")
end

-- ---- replay = false ------------------------------------------------------------
local nr = call("new replay=false", xtoken.new, CONF, { replay = false })
t = mint(CONF, ALICE)
if nr and t then
    expect_ok("replay=false, first", nr.verify, nr, ALICE, t)
    expect_ok("replay=false, second", nr.verify, nr, ALICE, t)
    expect_ok("replay=false recorded nothing: the store-backed verifier takes it", v.verify, v,
        ALICE, t)
end

-- ---- the replay store is shared with xtoken verify and the PAM module ------------
t = mint(CONF, ALICE)
if t then
    expect_ok("used through Lua", v.verify, v, ALICE, t)
    local code, err = tool_verify(CONF, ALICE, t)
    expect_equal("then xtoken verify refuses it (exit 1)", code, 1)
    expect_equal("xtoken verify's reason", err:match("replayed") ~= nil, true)
end
t = mint(CONF, ALICE)
if t then
    local code, err = tool_verify(CONF, ALICE, t)
    expect_equal("used through xtoken verify (exit 0) " .. err, code, 0)
    expect_refused("then Lua refuses it", "replayed", t, v.verify, v, ALICE, t)
end
t = mint(CONF, ALICE)
if t then
    expect_ok("used through Lua, then PAM", v.verify, v, ALICE, t)
    expect_equal("PAM refuses the token Lua used", pam_auth(CONF, ALICE, t), "auth=PAM_AUTH_ERR")
end
t = mint(CONF, ALICE)
if t then
    expect_equal("used through PAM", pam_auth(CONF, ALICE, t), "auth=PAM_SUCCESS")
    expect_refused("then Lua refuses it", "replayed", t, v.verify, v, ALICE, t)
end
-- a second verifier in the same process shares the file too
local v2 = call("second verifier", xtoken.new, CONF)
t = mint(CONF, ALICE)
if v2 and t then
    expect_ok("used through one verifier", v2.verify, v2, ALICE, t)
    expect_refused("refused by the other", "replayed", t, v.verify, v, ALICE, t)
end

-- ---- config problems: fail closed, reload when the file changes --------------------
local MISSING = DIR .. "/later.conf"
local m = call("new on a missing config", xtoken.new, MISSING)
expect_equal("a missing config still gives a verifier", getmetatable(m), "xtoken.verifier")
local missing_reason = "config: " .. MISSING .. ": No such file or directory"
t = mint(CONF, ALICE)
if m and t then
    expect_equal("tostring without config", tostring(m), "xtoken.verifier (no config)")
    expect_refused("status, missing config", missing_reason, nil, m.status, m)
    expect_refused("verify, missing config", missing_reason, t, m.verify, m, ALICE, t)
    expect_refused("user_exists, missing config", missing_reason, nil, m.user_exists, m, ALICE)
    -- the file appears, mode 0644: unsafe, still refused with the reason
    write_file(MISSING, conf_text(SEED, SECRET, REPLAY))
    os.execute("chmod 644 " .. shell_quote(MISSING))
    sleep_past_second()
    expect_refused("status, unsafe mode", "^config: " .. MISSING:gsub("%p", "%%%0") .. ": .*mode",
        nil, m.status, m)
    expect_refused("verify, unsafe mode", "^config: " .. MISSING:gsub("%p", "%%%0") .. ": .*mode",
        t, m.verify, m, ALICE, t)
    os.execute("chmod 600 " .. shell_quote(MISSING))
    sleep_past_second()
    expect_ok("after chmod 600 (reloaded): status", m.status, m)
    expect_ok("after chmod 600 (reloaded): verify", m.verify, m, ALICE, t)
end

-- keys replaced in place: the new ones are used, the old ones refused
local RELOAD = write_conf("reload.conf", conf_text(SEED, SECRET, REPLAY))
local r = call("new for reload", xtoken.new, RELOAD)
local old_keys, new_keys = mint(CONF, ALICE), mint(OTHER_KEYS_CONF, ALICE)
if r and old_keys and new_keys then
    expect_refused("before the reload: a token of the new keys", "^bad signature", new_keys,
        r.verify, r, ALICE, new_keys)
    write_file(RELOAD, conf_text(OTHER_SEED, OTHER_SECRET, REPLAY))
    sleep_past_second()
    expect_ok("after the reload: a token of the new keys", r.verify, r, ALICE, new_keys)
    expect_refused("after the reload: a token of the old keys", "^bad signature", old_keys,
        r.verify, r, ALICE, old_keys)
    -- a broken file: refused with the reason, the old keys are not kept
    local fresh = mint(OTHER_KEYS_CONF, ALICE)
    write_file(RELOAD, conf_text(OTHER_SEED, "short", REPLAY))
    sleep_past_second()
    local broken = "^config: " .. RELOAD:gsub("%p", "%%%0") .. ":2: "
    expect_refused("reload failure: status", broken, nil, r.status, r)
    if fresh then
        expect_refused("reload failure: a valid token of the last good keys", broken, fresh,
            r.verify, r, ALICE, fresh)
    end
    expect_refused("reload failure: user_exists", broken, nil, r.user_exists, r, ALICE)
    sleep_past_second()
    expect_refused("reload failure keeps refusing", broken, fresh, r.verify, r, ALICE, fresh or "")
    write_file(RELOAD, conf_text(OTHER_SEED, OTHER_SECRET, REPLAY))
    sleep_past_second()
    if fresh then
        expect_ok("fixed file: the token is accepted", r.verify, r, ALICE, fresh)
    end
end

-- ---- close, __gc, __close ------------------------------------------------------------
local c = call("new for close", xtoken.new, CONF)
if c then
    expect_equal("close", call("close", c.close, c), true)
    expect_equal("close again", call("close again", c.close, c), true)
    expect_refused("status after close", "closed", nil, c.status, c)
    expect_refused("verify after close", "closed", nil, c.verify, c, ALICE, "x")
    expect_refused("user_exists after close", "closed", nil, c.user_exists, c, ALICE)
    expect_equal("tostring after close", tostring(c), "xtoken.verifier (closed)")
end
do
    local scoped <close> = call("new for <close>", xtoken.new, CONF)
    expect_ok("a to-be-closed verifier", scoped.status, scoped)
    c = scoped
end
expect_refused("closed at the end of its scope", "closed", nil, c.status, c)
for _ = 1, 50 do
    xtoken.new(CONF) -- dropped: __gc frees them
end
c, v2, m, r, nr, vu, s, bs, trapped, long = nil
collectgarbage()
collectgarbage()
expect_ok("the first verifier still works after the others were collected", v.status, v)

print(("check-lua: %d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
