-- mod_prosody_storm: loaded only into bench/prosody_storm.sh's throwaway
-- Prosody (copied there as mod_prosody_storm.lua). Never install it.
--
-- A logged-in client sends
--   <iq type='get' to='HOST'><query xmlns='urn:xtoken:bench:user-exists'
--       count='10000' prefix='storm'/></iq>
-- and the module calls usermanager.user_exists(PREFIX1 .. PREFIX<count>,
-- HOST) in one go, through whatever authentication provider the host uses,
-- then answers <query calls='N' found='F' seconds='S'/>. The server does
-- nothing else meanwhile: S is what that many lookups cost Prosody's one
-- thread (offline messages, presence probes and roster pushes ask this).

local usermanager = require "core.usermanager";
local st = require "util.stanza";
local now = require "util.time".now;

local xmlns = "urn:xtoken:bench:user-exists";
local COUNT_MAX = 1000000;

module:hook("iq-get/host/" .. xmlns .. ":query", function(event)
	local origin, stanza = event.origin, event.stanza;
	local query = stanza.tags[1];
	local count = tonumber(query.attr.count);
	local prefix = query.attr.prefix or "storm";
	if not count or count < 1 or count > COUNT_MAX or count ~= math.floor(count) then
		origin.send(st.error_reply(stanza, "modify", "bad-request", "count: 1.." .. COUNT_MAX));
		return true;
	end
	local found = 0;
	local started = now();
	for i = 1, count do
		if usermanager.user_exists(prefix .. i, module.host) then
			found = found + 1;
		end
	end
	local seconds = now() - started;
	module:log("info", "%d user_exists calls (%d found) in %.3f s", count, found, seconds);
	origin.send(st.reply(stanza):tag("query", { xmlns = xmlns, calls = tostring(count),
		found = tostring(found), seconds = string.format("%.6f", seconds) }));
	return true;
end);
