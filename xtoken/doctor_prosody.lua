-- xtoken doctor: Prosody's config loader, as core/configmanager.lua of
-- Prosody 0.12 and 13 defines it, run in the sandbox (doctor_prosody.c):
-- the chunk gets an environment whose assignments set options of the
-- current host, whose reads give an option set earlier (Prosody 13: tables
-- as proxies with :append), VirtualHost/Component open a host, Include
-- reads more files, FileContents/FileLine/FileLines read files relative
-- to the config's directory, Credential stands for a secret that is not
-- read, Lua gives the Lua functions the sandbox has. Files are read through
-- read_file/list_dir (C, below the sandbox's root). No io, os, require,
-- load or debug reach the config; pcall and xpcall come from C and let the
-- run-time limit through, setmetatable (C) refuses __gc.
local read_file, list_dir, warn, safe_pcall, safe_xpcall, safe_setmetatable = ...
local load, pairs, ipairs, type, error, setmetatable, rawget, rawset, tostring, pcall =
	load, pairs, ipairs, type, error, setmetatable, rawget, rawset, tostring, pcall
local safe = {
	string = string, table = table, math = math, utf8 = utf8,
	pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
	tostring = tostring, tonumber = tonumber, error = error, assert = assert,
	pcall = safe_pcall, xpcall = safe_xpcall, rawget = rawget, rawset = rawset, rawlen = rawlen,
	rawequal = rawequal, setmetatable = safe_setmetatable, getmetatable = getmetatable,
	unpack = table.unpack, _VERSION = _VERSION,
}
-- Lua.name: Prosody 13's way to reach a global. Those the sandbox lacks:
-- os.getenv answers nil (with a warning), print prints nothing.
local lua_api = setmetatable({
	os = { getenv = function (name)
		warn("os.getenv(" .. tostring(name) .. ") (an environment variable of Prosody's) is taken as unset")
		return nil
	end },
	print = function () end,
}, { __index = safe })

local function dir_of(file) return (file:gsub("[^/]+$", "")) end
-- util.paths.resolve_relative_path
local function resolve(base, path)
	base = base:gsub("/+$", "")
	path = path:gsub("^%./+", "")
	if path:sub(1, 1) == "/" then return path end
	return base .. "/" .. path
end
local function glob_to_pattern(glob)
	return "^" .. glob:gsub("[%p*?]", function (c)
		if c == "*" then return ".*" elseif c == "?" then return "." end
		return "%" .. c
	end) .. "$"
end

local config = setmetatable({ ["*"] = {} }, { __index = function (t) return rawget(t, "*") end })
local host_mt = { __index = function (_, k) return config["*"][k] end }
local function set(host, key, value)
	local hc = rawget(config, host)
	if not hc then hc = setmetatable({}, host_mt); rawset(config, host, hc) end
	hc[key] = value
end
local function rawget_option(host, key)
	local hc = rawget(config, host)
	return hc and rawget(hc, key)
end

-- Prosody 13: an option read back as a table is a proxy.
local proxy_methods = {
	value = function (self) return rawget_option(self.host, self.option_name) end,
	append = function (self, value)
		local original = self:value()
		if original == nil then original = {} end
		if type(value) ~= "table" then
			error("'append' operation expects a list of values to append to the existing list", 2)
		end
		if value[1] ~= nil then
			for _, v in ipairs(value) do original[#original + 1] = v end
		else
			for k, v in pairs(value) do original[k] = v end
		end
		set(self.host, self.option_name, original)
		return self
	end,
	values = function (self)
		local t, i = self:value() or {}, 0
		return function () i = i + 1; return t[i] end
	end,
}
local proxy_mt = {
	__index = setmetatable(proxy_methods, { __index = function (_, k)
		error("Unknown config option operation: '" .. tostring(k) .. "'", 2)
	end }),
	__call = function (self, v2)
		local v = self:value() or {}
		if type(v) == "table" and type(v2) == "table" then return self:append(v2) end
		error("Invalid syntax - missing '=' perhaps?", 2)
	end,
}

-- FileContents, FileLine: the file (relative to the config's directory)
-- read as io.read's mode says.
local function file_reader(base, default_mode)
	return function (name, mode)
		if type(name) ~= "string" then error("a file name expected", 2) end
		local path = resolve(base, name)
		local text, err = read_file(path)
		if not text then error(path .. ": " .. tostring(err), 2) end
		mode = (mode or default_mode):gsub("^%*", "")
		if mode == "a" then return text end
		if mode == "l" then return (text:match("^[^\n]*")) end
		if mode == "L" then return (text:match("^[^\n]*\n?")) end
		error("bad mode '" .. tostring(mode) .. "' for " .. path, 2)
	end
end
local function line_reader(base)
	return function (name)
		if type(name) ~= "string" then error("a file name expected", 2) end
		local path = resolve(base, name)
		local text, err = read_file(path)
		if not text then error(path .. ": " .. tostring(err), 2) end
		local lines = {}
		for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
		local last = text:match("[^\n]+$")
		if last then lines[#lines + 1] = last end
		return lines
	end
end

local parse
local function make_env(file)
	local env
	local base = dir_of(file)
	env = setmetatable({ Host = true, host = true, VirtualHost = true, Component = true,
		component = true, Include = true, include = true, RunScript = true,
		FileContents = true, FileLine = true, FileLines = true, Credential = true }, {
		__index = function (_, k)
			if type(k) ~= "string" then return nil end
			if k:match("^ENV_") then
				warn(file .. ": " .. k .. " (an environment variable of Prosody's) is taken as unset")
				return nil
			end
			if k == "Lua" then return lua_api end
			local host = rawget(env, "__currenthost") or "*"
			local val = rawget_option(host, k)
			if type(val) == "table" then
				return setmetatable({ host = host, option_name = k }, proxy_mt)
			elseif val ~= nil then
				return val
			end
			return safe[k]
		end,
		__newindex = function (_, k, v) set(rawget(env, "__currenthost") or "*", k, v) end,
	})
	rawset(env, "__currenthost", "*")
	function env.VirtualHost(name)
		if type(name) ~= "string" then error("Host must have a name", 2) end
		name = name:lower()
		rawset(env, "__currenthost", name)
		set(name, "defined", true)
		-- every file that opens the host, for a fix that names them all
		local files = rawget_option(name, "__file")
		if files == nil then
			set(name, "__file", file)
		elseif not (", " .. files .. ", "):find(", " .. file .. ", ", 1, true) then
			set(name, "__file", files .. ", " .. file)
		end
		return function (options)
			rawset(env, "__currenthost", "*")
			if type(options) ~= "table" then error("Invalid syntax following VirtualHost", 2) end
			for k, v in pairs(options) do set(name, k, v) end
		end
	end
	env.Host, env.host = env.VirtualHost, env.VirtualHost
	function env.Component(name)
		if type(name) ~= "string" then error("Component must have a name", 2) end
		name = name:lower()
		set(name, "component_module", "component")
		rawset(env, "__currenthost", name)
		local function options(opts)
			rawset(env, "__currenthost", "*")
			if type(opts) ~= "table" then error("Invalid syntax following Component", 2) end
			for k, v in pairs(opts) do set(name, k, v) end
		end
		return function (module)
			if type(module) == "string" then set(name, "component_module", module); return options end
			return options(module)
		end
	end
	env.component = env.Component
	function env.Include(path)
		if type(path) ~= "string" then error("Include wants a file name", 2) end
		if path:match("[*?]") then
			local dir, glob = path:match("^(.-)([^/]+)$")
			dir = dir == "" and base or resolve(base, dir)
			local pattern = glob_to_pattern(glob)
			for _, f in ipairs(list_dir(dir) or {}) do
				if f:sub(1, 1) ~= "." and f:match(pattern) then
					env.Include(dir:gsub("/+$", "") .. "/" .. f)
				end
			end
			return
		end
		path = resolve(base, path)
		local text, err = read_file(path)
		if not text then error("Error loading included " .. path .. ": " .. tostring(err), 0) end
		local ok, perr = parse(text, path)
		if not ok then error(perr, 0) end
	end
	env.include = env.Include
	function env.RunScript(path)
		warn(file .. ": RunScript " .. tostring(path) .. " is not run by xtoken doctor")
	end
	env.FileContents = file_reader(base, "*a")
	env.FileLine = file_reader(base, "*l")
	env.FileLines = line_reader(base)
	-- The secret is in systemd's $CREDENTIALS_DIRECTORY of the running
	-- service: not read, a placeholder stands for it.
	function env.Credential(name)
		if type(name) ~= "string" then error("a credential name expected", 2) end
		return "(credential " .. name .. ")"
	end
	return env
end

function parse(text, file)
	local chunk, err = load(text, "@" .. file, "t", make_env(file))
	-- a syntax error quotes the text "near" it: never echo a file's content
	if not chunk then return nil, (tostring(err):gsub(" near .*$", "")) end
	return pcall(chunk)
end

return function (main)
	local text, err = read_file(main)
	if not text then return nil, tostring(err), "unreadable" end
	local ok, perr = parse(text, main)
	if not ok then return nil, tostring(perr) end
	local function str(v, default)
		if type(v) == "string" then return v end
		return default
	end
	local hosts = {}
	for name, hc in pairs(config) do
		if name ~= "*" and rawget(hc, "defined") and not rawget(hc, "component_module")
			and hc.enabled ~= false then
			hosts[#hosts + 1] = { name,
				str(hc.authentication, "internal_hashed"), str(hc.xtoken_config, ""),
				str(hc.xtoken_path, "/usr/bin/xtoken"), str(hc.xtoken_users, "any"),
				str(hc.cyrus_service_name, "xmpp"), str(hc.cyrus_application_name, "prosody"),
				str(hc.external_auth_command, ""), str(rawget(hc, "__file"), main) }
		end
	end
	table.sort(hosts, function (a, b) return a[1] < b[1] end)
	local paths = {}
	local plugin_paths = config["*"].plugin_paths
	for _, p in ipairs(type(plugin_paths) == "table" and plugin_paths or {}) do
		if type(p) == "string" then paths[#paths + 1] = resolve("/etc/prosody", p) end
	end
	return hosts, paths
end
