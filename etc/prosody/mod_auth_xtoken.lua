-- mod_auth_xtoken: Prosody authentication provider for pam_xtoken tokens.
--
--   authentication = "xtoken"
--   xtoken_path    = "/usr/bin/xtoken"                 -- default
--   xtoken_config  = "/etc/security/pam_xtoken.conf"   -- default
--   xtoken_users   = "any" | "nss" | "/path/to/list"   -- optional users policy
--
-- All cryptography stays in C: every login runs `xtoken verify`, with the
-- token written to its standard input (never on a command line, where ps
-- would show it), and the exit status decides (0 accepted, 1 refused,
-- 2 error). user_exists runs `xtoken isuser`. Nothing is cached: each token
-- is checked, and used up in the replay store, by xtoken itself.
--
-- SASL: PLAIN (the token is the password) and X-TOKEN, the mechanism of
-- Prosody's mod_auth_token (the same bytes as PLAIN: [authzid] NUL authcid
-- NUL token), so clients written for mod_auth_token keep working. X-TOKEN is
-- offered only on secure (TLS, or trusted websocket/BOSH) sessions.
--
-- Each check is a fork+exec of xtoken that runs while Prosody waits (a few
-- milliseconds); fine for logins, which are rare next to stanzas.

local saslprep = require "util.encodings".stringprep.saslprep;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local sasl = require "util.sasl";

local host = module.host;
local xtoken_path = module:get_option_string("xtoken_path", "/usr/bin/xtoken");
local xtoken_config = module:get_option_string("xtoken_config", "/etc/security/pam_xtoken.conf");
local xtoken_users = module:get_option_string("xtoken_users", nil);

local TOKEN_MAX = 255; -- XT_TOKEN_MAX in shared/xtoken.h

-- Quote one argument for /bin/sh: inside single quotes nothing is special
-- except the quote itself.
local function shell_quote(s)
	return "'" .. s:gsub("'", "'\\''") .. "'";
end

-- A nodeprepped username never holds space, '"&\'/:<>@'; refuse everything
-- else a shell or a terminal would treat specially too (the argument is
-- quoted anyway: this is a second fence), and control characters.
local function safe_username(username)
	return type(username) == "string" and username ~= ""
		and #username <= 1023
		and not username:find("[%z\1-\31\127%s\"#$&'()*;<>?@\\`|~!{}%[%]/:]");
end

