-- mod_auth_xtoken: Prosody authentication provider for pam_xtoken tokens.
--
--   authentication = "xtoken"
--   xtoken_config  = "/etc/security/pam_xtoken.conf"   -- default
--   xtoken_users   = "any" | "nss" | "/path/to/list"   -- optional users policy
--
-- Tokens are checked inside Prosody by the Lua binding of libxtoken
-- (`require "xtoken"`, package lua-xtoken, /usr/lib/x86_64-linux-gnu/lua/5.4/
-- xtoken.so): all cryptography stays in C, the same library as pam_xtoken,
-- and no process is started for a login or a user_exists. One verifier per
-- host, made when the module loads: it keeps the config (reloaded when the
-- file changes) and the replay store, the same file `xtoken verify` and PAM
-- use for user prosody, so a token used through one is refused by the others.
--
-- Fail closed: without the binding, or while the config is unusable, every
-- login is refused and Prosody's log says why. Every refusal is logged with
-- the JID and the reason (expired, replayed, bad signature...), never the
-- token.
--
-- SASL: PLAIN (the token is the password) and X-TOKEN, the mechanism of
-- Prosody's mod_auth_token (the same bytes as PLAIN: [authzid] NUL authcid
-- NUL token), so clients written for mod_auth_token keep working. X-TOKEN is
-- offered exactly where Prosody offers PLAIN: on secure sessions, and on
-- insecure ones only where PLAIN is not an insecure SASL mechanism
-- (allow_unencrypted_plain_auth = true, or insecure_sasl_mechanisms without
-- "PLAIN"), read the way mod_saslauth reads them.

local saslprep = require "util.encodings".stringprep.saslprep;
local nodeprep = require "util.encodings".stringprep.nodeprep;
local sasl = require "util.sasl";

local host = module.host;
local xtoken_config = module:get_option_string("xtoken_config", "/etc/security/pam_xtoken.conf");
local xtoken_users = module:get_option_string("xtoken_users", nil);

-- mod_saslauth's own reading (Prosody 0.12): PLAIN is withheld from
-- insecure sessions when it is in this set.
local allow_unencrypted_plain_auth = module:get_option_boolean("allow_unencrypted_plain_auth", false);
local insecure_mechanisms = module:get_option_set("insecure_sasl_mechanisms",
	allow_unencrypted_plain_auth and {} or { "PLAIN", "LOGIN" });

local TOKEN_MAX = 255; -- XT_TOKEN_MAX in shared/xtoken.h
local USERNAME_MAX = 1023;

-- The verifier of this host, or nil (then `unavailable` says why).
local verifier, unavailable;
do
	local ok, lib = pcall(require, "xtoken");
	if not ok then
		unavailable = "the Lua module xtoken did not load (install the package lua-xtoken)";
		module:log("error", "cannot load the Lua module xtoken: %s", (tostring(lib):gsub("%s*\n%s*", " ")));
	else
		local v, err = lib.new(xtoken_config, { users = xtoken_users });
		if not v then
			unavailable = "xtoken.new failed: " .. tostring(err);
		else
			verifier = v;
			module:log("info", "xtoken verifier for %s: config %s, users %s (Lua binding xtoken %s)",
				host, xtoken_config, xtoken_users or "any", tostring(lib.version));
		end
	end
	if unavailable then
		module:log("error", "%s: every login on %s is refused", unavailable, host);
	end
end

-- The config problem last logged ("" when none): a problem is logged as an
-- error once per change, every refusal it causes at info level.
local config_problem = "";

local function note_config(problem)
	if problem == config_problem then
		return;
	end
	if problem == "" then
		module:log("info", "xtoken config %s usable again", xtoken_config);
	else
		module:log("error", "xtoken config %s unusable: %s; every login is refused until it is "
			.. "fixed (reloaded when the file changes)", xtoken_config, problem);
	end
	config_problem = problem;
end

-- A reason "config: PATH:LINE: ..." from the verifier means the config,
-- not the token: that problem is the one to report.
local function config_reason(reason)
	return type(reason) == "string" and reason:match("^config: (.*)$") or nil;
end

if verifier then
	local ok, message = verifier:status();
	if not ok then
		note_config(config_reason(message) or tostring(message));
	end
end

function module.unload()
	if verifier then
		verifier:close();
		verifier = nil;
	end
end

-- A username as SASL hands it over (saslprepped, nodeprepped by
-- util.sasl.plain and by x_token below): anything else is refused before
-- the verifier sees it.
local function usable_username(username)
	return type(username) == "string" and username ~= "" and #username <= USERNAME_MAX
		and nodeprep(username) == username;
end

local provider = {};

function provider.user_exists(username)
	if not usable_username(username) then
		return nil, "invalid username";
	end
	if not verifier then
		return nil, unavailable;
	end
	local jid = username .. "@" .. host;
	local ok, reason;
	if xtoken_users then
		ok, reason = verifier:user_exists(jid, xtoken_users);
	else
		ok, reason = verifier:user_exists(jid);
	end
	if ok then
		return true;
	end
	local problem = config_reason(reason);
	if problem then
		note_config(problem);
	end
	return nil, reason or "user not found";
end

-- Refuse jid's login: one log line with the reason, never the token.
local function refuse(jid, reason)
	module:log("info", "xtoken refused %s: %s", jid, reason);
	return nil, "not authorized";
end

function provider.test_password(username, token)
	if not usable_username(username) then
		module:log("info", "xtoken refused a login: unusable username");
		return nil, "invalid username";
	end
	local jid = username .. "@" .. host;
	if type(token) ~= "string" or token == "" or #token > TOKEN_MAX or token:find("[%z\1-\31\127]") then
		return refuse(jid, "malformed token");
	end
	if not verifier then
		return refuse(jid, unavailable);
	end
	if xtoken_users then
		local exists, why = provider.user_exists(username);
		if not exists then
			if config_reason(why) then
				return refuse(jid, why);
			end
			return refuse(jid, "not a user (xtoken_users = " .. xtoken_users .. "): " .. tostring(why));
		end
	end
	local ok, reason = verifier:verify(jid, token);
	if ok then
		note_config("");
		module:log("info", "xtoken accepted %s", jid);
		return true;
	end
	local problem = config_reason(reason);
	if problem then
		note_config(problem);
	end
	return refuse(jid, tostring(reason));
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

-- X-TOKEN carries the same bytes as PLAIN: offered on a session exactly
-- when mod_saslauth offers PLAIN there (it filters PLAIN itself, not
-- X-TOKEN, whose name it does not know).
local function plain_offered(session)
	return session == nil or session.secure or not insecure_mechanisms:contains("PLAIN");
end

function provider.get_sasl_handler(session)
	local function check(_, username, token)
		return provider.test_password(username, token), true;
	end
	local profile = { plain_test = check, xtoken_test = check };
	local mechanisms = { PLAIN = true };
	if plain_offered(session) then
		mechanisms["X-TOKEN"] = true;
	end
	profile.mechanisms = mechanisms;
	return sasl.new(host, profile);
end

module:provides("auth", provider);
