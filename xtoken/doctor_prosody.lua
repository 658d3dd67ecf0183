-- xtoken doctor: Prosody's config loader, as core/configmanager.lua (0.12)
-- defines it, run in a sandbox: the chunk gets an environment whose
-- assignments set options of the current host, VirtualHost/Component open
-- a host, Include reads more files (through read_file/list_dir, given by C,
-- below --root). No io, os, require, load or debug reach the config.
local read_file, list_dir, warn = ...
local load, pairs, ipairs, type, error, setmetatable, rawget, rawset, tostring =
	load, pairs, ipairs, type, error, setmetatable, rawget, rawset, tostring
local safe = {
	string = string, table = table, math = math, utf8 = utf8,
	pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
	tostring = tostring, tonumber = tonumber, error = error, assert = assert,
	pcall = pcall, xpcall = xpcall, rawget = rawget, rawset = rawset, rawlen = rawlen,
	rawequal = rawequal, setmetatable = setmetatable, getmetatable = getmetatable,
	unpack = table.unpack,
}

local function dir_of(file) return (file:gsub("[^/]+$", "")) end
local function resolve(base, path)
	if path:sub(1, 1) == "/" then return path end
	return base .. path
end
local function glob_to_pattern(glob)
	return "^" .. glob:gsub("[%p]", function (c)
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

local parse
local function make_env(file)
	local env
	env = setmetatable({ Host = true, host = true, VirtualHost = true, Component = true,
		component = true, Include = true, include = true, RunScript = true }, {
		__index = function (_, k)
			if type(k) == "string" and k:match("^ENV_") then
				warn(file .. ": " .. k .. " (an environment variable of Prosody's) is taken as unset")
				return nil
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
			dir = dir == "" and dir_of(file) or resolve(dir_of(file), dir)
			local names = list_dir(dir) or {}
			local pattern = glob_to_pattern(glob)
			for _, f in ipairs(names) do
				if f:sub(1, 1) ~= "." and f:match(pattern) then env.Include(dir:gsub("/$", "") .. "/" .. f) end
			end
			return
		end
		path = resolve(dir_of(file), path)
		local text, err = read_file(path)
		if not text then error("Error loading included " .. path .. ": " .. tostring(err), 0) end
		local ok, perr = parse(text, path)
		if not ok then error(perr, 0) end
	end
	env.include = env.Include
	function env.RunScript(path)
		warn(file .. ": RunScript " .. tostring(path) .. " is not run by xtoken doctor")
	end
	return env
end

function parse(text, file)
	local chunk, err = load(text, "@" .. file, "t", make_env(file))
	if not chunk then return nil, err end
	return pcall(chunk)
end

return function (main)
	local text, err = read_file(main)
	if not text then return nil, err end
	local ok, perr = parse(text, main)
	if not ok then return nil, tostring(perr) end
	local str = function (v) return type(v) == "string" and v or nil end
	local hosts = {}
	for name, hc in pairs(config) do
		if name ~= "*" and rawget(hc, "defined") and not rawget(hc, "component_module")
			and hc.enabled ~= false then
			hosts[#hosts + 1] = { host = name, authentication = str(hc.authentication),
				xtoken_config = str(hc.xtoken_config), xtoken_path = str(hc.xtoken_path),
				xtoken_users = str(hc.xtoken_users), cyrus_service_name = str(hc.cyrus_service_name),
				cyrus_application_name = str(hc.cyrus_application_name) }
		end
	end
	table.sort(hosts, function (a, b) return a.host < b.host end)
	local paths = {}
	for _, p in ipairs(type(config["*"].plugin_paths) == "table" and config["*"].plugin_paths or {}) do
		if type(p) == "string" then paths[#paths + 1] = resolve("/etc/prosody/", p) end
	end
	return hosts, paths
end
