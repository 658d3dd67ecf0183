-- make bench-lua (part of make bench): verify/s of the Lua binding's
-- v:verify next to the verifier handle's xt_verifier_verify called from C
-- (bench/lua_ref.c), in one run, on the same tokens, the same config, the
-- same loop (refresh + verify per token, time(NULL) per call), in CPU time
-- of the measuring process, median of the rounds. The difference is the
-- binding's per-call cost: argument checks, the method lookup, the call.
--   lua5.4 bench/lua_bench.lua REF_HELPER [--quick]
-- with LUA_CPATH_5_4 pointing at the build's xtoken.so (see bench/bench.mk).
local xtoken = require "xtoken"

local REF = assert(arg[1], "usage: lua_bench.lua REF_HELPER [--quick]")
local quick = arg[2] == "--quick"
local ROUNDS = quick and 1 or 9
local PLAIN_POOL, PLAIN_CALLS = 1000, quick and 100000 or 1000000
local STORE_WARM, STORE_CALLS = quick and 5000 or 30000, quick and 20000 or 200000
local JID = "alice@localhost"
local SEED, SECRET = "K5UOYGC3OJ2WG4LX", "T8qV3mZ7pL2nR9wX4kD6sF1hJ5cB0yGe"

local function sh(cmd)
    local p = assert(io.popen(cmd, "r"))
    local out = p:read("a")
    local ok, _, code = p:close()
    if not ok then error(("%s: exit %s"):format(cmd, tostring(code))) end
    return out
end

local dir = sh("mktemp -d \"${TMPDIR:-/tmp}/lua_bench.XXXXXX\""):gsub("\n$", "")
-- The replay stores on tmpfs, as /run/pam_xtoken is on a real system: on a
-- disk file system the kernel's writeback of a new store's pages lands on
-- whichever run is timing at that moment.
local store_dir = sh("mktemp -d /dev/shm/lua_bench.XXXXXX 2>/dev/null || echo " .. dir)
    :gsub("\n$", "")

local function write_conf(name, replay)
    local path = dir .. "/" .. name
    local f = assert(io.open(path, "w"))
    f:write(("otp_seed = %s\ntoken_secret = %s\nreplay = %s\n"):format(SEED, SECRET, replay))
    f:close()
    sh("chmod 600 " .. path)
    return path
end

-- A run must stay in one TOTP step (a token of the previous step costs
-- more OTPs to find): start with enough seconds left in the 30 s step.
local function wait_for_step_room(seconds)
    local left = 30 - os.time() % 30
    if left < seconds then sh("sleep " .. (left + 0.1)) end
end

local function read_tokens(path)
    local tokens = {}
    for line in io.lines(path) do tokens[#tokens + 1] = line end
    return tokens
end

-- The Lua loop: the same as lua_ref's time_calls.
local function lua_rate(conf, tokens, warm, calls)
    local v = assert(xtoken.new(conf))
    assert(v:status())
    for i = 1, warm do
        local ok, why = v:verify(JID, tokens[i])
        if not ok then error("warm-up token refused: " .. why) end
    end
    local pool = #tokens - warm
    local start = os.clock()
    for i = 0, calls - 1 do
        local ok, why = v:verify(JID, tokens[warm + 1 + i % pool])
        if not ok then error("token refused: " .. why) end
    end
    local rate = calls / (os.clock() - start)
    v:close()
    return rate
end

-- The floor of any binding call: v:status() is the method lookup, the
-- self check, xt_verifier_refresh (time(NULL) and a compare) and a boolean
-- pushed back; an upper bound of what v:verify adds to the library's work.
local function status_ns(conf, calls)
    local v = assert(xtoken.new(conf))
    local start = os.clock()
    for _ = 1, calls do
        if not v:status() then error("status refused") end
    end
    local ns = (os.clock() - start) * 1e9 / calls
    v:close()
    return ns
end

local function c_rate(conf, file, warm, calls)
    return tonumber(sh(("%s time %s %s %s %d %d"):format(REF, conf, JID, file, warm, calls)))
end

local function median(t)
    table.sort(t)
    return t[(#t + 1) // 2]
end

local plain_conf = write_conf("plain.conf", "off")
local results = { plain = { c = {}, lua = {} }, store = { c = {}, lua = {} }, floor = {} }
for r = 1, ROUNDS do
    wait_for_step_room(quick and 4 or 12)
    local plain_file = dir .. "/plain.tokens"
    sh(("%s mint %s %s %d %s"):format(REF, plain_conf, JID, PLAIN_POOL, plain_file))
    local store_file = dir .. "/store.tokens"
    sh(("%s mint %s %s %d %s"):format(REF, plain_conf, JID, STORE_WARM + STORE_CALLS, store_file))
    local plain_tokens, store_tokens = read_tokens(plain_file), read_tokens(store_file)
    -- a fresh file store each: every timed token a first use
    local c_store = write_conf("c-store" .. r .. ".conf", store_dir .. "/c-store" .. r)
    local lua_store = write_conf("lua-store" .. r .. ".conf", store_dir .. "/lua-store" .. r)
    local runs = {
        -- no store: the same pool, warmed once
        function() results.plain.c[r] = c_rate(plain_conf, plain_file, PLAIN_POOL // 2, PLAIN_CALLS) end,
        function() results.plain.lua[r] = lua_rate(plain_conf, plain_tokens, PLAIN_POOL // 2, PLAIN_CALLS) end,
        function() results.store.c[r] = c_rate(c_store, store_file, STORE_WARM, STORE_CALLS) end,
        function() results.store.lua[r] = lua_rate(lua_store, store_tokens, STORE_WARM, STORE_CALLS) end,
    }
    -- C first in odd rounds, Lua first in even ones: no side always runs
    -- right after minting or after the other
    local order = r % 2 == 1 and { 1, 2, 3, 4 } or { 2, 1, 4, 3 }
    for _, i in ipairs(order) do runs[i]() end
    sh("rm -rf " .. store_dir .. "/c-store" .. r .. " " .. store_dir .. "/lua-store" .. r)
    results.floor[r] = status_ns(plain_conf, PLAIN_CALLS)
end
sh("rm -rf " .. dir .. " " .. store_dir)

-- Rates: medians over the rounds. The binding's cost: the median of each
-- round's difference (its two runs are adjacent in time, so a load change
-- on the machine between rounds cancels out).
local function row(name, what, res)
    local diffs, ratios = {}, {}
    for r = 1, #res.c do
        diffs[r] = 1e9 / res.lua[r] - 1e9 / res.c[r]
        ratios[r] = res.lua[r] / res.c[r]
    end
    local c, l = median(res.c), median(res.lua)
    print(("%-34s %12.0f %12.0f %8.0f %8.0f %+8.0f   %.2fx"):format(name .. " (" .. what .. ")",
        c, l, 1e9 / c, 1e9 / l, median(diffs), median(ratios)))
end
print(("lua_bench: verify through the handle, CPU time, median of %d round%s, same tokens and loop;"
    .. " stores in %s"):format(ROUNDS, ROUNDS == 1 and "" or "s", store_dir:match("^(.*)/")))
print(("%-34s %12s %12s %8s %8s %8s   %s"):format("", "C verify/s", "Lua verify/s",
    "C ns", "Lua ns", "Lua-C ns", "Lua/C rate"))
row("no replay store", ("%d tokens, %d calls"):format(PLAIN_POOL // 2, PLAIN_CALLS), results.plain)
row("file replay store", ("warmed, %d first uses"):format(STORE_CALLS), results.store)
print(("binding call floor: v:status() %.0f ns per call (lookup, self check, refresh, result)")
    :format(median(results.floor)))
