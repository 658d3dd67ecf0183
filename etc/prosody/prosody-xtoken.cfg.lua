-- Prosody natively: authentication = "xtoken" (mod_auth_xtoken.lua, next to
-- this file). The Debian package and `make install` put it in
-- /usr/lib/prosody/modules, Prosody's own plugin directory: nothing else to
-- set. (A copy elsewhere needs plugin_paths = { "/that/dir" }.)
-- Put these lines in /etc/prosody/prosody.cfg.lua (globally or inside a
-- VirtualHost block).
--
-- Every login runs `xtoken verify` (token on its stdin; all crypto in C, the
-- same library as pam_xtoken); the replay store is shared by every process
-- running as user prosody. The config must be readable by prosody:
--   adduser prosody xtoken   (the package makes the file root:xtoken 0640; then restart Prosody)
-- SASL mechanisms offered: PLAIN and X-TOKEN (mod_auth_token's, same bytes).

authentication = "xtoken"
xtoken_path = "/usr/bin/xtoken"                  -- default
xtoken_config = "/etc/security/pam_xtoken.conf"  -- default
-- Who exists (offline messages, subscriptions): any (default: every user of
-- a configured domain), nss, or an absolute path of a file of JIDs/localparts.
--xtoken_users = "/etc/prosody/xtoken-users"
-- Tokens travel in clear inside the stream: keep TLS required (the default).
c2s_require_encryption = true