local function command(subcommand, username, extra)
	local parts = { shell_quote(xtoken_path), subcommand, "--config", shell_quote(xtoken_config) };
	if extra then
		for _, arg in ipairs(extra) do parts[#parts + 1] = arg; end
	end
	parts[#parts + 1] = "--";
	parts[#parts + 1] = shell_quote(username .. "@" .. host);
	-- xtoken logs its reasons to syslog (ident "xtoken"); nothing for us on
	-- stdout, and stderr would only duplicate them into Prosody's stderr.
	return "exec " .. table.concat(parts, " ") .. " >/dev/null 2>&1";
end

-- Run cmd with input (or nothing) on its stdin; return its exit status,
-- or nil if it did not exit normally.
local function run(cmd, input)
	local pipe, err = io.popen(cmd, "w");
	if not pipe then
		module:log("error", "cannot run %s: %s", xtoken_path, err);
		return nil;
	end
	if input then
		-- Fails only if xtoken exited early (it then refuses anyway).
		pipe:write(input);
	end
	local _, how, code = pipe:close();
	if how ~= "exit" then
		module:log("error", "%s died from signal %s", xtoken_path, tostring(code));
		return nil;
	end
	return code;
end

-- Say at startup, not at the first login, when the config is unusable
-- (missing, unreadable by this user, unsafe mode, bad syntax).
do
	local status = run("exec " .. shell_quote(xtoken_path) .. " check-config --config "
		.. shell_quote(xtoken_config) .. " </dev/null >/dev/null 2>&1");
	if status ~= 0 then
		module:log("error", "`%s check-config --config %s` failed (exit %s): every login will be "
			.. "refused until it passes; see syslog (ident xtoken)", xtoken_path, xtoken_config, tostring(status));
	end
end

local provider = {};

function provider.user_exists(username)
	if not safe_username(username) then
		return nil, "invalid username";
	end
	local extra = xtoken_users and { "--users", shell_quote(xtoken_users) } or nil;
	local status = run(command("isuser", username, extra) .. " </dev/null");
	if status == 0 then
		return true;
	elseif status == 1 then
		return nil, "user not found";
	end
	module:log("error", "xtoken isuser failed (exit %s): see syslog (ident xtoken)", tostring(status));
	return nil, "user check failed";
end

function provider.test_password(username, token)
	if not safe_username(username) then
		module:log("info", "refused a login: unusable username");
		return nil, "invalid username";
	end
	local jid = username .. "@" .. host;
	if type(token) ~= "string" or token == "" or #token > TOKEN_MAX or token:find("[%z\1-\31\127]") then
		module:log("info", "xtoken refused %s: malformed token", jid);
		return nil, "not authorized";
	end
	if xtoken_users then
		local exists = provider.user_exists(username);
		if not exists then
			module:log("info", "xtoken refused %s: not a user (xtoken_users)", jid);
			return nil, "not authorized";
		end
	end
	local status = run(command("verify", username), token .. "\n");
	if status == 0 then
		module:log("info", "xtoken accepted %s", jid);
		return true;
	elseif status == 1 then
		module:log("info", "xtoken refused %s", jid);
	else
		module:log("error", "xtoken verify failed for %s (exit %s): see syslog (ident xtoken)",
			jid, tostring(status));
	end
	return nil, "not authorized";
end

function provider.get_password()
	return nil, "tokens cannot be read back";
end

function provider.set_password()
	return nil, "passwords are tokens issued by the web application";
end

function provider.create_user()
	return nil, "accounts come from the web application";
end

function provider.delete_user()
	return nil, "accounts come from the web application";
end

function provider.users()
	return function() return nil; end
end

-- X-TOKEN: parse like PLAIN (RFC 4616), check with the profile's xtoken_test.
-- Registered once per Prosody process (util.sasl keeps one global table);
-- it calls the handler's own profile, so it serves every host correctly.
local function x_token(self, message)
	if not message then
		return "failure", "malformed-request";
	end
	local authzid, authcid, token = message:match("^([^%z]*)%z([^%z]+)%z([^%z]+)$");
	if not authzid then
		return "failure", "malformed-request";
	end
	authcid, token = saslprep(authcid), saslprep(token);
	if not authcid or authcid == "" or not token or token == "" then
		return "failure", "malformed-request", "Invalid username or token.";
	end
	authcid = nodeprep(authcid);
	if not authcid or authcid == "" then
		return "failure", "malformed-request", "Invalid username or token.";
	end
	if authzid ~= "" and authzid ~= authcid and authzid ~= authcid .. "@" .. self.realm then
		return "failure", "invalid-authzid";
	end
	self.username = authcid;
	if not self.profile.xtoken_test or not self.profile.xtoken_test(self, authcid, token, self.realm) then
		return "failure", "not-authorized", "Unable to authorize you with the token you sent.";
	end
	return "success";
end

if not prosody.xtoken_sasl_registered then
	sasl.registerMechanism("X-TOKEN", { "xtoken_test" }, x_token);
	prosody.xtoken_sasl_registered = true;
end

function provider.get_sasl_handler(session)
	local function check(_, username, token)
		return provider.test_password(username, token), true;
	end
	local profile = { plain_test = check, xtoken_test = check };
	local mechanisms = { PLAIN = true };
	if session == nil or session.secure then
		mechanisms["X-TOKEN"] = true;
	end
	profile.mechanisms = mechanisms;
	return sasl.new(host, profile);
end

module:provides("auth", provider);
